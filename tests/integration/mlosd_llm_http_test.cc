// The LLM HTTP APIs on the real mlosd with the llama plugin and the GGUF fixtures: OpenAI
// (/v1/models, chat and completions streamed and not, embeddings), Ollama (/api/chat, generate,
// embed, embeddings, tags, show, ps, keep_alive 0 unload) and the KServe generate extension;
// each API's framing (SSE with [DONE], NDJSON, chunked transfer), its error shapes and
// statuses, and a client that disconnects mid-stream stopping the generation on the server.
#include <cmath>

#include "llm_http_harness.h"

namespace mlostest {
namespace {

const std::string kLlamaId = kLlama + "@1.0.0";
const std::string kBertId = kBert + "@1.0.0";

class MlosdLlmHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = LlmPrerequisites(); !why.empty()) GTEST_SKIP() << why;
    llm_ = std::make_unique<LlmDaemon>(tmp_.path());
    ASSERT_TRUE(llm_->Start());
  }
  void TearDown() override {
    if (llm_ && llm_->port()) {
      EXPECT_LE(WaitGenerationsIdle(llm_->daemon(), kLlamaId), 0);
      EXPECT_EQ(llm_->daemon().Stop(SIGTERM), 0) << llm_->daemon().Log();
    }
  }
  Reply Post(const std::string& path, const json& body) {
    return llm_->daemon().Post(path, body.dump());
  }
  Reply Get(const std::string& path) { return llm_->daemon().Get(path); }
  static json Chat(int max_tokens, bool stream = false) {
    return {{"model", kLlama},
            {"messages", {{{"role", "user"}, {"content", "Say hello."}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"stream", stream}};
  }
  std::string Log() { return llm_->daemon().Log(); }

  TempDir tmp_;
  std::unique_ptr<LlmDaemon> llm_;
};

void ExpectOpenAIError(const Reply& r, int status, const std::string& type, const char* param,
                       const char* code = nullptr) {
  EXPECT_EQ(r.status, status) << r.body;
  const json j = r.Json();
  ASSERT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r.body;
  EXPECT_EQ(j["error"]["type"], type) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
  if (param) {
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  }
  if (code) {
    EXPECT_EQ(j["error"]["code"], code) << r.body;
  }
}

TEST_F(MlosdLlmHttpTest, OpenAIModels) {
  Reply list = Get("/v1/models");
  ASSERT_EQ(list.status, 200) << list.body;
  const json j = list.Json();
  EXPECT_EQ(j["object"], "list");
  std::vector<std::string> ids;
  for (const json& m : j["data"]) {
    ids.push_back(m["id"]);
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["owned_by"], "mlos");
    EXPECT_TRUE(m["created"].is_number_integer());
  }
  for (const std::string& want : {kLlama, kLlamaId, kBert, kBertId}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), want), ids.end()) << want << " in " << list.body;
  }
  Reply one = Get("/v1/models/" + kLlamaId);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json()["id"], kLlamaId);
  ExpectOpenAIError(Get("/v1/models/local/nope"), 404, "invalid_request_error", "model",
                    "model_not_found");
}

