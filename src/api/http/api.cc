#include "api/http/api.h"

#include <exception>

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "api/common/model_json.h"
#include "api/common/token_json.h"
#include "api/http/console_api.h"
#include "api/http/http_status.h"
#include "api/http/kserve_codec.h"
#include "api/http/llm_api.h"
#include "api/http/native_codec.h"
#include "security/token.h"

namespace mlos::http {

using api::JsonWriter;

Api::Api(service::Service& service) : service_(service) {
  // Live health answers need no identity: the version is the server's, unchecked.
  const service::ServerMetadata& meta = service_.Metadata();
  {
    JsonWriter w(health_body_);
    w.BeginObject();
    w.Key("status");
    w.String("healthy");
    w.Key("service");
    w.String("mlosd");
    w.Key("version");
    w.String(meta.version);
    w.EndObject();
  }
}

void Api::Error(HttpResponse& res, int status, std::string_view message) {
  res.status = status;
  res.content_type = "application/json";
  res.inference_header_length = 0;
  // Whatever the message echoes, a credential never goes back out.
  res.body = ErrorBody(security::RedactSecrets(message));
}

void Api::Error(HttpResponse& res, const Status& st) {
  // A quota refusal that passes later is 429 with Retry-After; other resource limits (a body
  // or a request over a size limit) stay 413.
  const bool retry = st.code() == StatusCode::kResourceExhausted && st.retry_after_s() > 0;
  Error(res, retry ? 429 : HttpStatusFor(st.code()), st.message());
  res.retry_after_s = retry ? st.retry_after_s() : 0;
}

void Api::Handle(const HttpRequest& req, HttpResponse& res) {
  Handle(MatchRoute(req.method, req.target), req, res);
}

void Api::Handle(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  if (m.error_status) {
    Error(res, m.error_status, m.error);
    res.allow = m.error_status == 405 ? m.allow : nullptr;
    return;
  }
  try {
    Dispatch(m, req, res);
  } catch (const std::exception& e) {
    Error(res, 500, std::string("internal error: ") + e.what());
  } catch (...) {
    Error(res, 500, "internal error");
  }
}

service::RequestContext Api::Context(const HttpRequest& req) {
  service::RequestContext ctx;
  ctx.protocol = service::Protocol::kHttp;
  ctx.received = req.received;
  ctx.peer = std::string(req.peer);
  security::ParseAuthorization(req.authorization, ctx.credentials);
  ctx.credentials.tls_cn = std::string(req.tls_client_cn);
  return ctx;
}

Status Api::ApplyOptions(const HttpRequest& req, const api::RequestOptions& body,
                         service::RequestContext& ctx) {
  api::RequestOptions options;
  if (!req.options.empty()) {
    MLOS_ASSIGN_OR_RETURN(options, api::ParseRequestHeaders(req.options));
  }
  options.Merge(body);
  api::ApplyRequestOptions(options, ctx);
  return Status::Ok();
}

void Api::ModelAnswer(const Result<core::ModelStatus>& r, HttpResponse& res) {
  if (!r.ok()) return Error(res, r.status());
  api::EncodeModelStatus(*r, res.body);
}

void Api::Dispatch(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  switch (m.route) {
    case Route::kHealth:
    case Route::kV2Live:
      res.body = m.route == Route::kHealth ? health_body_ : R"({"live":true})";
      return;
    case Route::kV2Ready:
      if (service_.Ready()) {
        res.body = R"({"ready":true})";
      } else {
        res.status = 503;
        res.body = R"({"ready":false,"error":"the registry is still being restored"})";
      }
      return;
    case Route::kV2Server: {
      auto meta = service_.GetServerMetadata(Context(req));
      if (!meta.ok()) return Error(res, meta.status());
      api::EncodeServerMetadata(*meta, res.body);
      return;
    }
    case Route::kStats: {
      auto stats = service_.Stats(Context(req));
      if (!stats.ok()) return Error(res, stats.status());
      api::EncodeStats(*stats, res.body);
      return;
    }
    case Route::kPlugins: {
      auto plugins = service_.Plugins(Context(req));
      if (!plugins.ok()) return Error(res, plugins.status());
      api::EncodePlugins(*plugins, res.body);
      return;
    }
    case Route::kTokensList:
    case Route::kTokenCreate:
    case Route::kTokenRevoke:
      return Tokens(m, req, res);
    case Route::kUi:
    case Route::kStatsLive:
    case Route::kAudit:
      return console::Handle(service_, m, req, res);
    case Route::kMetrics: {
      auto text = service_.RenderMetrics(Context(req));
      if (!text.ok()) return Error(res, text.status());
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = std::move(text).value();
      return;
    }
    case Route::kModelInference:
      return Inference(m, req, res);
    case Route::kV2ModelMetadata:
      return KServeMetadata(m, req, res);
    case Route::kV2ModelReady:
      return KServeModelReady(m, req, res);
    case Route::kV2ModelInfer:
      return KServeInfer(m, req, res);
    case Route::kV2ModelStats:
      return KServeModelStats(m, req, res);
    case Route::kV2ModelConfig:
      return KServeModelConfig(m, req, res);
    case Route::kV2RepoIndex:
      return RepositoryIndex(req, res);
    case Route::kV2ModelGenerate:
    case Route::kV2ModelGenerateStream:
      return llm::HandleKServeGenerate(service_, m, req, res);
    case Route::kOpenAIModels:
    case Route::kOpenAIModel:
    case Route::kOpenAIChat:
    case Route::kOpenAICompletions:
    case Route::kOpenAIEmbeddings:
      return llm::HandleOpenAI(service_, m, req, res);
    case Route::kOllamaChat:
    case Route::kOllamaGenerate:
    case Route::kOllamaEmbed:
    case Route::kOllamaEmbeddings:
    case Route::kOllamaTags:
    case Route::kOllamaShow:
    case Route::kOllamaPs:
    case Route::kOllamaVersion:
      return llm::HandleOllama(service_, m, req, res);
    case Route::kV2ShmStatus:
    case Route::kV2ShmRegister:
    case Route::kV2ShmUnregister:
      return SharedMemory(m, req, res);
    case Route::kNone:
      return Error(res, 404, "no route");
    default:
      return Management(m, req, res);
  }
}

void Api::Management(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const service::RequestContext ctx = Context(req);
  switch (m.route) {
    case Route::kModelsList: {
      auto list = service_.List(ctx);
      if (!list.ok()) return Error(res, list.status());
      api::EncodeModelList(*list, res.body);
      return;
    }
    case Route::kModelsRegister: {
      auto parsed = api::ParseRegisterRequest(req.body);
      if (!parsed.ok()) return Error(res, parsed.status());
      auto r = service_.Register(ctx, *parsed);
      if (!r.ok()) return Error(res, r.status());
      JsonWriter w(res.body);
      w.BeginObject();
      w.Key("status");
      w.String("registered");
      w.Key("model_id");
      w.String(r->id);
      w.Key("model");
      std::string model;
      api::EncodeModelStatus(*r, model);
      w.Raw(model);
      w.EndObject();
      return;
    }
    case Route::kModelGet:
      return ModelAnswer(service_.Get(ctx, m.model), res);
    case Route::kModelDelete: {
      Status st = service_.Unregister(ctx, m.model);
      if (!st.ok()) return Error(res, st);
      JsonWriter w(res.body);
      w.BeginObject();
      w.Key("status");
      w.String("unregistered");
      w.Key("model_id");
      w.String(m.model);
      w.EndObject();
      return;
    }
    case Route::kModelLoad:
    case Route::kV2RepoLoad:
      return ModelAnswer(service_.Load(ctx, m.model), res);
    case Route::kModelUnload:
    case Route::kV2RepoUnload:
      return ModelAnswer(service_.Unload(ctx, m.model), res);
    case Route::kModelRollback:
      return ModelAnswer(service_.Rollback(ctx, m.model), res);
    case Route::kModelDefault:
      return ModelAnswer(service_.SetDefault(ctx, m.model), res);
    case Route::kModelAlias: {
      auto body = api::ParseAliasRequest(req.body);
      if (!body.ok()) return Error(res, body.status());
      return ModelAnswer(service_.SetAlias(ctx, m.model, body->alias, body->version), res);
    }
    case Route::kModelPin:
    case Route::kModelUnpin:
      return ModelAnswer(service_.Pin(ctx, m.model, m.route == Route::kModelPin), res);
    default:
      return Error(res, 404, "no route");
  }
}

void Api::Inference(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  service::RequestContext ctx = Context(req);
  service::InferCall call;
  call.model = m.model;
  // The original API shapes flat arrays by the model's IO schema, so it needs the schema first.
  auto model = service_.Get(ctx, m.model);
  if (!model.ok()) return Error(res, service_.Fail(ctx, call, model.status()));
  api::RequestOptions options;
  auto inputs = ParseNamedInputs(req.body, model->inputs, &options);
  if (!inputs.ok()) return Error(res, service_.Fail(ctx, call, inputs.status()));
  if (Status st = ApplyOptions(req, options, ctx); !st.ok()) {
    return Error(res, service_.Fail(ctx, call, st));
  }
  call.inputs = std::move(inputs).value();
  auto out = service_.Infer(ctx, call);
  if (!out.ok()) return Error(res, out.status());
  EncodeInferenceResponse(out->response, res.body);
}

void Api::KServeInfer(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  service::RequestContext ctx = Context(req);
  service::InferCall call;
  call.model = m.model;
  call.version = m.version;
  auto parsed = ParseKServeInferRequest(req.body, req.inference_header_length);
  if (!parsed.ok()) return Error(res, service_.Fail(ctx, call, parsed.status()));
  KServeInferRequest& kreq = *parsed;
  if (Status st = ApplyOptions(req, kreq.options, ctx); !st.ok()) {
    return Error(res, service_.Fail(ctx, call, st));
  }
  call.inputs = std::move(kreq.inputs);
  bool any_shm = false;
  for (const auto& s : kreq.input_shm) any_shm |= s.has_value();
  if (any_shm) call.input_shm = std::move(kreq.input_shm);
  call.outputs.reserve(kreq.outputs.size());
  for (const KServeOutputSpec& o : kreq.outputs) call.outputs.push_back({o.name, o.shm});
  call.string_outputs_to_shm = true;
  // The model writes inline outputs into buffers the answer is sent from.
  call.inline_allocator = [&res](const std::string&, uint64_t byte_size) -> void* {
    return res.buffers.emplace_back(byte_size).data();
  };
  auto out = service_.Infer(ctx, call);
  if (!out.ok()) return Error(res, out.status());
  if (KServeBinaryOutputBytes(kreq, out->response) >= kGatherMinBytes) {
    // Large binary outputs go out from where they are (one writev), not copied into the body.
    auto result = std::make_shared<service::InferResult>(std::move(out).value());
    EncodeKServeInferResponse(kreq, result->response, res.body, &res.inference_header_length,
                              &res.tail, &res.blobs);
    res.hold = std::move(result);
  } else {
    EncodeKServeInferResponse(kreq, out->response, res.body, &res.inference_header_length);
  }
  if (res.inference_header_length) res.content_type = "application/octet-stream";
}

void Api::KServeMetadata(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const std::string id = m.version.empty() ? m.model : m.model + "@" + m.version;
  auto meta = service_.GetModelMetadata(Context(req), id);
  if (!meta.ok()) return Error(res, meta.status());
  api::EncodeKServeModelMetadata(meta->model, meta->versions, res.body);
}

void Api::KServeModelReady(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const std::string id = m.version.empty() ? m.model : m.model + "@" + m.version;
  auto model = service_.ModelReady(Context(req), id);
  if (!model.ok()) return Error(res, model.status());
  JsonWriter w(res.body);
  w.BeginObject();
  w.Key("name");
  w.String(model->name);
  w.Key("version");
  w.String(model->version);
  w.Key("ready");
  w.Bool(true);
  w.EndObject();
}

void Api::KServeModelStats(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  std::string id = m.version.empty() ? m.model : m.model + "@" + m.version;
  auto stats = service_.ModelStats(Context(req), id);
  if (!stats.ok()) return Error(res, stats.status());
  api::EncodeKServeModelStats(*stats, res.body);
}

void Api::KServeModelConfig(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const std::string id = m.version.empty() ? m.model : m.model + "@" + m.version;
  auto meta = service_.GetModelMetadata(Context(req), id);
  if (!meta.ok()) return Error(res, meta.status());
  api::EncodeKServeModelConfig(meta->model, res.body);
}

void Api::SharedMemory(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const service::RequestContext ctx = Context(req);
  switch (m.route) {
    case Route::kV2ShmStatus: {
      auto list = service_.ShmStatus(ctx, m.region);
      if (!list.ok()) return Error(res, list.status());
      api::EncodeShmStatus(*list, res.body);
      return;
    }
    case Route::kV2ShmRegister: {
      using nlohmann::json;
      json doc = json::parse(req.body.begin(), req.body.end(), nullptr, false);
      if (doc.is_discarded() || !doc.is_object()) {
        return Error(res, 400, "the register request must be a JSON object");
      }
      auto key = doc.find("key");
      if (key == doc.end() || !key->is_string()) {
        return Error(res, 400, "field 'key': missing or not a string");
      }
      uint64_t fields[2] = {0, 0};
      const char* names[2] = {"offset", "byte_size"};
      for (int i = 0; i < 2; ++i) {
        auto f = doc.find(names[i]);
        if (f == doc.end()) {
          if (i == 0) continue;
          return Error(res, 400, "field 'byte_size': missing");
        }
        if (!f->is_number_unsigned() && !(f->is_number_integer() && f->get<int64_t>() >= 0)) {
          return Error(res, 400, std::string("field '") + names[i] +
                                     "': must be a non-negative integer");
        }
        fields[i] = f->get<uint64_t>();
      }
      Status st =
          service_.RegisterShmSystem(ctx, m.region, key->get<std::string>(), fields[0], fields[1]);
      if (!st.ok()) return Error(res, st);
      res.body = "{}";
      return;
    }
    case Route::kV2ShmUnregister: {
      Status st = service_.UnregisterShm(ctx, m.region);
      if (!st.ok()) return Error(res, st);
      res.body = "{}";
      return;
    }
    default:
      return Error(res, 404, "no route");
  }
}

void Api::RepositoryIndex(const HttpRequest& req, HttpResponse& res) {
  auto list = service_.List(Context(req));
  if (!list.ok()) return Error(res, list.status());
  api::EncodeRepositoryIndex(*list, res.body);
}

void Api::Tokens(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const service::RequestContext ctx = Context(req);
  switch (m.route) {
    case Route::kTokensList: {
      auto list = service_.ListTokens(ctx);
      if (!list.ok()) return Error(res, list.status());
      api::EncodeTokenList(*list, res.body);
      return;
    }
    case Route::kTokenCreate: {
      auto parsed = api::ParseTokenRequest(req.body);
      if (!parsed.ok()) return Error(res, parsed.status());
      auto r = service_.CreateToken(ctx, parsed->name, parsed->role, parsed->models,
                                    parsed->expires);
      if (!r.ok()) return Error(res, r.status());
      api::EncodeToken(r->second, r->first, res.body);
      return;
    }
    case Route::kTokenRevoke: {
      auto r = service_.RevokeToken(ctx, m.region);
      if (!r.ok()) return Error(res, r.status());
      api::EncodeToken(*r, {}, res.body);
      return;
    }
    default:
      return Error(res, 404, "no route");
  }
}

}  // namespace mlos::http
