// Real third-party clients against the real mlosd: the official `openai` and `ollama` npm
// packages (pinned in tests/npm/package-lock.json, installed once by tests/npm/install.sh) run
// tests/npm/openai_client.mjs and ollama_client.mjs (list models, chat whole and streamed,
// completions, embeddings, an abort mid-stream, temperature-0 determinism, bad input raising
// the client's 4xx error). After each script, /metrics must show no generation still running:
// the aborted stream stopped on the server.
#include <cstdio>

#include "llm_http_harness.h"

namespace mlostest {
namespace {

const fs::path kNpmDir = fs::path(MLOS_SOURCE_DIR) / "tests" / "npm";

struct ShellRun {
  int code = -1;
  std::string out;
};

ShellRun Shell(const std::string& cmd) {
  ShellRun r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class LlmNpmClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (Shell("command -v node").code != 0) {
      skip_ = "node is not installed";
      return;
    }
    ShellRun install = Shell("'" + (kNpmDir / "install.sh").string() + "'");
    if (install.code != 0) skip_ = "tests/npm/install.sh failed (offline?): " + install.out;
  }
  void SetUp() override {
    if (std::string why = LlmPrerequisites(); !why.empty()) GTEST_SKIP() << why;
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    llm_ = std::make_unique<LlmDaemon>(tmp_.path());
    ASSERT_TRUE(llm_->Start());
  }
  void TearDown() override {
    if (llm_ && llm_->port()) {
      EXPECT_EQ(llm_->daemon().Stop(SIGTERM), 0) << llm_->daemon().Log();
    }
  }

  void RunClient(const std::string& script) {
    std::string cmd = "cd '" + kNpmDir.string() + "' && node " + script + " --url " +
                      llm_->url() + " --model " + kLlama + " --embed-model " + kBert;
    if (!llm_->admin_token().empty()) cmd += " --api-key " + llm_->admin_token();
    ShellRun r = Shell(cmd);
    json summary = json::parse(r.out.substr(std::min(r.out.find('{'), r.out.size())), nullptr,
                               false);
    EXPECT_EQ(r.code, 0) << r.out << "\n" << llm_->daemon().Log();
    ASSERT_TRUE(summary.is_object()) << r.out;
    EXPECT_EQ(summary["ok"], true);
    for (const json& c : summary["checks"]) {
      EXPECT_EQ(c["ok"], true) << c["name"] << ": " << c["detail"].dump();
    }
    // The abort stopped the generation on the server, not just the client's reading.
    EXPECT_LE(WaitGenerationsIdle(llm_->daemon(), kLlama + "@1.0.0"), 0) << llm_->daemon().Log();
    // Every other request asks for at most 8 tokens; the aborted one for 400: far fewer than
    // that in all means it stopped when the client left.
    EXPECT_LT(MetricValue(llm_->daemon(), "mlos_generated_tokens_total", kLlama + "@1.0.0"), 250);
  }

  static std::string skip_;
  TempDir tmp_;
  std::unique_ptr<LlmDaemon> llm_;
};

std::string LlmNpmClientsTest::skip_;

TEST_F(LlmNpmClientsTest, OpenAIClient) { RunClient("openai_client.mjs"); }

TEST_F(LlmNpmClientsTest, OllamaClient) { RunClient("ollama_client.mjs"); }

// With security.auth required: the clients' API key / Authorization header is the token.
TEST_F(LlmNpmClientsTest, ClientsWithBearerToken) {
  llm_->daemon().Stop(SIGTERM);
  llm_ = std::make_unique<LlmDaemon>(tmp_.path() / "auth", /*auth=*/true);
  fs::create_directories(tmp_.path() / "auth");
  ASSERT_TRUE(llm_->Start());
  ASSERT_FALSE(llm_->admin_token().empty());
  RunClient("openai_client.mjs");
  RunClient("ollama_client.mjs");
}

}  // namespace
}  // namespace mlostest