TEST_F(MlosdLlmHttpTest, OpenAIChatWholeAndStreamedAgree) {
  Reply a = Post("/v1/chat/completions", Chat(6));
  ASSERT_EQ(a.status, 200) << a.body << Log();
  const json j = a.Json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], kLlama);
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");  // tiny-llama never stops by itself
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(),
            j["usage"]["prompt_tokens"].get<int>() + 6);
  const std::string text = j["choices"][0]["message"]["content"];
  Reply b = Post("/v1/chat/completions", Chat(6));
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.Json()["choices"][0]["message"]["content"], text) << "temperature 0 differs";

  json streamed = Chat(6, true);
  streamed["stream_options"] = {{"include_usage", true}};
  Reply s = Post("/v1/chat/completions", streamed);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.headers["content-type"].find("text/event-stream"), std::string::npos);
  EXPECT_NE(s.headers["transfer-encoding"].find("chunked"), std::string::npos);
  bool complete = false;
  const std::vector<std::string> events = SseData(Dechunk(s, &complete));
  EXPECT_TRUE(complete) << s.body;
  ASSERT_GE(events.size(), 4u) << s.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string joined;
  int finish_chunks = 0;
  json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json c = json::parse(events[i], nullptr, false);
    ASSERT_TRUE(c.is_object()) << events[i];
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], json::parse(events[0])["id"]);
    if (c["usage"].is_object()) usage = c["usage"];
    if (c["choices"].empty()) continue;
    const json& choice = c["choices"][0];
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant") << events[i];
    }
    if (choice["delta"].contains("content")) {
      joined += choice["delta"]["content"].get<std::string>();
    }
    if (!choice["finish_reason"].is_null()) {
      ++finish_chunks;
      EXPECT_EQ(choice["finish_reason"], "length");
    }
  }
  EXPECT_EQ(finish_chunks, 1);
  EXPECT_EQ(joined, text);
  ASSERT_TRUE(usage.is_object()) << s.body;
  EXPECT_EQ(usage["completion_tokens"], 6);
}

TEST_F(MlosdLlmHttpTest, OpenAICompletions) {
  json body = {{"model", kLlamaId}, {"prompt", "Once upon a time"}, {"max_tokens", 5},
               {"temperature", 0}};
  Reply r = Post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body << Log();
  const json j = r.Json();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  body["stream"] = true;
  Reply s = Post("/v1/completions", body);
  ASSERT_EQ(s.status, 200) << s.body;
  std::string text;
  const auto events = SseData(Dechunk(s));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    text += json::parse(events[i])["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, j["choices"][0]["text"]);
}

TEST_F(MlosdLlmHttpTest, OpenAIErrors) {
  json empty = Chat(4);
  empty["messages"] = json::array();
  ExpectOpenAIError(Post("/v1/chat/completions", empty), 400, "invalid_request_error", "messages");
  ExpectOpenAIError(Post("/v1/chat/completions", Chat(-1)), 400, "invalid_request_error",
                    "max_tokens");
  json unknown = Chat(4);
  unknown["model"] = "local/no-such-model";
  ExpectOpenAIError(Post("/v1/chat/completions", unknown), 404, "invalid_request_error", "model",
                    "model_not_found");
  json long_prompt = Chat(4);
  std::string words;
  for (int i = 0; i < 2000; ++i) words += "hello ";
  long_prompt["messages"][0]["content"] = words;
  Reply too_long = Post("/v1/chat/completions", long_prompt);
  ExpectOpenAIError(too_long, 400, "invalid_request_error", nullptr);
  long_prompt["stream"] = true;  // streamed: still a plain error before the first chunk
  ExpectOpenAIError(Post("/v1/chat/completions", long_prompt), 400, "invalid_request_error",
                    nullptr);
  Reply bad_json = llm_->daemon().Post("/v1/chat/completions", "{nope");
  ExpectOpenAIError(bad_json, 400, "invalid_request_error", nullptr);
  json on_bert = Chat(4);
  on_bert["model"] = kBert;
  ExpectOpenAIError(Post("/v1/chat/completions", on_bert), 400, "invalid_request_error", "model");
  ExpectOpenAIError(Post("/v1/embeddings", {{"model", kLlama}, {"input", "x"}}), 400,
                    "invalid_request_error", "model");
}

TEST_F(MlosdLlmHttpTest, OpenAIEmbeddings) {
  Reply r = Post("/v1/embeddings", {{"model", kBert}, {"input", {"hello world", "goodbye"}}});
  ASSERT_EQ(r.status, 200) << r.body << Log();
  const json j = r.Json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    EXPECT_EQ(j["data"][i]["index"], i);
    ASSERT_EQ(j["data"][i]["embedding"].size(), 32u);
    double norm = 0;
    for (double x : j["data"][i]["embedding"]) norm += x * x;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-3);
  }
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  Reply b64 = Post("/v1/embeddings",
                   {{"model", kBert}, {"input", "hello world"}, {"encoding_format", "base64"}});
  ASSERT_EQ(b64.status, 200) << b64.body;
  const std::string s = b64.Json()["data"][0]["embedding"];
  EXPECT_EQ(s.size(), (32u * 4 + 2) / 3 * 4);  // 128 bytes of float32
}

