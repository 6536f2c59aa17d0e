// OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.
// Answers and errors in OpenAI's shapes ({"error": {"message", "type", "param", "code"}}), so
// the official clients work unchanged; streaming is server-sent events ending in [DONE].
#include <chrono>
#include <cstdio>
#include <random>

#include "api/common/json_writer.h"
#include "api/http/http_status.h"
#include "api/http/llm_api.h"
#include "security/token.h"

namespace mlos::http::llm {
namespace {

using api::JsonWriter;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "chatcmpl-" + 24 random hex digits.
std::string NewId(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return std::string(prefix) + buf;
}

void OpenAIErrorBody(std::string& out, int http_status, std::string_view message,
                     std::string_view param, const char* code) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("error");
  w.BeginObject();
  w.Key("message");
  w.String(security::RedactSecrets(message));
  w.Key("type");
  w.String(http_status >= 500                ? "server_error"
           : http_status == 401             ? "authentication_error"
           : http_status == 403             ? "permission_error"
           : http_status == 429             ? "rate_limit_error"
                                            : "invalid_request_error");
  w.Key("param");
  if (param.empty()) {
    w.Null();
  } else {
    w.String(param);
  }
  w.Key("code");
  if (code) {
    w.String(code);
  } else {
    w.Null();
  }
  w.EndObject();
  w.EndObject();
}

int StatusFor(const Status& st) {
  if (st.code() == StatusCode::kResourceExhausted && st.retry_after_s() > 0) return 429;
  return HttpStatusFor(st.code());
}

const char* CodeFor(const Status& st, std::string_view param) {
  switch (st.code()) {
    case StatusCode::kNotFound:
      return param == "model" || param.empty() ? "model_not_found" : nullptr;
    case StatusCode::kUnauthenticated: return "invalid_api_key";
    case StatusCode::kPermissionDenied: return "insufficient_permissions";
    case StatusCode::kResourceExhausted:
      return st.retry_after_s() > 0 ? "rate_limit_exceeded" : nullptr;
    default: return nullptr;
  }
}

void Error(HttpResponse& res, const Status& st, std::string_view param = {}) {
  res.status = StatusFor(st);
  res.content_type = "application/json";
  res.retry_after_s = res.status == 429 ? st.retry_after_s() : 0;
  res.body.clear();
  if (param.empty() && st.code() == StatusCode::kNotFound) param = "model";
  OpenAIErrorBody(res.body, res.status, st.message(), param, CodeFor(st, param));
}

std::string Sse(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 8);
  out.append("data: ").append(json).append("\n\n");
  return out;
}

