// `mlos generate` and `mlos chat` against the real mlosd with the llama.cpp plugin and the
// tiny-llama.gguf fixture (greedy decoding gives exactly max_tokens tokens), over every URL
// scheme; chat with its turns piped on stdin.
#include "mlos/client.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

const fs::path kLlamaFixture = kFixtures / "tiny-llama.gguf";
const char kModel[] = "test/tiny-llama";

class MlosCliLlmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const fs::path& p : {kMlosd, kMlos, kLlamaFixture, kPlugins / "libmlos_llama.so"}) {
      if (!fs::exists(p)) {
        skip_ = "missing " + p.string();
        return;
      }
    }
    dir_ = new TempDir();
    daemon_ = new Daemon(dir_->path() / "state",
                         {"--grpc", "127.0.0.1:0", "--ipc", (dir_->path() / "d.sock").string()});
    if (auto st = daemon_->Start(); !st) {
      error_ = st.message();
      return;
    }
    Package p;
    p.name = "tiny-llama";
    p.framework = "gguf";
    p.execution_format = "gguf";
    p.file_name = "tiny-llama.gguf";
    p.file_contents = ReadFileBytes(kLlamaFixture);
    const fs::path pkg = WritePackage(dir_->path(), p);
    Reply r = daemon_->Post("/models/register", RegisterBody(p, pkg));
    if (r.status != 200 && r.status != 201) {
      error_ = "register: " + r.body;
      return;
    }
    r = daemon_->Post("/models/" + Encode(p.Id()) + "/load");
    if (r.status != 200) error_ = "load: " + r.body;
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete dir_;
    daemon_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_ << "\n" << daemon_->Log();
  }

  static std::vector<std::string> Urls() {
    return {"http://127.0.0.1:" + std::to_string(daemon_->http_port()),
            "grpc://" + daemon_->grpc_target(), "unix://" + daemon_->ipc_path()};
  }

  // The greedy text of `max_tokens` tokens, through the SDK over gRPC.
  static std::string Reference(const std::string& prompt, int max_tokens) {
    auto c = mlos::client::Client::Connect("grpc://" + daemon_->grpc_target());
    if (!c.ok()) return "<" + c.status().message() + ">";
    mlos::client::GenerateOptions o;
    o.model = kModel;
    o.prompt = prompt;
    o.max_tokens = max_tokens;
    o.temperature = 0;
    auto r = (*c)->Generate(o);
    return r.ok() ? r->text : "<" + r.status().message() + ">";
  }

  static inline std::string skip_, error_;
  static inline TempDir* dir_ = nullptr;
  static inline Daemon* daemon_ = nullptr;
};

TEST_F(MlosCliLlmTest, GenerateStreamsTheTextOverEveryScheme) {
  const std::string want = Reference("Once upon a time", 10);
  ASSERT_FALSE(want.empty());
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    CliRun r = RunMlos({"generate", kModel, "Once upon a time", "--max-tokens", "10",
                        "--temperature", "0", "--url", url},
                       dir_->path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, want.back() == '\n' ? want : want + "\n");
    EXPECT_EQ(r.err, "");
  }
}

TEST_F(MlosCliLlmTest, GenerateStatsGoToStderr) {
  // --stop before the positionals takes one value (repeatable).
  CliRun r = RunMlos({"generate", "--stop", "\x01never", "--stop", "\x02never", kModel, "Hello",
                      "-n", "5", "-t", "0", "--seed", "3", "-v",
                      "--url", "grpc://" + daemon_->grpc_target()},
                     dir_->path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("5 completion tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finish_reason length"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("completion tokens"), std::string::npos) << r.out;
}

TEST_F(MlosCliLlmTest, GenerateJsonIsOneDocument) {
  CliRun r = RunMlos({"generate", kModel, "Hello", "-n", "4", "-t", "0", "--json", "--url",
                      "unix://" + daemon_->ipc_path()},
                     dir_->path());
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["completion_tokens"], 4);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["text"], Reference("Hello", 4));
}

TEST_F(MlosCliLlmTest, ChatReadsTurnsFromAPipe) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    CliRun r = RunMlos({"chat", kModel, "--system", "Be brief.", "-n", "6", "-t", "0", "--url",
                        url, "--stats"},
                       dir_->path(), "Hello\n\nHow are you?\n");
    ASSERT_EQ(r.code, 0) << r.err;
    // Two turns (the blank line is skipped): two answers, each ended by a newline, and two
    // usage lines.
    size_t usage = 0;
    for (size_t at = 0; (at = r.err.find("6 completion tokens", at)) != std::string::npos; ++at) {
      ++usage;
    }
    EXPECT_EQ(usage, 2u) << r.err;
    EXPECT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.back(), '\n');
    EXPECT_EQ(r.err.find(">>>"), std::string::npos) << "no prompt when stdin is not a terminal";
  }
}

TEST_F(MlosCliLlmTest, ChatAnswersAreTheSameOverEveryScheme) {
  std::string first;
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    CliRun r = RunMlos({"chat", kModel, "-n", "5", "-t", "0", "--url", url}, dir_->path(),
                       "Hi\n");
    ASSERT_EQ(r.code, 0) << r.err;
    if (first.empty()) first = r.out;
    EXPECT_EQ(r.out, first);
  }
}

TEST_F(MlosCliLlmTest, ErrorsAreOneLineAndNonZero) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    CliRun r = RunMlos({"generate", "test/nope", "Hello", "--url", url}, dir_->path());
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(r.err.starts_with("mlos: error: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
  CliRun r = RunMlos({"generate", kModel}, dir_->path());  // no prompt: usage error
  EXPECT_EQ(r.code, 2);
  CliRun chat = RunMlos({"chat", "test/nope", "--url", "unix://" + daemon_->ipc_path()},
                        dir_->path(), "Hi\n");
  EXPECT_EQ(chat.code, 1);
  EXPECT_TRUE(chat.err.starts_with("mlos: error: ")) << chat.err;
}

}  // namespace
}  // namespace mlostest