TEST_F(MlosdLlmHttpTest, OllamaChatStreamsNdjson) {
  json body = {{"model", kLlama + ":latest"},
               {"messages", {{{"role", "user"}, {"content", "Say hello."}}}},
               {"options", {{"temperature", 0}, {"num_predict", 5}}}};
  Reply s = Post("/api/chat", body);  // stream defaults to true
  ASSERT_EQ(s.status, 200) << s.body << Log();
  EXPECT_NE(s.headers["content-type"].find("application/x-ndjson"), std::string::npos);
  const std::vector<json> lines = NdjsonLines(Dechunk(s));
  ASSERT_GE(lines.size(), 2u) << s.body;
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    ASSERT_TRUE(lines[i].is_object());
    EXPECT_EQ(lines[i]["done"], false);
    EXPECT_EQ(lines[i]["model"], kLlama + ":latest");
    EXPECT_EQ(lines[i]["message"]["role"], "assistant");
    text += lines[i]["message"]["content"].get<std::string>();
  }
  const json& last = lines.back();
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["eval_count"], 5);
  EXPECT_GT(last["prompt_eval_count"].get<int>(), 0);
  EXPECT_GT(last["total_duration"].get<int64_t>(), 0);
  for (const char* k : {"load_duration", "prompt_eval_duration", "eval_duration"}) {
    EXPECT_TRUE(last[k].is_number_integer()) << k;
  }
  body["stream"] = false;
  Reply whole = Post("/api/chat", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.Json()["message"]["content"], text);
  EXPECT_EQ(whole.Json()["done"], true);
}

