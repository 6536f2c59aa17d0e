// Core::Generate with the testing plugin's echo generator (one word per chunk): chunks arrive in
// order, usage and finish reasons come from the plugin's on_done, a stop asked by the caller
// ends the generation within one chunk as "cancelled", plugin errors keep their code, models
// whose plugin cannot generate are refused, and a sandboxed model streams the same chunks
// through its worker.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core_fixture.h"
#include "sandbox/sandbox.h"

namespace mlos::core {
namespace {

class GenerateTest : public CoreTest {
 protected:
  Result<GenerateResponse> Gen(const std::string& model, const std::string& prompt,
                               const std::string& params, std::vector<std::string>* chunks,
                               size_t stop_after = 0) {
    GenerateRequest r;
    r.model = model;
    r.prompt = prompt;
    r.params_json = params;
    if (chunks) {
      r.on_token = [chunks, stop_after](std::string_view t) {
        chunks->emplace_back(t);
        return stop_after == 0 || chunks->size() < stop_after;
      };
    }
    return core_->Generate(std::move(r));
  }

  void ExpectEchoes(const std::string& model) {
    std::vector<std::string> chunks;
    auto r = Gen(model, "the quick brown fox", "", &chunks);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(chunks, (std::vector<std::string>{"the ", "quick ", "brown ", "fox "}));
    EXPECT_EQ(r->model_id, "local/m@1.0.0");
    EXPECT_EQ(r->prompt_tokens, 4u);
    EXPECT_EQ(r->completion_tokens, 4u);
    EXPECT_EQ(r->finish_reason, "stop");
    EXPECT_TRUE(r->text.empty());  // streamed, not collected

    // Collected when there is no on_token; max_tokens ends it with "length".
    auto c = Gen(model, "a b c d e", R"({"max_tokens":2})", nullptr);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->text, "a b ");
    EXPECT_EQ(c->finish_reason, "length");
    EXPECT_EQ(c->completion_tokens, 2u);

    // The caller stops after two chunks: no third one, finish "cancelled", not an error.
    std::vector<std::string> cut;
    auto s = Gen(model, "one two three four five", R"({"delay_ms":20})", &cut, 2);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(cut.size(), 2u);
    EXPECT_EQ(s->finish_reason, "cancelled");

    // Plugin errors keep their code and name the model.
    auto bad = Gen(model, "x", R"({"max_tokens":-5})", nullptr);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("max_tokens"), std::string::npos);
    EXPECT_NE(bad.status().message().find("local/m@1.0.0"), std::string::npos);
  }
};

TEST_F(GenerateTest, StreamsChunksUsageAndFinishReasons) {
  Start();
  ASSERT_TRUE(Register(Pkg{}).ok());
  ExpectEchoes("local/m");
  auto st = core_->Get("local/m");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->generates);
}

TEST_F(GenerateTest, UnknownModelsAndEmptyNamesAreRefused) {
  Start();
  auto r = Gen("local/nope", "x", "", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  auto e = Gen("", "x", "", nullptr);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GenerateTest, ConcurrentGenerationsEachGetTheirOwnChunks) {
  Start();
  ASSERT_TRUE(Register(Pkg{}).ok());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      std::vector<std::string> chunks;
      const std::string w = "w" + std::to_string(i);
      auto r = Gen("local/m", w + " " + w + " " + w, R"({"delay_ms":5})", &chunks);
      if (r.ok() && chunks == std::vector<std::string>(3, w + " ")) good++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 6);
}

TEST_F(GenerateTest, ASandboxedModelStreamsThroughItsWorker) {
  const sandbox::Support& s = sandbox::ProbeSupport();
  if (!s.namespaces || !s.seccomp) GTEST_SKIP() << "no sandbox on this machine";
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  ASSERT_TRUE(Register(Pkg{}).ok());
  ExpectEchoes("local/m");
  auto st = core_->Get("local/m");
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->worker_pid, 0);
  // The worker still serves after a cancelled generation (its channel is back in order).
  std::vector<std::string> again;
  auto r = Gen("local/m", "still here", "", &again);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(again, (std::vector<std::string>{"still ", "here "}));
}

}  // namespace
}  // namespace mlos::core