// The fields every answer and chunk opens with.
void Head(JsonWriter& w, const std::string& id, const char* object, int64_t created,
          const std::string& model, bool chat) {
  w.Key("id");
  w.String(id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int(created);
  w.Key("model");
  w.String(model);
  if (chat) {
    w.Key("system_fingerprint");
    w.String("mlos");
  }
}

void Usage(JsonWriter& w, const core::GenerateResponse& g) {
  w.Key("usage");
  w.BeginObject();
  w.Key("prompt_tokens");
  w.UInt(g.prompt_tokens);
  w.Key("completion_tokens");
  w.UInt(g.completion_tokens);
  w.Key("total_tokens");
  w.UInt(g.prompt_tokens + g.completion_tokens);
  w.Key("prompt_tokens_details");
  w.BeginObject();
  w.Key("cached_tokens");
  w.UInt(g.cached_tokens);
  w.EndObject();
  w.EndObject();
}

struct Completion {
  bool chat = false;
  std::string id;
  int64_t created = 0;
  std::string model;  // as the client named it
  bool include_usage = false;

  // One streamed chunk: `role` opens the assistant's turn, `text` is content (or nullptr for
  // none), `finish` the finish_reason (nullptr while generating).
  std::string Chunk(bool role, const std::string_view* text, const char* finish) const {
    std::string out;
    JsonWriter w(out);
    w.BeginObject();
    Head(w, id, chat ? "chat.completion.chunk" : "text_completion", created, model, chat);
    w.Key("choices");
    w.BeginArray();
    w.BeginObject();
    w.Key("index");
    w.Int(0);
    if (chat) {
      w.Key("delta");
      w.BeginObject();
      if (role) {
        w.Key("role");
        w.String("assistant");
      }
      if (text || role) {
        w.Key("content");
        w.String(text ? *text : std::string_view());
      }
      w.EndObject();
    } else {
      w.Key("text");
      w.String(text ? *text : std::string_view());
    }
    w.Key("logprobs");
    w.Null();
    w.Key("finish_reason");
    if (finish) {
      w.String(finish);
    } else {
      w.Null();
    }
    w.EndObject();
    w.EndArray();
    if (include_usage) {
      w.Key("usage");
      w.Null();
    }
    w.EndObject();
    return Sse(out);
  }

  std::string UsageChunk(const core::GenerateResponse& g) const {
    std::string out;
    JsonWriter w(out);
    w.BeginObject();
    Head(w, id, chat ? "chat.completion.chunk" : "text_completion", created, model, chat);
    w.Key("choices");
    w.BeginArray();
    w.EndArray();
    Usage(w, g);
    w.EndObject();
    return Sse(out);
  }

  void Whole(const core::GenerateResponse& g, std::string& out) const {
    JsonWriter w(out);
    w.BeginObject();
    Head(w, id, chat ? "chat.completion" : "text_completion", created, model, chat);
    w.Key("choices");
    w.BeginArray();
    w.BeginObject();
    w.Key("index");
    w.Int(0);
    if (chat) {
      w.Key("message");
      w.BeginObject();
      w.Key("role");
      w.String("assistant");
      w.Key("content");
      w.String(g.text);
      w.Key("refusal");
      w.Null();
      w.EndObject();
    } else {
      w.Key("text");
      w.String(g.text);
    }
    w.Key("logprobs");
    w.Null();
    w.Key("finish_reason");
    w.String(OpenAIFinishReason(g.finish_reason));
    w.EndObject();
    w.EndArray();
    Usage(w, g);
    w.EndObject();
  }
};

void Generate(service::Service& service, const HttpRequest& req, HttpResponse& res, bool chat) {
  std::string param;
  auto parsed = chat ? ParseOpenAIChat(req.body, &param) : ParseOpenAICompletion(req.body, &param);
  auto ctx = LlmContext(req, {});
  if (!ctx.ok()) return Error(res, ctx.status());
  if (!parsed.ok()) {
    return Error(res, CountFailure(service, *ctx, "", parsed.status()), param);
  }
  auto model = ResolveLlm(service, *ctx, parsed->model, false);
  if (!model.ok()) {
    return Error(res, CountFailure(service, *ctx, parsed->model, model.status()), "model");
  }
  res.stream = [svc = &service, ctx = std::move(*ctx), r = std::move(*parsed), chat](
                   ChunkWriter& writer, HttpResponse& res) {
    service::Service& service = *svc;
    service::GenerateCall call;
    call.model = r.model;
    call.prompt = r.prompt;
    call.params_json = ParamsJson(r);
    Completion c;
    c.chat = chat;
    c.id = NewId(chat ? "chatcmpl-" : "cmpl-");
    c.created = UnixNow();
    c.model = r.model;
    c.include_usage = r.stream && r.include_usage;
    if (!r.stream) {
      auto out = RunGeneration(service, ctx, call, writer, nullptr);
      if (!out.ok()) return Error(res, out.status());
      c.Whole(*out, res.body);
      return;
    }
    res.content_type = "text/event-stream";
    bool opened = false;
    auto out = RunGeneration(service, ctx, call, writer, [&](std::string_view text) {
      std::string data;
      if (!opened && chat) data = c.Chunk(true, nullptr, nullptr);
      opened = true;
      data += c.Chunk(false, &text, nullptr);
      return writer.Write(data);
    });
    if (!out.ok()) {
      if (!writer.started()) return Error(res, out.status());
      std::string body;
      const int http = StatusFor(out.status());
      OpenAIErrorBody(body, http, out.status().message(), {}, CodeFor(out.status(), {}));
      writer.Write(Sse(body));
      return;
    }
    if (out->finish_reason == "cancelled" || !writer.Alive()) return;  // the client went away
    std::string tail;
    if (!opened && chat) tail = c.Chunk(true, nullptr, nullptr);
    tail += c.Chunk(false, nullptr, OpenAIFinishReason(out->finish_reason));
    if (c.include_usage) tail += c.UsageChunk(*out);
    tail += "data: [DONE]\n\n";
    writer.Write(tail);
  };
}

// Base64 of the float32 values' little-endian bytes (encoding_format "base64", what the
// official clients ask for by default).
std::string Base64Floats(const std::vector<float>& v) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  const size_t n = v.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t x = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kAlphabet[(x >> 18) & 63];
    out += kAlphabet[(x >> 12) & 63];
    out += kAlphabet[(x >> 6) & 63];
    out += kAlphabet[x & 63];
  }
  if (i < n) {
    uint32_t x = p[i] << 16;
    if (i + 1 < n) x |= p[i + 1] << 8;
    out += kAlphabet[(x >> 18) & 63];
    out += kAlphabet[(x >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(x >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void EmbeddingsRoute(service::Service& service, const HttpRequest& req, HttpResponse& res) {
  std::string param;
  auto parsed = ParseOpenAIEmbeddings(req.body, &param);
  auto ctx = LlmContext(req, {});
  if (!ctx.ok()) return Error(res, ctx.status());
  if (!parsed.ok()) return Error(res, CountFailure(service, *ctx, "", parsed.status()), param);
  auto model = ResolveLlm(service, *ctx, parsed->model, true);
  if (!model.ok()) {
    return Error(res, CountFailure(service, *ctx, parsed->model, model.status()), "model");
  }
  auto out = RunEmbeddings(service, *ctx, parsed->model, parsed->inputs);
  if (!out.ok()) return Error(res, out.status());
  JsonWriter w(res.body);
  w.BeginObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.BeginArray();
  for (size_t i = 0; i < out->vectors.size(); ++i) {
    w.BeginObject();
    w.Key("object");
    w.String("embedding");
    w.Key("index");
    w.UInt(i);
    w.Key("embedding");
    if (parsed->base64) {
      w.String(Base64Floats(out->vectors[i]));
    } else {
      w.BeginArray();
      for (float f : out->vectors[i]) w.Float(f);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("model");
  w.String(parsed->model);
  w.Key("usage");
  w.BeginObject();
  w.Key("prompt_tokens");
  w.UInt(out->prompt_tokens);
  w.Key("total_tokens");
  w.UInt(out->prompt_tokens);
  w.EndObject();
  w.EndObject();
}

bool IsLlm(const core::ModelStatus& m) {
  return m.generates || m.llm.has_value() || m.execution_format == "gguf";
}

void ModelObject(JsonWriter& w, const std::string& id, int64_t created) {
  w.BeginObject();
  w.Key("id");
  w.String(id);
  w.Key("object");
  w.String("model");
  w.Key("created");
  w.Int(created);
  w.Key("owned_by");
  w.String("mlos");
  w.EndObject();
}

int64_t Created(const core::ModelStatus& m) {
  static const int64_t kStart = UnixNow();
  return m.last_used_unix_ms > 0 ? m.last_used_unix_ms / 1000 : kStart;
}

void ModelsRoute(service::Service& service, const HttpRequest& req, HttpResponse& res) {
  auto list = service.List(Api::Context(req));
  if (!list.ok()) return Error(res, list.status());
  JsonWriter w(res.body);
  w.BeginObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.BeginArray();
  for (const core::ModelStatus& m : *list) {
    if (!IsLlm(m)) continue;
    // The name (its default version) once, and every version by its full id.
    if (m.is_default) ModelObject(w, m.name, Created(m));
    ModelObject(w, m.id, Created(m));
  }
  w.EndArray();
  w.EndObject();
}

void ModelRoute(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                HttpResponse& res) {
  auto model = service.Get(Api::Context(req), m.model);
  if (!model.ok()) return Error(res, model.status(), "model");
  JsonWriter w(res.body);
  ModelObject(w, m.model, Created(*model));
}

}  // namespace

void HandleOpenAI(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                  HttpResponse& res) {
  switch (m.route) {
    case Route::kOpenAIModels: return ModelsRoute(service, req, res);
    case Route::kOpenAIModel: return ModelRoute(service, m, req, res);
    case Route::kOpenAIChat: return Generate(service, req, res, true);
    case Route::kOpenAICompletions: return Generate(service, req, res, false);
    case Route::kOpenAIEmbeddings: return EmbeddingsRoute(service, req, res);
    default: return Error(res, NotFound("no route"));
  }
}

}  // namespace mlos::http::llm
