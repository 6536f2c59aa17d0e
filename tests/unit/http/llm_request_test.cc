// The LLM APIs' request translation (llm_request.h): OpenAI, Ollama and KServe generate bodies
// into one GenerationRequest, the params_json the plugin gets, model-name mapping, and the
// routes they arrive on.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/http/llm_request.h"
#include "api/http/router.h"

namespace mlos::http::llm {
namespace {

using nlohmann::json;

json Params(const GenerationRequest& r) { return json::parse(ParamsJson(r)); }

TEST(LlmRequest, OpenAIChatTranslatesSamplingAndMessages) {
  std::string param;
  auto r = ParseOpenAIChat(R"({"model":"local/tiny-llama","messages":[
      {"role":"developer","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
      "max_completion_tokens":12,"temperature":0,"top_p":0.5,"seed":7,"stop":"\n",
      "stream":true,"stream_options":{"include_usage":true},"frequency_penalty":0.1})",
                           &param);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->model, "local/tiny-llama");
  EXPECT_TRUE(r->chat);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  const json p = Params(*r);
  EXPECT_EQ(p["max_tokens"], 12);
  EXPECT_EQ(p["temperature"], 0.0);
  EXPECT_EQ(p["top_p"], 0.5);
  EXPECT_EQ(p["seed"], 7);
  EXPECT_EQ(p["stop"], json::array({"\n"}));
  ASSERT_EQ(p["messages"].size(), 2u);
  EXPECT_EQ(p["messages"][0]["role"], "system");
  EXPECT_EQ(p["messages"][1]["content"], "hi there");
  EXPECT_FALSE(p.contains("top_k"));
}

TEST(LlmRequest, OpenAIBadInputNamesTheParam) {
  struct Row {
    const char* body;
    const char* param;
  };
  const Row rows[] = {
      {R"({"model":"a/b","messages":[]})", "messages"},
      {R"({"model":"a/b"})", "messages"},
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"a/b","messages":[{"role":"user","content":"x"}],"max_tokens":-1})",
       "max_tokens"},
      {R"({"model":"a/b","messages":[{"role":"user","content":"x"}],"temperature":3})",
       "temperature"},
      {R"({"model":"a/b","messages":[{"role":"wizard","content":"x"}]})", "messages"},
      {R"({"model":"a/b","messages":[{"role":"user","content":"x"}],"n":2})", "n"},
      {R"({"model":"a/b","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
  };
  for (const Row& row : rows) {
    std::string param;
    auto r = ParseOpenAIChat(row.body, &param);
    ASSERT_FALSE(r.ok()) << row.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << row.body;
    EXPECT_EQ(param, row.param) << row.body << ": " << r.status().message();
  }
  EXPECT_FALSE(ParseOpenAIChat("not json").ok());
  EXPECT_FALSE(ParseOpenAIChat("[1]").ok());
}

