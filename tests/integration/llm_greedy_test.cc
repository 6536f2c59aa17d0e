// Greedy generation through the real daemon equals libllama called directly: mlosd with the
// llama plugin serves tiny-llama.gguf, and its temperature-0 completions (OpenAI
// /v1/completions, streamed and not, and KServe /v2/models/{m}/generate) must be the text that
// mlos-llama-direct (bench/llm/llama_direct.cc: tokenize with add_special and parse_special,
// prompt decoded in --batch chunks, argmax loop) prints for the same file, prompt, context and
// batch size. tiny-llama's EOS output row is zero, so both always run to max_tokens.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

const fs::path kDirect = fs::path(MLOS_BINARY_DIR) / "bin" / "mlos-llama-direct";
const fs::path kTinyLlama = kFixtures / "tiny-llama.gguf";

// The daemon's and the reference's settings: one slot of 512 tokens, prompts decoded 16 tokens
// at a time (so a long prompt takes several llama_decode calls on both sides), two threads.
constexpr int kCtx = 512, kBatch = 16, kThreads = 2, kMaxTokens = 32;

const std::vector<std::string> kPrompts = {
    "Hello world",
    "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of "
    "times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief.",
    "<s> special tokens\nare parsed: </s> and unicode: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
};

struct Direct {
  bool ok = false;
  std::string error;
  std::string text;
  std::vector<int> tokens;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// mlos-llama-direct --json on the fixture with the daemon's settings.
Direct RunDirect(const std::string& prompt) {
  Direct d;
  const std::string cmd = ShellQuote(kDirect.string()) + " --model " +
                          ShellQuote(kTinyLlama.string()) + " --prompt " + ShellQuote(prompt) +
                          " --max-tokens " + std::to_string(kMaxTokens) + " --ctx " +
                          std::to_string(kCtx) + " --batch " + std::to_string(kBatch) +
                          " --threads " + std::to_string(kThreads) + " --json 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    d.error = "popen failed";
    return d;
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  json j = json::parse(out, nullptr, false);
  if (rc != 0 || !j.is_object() || !j.contains("text")) {
    d.error = "mlos-llama-direct failed (status " + std::to_string(rc) + "): " + out;
    return d;
  }
  d.ok = true;
  d.text = j["text"].get<std::string>();
  d.tokens = j["tokens"].get<std::vector<int>>();
  return d;
}

// The body of a chunked HTTP/1.1 response (the harness reads raw bytes up to EOF).
std::string Dechunk(const Reply& r, const std::string& body) {
  auto it = r.headers.find("transfer-encoding");
  if (it == r.headers.end() || it->second.find("chunked") == std::string::npos) return body;
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t len = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) break;
    out.append(body, eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return out;
}

// Concatenated choices[0].text of an OpenAI completion SSE stream; `done` is set by
// `data: [DONE]`; `completion_tokens` from the usage chunk (-1 when none).
std::string StreamedText(const std::string& sse, bool* done, int* completion_tokens) {
  std::string text;
  *done = false;
  *completion_tokens = -1;
  size_t pos = 0;
  while (pos < sse.size()) {
    size_t eol = sse.find('\n', pos);
    if (eol == std::string::npos) eol = sse.size();
    std::string line = sse.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("data:", 0) != 0) continue;
    std::string payload = line.substr(5);
    while (!payload.empty() && payload.front() == ' ') payload.erase(0, 1);
    if (payload == "[DONE]") {
      *done = true;
      break;
    }
    json j = json::parse(payload, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("usage") && j["usage"].is_object()) {
      *completion_tokens = j["usage"].value("completion_tokens", -1);
    }
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      text += j["choices"][0].value("text", "");
    }
  }
  return text;
}

// Token ids in a reply, when the server exposes them (none of the APIs has to).
std::vector<int> TokenIds(const json& j) {
  for (const char* key : {"tokens", "token_ids", "output_ids"}) {
    if (j.contains(key) && j[key].is_array()) return j[key].get<std::vector<int>>();
  }
  if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
    return TokenIds(j["choices"][0]);
  }
  return {};
}

class LlmGreedyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const fs::path& p : {kMlosd, kPlugins / "libmlos_llama.so", kDirect, kTinyLlama}) {
      if (!fs::exists(p)) GTEST_SKIP() << "missing " << p.string();
    }
  }

  // Starts mlosd with the llama plugin (`parallel` slots) and loads tiny-llama as test/tiny.
  void StartDaemon(int parallel) {
    const fs::path config = tmp_.path() / "mlosd.yaml";
    std::ofstream(config) << "plugins:\n  llama:\n    parallel: " << parallel
                          << "\n    ctx_per_slot: " << kCtx << "\n    batch: " << kBatch
                          << "\n    threads: " << kThreads << "\n";
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state",
                                       std::vector<std::string>{"--config", config.string()});
    ASSERT_TRUE(daemon_->Start());
    pkg_.name = "tiny";
    pkg_.framework = "gguf";
    pkg_.execution_format = "gguf";
    pkg_.file_name = "model.gguf";
    pkg_.file_contents = ReadFileBytes(kTinyLlama);
    const fs::path dir = WritePackage(tmp_.path(), pkg_);
    Reply reg = daemon_->Post("/models/register", RegisterBody(pkg_, dir));
    ASSERT_EQ(reg.status, 200) << reg.body << "\n" << daemon_->Log();
    Reply load = daemon_->Post("/models/" + Encode(pkg_.Id()) + "/load");
    ASSERT_EQ(load.status, 200) << load.body << "\n" << daemon_->Log();
  }

  json CompletionBody(const std::string& prompt, bool stream) const {
    json body = {{"model", pkg_.Id()},   {"prompt", prompt}, {"max_tokens", kMaxTokens},
                 {"temperature", 0},     {"stream", stream}};
    if (stream) body["stream_options"] = {{"include_usage", true}};
    return body;
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  Package pkg_;
};

