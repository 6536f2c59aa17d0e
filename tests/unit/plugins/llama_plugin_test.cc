// The llama.cpp plugin through its SMI table, with the GGUF fixtures of make_gguf.py (random
// weights: the text is gibberish, but deterministic): generation (greedy, streaming, stop
// strings, chat, cancellation, continuous batching, prefix reuse, unload) and embeddings. One test
// runs libllama directly to check that a lone greedy request is exactly the plain decode loop.
// The plugin's TextStream (UTF-8 and stop-string hold-back) is compiled in and tested directly.
#include <llama.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mlos/smi.h"
#include "smi_test_host.h"
#include "text_stream.h"

namespace {

using mlos_plugin_test::Outputs;
using mlos_plugin_test::RunInfer;
using mlos_plugin_test::Tensor;

const std::string kPluginPath = MLOS_BINARY_DIR "/lib/mlos/plugins/libmlos_llama.so";
const std::string kFixtures = MLOS_BINARY_DIR "/fixtures/";
const std::string kLlama = kFixtures + "tiny-llama.gguf";
const std::string kBert = kFixtures + "tiny-bert.gguf";

// What one model_generate call produced.
struct Generation {
  int code = 0;  // 0 = success
  std::string message;
  std::vector<std::string> chunks;
  std::string text;
  nlohmann::json done;  // on_done's JSON (null when not called)
  int done_calls = 0;
  // Return non-zero from on_token once this many chunks arrived (0 = never).
  int stop_after = 0;
  std::function<void(int chunk_count)> on_chunk;  // optional hook
};

int OnToken(void* user_data, const char* text, uint64_t length) {
  auto* g = static_cast<Generation*>(user_data);
  g->chunks.emplace_back(text, length);
  g->text.append(text, length);
  if (g->on_chunk) g->on_chunk(static_cast<int>(g->chunks.size()));
  return g->stop_after > 0 && static_cast<int>(g->chunks.size()) >= g->stop_after ? 1 : 0;
}

void OnDone(void* user_data, const char* json) {
  auto* g = static_cast<Generation*>(user_data);
  g->done = nlohmann::json::parse(json);
  ++g->done_calls;
}

class LlamaPluginTest : public mlos_plugin_test::PluginTest {
 protected:
  void SetUp() override {
    OpenPlugin(kPluginPath, "llama_plugin_");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(std::filesystem::exists(kLlama)) << kLlama;
    ASSERT_TRUE(std::filesystem::exists(kBert)) << kBert;
    ASSERT_EQ(api_->plugin_init(R"({"threads":1})", &plugin_), nullptr);
  }

  smi_model* Load(const std::string& path, const char* options = nullptr) {
    smi_model_load_params params{};
    params.size = sizeof params;
    const std::string dir = std::filesystem::path(path).parent_path().string();
    params.model_dir = dir.c_str();
    params.model_path = path.c_str();
    params.model_id = "test/model@1";
    params.options_json = options;
    smi_model* model = nullptr;
    smi_error* e = api_->model_load(plugin_, &params, &model);
    if (e != nullptr) {
      ADD_FAILURE() << "load " << path << ": " << api_->error_message(e);
      api_->error_free(e);
      return nullptr;
    }
    models_.push_back(model);
    return model;
  }

  // {code, message} of a load expected to fail.
  std::pair<int, std::string> LoadError(const std::string& path, const char* options = nullptr) {
    smi_model_load_params params{};
    params.size = sizeof params;
    params.model_dir = "/";
    params.model_path = path.c_str();
    params.model_id = "test/bad@1";
    params.options_json = options;
    smi_model* model = nullptr;
    smi_error* e = api_->model_load(plugin_, &params, &model);
    if (e == nullptr) {
      models_.push_back(model);
      return {0, ""};
    }
    std::pair<int, std::string> r{api_->error_code(e), api_->error_message(e)};
    api_->error_free(e);
    return r;
  }

  void Generate(smi_model* model, const std::string& prompt, const std::string& params_json,
                Generation& g, uint64_t request_id = 1) {
    smi_generate_request request{};
    request.size = sizeof request;
    request.prompt = prompt.c_str();
    request.params_json = params_json.c_str();
    request.on_token = &OnToken;
    request.user_data = &g;
    request.request_id = request_id;
    request.on_done = &OnDone;
    smi_error* e = api_->model_generate(model, &request);
    if (e != nullptr) {
      g.code = api_->error_code(e);
      g.message = api_->error_message(e);
      api_->error_free(e);
    }
  }

