#include "api/http/api.h"

#include <exception>

#include <nlohmann/json.hpp>

#include "api/http/http_status.h"
#include "api/http/json_writer.h"
#include "api/http/kserve_codec.h"
#include "api/http/metrics.h"
#include "api/http/native_codec.h"
#include "api/http/url.h"
#include "api/shm/shm_registry.h"

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
    if (options_.shm_registry) w.String("system_shared_memory");
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
    case Route::kV2ShmStatus:
    case Route::kV2ShmRegister:
    case Route::kV2ShmUnregister:
      return SharedMemory(m, req, res);
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
  // Shared memory: inputs read in place, outputs written in place (views held until the end).
  std::vector<api::ShmView> views;
  std::vector<std::pair<std::string, api::ShmView>> out_views;
  std::vector<std::vector<uint8_t>> other_outputs;
  Status alloc_error;
  bool any_shm = false;
  for (const auto& s : kreq.input_shm) any_shm |= s.has_value();
  for (const KServeOutputSpec& o : kreq.outputs) any_shm |= o.shm.has_value();
  if (any_shm && !options_.shm_registry) {
    return fail(InvalidArgument("shared memory is not enabled on this server"));
  }
  for (size_t i = 0; i < kreq.input_shm.size(); ++i) {
    if (!kreq.input_shm[i]) continue;
    const KServeShmRef& ref = *kreq.input_shm[i];
    core::Tensor& t = ir.inputs[i];
    if (t.dtype == core::DataType::kString) {
      return fail(InvalidArgument("input '" + t.name +
                                  "': BYTES tensors cannot be read from shared memory"));
    }
    const int64_t count = core::ElementCount(t.shape);
    const uint64_t want = static_cast<uint64_t>(count) * core::DataTypeSize(t.dtype);
    if (ref.byte_size != want) {
      return fail(InvalidArgument("input '" + t.name + "': shared_memory_byte_size " +
                                  std::to_string(ref.byte_size) + " does not match its shape (" +
                                  std::to_string(want) + " bytes)"));
    }
    auto view = options_.shm_registry->Resolve(ref.region, ref.offset, ref.byte_size);
    if (!view.ok()) return fail(view.status().WithPrefix("input '" + t.name + "'"));
    t.external = view->data;
    t.external_size = view->size;
    views.push_back(std::move(*view));
  }
  bool shm_outputs = false;
  for (const KServeOutputSpec& o : kreq.outputs) {
    if (!o.shm) continue;
    shm_outputs = true;
    auto view = options_.shm_registry->Resolve(o.shm->region, o.shm->offset, o.shm->byte_size);
    if (!view.ok()) return fail(view.status().WithPrefix("output '" + o.name + "'"));
    out_views.emplace_back(o.name, std::move(*view));
  }
  if (shm_outputs) {
    other_outputs.reserve(64);
    ir.output_allocator = [&](const std::string& name, core::DataType,
                              const std::vector<int64_t>&, uint64_t byte_size) -> void* {
      for (auto& [n, v] : out_views) {
        if (n != name) continue;
        if (byte_size > v.size) {
          alloc_error = InvalidArgument("output '" + name + "': " + std::to_string(byte_size) +
                                        " bytes do not fit shared_memory_byte_size " +
                                        std::to_string(v.size));
          return nullptr;
        }
        return v.data;
      }
      if (other_outputs.size() == other_outputs.capacity()) return nullptr;
      other_outputs.emplace_back(byte_size);
      return other_outputs.back().data();
    };
  }
  auto out = core_.Infer(std::move(ir));
  if (!out.ok()) return fail(alloc_error.ok() ? out.status() : alloc_error);
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

void Api::SharedMemory(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  api::ShmRegistry* reg = options_.shm_registry;
  if (!reg) return Error(res, 400, "shared memory is not enabled on this server");
  switch (m.route) {
    case Route::kV2ShmStatus: {
      auto list = reg->List(m.region);
      if (!list.ok()) return Error(res, list.status());
      JsonWriter w(res.body);
      w.BeginArray();
      for (const api::ShmRegionStatus& s : *list) {
        if (!s.owner.empty()) continue;  // IPC connections' regions are theirs
        w.BeginObject();
        w.Key("name");
        w.String(s.name);
        w.Key("key");
        w.String(s.key);
        w.Key("offset");
        w.UInt(s.offset);
        w.Key("byte_size");
        w.UInt(s.byte_size);
        w.EndObject();
      }
      w.EndArray();
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
      Status st = reg->RegisterSystem(m.region, key->get<std::string>(), fields[0], fields[1]);
      if (!st.ok()) return Error(res, st);
      res.body = "{}";
      return;
    }
    case Route::kV2ShmUnregister: {
      if (!m.region.empty()) {
        auto list = reg->List(m.region);
        if (!list.ok()) return Error(res, list.status());
        if (!(*list)[0].owner.empty()) {
          return Error(res, 404, "shared memory region \"" + m.region +
                                     "\" is not a system shared memory region");
        }
        Status st = reg->Unregister(m.region);
        if (!st.ok()) return Error(res, st);
      } else {
        auto list = reg->List();
        if (list.ok()) {
          for (const api::ShmRegionStatus& s : *list) {
            if (s.owner.empty()) (void)reg->Unregister(s.name);
          }
        }
      }
      res.body = "{}";
      return;
    }
    default:
      return Error(res, 404, "no route");
  }
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