TEST_F(LlmGreedyTest, OpenAICompletionEqualsDirectLibllama) {
  StartDaemon(/*parallel=*/1);
  for (const std::string& prompt : kPrompts) {
    SCOPED_TRACE(prompt);
    const Direct direct = RunDirect(prompt);
    ASSERT_TRUE(direct.ok) << direct.error;
    ASSERT_EQ(direct.tokens.size(), static_cast<size_t>(kMaxTokens));

    Reply r = daemon_->Post("/v1/completions", CompletionBody(prompt, false).dump());
    ASSERT_EQ(r.status, 200) << r.body << "\n" << daemon_->Log();
    const json j = r.Json();
    ASSERT_TRUE(j.is_object() && j.contains("choices")) << r.body;
    EXPECT_EQ(j["choices"][0].value("text", ""), direct.text);
    EXPECT_EQ(j["usage"].value("completion_tokens", -1), kMaxTokens) << r.body;
    if (std::vector<int> ids = TokenIds(j); !ids.empty()) {
      EXPECT_EQ(ids, direct.tokens);
    }
  }
}

TEST_F(LlmGreedyTest, StreamedCompletionEqualsDirectLibllama) {
  StartDaemon(/*parallel=*/1);
  const std::string& prompt = kPrompts[1];
  const Direct direct = RunDirect(prompt);
  ASSERT_TRUE(direct.ok) << direct.error;
  Reply r = daemon_->Post("/v1/completions", CompletionBody(prompt, true).dump());
  ASSERT_EQ(r.status, 200) << r.body << "\n" << daemon_->Log();
  EXPECT_NE(r.headers["content-type"].find("text/event-stream"), std::string::npos);
  bool done = false;
  int completion_tokens = -1;
  const std::string text = StreamedText(Dechunk(r, r.body), &done, &completion_tokens);
  EXPECT_TRUE(done) << "no data: [DONE]; body: " << r.body.substr(0, 500);
  EXPECT_EQ(text, direct.text);
  EXPECT_EQ(completion_tokens, kMaxTokens);
}

TEST_F(LlmGreedyTest, KServeGenerateEqualsDirectLibllama) {
  StartDaemon(/*parallel=*/1);
  const std::string& prompt = kPrompts[0];
  const Direct direct = RunDirect(prompt);
  ASSERT_TRUE(direct.ok) << direct.error;
  const json body = {{"text_input", prompt},
                     {"parameters", {{"max_tokens", kMaxTokens}, {"temperature", 0}}}};
  Reply r = daemon_->Post("/v2/models/" + Encode(pkg_.Id()) + "/generate", body.dump());
  ASSERT_EQ(r.status, 200) << r.body << "\n" << daemon_->Log();
  const json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("text_output")) << r.body;
  EXPECT_EQ(j["text_output"].get<std::string>(), direct.text);
  if (std::vector<int> ids = TokenIds(j); !ids.empty()) {
    EXPECT_EQ(ids, direct.tokens);
  }
}

// tiny-llama's greedy answer to this prompt holds a byte token (0xFB) that is not UTF-8 on its
// own: the reply must still be valid JSON (such bytes become U+FFFD, as mlos-llama-direct
// --json and llama-server write them), equal to the direct run's text.
TEST_F(LlmGreedyTest, InvalidUtf8BytesStillGiveValidJson) {
  StartDaemon(/*parallel=*/1);
  const std::string prompt = "Once upon a time";
  const Direct direct = RunDirect(prompt);
  ASSERT_TRUE(direct.ok) << direct.error;
  ASSERT_NE(direct.text.find("\xEF\xBF\xBD"), std::string::npos)
      << "the fixture no longer produces a non-UTF-8 byte for this prompt";
  Reply r = daemon_->Post("/v1/completions", CompletionBody(prompt, false).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("choices"))
      << "the reply is not valid JSON (raw non-UTF-8 bytes in a string?): " << r.body;
  EXPECT_EQ(j["choices"][0].value("text", ""), direct.text);
}

// Continuous batching must not change what one sequence generates: four different prompts at
// once on four slots, each equal to its own direct run.
TEST_F(LlmGreedyTest, ConcurrentSlotsEachEqualDirectLibllama) {
  StartDaemon(/*parallel=*/4);
  std::vector<std::string> prompts = kPrompts;
  prompts.push_back("In the beginning");
  std::vector<Direct> expected;
  for (const std::string& p : prompts) {
    expected.push_back(RunDirect(p));
    ASSERT_TRUE(expected.back().ok) << expected.back().error;
  }
  std::vector<Reply> replies(prompts.size());
  std::vector<std::thread> clients;
  const uint16_t port = daemon_->port();
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.emplace_back([&, i] {
      replies[i] = Http(port, "POST", "/v1/completions", CompletionBody(prompts[i], false).dump());
    });
  }
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE(prompts[i]);
    ASSERT_EQ(replies[i].status, 200) << replies[i].body;
    const json j = replies[i].Json();
    ASSERT_TRUE(j.is_object() && j.contains("choices")) << replies[i].body;
    EXPECT_EQ(j["choices"][0].value("text", ""), expected[i].text);
  }
}

}  // namespace
}  // namespace mlostest