  Generation Gen(smi_model* model, const std::string& prompt, const std::string& params_json,
                 uint64_t request_id = 1) {
    Generation g;
    Generate(model, prompt, params_json, g, request_id);
    return g;
  }
};

const std::string kGreedy16 = R"({"max_tokens":16,"temperature":0})";

TEST_F(LlamaPluginTest, PluginInfo) {
  const smi_plugin_info* info = api_->get_info();
  EXPECT_STREQ(info->name, "llama");
  EXPECT_NE(std::string(info->framework).find("llama.cpp"), std::string::npos);
  EXPECT_STREQ(info->execution_formats[0], "gguf");
  EXPECT_EQ(info->execution_formats[1], nullptr);
  EXPECT_EQ(info->capabilities, static_cast<uint32_t>(SMI_CAP_STREAMING |
                                                      SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_CANCEL |
                                                      SMI_CAP_DEVICE_CPU));
  EXPECT_NE(api_->model_generate, nullptr);
}

TEST_F(LlamaPluginTest, BadConfigNamesTheKey) {
  for (const auto& [config, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"parallel":0})", "parallel"},
           {R"({"threads":"x"})", "threads"},
           {R"({"ctx_per_slot":-5})", "ctx_per_slot"},
           {R"({"batch":1.5})", "batch"}}) {
    smi_plugin* other = nullptr;
    smi_error* e = api_->plugin_init(config.c_str(), &other);
    ASSERT_NE(e, nullptr) << config;
    EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(api_->error_message(e)).find(key), std::string::npos)
        << api_->error_message(e);
    api_->error_free(e);
  }
  auto [code, message] = LoadError(kLlama, R"({"parallel":"four"})");
  EXPECT_EQ(code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("parallel"), std::string::npos) << message;
  // Unknown keys (e.g. the sandbox proxy's) are ignored.
  EXPECT_EQ(LoadError(kLlama, R"({"parallel":2,"isolation":"process"})").first, 0);
}

TEST_F(LlamaPluginTest, LoadErrorsNameTheFile) {
  auto [code, message] = LoadError(dir_ / "missing.gguf");
  EXPECT_EQ(code, SMI_ERROR_NOT_FOUND);
  EXPECT_NE(message.find("missing.gguf"), std::string::npos) << message;

  const std::string garbage = dir_ / "garbage.gguf";
  std::ofstream(garbage) << "this is not a gguf file";
  std::tie(code, message) = LoadError(garbage);
  EXPECT_EQ(code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("garbage.gguf"), std::string::npos) << message;
}

