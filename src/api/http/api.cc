#include "api/http/api.h"

#include <exception>

#include "api/http/http_status.h"
#include "api/http/json_writer.h"
#include "api/http/kserve_codec.h"
#include "api/http/metrics.h"
#include "api/http/native_codec.h"
#include "api/http/url.h"

namespace mlos::http {
namespace {

constexpr const char* kProtocolNative = "http";
constexpr const char* kProtocolKServe = "kserve-http";

// "ns/name@ver" -> {"ns/name", "ver"}; no '@' -> {id, ""}.
std::pair<std::string, std::string> SplitVersion(const std::string& id) {
  const size_t at = id.rfind('@');
  if (at == std::string::npos) return {id, ""};
  return {id.substr(0, at), id.substr(at + 1)};
}

}  // namespace

Api::Api(core::Core& core, Metrics* metrics, ApiOptions options)
    : core_(core), metrics_(metrics), options_(std::move(options)) {
  {
    JsonWriter w(health_body_);
    w.BeginObject();
    w.Key("status");
    w.String("healthy");
    w.Key("service");
    w.String("mlosd");
    w.Key("version");
    w.String(options_.server_version);
    w.EndObject();
  }
  {
    JsonWriter w(v2_server_body_);
    w.BeginObject();
    w.Key("name");
    w.String(options_.server_name);
    w.Key("version");
    w.String(options_.server_version);
    w.Key("extensions");
    w.BeginArray();
    w.String("binary_tensor_data");
    w.String("model_repository");
    w.String("statistics");
    w.EndArray();
    w.EndObject();
  }
}

void Api::Error(HttpResponse& res, int status, std::string_view message) {
  res.status = status;
  res.content_type = "application/json";
  res.inference_header_length = 0;
  res.body = ErrorBody(message);
}

void Api::Error(HttpResponse& res, const Status& st) {
  Error(res, HttpStatusFor(st.code()), st.message());
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

void Api::Record(const std::string& model, const char* protocol, bool ok,
                 std::chrono::steady_clock::time_point start) {
  if (!metrics_) return;
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_->RecordRequest(model.empty() ? std::string_view("unknown") : model, protocol, ok, s);
}

void Api::ModelAnswer(const Result<core::ModelStatus>& r, HttpResponse& res) {
  if (!r.ok()) return Error(res, r.status());
  EncodeModelStatus(*r, res.body);
}

std::string Api::KServeId(const RouteMatch& m) const {
  return m.version.empty() ? m.model : m.model + "@" + m.version;
}

void Api::Dispatch(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  switch (m.route) {
    case Route::kHealth:
      res.body = health_body_;
      return;
    case Route::kStats:
      EncodeStats(core_.Stats(), res.body);
      return;
    case Route::kPlugins:
      EncodePlugins(core_.Plugins(), res.body);
      return;
    case Route::kMetrics:
      if (!metrics_) return Error(res, 404, "metrics are disabled");
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = metrics_->Render(core_.List());
      return;
    case Route::kModelsList:
      EncodeModelList(core_.List(), res.body);
      return;
    case Route::kModelsRegister: {
      auto parsed = ParseRegisterRequest(req.body);
      if (!parsed.ok()) return Error(res, parsed.status());
      Status id_ok = ValidateModelId(parsed->model_id, "field 'model_id'");
      if (!id_ok.ok()) return Error(res, id_ok);
      auto r = core_.Register(*parsed);
      if (!r.ok()) return Error(res, r.status());
      JsonWriter w(res.body);
      w.BeginObject();
      w.Key("status");
      w.String("registered");
      w.Key("model_id");
      w.String(r->id);
      w.Key("model");
      std::string model;
      EncodeModelStatus(*r, model);
      w.Raw(model);
      w.EndObject();
      return;
    }
    case Route::kModelGet:
      return ModelAnswer(core_.Get(m.model), res);
    case Route::kModelDelete: {
      Status st = core_.Unregister(m.model);
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
      return ModelAnswer(core_.Load(m.model), res);
    case Route::kModelUnload:
    case Route::kV2RepoUnload:
      return ModelAnswer(core_.Unload(m.model), res);
    case Route::kModelRollback:
      return ModelAnswer(core_.Rollback(SplitVersion(m.model).first), res);
    case Route::kModelDefault: {
      auto [name, version] = SplitVersion(m.model);
      if (version.empty()) {
        return Error(res, 400, "set default needs a versioned id: ns/name@version");
      }
      return ModelAnswer(core_.SetDefault(name, version), res);
    }
    case Route::kModelInference:
      return Inference(m, req, res);
    case Route::kV2Server:
      res.body = v2_server_body_;
      return;
    case Route::kV2Live:
      res.body = R"({"live":true})";
      return;
    case Route::kV2Ready:
      res.body = R"({"ready":true})";
      return;
    case Route::kV2ModelMetadata:
      return KServeMetadata(m, res);
    case Route::kV2ModelReady:
      return KServeModelReady(m, res);
    case Route::kV2ModelInfer:
      return KServeInfer(m, req, res);
    case Route::kV2RepoIndex:
      return RepositoryIndex(res);
    case Route::kNone:
      break;
  }
  Error(res, 404, "no route");
}

void Api::Inference(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const auto start = req.received;
  auto model = core_.Get(m.model);
  if (!model.ok()) {
    Record("", kProtocolNative, false, start);
    return Error(res, model.status());
  }
  auto inputs = ParseNamedInputs(req.body, model->inputs);
  if (!inputs.ok()) {
    Record(model->id, kProtocolNative, false, start);
    return Error(res, inputs.status());
  }
  core::InferRequest ir;
  ir.model = m.model;
  ir.inputs = std::move(inputs).value();
  ir.protocol = kProtocolNative;
  if (options_.request_timeout.count() > 0) ir.deadline = req.received + options_.request_timeout;
  auto out = core_.Infer(std::move(ir));
  if (!out.ok()) {
    Record(model->id, kProtocolNative, false, start);
    return Error(res, out.status());
  }
  EncodeInferenceResponse(*out, res.body);
  Record(out->model_id, kProtocolNative, true, start);
}

void Api::KServeInfer(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const auto start = req.received;
  const std::string id = KServeId(m);
  auto fail = [&](const Status& st) {
    auto known = core_.Get(id);
    Record(known.ok() ? known->id : std::string(), kProtocolKServe, false, start);
    Error(res, st);
  };
  auto parsed = ParseKServeInferRequest(req.body, req.inference_header_length);
  if (!parsed.ok()) return fail(parsed.status());
  KServeInferRequest& kreq = *parsed;
  core::InferRequest ir;
  ir.model = m.model;
  ir.version = m.version;
  ir.inputs = std::move(kreq.inputs);
  ir.outputs.reserve(kreq.outputs.size());
  for (const KServeOutputSpec& o : kreq.outputs) ir.outputs.push_back(o.name);
  ir.protocol = kProtocolKServe;
  if (options_.request_timeout.count() > 0) ir.deadline = req.received + options_.request_timeout;
  auto out = core_.Infer(std::move(ir));
  if (!out.ok()) return fail(out.status());
  EncodeKServeInferResponse(kreq, *out, res.body, &res.inference_header_length);
  if (res.inference_header_length) res.content_type = "application/octet-stream";
  Record(out->model_id, kProtocolKServe, true, start);
}

void Api::KServeMetadata(const RouteMatch& m, HttpResponse& res) {
  auto model = core_.Get(KServeId(m));
  if (!model.ok()) return Error(res, model.status());
  std::vector<std::string> versions;
  for (const core::ModelStatus& s : core_.List()) {
    if (s.name == model->name) versions.push_back(s.version);
  }
  EncodeKServeModelMetadata(*model, versions, res.body);
}

void Api::KServeModelReady(const RouteMatch& m, HttpResponse& res) {
  auto model = core_.Get(KServeId(m));
  if (!model.ok()) return Error(res, model.status());
  const bool ready = model->state == core::ModelState::kReady;
  if (!ready) {
    return Error(res, 503, "model '" + model->id + "' is not ready (state " +
                               core::ModelStateName(model->state) + ")");
  }
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

void Api::RepositoryIndex(HttpResponse& res) {
  JsonWriter w(res.body);
  w.BeginArray();
  for (const core::ModelStatus& s : core_.List()) {
    w.BeginObject();
    w.Key("name");
    w.String(s.name);
    w.Key("version");
    w.String(s.version);
    w.Key("state");
    w.String(core::ModelStateName(s.state));
    w.Key("reason");
    w.String(s.reason);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace mlos::http
