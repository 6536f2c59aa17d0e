// The mlos CLI end to end against the real mlosd: health, models (defaults, rollback, aliases),
// plugins, register, infer with .npy and .json inputs and .npy outputs, --json, global options
// before or after the subcommand, every URL scheme, and errors (one "mlos: error:" line, exit 1;
// usage errors exit 2).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdio>

#include "client/tensor_file.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

namespace client = mlos::client;

class MlosCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    if (!fs::exists(kMlos)) GTEST_SKIP() << "missing " << kMlos;
    // Every transport this mlosd offers (gRPC and IPC when its --help lists them).
    const std::string help = MlosdHelp();
    std::vector<std::string> args;
    if (help.find("--grpc") != std::string::npos) {
      const std::string port = std::to_string(FreePort());
      args.insert(args.end(), {"--grpc", "127.0.0.1:" + port});
      other_urls_.push_back("grpc://127.0.0.1:" + port);
    }
    if (help.find("--ipc") != std::string::npos) {
      args.insert(args.end(), {"--ipc", (tmp_.path() / "mlosd.sock").string()});
      other_urls_.push_back("unix://" + (tmp_.path() / "mlosd.sock").string());
    }
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state", args);
    ASSERT_TRUE(daemon_->Start());
    url_ = "http://127.0.0.1:" + std::to_string(daemon_->port());
    work_ = tmp_.path() / "work";
    fs::create_directories(work_);
  }

  CliRun Mlos(std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url_});
    return RunMlos(args, work_);
  }

  std::string RegisterMlp() {
    Package p = MlpPackage();
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    CliRun r = Mlos({"register", dir.string(), "--id", p.Id(), "--framework", "onnx", "--format",
                  "onnx"});
    EXPECT_EQ(r.code, 0) << r.err;
    return p.Id();
  }

  // Registers test/echo@<version> (the testing plugin's identity model) over HTTP.
  std::string RegisterEcho(const std::string& version) {
    Package p = TestingPackage("echo", R"({"behavior": "identity"})", version);
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    CliRun r = Mlos({"register", dir.string(), "--id", p.Id()});
    EXPECT_EQ(r.code, 0) << r.err;
    return p.Id();
  }

  // Every URL the daemon serves, HTTP first; waits until each answers `health`.
  std::vector<std::string> AllUrls() {
    std::vector<std::string> urls = {url_};
    for (const std::string& url : other_urls_) {
      CliRun health;
      for (int attempt = 0; attempt < 50; ++attempt) {  // listeners may lag the HTTP line
        health = RunMlos({"health", "--url", url}, work_);
        if (health.code == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      EXPECT_EQ(health.code, 0) << url << ": " << health.err;
      urls.push_back(url);
    }
    return urls;
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  std::string url_;
  std::vector<std::string> other_urls_;
  fs::path work_;
};

TEST_F(MlosCliTest, Health) {
  CliRun r = Mlos({"health"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("live:     yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ready:    yes"), std::string::npos) << r.out;
  CliRun j = Mlos({"--json", "health"});
  ASSERT_EQ(j.code, 0) << j.err;
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["live"], true);
  EXPECT_EQ(doc["url"], url_);
}

TEST_F(MlosCliTest, UrlFromEnvironment) {
  const std::string cmd = "MLOS_URL=" + url_ + " '" + kMlos.string() + "' --json health";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[1024];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(WEXITSTATUS(::pclose(p)), 0);
  EXPECT_EQ(json::parse(out, nullptr, false).value("url", ""), url_);
}

TEST_F(MlosCliTest, ModelsAndPlugins) {
  const std::string id = RegisterMlp();
  CliRun list = Mlos({"models"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("ID"), std::string::npos);
  EXPECT_NE(list.out.find(id), std::string::npos) << list.out;

  CliRun load = Mlos({"models", "load", id});
  EXPECT_EQ(load.code, 0) << load.err;
  EXPECT_NE(load.out.find("READY"), std::string::npos) << load.out;

  CliRun get = Mlos({"--json", "models", "get", id});
  ASSERT_EQ(get.code, 0) << get.err;
  json m = json::parse(get.out);
  EXPECT_EQ(m["id"], id);
  EXPECT_EQ(m["state"], "READY");
  EXPECT_EQ(m["inputs"][0]["name"], "input");

  CliRun listj = Mlos({"--json", "models", "list"});
  ASSERT_EQ(listj.code, 0);
  EXPECT_EQ(json::parse(listj.out)["count"], 1);

  CliRun unload = Mlos({"models", "unload", id});
  EXPECT_EQ(unload.code, 0) << unload.err;

  CliRun plugins = Mlos({"plugins"});
  EXPECT_EQ(plugins.code, 0) << plugins.err;
  EXPECT_NE(plugins.out.find("onnx"), std::string::npos) << plugins.out;
  CliRun pj = Mlos({"--json", "plugins"});
  ASSERT_EQ(pj.code, 0);
  EXPECT_GE(json::parse(pj.out)["count"].get<int>(), 1);

  CliRun unreg = Mlos({"models", "unregister", id});
  EXPECT_EQ(unreg.code, 0) << unreg.err;
  CliRun gone = Mlos({"models", "get", id});
  EXPECT_EQ(gone.code, 1);
  EXPECT_TRUE(gone.err.starts_with("mlos: error: ")) << gone.err;
  EXPECT_NE(gone.err.find("test/mlp"), std::string::npos) << gone.err;
  EXPECT_EQ(std::count(gone.err.begin(), gone.err.end(), '\n'), 1) << gone.err;
}

TEST_F(MlosCliTest, InferWithNpyFiles) {
  const std::string id = RegisterMlp();
  std::vector<float> in(2 * 16);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(std::cos(0.11 * i));
  const client::Tensor input = client::Tensor::From<float>("input", "float32", {2, 16}, in);
  ASSERT_TRUE(client::WriteNpyFile(work_ / "x.npy", input).ok());

  CliRun r = Mlos({"infer", id, "--input", "input=@x.npy", "--output-dir", "out"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("logits"), std::string::npos) << r.out;
  auto logits = client::ReadTensorFile(work_ / "out" / "logits.npy", "logits");
  auto probs = client::ReadTensorFile(work_ / "out" / "probs.npy", "probs");
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  ASSERT_TRUE(probs.ok()) << probs.status().message();
  EXPECT_EQ(logits->dtype, "float32");
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{2, 4}));
  const std::vector<float> p = probs->As<float>();
  ASSERT_EQ(p.size(), 8u);
  EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0f, 1e-5);

  // The same input as JSON ({"shape", "data"}) gives the same outputs, in --json form.
  json data = json::array();
  for (float v : in) data.push_back(v);
  std::ofstream(work_ / "x.json") << json{{"shape", {2, 16}}, {"data", data}}.dump();
  CliRun j = Mlos({"--json", "infer", id, "--input", "input=@x.json"});
  ASSERT_EQ(j.code, 0) << j.err;
  json doc = json::parse(j.out);
  ASSERT_EQ(doc["outputs"].size(), 2u);
  for (const json& o : doc["outputs"]) {
    if (o["name"] != "probs") continue;
    EXPECT_EQ(o["shape"], json({2, 4}));
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(o["data"][i].get<float>(), p[i]) << i;
  }

  // Nested arrays too, and the table summary without --output-dir.
  json nested = json::array();
  for (int row = 0; row < 2; ++row) {
    json r16 = json::array();
    for (int k = 0; k < 16; ++k) r16.push_back(in[static_cast<size_t>(row) * 16 + k]);
    nested.push_back(r16);
  }
  std::ofstream(work_ / "nested.json") << nested.dump();
  CliRun t = Mlos({"infer", id, "-i", "input=@nested.json"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("probs"), std::string::npos);
  EXPECT_NE(t.out.find("[2, 4]"), std::string::npos) << t.out;
}

TEST_F(MlosCliTest, InferOnEveryTransport) {
  const std::string id = RegisterMlp();
  std::vector<float> in(3 * 16);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(std::sin(0.3 * i));
  ASSERT_TRUE(client::WriteNpyFile(work_ / "x.npy",
                                   client::Tensor::From<float>("input", "float32", {3, 16}, in))
                  .ok());
  CliRun ref = Mlos({"infer", id, "--input", "input=@x.npy", "--output-dir", "ref"});
  ASSERT_EQ(ref.code, 0) << ref.err;
  const std::string want = ReadFileBytes(work_ / "ref" / "probs.npy");
  ASSERT_FALSE(want.empty());
  for (size_t i = 0; i < other_urls_.size(); ++i) {
    const std::string& url = other_urls_[i];
    SCOPED_TRACE(url);
    CliRun health;
    for (int attempt = 0; attempt < 50; ++attempt) {  // listeners may lag the HTTP line
      health = RunMlos({"--url", url, "health"}, work_);
      if (health.code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(health.code, 0) << health.err;
    const std::string dir = "out" + std::to_string(i);
    CliRun r = RunMlos({"--url", url, "infer", id, "--input", "input=@x.npy", "--output-dir", dir},
                       work_);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(ReadFileBytes(work_ / dir / "probs.npy"), want) << "bit-identical .npy outputs";
    EXPECT_EQ(ReadFileBytes(work_ / dir / "logits.npy"), ReadFileBytes(work_ / "ref" / "logits.npy"));
    CliRun list = RunMlos({"--url", url, "--json", "models", "list"}, work_);
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_EQ(json::parse(list.out)["models"][0]["id"], id);
    CliRun missing = RunMlos({"--url", url, "models", "get", "test/nope@1"}, work_);
    EXPECT_EQ(missing.code, 1);
    EXPECT_TRUE(missing.err.starts_with("mlos: error: ")) << missing.err;
  }
}

TEST_F(MlosCliTest, Errors) {
  const std::string id = RegisterMlp();
  // Wrong shape: the server's message, exit 1.
  ASSERT_TRUE(client::WriteNpyFile(work_ / "bad.npy",
                                   client::Tensor::From<float>("input", "float32", {1, 5},
                                                               std::vector<float>(5, 0.f)))
                  .ok());
  CliRun shape = Mlos({"infer", id, "--input", "input=@bad.npy"});
  EXPECT_EQ(shape.code, 1);
  EXPECT_TRUE(shape.err.starts_with("mlos: error: ")) << shape.err;

  // Missing file, malformed .npy.
  CliRun missing = Mlos({"infer", id, "--input", "input=@nope.npy"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("nope.npy"), std::string::npos) << missing.err;
  std::ofstream(work_ / "junk.npy") << "not numpy";
  CliRun junk = Mlos({"infer", id, "--input", "input=@junk.npy"});
  EXPECT_EQ(junk.code, 1);
  EXPECT_NE(junk.err.find("malformed .npy"), std::string::npos) << junk.err;

  // Unknown model.
  CliRun unknown = Mlos({"models", "load", "test/nope@1"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_TRUE(unknown.err.starts_with("mlos: error: ")) << unknown.err;

  // Usage errors: exit 2.
  EXPECT_EQ(Mlos({"infer", id, "--input", "noequals"}).code, 2);
  EXPECT_EQ(Mlos({"models", "explode", id}).code, 2);
  EXPECT_EQ(Mlos({"models", "get"}).code, 2);
  EXPECT_EQ(Mlos({"frobnicate"}).code, 2);
  CliRun badurl = RunMlos({"--url", "ftp://x", "health"}, work_);
  EXPECT_EQ(badurl.code, 2);
  EXPECT_TRUE(badurl.err.starts_with("mlos: error: ")) << badurl.err;

  // Nothing listening: exit 1 with one line.
  CliRun down = RunMlos({"--url", "http://127.0.0.1:1", "health"}, work_);
  EXPECT_EQ(down.code, 1);
  EXPECT_TRUE(down.err.starts_with("mlos: error: ")) << down.err;
  EXPECT_EQ(std::count(down.err.begin(), down.err.end(), '\n'), 1) << down.err;
}

// Exactly one "mlos: error: " line on stderr, and the exit code.
::testing::AssertionResult OneErrorLine(const CliRun& r, int code) {
  if (r.code != code) {
    return ::testing::AssertionFailure()
           << "exit " << r.code << " (want " << code << "): " << r.err;
  }
  if (!r.err.starts_with("mlos: error: ")) {
    return ::testing::AssertionFailure() << "stderr: " << r.err;
  }
  if (std::count(r.err.begin(), r.err.end(), '\n') != 1 || r.err.back() != '\n') {
    return ::testing::AssertionFailure() << "not one line: " << r.err;
  }
  return ::testing::AssertionSuccess();
}

TEST_F(MlosCliTest, DefaultRollbackAndAliasOnEveryTransport) {
  const std::string v1 = RegisterEcho("1.0.0");
  const std::string v2 = RegisterEcho("2.0.0");
  for (const std::string& url : AllUrls()) {
    SCOPED_TRACE(url);
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.end(), {"--url", url});  // global options after the subcommand
      return RunMlos(args, work_);
    };
    CliRun d1 = run({"models", "default", "test/echo", "1.0.0"});
    ASSERT_EQ(d1.code, 0) << d1.err;
    EXPECT_NE(d1.out.find("id:          " + v1), std::string::npos) << d1.out;
    EXPECT_NE(d1.out.find("default:     yes"), std::string::npos) << d1.out;
    CliRun d2 = run({"models", "default", v2, "--json"});  // NAME@VERSION works too
    ASSERT_EQ(d2.code, 0) << d2.err;
    json m2 = json::parse(d2.out);
    EXPECT_EQ(m2["id"], v2);
    EXPECT_EQ(m2["is_default"], true);
    EXPECT_EQ(m2["state"], "READY");

    CliRun rb = run({"--json", "models", "rollback", "test/echo"});
    ASSERT_EQ(rb.code, 0) << rb.err;
    EXPECT_EQ(json::parse(rb.out)["id"], v1);

    CliRun set = run({"models", "alias", "test/echo", "stable", "2.0.0", "--json"});
    ASSERT_EQ(set.code, 0) << set.err;
    json a = json::parse(set.out);
    EXPECT_EQ(a["id"], v2);
    EXPECT_NE(std::find(a["aliases"].begin(), a["aliases"].end(), "stable"), a["aliases"].end())
        << set.out;
    CliRun via = run({"--json", "models", "get", "test/echo@stable"});
    ASSERT_EQ(via.code, 0) << via.err;
    EXPECT_EQ(json::parse(via.out)["id"], v2);
    CliRun list = run({"models", "list"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_NE(list.out.find("ALIASES"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("stable"), std::string::npos) << list.out;

    CliRun removed = run({"models", "alias", "test/echo", "stable"});  // no VERSION: remove
    ASSERT_EQ(removed.code, 0) << removed.err;
    EXPECT_TRUE(OneErrorLine(run({"models", "get", "test/echo@stable"}), 1));

    // Server-side refusals: exit 1, the server's message on one line.
    CliRun bad_alias = run({"models", "alias", "test/echo", "not ok!", "1.0.0"});
    EXPECT_TRUE(OneErrorLine(bad_alias, 1));
    EXPECT_NE(bad_alias.err.find("not ok!"), std::string::npos) << bad_alias.err;
    CliRun unknown_version = run({"models", "default", "test/echo", "9.9.9"});
    EXPECT_TRUE(OneErrorLine(unknown_version, 1));
    EXPECT_NE(unknown_version.err.find("test/echo@9.9.9"), std::string::npos)
        << unknown_version.err;
    EXPECT_TRUE(OneErrorLine(run({"models", "alias", "test/nope", "stable", "1.0.0"}), 1));
    EXPECT_TRUE(OneErrorLine(run({"models", "rollback", "test/nope"}), 1));

    // Usage errors: exit 2, one line, nothing sent.
    EXPECT_TRUE(OneErrorLine(run({"models", "default", "test/echo"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "default", v1, "2.0.0"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "default"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "alias", "test/echo"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "alias", "test/echo", "a", "1.0.0", "extra"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "alias", "test/echo", "", "1.0.0"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "rollback"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "get", v1, "extra"}), 2));
    EXPECT_TRUE(OneErrorLine(run({"models", "explode"}), 2));
  }
}

TEST_F(MlosCliTest, GlobalOptionsBeforeOrAfterTheSubcommand) {
  RegisterEcho("1.0.0");
  for (const std::string& url : AllUrls()) {
    SCOPED_TRACE(url);
    const std::vector<std::vector<std::string>> spellings = {
        {"--json", "--url", url, "models", "list"},
        {"models", "list", "--url", url, "--json"},
        {"--url", url, "models", "list", "--json"},
        {"models", "--json", "list", "--url", url},
        {"--timeout", "5", "models", "list", "--json", "--url", url},
        {"models", "list", "--timeout", "5", "--url", url, "--json"},
    };
    std::string first;
    for (const auto& args : spellings) {
      CliRun r = RunMlos(args, work_);
      ASSERT_EQ(r.code, 0) << r.err;
      json doc = json::parse(r.out, nullptr, false);
      ASSERT_TRUE(doc.is_object()) << r.out;
      EXPECT_EQ(doc["count"], 1);
      EXPECT_EQ(doc["models"][0]["id"], "test/echo@1.0.0");
      if (first.empty()) first = r.out;
      EXPECT_EQ(r.out, first);
    }
    CliRun health = RunMlos({"health", "--json", "--url", url}, work_);
    ASSERT_EQ(health.code, 0) << health.err;
    EXPECT_EQ(json::parse(health.out)["url"], url);
    CliRun plugins = RunMlos({"plugins", "--url", url, "--json"}, work_);
    ASSERT_EQ(plugins.code, 0) << plugins.err;
    EXPECT_GE(json::parse(plugins.out)["count"].get<int>(), 1);
    CliRun get = RunMlos({"models", "get", "test/echo@1.0.0", "--url", url, "--json"}, work_);
    ASSERT_EQ(get.code, 0) << get.err;
    EXPECT_EQ(json::parse(get.out)["id"], "test/echo@1.0.0");
    std::ofstream(work_ / "e.json") << "[1.5, 2.5]";
    CliRun infer = RunMlos({"infer", "test/echo@1.0.0", "-i", "input=@e.json", "--url", url,
                            "--json", "--timeout", "30"},
                           work_);
    ASSERT_EQ(infer.code, 0) << infer.err;
    EXPECT_EQ(json::parse(infer.out)["outputs"][0]["data"], json({1.5, 2.5})) << infer.out;
  }

  // Bad global options, wherever they are: exit 2, one line.
  const std::vector<std::vector<std::string>> bad = {
      {"models", "list", "--url"},
      {"models", "list", "--url", url_, "--timeout", "abc"},
      {"models", "list", "--url", url_, "--timeout", "-1"},
      {"--timeout", "0", "models", "list", "--url", url_},
      {"models", "list", "--bogus", "--url", url_},
      {"models", "list", "--url", "ftp://x"},
      {"--url", url_},  // no subcommand
      {"health", "extra", "--url", url_},
  };
  for (const auto& args : bad) {
    CliRun r = RunMlos(args, work_);
    EXPECT_TRUE(OneErrorLine(r, 2)) << ::testing::PrintToString(args);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // Nothing listening on a unix socket: exit 1, one line naming the socket.
  CliRun down = RunMlos({"models", "list", "--url", "unix://" + (tmp_.path() / "no.sock").string()},
                        work_);
  EXPECT_TRUE(OneErrorLine(down, 1));
  EXPECT_NE(down.err.find("no.sock"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace mlostest