TEST_F(LlamaPluginTest, IoSchema) {
  smi_model* llama = Load(kLlama);
  smi_model* bert = Load(kBert);
  ASSERT_TRUE(llama && bert);
  ASSERT_EQ(api_->model_input_count(llama), 1u);
  ASSERT_EQ(api_->model_output_count(llama), 1u);
  const smi_tensor* t = nullptr;
  ASSERT_EQ(api_->model_input(llama, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "prompt");
  EXPECT_EQ(t->dtype, SMI_DTYPE_STRING);
  ASSERT_EQ(t->rank, 1u);
  EXPECT_EQ(t->dims[0], -1);
  ASSERT_EQ(api_->model_output(llama, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "text");
  EXPECT_EQ(t->dtype, SMI_DTYPE_STRING);

  ASSERT_EQ(api_->model_input(bert, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "text");
  EXPECT_EQ(t->dtype, SMI_DTYPE_STRING);
  ASSERT_EQ(api_->model_output(bert, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "embedding");
  EXPECT_EQ(t->dtype, SMI_DTYPE_FLOAT32);
  ASSERT_EQ(t->rank, 2u);
  EXPECT_EQ(t->dims[0], -1);
  EXPECT_EQ(t->dims[1], 32);
}

TEST_F(LlamaPluginTest, GreedyIsDeterministic) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  Generation a = Gen(model, "The quick brown fox", kGreedy16);
  ASSERT_EQ(a.code, 0) << a.message;
  Generation b = Gen(model, "The quick brown fox", kGreedy16);
  ASSERT_EQ(b.code, 0) << b.message;
  EXPECT_FALSE(a.text.empty());
  EXPECT_EQ(a.text, b.text);
  ASSERT_EQ(a.done_calls, 1);
  EXPECT_EQ(a.done["completion_tokens"], 16);
  EXPECT_EQ(a.done["finish_reason"], "length");
  EXPECT_GT(a.done["prompt_tokens"].get<int>(), 1);
  // A fresh model (empty cache) gives the same text too.
  smi_model* other = Load(kLlama);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Gen(other, "The quick brown fox", kGreedy16).text, a.text);
}

// A lone greedy request is the plain libllama loop: the prompt in one batch, then argmax and
// decode one token at a time.
TEST_F(LlamaPluginTest, LoneGreedyRequestMatchesDirectLibllama) {
  smi_model* model = Load(kLlama);  // parallel 4, ctx_per_slot 512 (the model's context), batch 512
  ASSERT_NE(model, nullptr);
  const std::string prompt = "Once upon a time, in a land far away";
  const int n_generate = 24;
  Generation g = Gen(model, prompt, R"({"max_tokens":24,"temperature":0})");
  ASSERT_EQ(g.code, 0) << g.message;

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* direct = llama_model_load_from_file(kLlama.c_str(), mp);
  ASSERT_NE(direct, nullptr);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 512;
  cp.n_batch = cp.n_ubatch = 512;
  cp.n_threads = cp.n_threads_batch = 1;
  llama_context* ctx = llama_init_from_model(direct, cp);
  ASSERT_NE(ctx, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(direct);
  std::vector<llama_token> tokens(prompt.size() + 8);
  tokens.resize(llama_tokenize(vocab, prompt.data(), static_cast<int32_t>(prompt.size()),
                               tokens.data(), static_cast<int32_t>(tokens.size()), true, true));
  std::string text;
  std::vector<std::string> pieces;
  const int32_t n_prompt = static_cast<int32_t>(tokens.size());
  ASSERT_EQ(llama_decode(ctx, llama_batch_get_one(tokens.data(), n_prompt)), 0);
  for (int i = 0; i < n_generate; ++i) {
    const float* logits = llama_get_logits_ith(ctx, -1);
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    llama_token best = 0;
    for (llama_token t = 1; t < n_vocab; ++t) {
      if (logits[t] > logits[best]) best = t;
    }
    char buf[256];
    const int32_t n = llama_token_to_piece(vocab, best, buf, sizeof buf, 0, false);
    pieces.emplace_back(buf, n > 0 ? n : 0);
    text += pieces.back();
    ASSERT_EQ(llama_decode(ctx, llama_batch_get_one(&best, 1)), 0);
  }
  llama_free(ctx);
  llama_model_free(direct);
  EXPECT_EQ(g.text, text);
  EXPECT_EQ(g.done["prompt_tokens"], static_cast<int>(tokens.size()));
}

TEST_F(LlamaPluginTest, StreamingChunksConcatenateToTheText) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  Generation streamed = Gen(model, "Streaming test", R"({"max_tokens":20,"temperature":0})");
  ASSERT_EQ(streamed.code, 0) << streamed.message;
  EXPECT_EQ(streamed.chunks.size(), 20u);  // one chunk per generated token
  std::string joined;
  for (const std::string& c : streamed.chunks) joined += c;
  EXPECT_EQ(joined, streamed.text);

  // The same through model_infer (max_tokens 128, greedy): the streamed text is its prefix.
  const std::string prompt = "Streaming test";
  smi_string s{prompt.data(), prompt.size()};
  Outputs outputs;
  auto [code, message] = RunInfer(api_, model,
                                  {Tensor("prompt", SMI_DTYPE_STRING, {1}, &s, sizeof s)},
                                  outputs, {}, 5);
  ASSERT_EQ(code, 0) << message;
  const auto* text = outputs.Find("text");
  ASSERT_NE(text, nullptr);
  ASSERT_EQ(text->strings.size(), 1u);
  EXPECT_EQ(text->strings[0].substr(0, streamed.text.size()), streamed.text);
  Generation full = Gen(model, prompt, R"({"max_tokens":128})");
  EXPECT_EQ(full.text, text->strings[0]);
}

TEST_F(LlamaPluginTest, MaxTokensEndsWithLength) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  Generation g = Gen(model, "Count", R"({"max_tokens":5,"temperature":0})");
  ASSERT_EQ(g.code, 0) << g.message;
  EXPECT_EQ(g.done["completion_tokens"], 5);
  EXPECT_EQ(g.done["finish_reason"], "length");
  EXPECT_EQ(g.chunks.size(), 5u);
  Generation zero = Gen(model, "Count", R"({"max_tokens":0})");
  ASSERT_EQ(zero.code, 0) << zero.message;
  EXPECT_EQ(zero.done["completion_tokens"], 0);
  EXPECT_EQ(zero.text, "");
}

TEST_F(LlamaPluginTest, StopStringEndsWithStopAndIsNotEmitted) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  const std::string prompt = "Stop strings";
  Generation solo = Gen(model, prompt, R"({"max_tokens":24,"temperature":0})");
  ASSERT_EQ(solo.code, 0) << solo.message;
  // A chunk whose text first appears where that chunk starts becomes the stop string.
  std::string stop;
  size_t offset = 0, at = 0;
  for (size_t i = 0; i < solo.chunks.size(); ++i) {
    const std::string& c = solo.chunks[i];
    if (i >= 3 && c.size() >= 2 && solo.text.find(c) == offset) {
      stop = c;
      at = offset;
      break;
    }
    offset += c.size();
  }
  ASSERT_FALSE(stop.empty()) << "no usable chunk in: " << solo.text;
  const nlohmann::json params = {{"max_tokens", 24}, {"temperature", 0}, {"stop", {stop}}};
  Generation g = Gen(model, prompt, params.dump());
  ASSERT_EQ(g.code, 0) << g.message;
  EXPECT_EQ(g.done["finish_reason"], "stop");
  EXPECT_EQ(g.text, solo.text.substr(0, at));
  EXPECT_EQ(g.text.find(stop), std::string::npos);
  EXPECT_LT(g.done["completion_tokens"].get<int>(), 24);
}