TEST_F(MlosdLlmHttpTest, OllamaGenerateEmbedAndModels) {
  Reply g = Post("/api/generate", {{"model", kLlama + ":1.0.0"},
                                   {"prompt", "Once upon a time"},
                                   {"raw", true},
                                   {"stream", false},
                                   {"options", {{"num_predict", 4}, {"temperature", 0}}}});
  ASSERT_EQ(g.status, 200) << g.body << Log();
  EXPECT_TRUE(g.Json()["response"].is_string());
  EXPECT_EQ(g.Json()["eval_count"], 4);

  Reply e = Post("/api/embed", {{"model", kBert}, {"input", {"a", "b", "c"}}});
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.Json()["embeddings"].size(), 3u);
  EXPECT_EQ(e.Json()["embeddings"][0].size(), 32u);
  Reply legacy = Post("/api/embeddings", {{"model", kBert + ":latest"}, {"prompt", "a"}});
  ASSERT_EQ(legacy.status, 200) << legacy.body;
  // The same vector as "a" in the batch of three, up to rounding: ggml's matrix kernels take
  // another path (and summation order) for one sequence than for three, a last-bit difference.
  const json one = legacy.Json()["embedding"];
  const json first = e.Json()["embeddings"][0];
  ASSERT_EQ(one.size(), first.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_NEAR(one[i].get<double>(), first[i].get<double>(), 1e-5) << i;
  }

  Reply tags = Get("/api/tags");
  ASSERT_EQ(tags.status, 200) << tags.body;
  bool found = false;
  const json tag_list = tags.Json();
  for (const json& m : tag_list["models"]) {
    if (m["name"].get<std::string>() != kLlama + ":latest") continue;
    found = true;
    EXPECT_EQ(m["details"]["format"], "gguf");
    EXPECT_EQ(m["details"]["family"], "llama");
    EXPECT_EQ(m["details"]["parameter_size"], "2.3M");
    EXPECT_EQ(m["details"]["quantization_level"], "F16");
    EXPECT_EQ(m["digest"].get<std::string>().size(), 64u);
  }
  EXPECT_TRUE(found) << tags.body;
  Reply show = Post("/api/show", {{"model", kLlama}});
  ASSERT_EQ(show.status, 200) << show.body;
  EXPECT_EQ(show.Json()["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(show.Json()["model_info"]["llama.context_length"], 512);
  EXPECT_EQ(show.Json()["capabilities"][0], "completion");
  Reply ps = Get("/api/ps");
  ASSERT_EQ(ps.status, 200) << ps.body;
  EXPECT_EQ(ps.Json()["models"].size(), 2u) << ps.body;

  Reply unknown = Post("/api/chat", {{"model", "local/nope:latest"},
                                     {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_FALSE(unknown.Error().empty());
  EXPECT_EQ(Post("/api/show", {{"model", "local/nope"}}).status, 404);
  Reply bad = Post("/api/generate", {{"model", kLlama}, {"prompt", "x"}, {"keep_alive", "5x"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.Error().find("5x"), std::string::npos) << bad.body;

  // An empty prompt with keep_alive 0 unloads (Ollama's semantics); an empty one loads.
  Reply unload = Post("/api/generate", {{"model", kLlama}, {"keep_alive", 0}});
  ASSERT_EQ(unload.status, 200) << unload.body;
  EXPECT_EQ(unload.Json()["done_reason"], "unload");
  EXPECT_NE(Get("/models/" + Encode(kLlamaId)).Json()["state"], "READY");
  Reply load = Post("/api/generate", {{"model", kLlama}});
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(load.Json()["done_reason"], "load");
  EXPECT_EQ(Get("/models/" + Encode(kLlamaId)).Json()["state"], "READY");
}

TEST_F(MlosdLlmHttpTest, KServeGenerate) {
  const json body = {{"text_input", "Hello"},
                     {"parameters", {{"max_tokens", 4}, {"temperature", 0}}}};
  Reply r = Post("/v2/models/" + Encode(kLlama) + "/versions/1.0.0/generate", body);
  ASSERT_EQ(r.status, 200) << r.body << Log();
  const json j = r.Json();
  EXPECT_EQ(j["model_name"], kLlama);
  EXPECT_EQ(j["model_version"], "1.0.0");
  const std::string text = j["text_output"];
  Reply s = Post("/v2/models/" + Encode(kLlama) + "/generate_stream", body);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.headers["content-type"].find("text/event-stream"), std::string::npos);
  const auto events = SseData(Dechunk(s));
  ASSERT_EQ(events.size(), 5u) << s.body;  // four tokens and the closing event
  std::string joined;
  for (const std::string& e : events) joined += json::parse(e)["text_output"].get<std::string>();
  EXPECT_EQ(joined, text);
  EXPECT_EQ(json::parse(events.back())["finish_reason"], "length");
  Reply unknown = Post("/v2/models/local%2Fnope/generate", body);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_FALSE(unknown.Error().empty());
  Reply bad = Post("/v2/models/" + Encode(kLlama) + "/generate", {{"parameters", json::object()}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Error().find("text_input"), std::string::npos);
}

// Reads a streamed answer until `events` data events arrived, then closes the socket.
std::string ReadEventsThenClose(uint16_t port, const std::string& path, const json& body,
                                const std::string& marker, int events) {
  const std::string payload = body.dump();
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          "application/json\r\nContent-Length: " +
                          std::to_string(payload.size()) + "\r\n\r\n" + payload;
  int fd = Connect(port);
  if (fd < 0) return "";
  SendAll(fd, req);
  std::string raw;
  char buf[4096];
  auto count = [&] {
    int n = 0;
    for (size_t at = raw.find(marker); at != std::string::npos; at = raw.find(marker, at + 1)) ++n;
    return n;
  };
  while (count() < events) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return raw;
}

TEST_F(MlosdLlmHttpTest, ClientDisconnectStopsTheGeneration) {
  const double before = MetricValue(llm_->daemon(), "mlos_generated_tokens_total", kLlamaId);
  json body = Chat(400, true);
  body["temperature"] = 0.8;
  const std::string raw = ReadEventsThenClose(llm_->port(), "/v1/chat/completions", body,
                                              "\"content\":", 3);  // role chunk + 2 tokens
  ASSERT_NE(raw.find("HTTP/1.1 200"), std::string::npos) << raw;
  EXPECT_EQ(WaitGenerationsIdle(llm_->daemon(), kLlamaId), 0) << Log();
  const double after = MetricValue(llm_->daemon(), "mlos_generated_tokens_total", kLlamaId);
  EXPECT_LT(after - std::max(0.0, before), 100) << "the generation ran on after the client left";

  // The same over Ollama's NDJSON and KServe's SSE.
  const std::string ollama = ReadEventsThenClose(
      llm_->port(), "/api/generate",
      {{"model", kLlama}, {"prompt", "Once"}, {"options", {{"num_predict", 400}}}},
      "\"done\":false", 2);
  ASSERT_NE(ollama.find("HTTP/1.1 200"), std::string::npos) << ollama;
  EXPECT_EQ(WaitGenerationsIdle(llm_->daemon(), kLlamaId), 0) << Log();
  const std::string kserve = ReadEventsThenClose(
      llm_->port(), "/v2/models/" + Encode(kLlama) + "/generate_stream",
      {{"text_input", "Once"}, {"parameters", {{"max_tokens", 400}}}}, "text_output", 2);
  ASSERT_NE(kserve.find("HTTP/1.1 200"), std::string::npos) << kserve;
  EXPECT_EQ(WaitGenerationsIdle(llm_->daemon(), kLlamaId), 0) << Log();
  const double last = MetricValue(llm_->daemon(), "mlos_generated_tokens_total", kLlamaId);
  EXPECT_LT(last - std::max(0.0, before), 300);
  // And it still serves.
  EXPECT_EQ(Post("/v1/chat/completions", Chat(2)).status, 200);
}

// With security.auth required, the LLM routes authenticate as every other route does: a Bearer
// token (what the OpenAI clients send as their API key) or a 401 in each API's error shape.
TEST(MlosdLlmHttpAuthTest, BearerTokenRequired) {
  if (std::string why = LlmPrerequisites(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  LlmDaemon llm(tmp.path(), /*auth=*/true);
  ASSERT_TRUE(llm.Start());
  const json chat = {{"model", kLlama},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"max_tokens", 2}};
  Reply anonymous = llm.daemon().Post("/v1/chat/completions", chat.dump());
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  EXPECT_EQ(anonymous.Json()["error"]["type"], "authentication_error") << anonymous.body;
  EXPECT_EQ(anonymous.Json()["error"]["code"], "invalid_api_key") << anonymous.body;
  Reply wrong = llm.daemon().Post("/v1/chat/completions", chat.dump(),
                                  {{"Authorization", "Bearer mlos_wrong"}});
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(wrong.body.find("mlos_wrong"), std::string::npos) << "a credential echoed";
  Reply ok = llm.daemon().Post("/v1/chat/completions", chat.dump(),
                               {{"Authorization", "Bearer " + llm.admin_token()}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(llm.daemon().Get("/v1/models").status, 401);
  Reply ollama = llm.daemon().Post("/api/chat", chat.dump());
  EXPECT_EQ(ollama.status, 401) << ollama.body;
  EXPECT_FALSE(ollama.Error().empty());
  Reply kserve = llm.daemon().Post("/v2/models/" + Encode(kLlama) + "/generate",
                                   json{{"text_input", "hi"}}.dump());
  EXPECT_EQ(kserve.status, 401) << kserve.body;
  EXPECT_EQ(llm.daemon().Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace mlostest