TEST(LlmRequest, OpenAICompletionDefaultsAndPromptForms) {
  auto r = ParseOpenAICompletion(R"({"model":"a/b","prompt":"Once"})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->chat);
  EXPECT_EQ(r->prompt, "Once");
  EXPECT_EQ(Params(*r)["max_tokens"], 16);  // the legacy endpoint's default
  EXPECT_FALSE(Params(*r).contains("messages"));
  auto one = ParseOpenAICompletion(R"({"model":"a/b","prompt":["x"],"max_tokens":3})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->prompt, "x");
  std::string param;
  EXPECT_FALSE(ParseOpenAICompletion(R"({"model":"a/b","prompt":[1,2]})", &param).ok());
  EXPECT_EQ(param, "prompt");
  EXPECT_FALSE(ParseOpenAICompletion(R"({"model":"a/b","prompt":["x","y"]})").ok());
}

TEST(LlmRequest, OpenAIEmbeddings) {
  auto one = ParseOpenAIEmbeddings(R"({"model":"a/bert","input":"hello"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->inputs, std::vector<std::string>{"hello"});
  EXPECT_FALSE(one->base64);
  auto many = ParseOpenAIEmbeddings(
      R"({"model":"a/bert","input":["a","b"],"encoding_format":"base64"})");
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->inputs.size(), 2u);
  EXPECT_TRUE(many->base64);
  EXPECT_FALSE(ParseOpenAIEmbeddings(R"({"model":"a/bert","input":[]})").ok());
  EXPECT_FALSE(ParseOpenAIEmbeddings(R"({"model":"a/bert","input":[[1,2]]})").ok());
  EXPECT_FALSE(
      ParseOpenAIEmbeddings(R"({"model":"a/bert","input":"x","encoding_format":"q"})").ok());
}

TEST(LlmRequest, OllamaChatAndGenerate) {
  auto chat = ParseOllamaChat(R"({"model":"local/tiny-llama:latest",
      "messages":[{"role":"user","content":"hi"}],
      "options":{"num_predict":5,"temperature":0.2,"top_k":40,"top_p":0.9,"min_p":0.05,
                 "repeat_penalty":1.1,"repeat_last_n":64,"seed":3,"stop":["x","y"],"num_ctx":512},
      "keep_alive":"5m"})");
  ASSERT_TRUE(chat.ok()) << chat.status().message();
  EXPECT_TRUE(chat->stream);  // Ollama's default
  ASSERT_TRUE(chat->options.keep_alive);
  EXPECT_EQ(chat->options.keep_alive->count(), 300000);
  const json p = Params(*chat);
  EXPECT_EQ(p["max_tokens"], 5);
  EXPECT_EQ(p["top_k"], 40);
  EXPECT_EQ(p["min_p"], 0.05);
  EXPECT_EQ(p["repeat_penalty"], 1.1);
  EXPECT_EQ(p["repeat_last_n"], 64);
  EXPECT_EQ(p["seed"], 3);
  EXPECT_EQ(p["stop"].size(), 2u);
  EXPECT_EQ(p["messages"][0]["content"], "hi");

  auto gen = ParseOllamaGenerate(
      R"({"model":"a/b","prompt":"p","stream":false,"raw":true,"keep_alive":0,
          "options":{"num_predict":-1}})");
  ASSERT_TRUE(gen.ok()) << gen.status().message();
  EXPECT_FALSE(gen->stream);
  EXPECT_TRUE(gen->raw);
  EXPECT_EQ(gen->options.keep_alive->count(), 0);
  EXPECT_FALSE(Params(*gen).contains("max_tokens"));  // -1: no limit
  auto forever = ParseOllamaGenerate(R"({"model":"a/b","keep_alive":-1})");
  ASSERT_TRUE(forever.ok());
  EXPECT_LT(forever->options.keep_alive->count(), 0);
  EXPECT_FALSE(ParseOllamaGenerate(R"({"model":"a/b","keep_alive":"5x"})").ok());
  EXPECT_FALSE(ParseOllamaGenerate(R"({"prompt":"x"})").ok());
  EXPECT_FALSE(ParseOllamaGenerate(R"({"model":"a/b","options":{"temperature":"hot"}})").ok());
  // No messages: allowed (Ollama loads the model).
  auto load = ParseOllamaChat(R"({"model":"a/b"})");
  ASSERT_TRUE(load.ok());
  EXPECT_TRUE(load->messages.empty());
}