TEST_F(LlamaPluginTest, ChatMessagesUseTheTemplate) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  const nlohmann::json params = {
      {"max_tokens", 8},
      {"temperature", 0},
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}}};
  Generation chat = Gen(model, "ignored", params.dump());
  ASSERT_EQ(chat.code, 0) << chat.message;
  EXPECT_EQ(chat.done["completion_tokens"], 8);
  // chatml (the fixture's template), written out by hand, gives the same generation.
  const std::string chatml =
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\n";
  Generation raw = Gen(model, chatml, R"({"max_tokens":8,"temperature":0})");
  ASSERT_EQ(raw.code, 0) << raw.message;
  EXPECT_EQ(chat.text, raw.text);
  EXPECT_EQ(chat.done["prompt_tokens"], raw.done["prompt_tokens"]);
}

TEST_F(LlamaPluginTest, BadParamsNameTheKey) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "hello ";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"hi", R"({"max_tokens":-2})", "max_tokens"},
      {"hi", R"({"temperature":"x"})", "temperature"},
      {"hi", R"({"top_p":2})", "top_p"},
      {"hi", R"({"top_k":-1})", "top_k"},
      {"hi", R"({"seed":-1})", "seed"},
      {"hi", R"({"max_tokens":1e30})", "max_tokens"},
      {"hi", R"({"max_tokens":2.5})", "max_tokens"},
      {"hi", R"({"repeat_penalty":0})", "repeat_penalty"},
      {"hi", R"({"stop":[1]})", "stop"},
      {"hi", R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {"hi", "not json", "params_json"},
      {"", "{}", "prompt"},
      {long_prompt, "{}", "the context holds 512"},
  };
  for (const auto& [prompt, params, key] : cases) {
    Generation g = Gen(model, prompt, params);
    EXPECT_EQ(g.code, SMI_ERROR_INVALID_ARGUMENT) << params;
    EXPECT_NE(g.message.find(key), std::string::npos) << params << ": " << g.message;
    EXPECT_TRUE(g.chunks.empty());
    EXPECT_EQ(g.done_calls, 0);
  }
}

TEST_F(LlamaPluginTest, OnTokenNonZeroCancels) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  Generation g;
  g.stop_after = 2;
  Generate(model, "Cancel me", R"({"max_tokens":100,"temperature":0})", g);
  EXPECT_EQ(g.code, SMI_ERROR_CANCELLED) << g.message;
  EXPECT_EQ(g.chunks.size(), 2u);
  ASSERT_EQ(g.done_calls, 1);
  EXPECT_EQ(g.done["finish_reason"], "cancelled");
  EXPECT_EQ(g.done["completion_tokens"], 2);  // what the client was given
  // The slot is free again.
  EXPECT_EQ(Gen(model, "after", R"({"max_tokens":3})").code, 0);
}

TEST_F(LlamaPluginTest, ModelCancelFromAnotherThread) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  Generation g;
  std::atomic<bool> started{false};
  g.on_chunk = [&](int) { started = true; };
  std::thread worker(
      [&] { Generate(model, "Run until cancelled", R"({"temperature":0})", g, 77); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  api_->model_cancel(model, 76);  // another id: no effect
  api_->model_cancel(model, 77);
  worker.join();
  EXPECT_EQ(g.code, SMI_ERROR_CANCELLED) << g.message;
  EXPECT_EQ(g.done["finish_reason"], "cancelled");
  EXPECT_LT(g.done["completion_tokens"].get<int>(), 400);
}

TEST_F(LlamaPluginTest, ConcurrentGenerationsAllComplete) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  const int n = 6;  // more than the 4 slots: two wait for a free one
  std::vector<Generation> gens(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      const std::string params = R"({"max_tokens":)" + std::to_string(10 + i) +
                                 R"(,"temperature":0.7,"seed":)" + std::to_string(i) + "}";
      Generate(model, "Thread " + std::to_string(i) + " says", params, gens[i], 100 + i);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(gens[i].code, 0) << i << ": " << gens[i].message;
    EXPECT_EQ(gens[i].done["completion_tokens"], 10 + i);
    EXPECT_EQ(gens[i].chunks.size(), static_cast<size_t>(10 + i));
    EXPECT_EQ(gens[i].done["finish_reason"], "length");
  }
  // A lone greedy run is still reproducible after the batched ones.
  Generation a = Gen(model, "Solo after batch", kGreedy16);
  Generation b = Gen(model, "Solo after batch", kGreedy16);
  EXPECT_EQ(a.text, b.text);
}

TEST_F(LlamaPluginTest, IdenticalConcurrentGreedyRequestsAgree) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  std::vector<Generation> gens(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { Generate(model, "Same prompt for all", kGreedy16, gens[i], i); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(gens[i].code, 0) << gens[i].message;
    EXPECT_EQ(gens[i].text, gens[0].text) << i;
  }
}

TEST_F(LlamaPluginTest, SeededSamplingIsReproducible) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  const std::string params = R"({"max_tokens":12,"temperature":1.0,"top_k":50,"seed":42})";
  EXPECT_EQ(Gen(model, "Sample", params).text, Gen(model, "Sample", params).text);
}

TEST_F(LlamaPluginTest, SamePromptTwiceReusesTheCache) {
  smi_model* model = Load(kLlama);
  ASSERT_NE(model, nullptr);
  const std::string prompt = "A shared prefix that is long enough to be worth keeping around";
  Generation first = Gen(model, prompt, kGreedy16);
  ASSERT_EQ(first.code, 0) << first.message;
  EXPECT_EQ(first.done["cached_tokens"], 0);
  Generation second = Gen(model, prompt, kGreedy16);
  ASSERT_EQ(second.code, 0) << second.message;
  EXPECT_GT(second.done["cached_tokens"].get<int>(), 0);
  EXPECT_EQ(second.done["cached_tokens"].get<int>(), first.done["prompt_tokens"].get<int>() - 1);
  EXPECT_EQ(first.text, second.text);
}

TEST_F(LlamaPluginTest, EmbeddingsAreNormalisedRows) {
  smi_model* model = Load(kBert);
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = {"hello world", "hello world", "something else entirely"};
  std::vector<smi_string> strings;
  for (const std::string& t : texts) strings.push_back({t.data(), t.size()});
  Outputs outputs;
  auto [code, message] =
      RunInfer(api_, model,
               {Tensor("text", SMI_DTYPE_STRING, {3}, strings.data(),
                       strings.size() * sizeof(smi_string))},
               outputs, {"embedding"}, 9);
  ASSERT_EQ(code, 0) << message;
  const auto* out = outputs.Find("embedding");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(out->dims, (std::vector<int64_t>{3, 32}));
  const std::vector<float> v = out->values<float>();
  ASSERT_EQ(v.size(), 96u);
  for (int r = 0; r < 3; ++r) {
    double norm = 0;
    for (int d = 0; d < 32; ++d) norm += double(v[r * 32 + d]) * v[r * 32 + d];
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4) << "row " << r;
  }
  EXPECT_TRUE(std::equal(v.begin(), v.begin() + 32, v.begin() + 32));
  EXPECT_FALSE(std::equal(v.begin(), v.begin() + 32, v.begin() + 64));

  // One text alone gives the row it got in the batch.
  Outputs single;
  ASSERT_EQ(RunInfer(api_, model,
                     {Tensor("text", SMI_DTYPE_STRING, {1}, &strings[2], sizeof(smi_string))},
                     single, {}, 10)
                .first,
            0);
  const std::vector<float> s = single.Find("embedding")->values<float>();
  for (int d = 0; d < 32; ++d) EXPECT_NEAR(s[d], v[64 + d], 1e-5);
}