TEST(LlmRequest, OllamaEmbedAndShow) {
  auto e = ParseOllamaEmbed(R"({"model":"a/bert","input":["x","y"]})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inputs.size(), 2u);
  auto legacy = ParseOllamaEmbed(R"({"model":"a/bert","prompt":"x"})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->inputs, std::vector<std::string>{"x"});
  EXPECT_FALSE(ParseOllamaEmbed(R"({"model":"a/bert"})").ok());
  EXPECT_EQ(*ParseOllamaModelField(R"({"name":"a/b:latest"})"), "a/b:latest");
  EXPECT_EQ(*ParseOllamaModelField(R"({"model":"a/b"})"), "a/b");
  EXPECT_FALSE(ParseOllamaModelField("{}").ok());
}

TEST(LlmRequest, OllamaModelNames) {
  EXPECT_EQ(OllamaModelId("local/tiny-llama"), "local/tiny-llama");
  EXPECT_EQ(OllamaModelId("local/tiny-llama:latest"), "local/tiny-llama");
  EXPECT_EQ(OllamaModelId("local/tiny-llama:1.0.0"), "local/tiny-llama@1.0.0");
  EXPECT_EQ(OllamaModelId("local/tiny-llama:stable"), "local/tiny-llama@stable");
  EXPECT_EQ(OllamaModelId("local/tiny-llama@1.0.0"), "local/tiny-llama@1.0.0");
  EXPECT_EQ(OllamaModelId("host:11434/ns/m"), "host:11434/ns/m");
  EXPECT_EQ(OllamaModelName("local/tiny-llama", "1.0.0", true), "local/tiny-llama:latest");
  EXPECT_EQ(OllamaModelName("local/tiny-llama", "1.0.0", false), "local/tiny-llama:1.0.0");
}

TEST(LlmRequest, KServeGenerate) {
  auto r = ParseKServeGenerate(
      R"({"text_input":"Hello","max_tokens":4,"parameters":{"temperature":0,"max_tokens":8,
          "priority":1,"stop":["."]}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->prompt, "Hello");
  EXPECT_FALSE(r->chat);
  EXPECT_EQ(r->options.priority, 1);
  const json p = Params(*r);
  EXPECT_EQ(p["max_tokens"], 8);  // parameters win over the top level
  EXPECT_EQ(p["temperature"], 0.0);
  EXPECT_EQ(p["stop"], json::array({"."}));
  EXPECT_FALSE(ParseKServeGenerate(R"({"parameters":{}})").ok());
  EXPECT_FALSE(ParseKServeGenerate(R"({"text_input":"x","parameters":{"max_tokens":-2}})").ok());
  EXPECT_FALSE(ParseKServeGenerate(R"({"text_input":"x","parameters":{"priority":-1}})").ok());
}

TEST(LlmRequest, EncodingHelpers) {
  using namespace std::chrono;
  EXPECT_EQ(Rfc3339(system_clock::time_point(seconds(0)) + nanoseconds(5)),
            "1970-01-01T00:00:00.000000005Z");
  EXPECT_EQ(ParameterSize(0), "");
  EXPECT_EQ(ParameterSize(1'230'000), "1.2M");
  EXPECT_EQ(ParameterSize(7'240'000'000ull), "7.2B");
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
  EXPECT_EQ(ValidUtf8("a\x80" "b"), "a\xef\xbf\xbd" "b");       // lone continuation byte
  EXPECT_EQ(ValidUtf8("\xe6\x97"), "\xef\xbf\xbd\xef\xbf\xbd");  // truncated
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_STREQ(OpenAIFinishReason("length"), "length");
  EXPECT_STREQ(OpenAIFinishReason("stop"), "stop");
  EXPECT_STREQ(OpenAIFinishReason("cancelled"), "stop");
}

TEST(LlmRoutes, MatchAndPools) {
  EXPECT_EQ(MatchRoute(Method::kGet, "/v1/models").route, Route::kOpenAIModels);
  auto one = MatchRoute(Method::kGet, "/v1/models/local/tiny-llama@1.0.0");
  EXPECT_EQ(one.route, Route::kOpenAIModel);
  EXPECT_EQ(one.model, "local/tiny-llama@1.0.0");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v1/chat/completions").route, Route::kOpenAIChat);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v1/chat/completions").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kPost, "/v1/completions").route, Route::kOpenAICompletions);
  EXPECT_EQ(MatchRoute(Method::kPost, "/v1/embeddings").route, Route::kOpenAIEmbeddings);
  EXPECT_EQ(MatchRoute(Method::kPost, "/v1/nope").error_status, 404);
  EXPECT_EQ(MatchRoute(Method::kPost, "/api/chat").route, Route::kOllamaChat);
  EXPECT_EQ(MatchRoute(Method::kPost, "/api/generate").route, Route::kOllamaGenerate);
  EXPECT_EQ(MatchRoute(Method::kPost, "/api/embed").route, Route::kOllamaEmbed);
  EXPECT_EQ(MatchRoute(Method::kPost, "/api/embeddings").route, Route::kOllamaEmbeddings);
  EXPECT_EQ(MatchRoute(Method::kGet, "/api/tags").route, Route::kOllamaTags);
  EXPECT_EQ(MatchRoute(Method::kPost, "/api/show").route, Route::kOllamaShow);
  EXPECT_EQ(MatchRoute(Method::kGet, "/api/ps").route, Route::kOllamaPs);
  EXPECT_EQ(MatchRoute(Method::kGet, "/api/version").route, Route::kOllamaVersion);
  EXPECT_EQ(MatchRoute(Method::kGet, "/api/chat").error_status, 405);
  auto gen = MatchRoute(Method::kPost, "/v2/models/local%2Ftiny-llama/versions/1.0.0/generate");
  EXPECT_EQ(gen.route, Route::kV2ModelGenerate);
  EXPECT_EQ(gen.model, "local/tiny-llama");
  EXPECT_EQ(gen.version, "1.0.0");
  auto stream = MatchRoute(Method::kPost, "/v2/models/local/tiny-llama/generate_stream");
  EXPECT_EQ(stream.route, Route::kV2ModelGenerateStream);
  EXPECT_EQ(stream.model, "local/tiny-llama");
  for (Route r : {Route::kOpenAIChat, Route::kOpenAICompletions, Route::kOpenAIEmbeddings,
                  Route::kOllamaChat, Route::kOllamaGenerate, Route::kOllamaEmbed,
                  Route::kV2ModelGenerate, Route::kV2ModelGenerateStream}) {
    EXPECT_TRUE(IsGenerateRoute(r));
    EXPECT_FALSE(IsInferRoute(r));
    EXPECT_FALSE(IsBlockingRoute(r));
  }
  EXPECT_FALSE(IsGenerateRoute(Route::kOpenAIModels));
  EXPECT_FALSE(IsGenerateRoute(Route::kOllamaTags));
}

}  // namespace
}  // namespace mlos::http::llm