TEST_F(LlamaPluginTest, EmbeddingModelRefusesGenerateAndLongTexts) {
  smi_model* model = Load(kBert);
  ASSERT_NE(model, nullptr);
  Generation g = Gen(model, "hi", "{}");
  EXPECT_EQ(g.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(g.message.find("is an embedding model"), std::string::npos) << g.message;

  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "word ";
  smi_string s{long_text.data(), long_text.size()};
  Outputs outputs;
  auto [code, message] = RunInfer(
      api_, model, {Tensor("text", SMI_DTYPE_STRING, {1}, &s, sizeof s)}, outputs, {}, 11);
  EXPECT_EQ(code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("\"text\""), std::string::npos) << message;

  std::tie(code, message) = RunInfer(
      api_, model, {Tensor("prompt", SMI_DTYPE_STRING, {1}, &s, sizeof s)}, outputs, {}, 12);
  EXPECT_EQ(code, SMI_ERROR_NOT_FOUND) << message;
}

TEST_F(LlamaPluginTest, MemoryCoversTheModelFile) {
  for (const std::string& path : {kLlama, kBert}) {
    smi_model* model = Load(path);
    ASSERT_NE(model, nullptr);
    smi_memory_info info{};
    info.size = sizeof info;
    ASSERT_EQ(api_->model_memory(model, &info), nullptr);
    EXPECT_GT(info.host_bytes, std::filesystem::file_size(path)) << path;
    EXPECT_EQ(info.shared_bytes, 0u);
  }
}

TEST_F(LlamaPluginTest, UnloadDuringGenerationFailsItWithUnavailable) {
  smi_model_load_params params{};
  params.size = sizeof params;
  params.model_dir = kFixtures.c_str();
  params.model_path = kLlama.c_str();
  params.model_id = "test/unload@1";
  smi_model* model = nullptr;
  ASSERT_EQ(api_->model_load(plugin_, &params, &model), nullptr);
  Generation g;
  std::atomic<bool> started{false};
  g.on_chunk = [&](int) {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow client
  };
  std::thread worker([&] { Generate(model, "Unload me", R"({"temperature":0})", g, 5); });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  api_->model_unload(model);  // waits for the generation to leave the plugin
  worker.join();
  EXPECT_EQ(g.code, SMI_ERROR_UNAVAILABLE) << g.message;
  EXPECT_NE(g.message.find("unloading"), std::string::npos) << g.message;
}

// ---- TextStream -------------------------------------------------------------------------------

using mlos::llama_plugin::TextStream;

TEST(LlamaTextStreamTest, NeverSplitsAUtf8Character) {
  TextStream stream;
  bool stopped = false;
  EXPECT_EQ(stream.Push("a\xE2\x82", &stopped), "a");
  EXPECT_EQ(stream.Push("\xAC", &stopped), "\xE2\x82\xAC");
  EXPECT_EQ(stream.Push("\xF0\x9F", &stopped), "");
  EXPECT_EQ(stream.Flush(), "");  // an incomplete character at the end is dropped
  EXPECT_FALSE(stopped);
}

TEST(LlamaTextStreamTest, HoldsBackAPossibleStopStringAndCutsBeforeIt) {
  TextStream stream({"END", "\n\n"});
  bool stopped = false;
  EXPECT_EQ(stream.Push("abc E", &stopped), "abc ");
  EXPECT_EQ(stream.Push("N", &stopped), "");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(stream.Push("D and more", &stopped), "");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(stream.Flush(), "");
}

TEST(LlamaTextStreamTest, ReleasesHeldTextThatIsNotAStop) {
  TextStream stream({"END"});
  bool stopped = false;
  EXPECT_EQ(stream.Push("xE", &stopped), "x");
  EXPECT_EQ(stream.Push("Nx", &stopped), "ENx");
  EXPECT_EQ(stream.Push("EN", &stopped), "");
  EXPECT_EQ(stream.Flush(), "EN");
  EXPECT_FALSE(stopped);
}

TEST(LlamaTextStreamTest, StopInsideOnePieceKeepsTheTextBefore) {
  TextStream stream({"</s>"});
  bool stopped = false;
  EXPECT_EQ(stream.Push("hello</s>world", &stopped), "hello");
  EXPECT_TRUE(stopped);
}

}  // namespace
