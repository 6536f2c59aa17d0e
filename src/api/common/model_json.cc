#include "api/common/model_json.h"

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"

namespace mlos::api {
namespace {

using nlohmann::json;

Status OptionalString(const json& doc, const char* field, std::string& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) return Status::Ok();
  if (!it->is_string()) {
    return InvalidArgument(std::string("field '") + field + "' must be a string, got " +
                           it->type_name());
  }
  out = it->get<std::string>();
  return Status::Ok();
}

void WriteStringArray(JsonWriter& w, const std::vector<std::string>& v) {
  w.BeginArray();
  for (const std::string& s : v) w.String(s);
  w.EndArray();
}

// Native documents name dtypes {"dtype": "float32"}; KServe ones {"datatype": "FP32"}.
enum class DtypeNames { kNative, kKServe };

void WriteTensorInfos(JsonWriter& w, const std::vector<core::TensorInfo>& infos,
                      DtypeNames names = DtypeNames::kNative) {
  w.BeginArray();
  for (const core::TensorInfo& i : infos) {
    w.BeginObject();
    w.Key("name");
    w.String(i.name);
    const bool native = names == DtypeNames::kNative;
    w.Key(native ? "dtype" : "datatype");
    w.String(native ? core::DataTypeName(i.dtype) : core::DataTypeKServeName(i.dtype));
    w.Key("shape");
    WriteShape(w, i.shape);
    w.EndObject();
  }
  w.EndArray();
}

void WriteModel(JsonWriter& w, const core::ModelStatus& m) {
  w.BeginObject();
  w.Key("id");
  w.String(m.id);
  w.Key("model_id");
  w.String(m.id);
  w.Key("name");
  w.String(m.name);
  w.Key("version");
  w.String(m.version);
  w.Key("state");
  w.String(core::ModelStateName(m.state));
  if (!m.reason.empty()) {
    w.Key("reason");
    w.String(m.reason);
  }
  w.Key("framework");
  w.String(m.framework);
  w.Key("execution_format");
  w.String(m.execution_format);
  w.Key("plugin");
  w.String(m.plugin);
  w.Key("path");
  w.String(m.path);
  w.Key("description");
  w.String(m.description);
  w.Key("is_default");
  w.Bool(m.is_default);
  w.Key("aliases");
  WriteStringArray(w, m.aliases);
  w.Key("desired_loaded");
  w.Bool(m.desired_loaded);
  w.Key("memory_bytes");
  w.UInt(m.memory_bytes);
  w.Key("shared_memory_bytes");
  w.UInt(m.shared_memory_bytes);
  w.Key("memory_estimate_bytes");
  w.UInt(m.memory_estimate_bytes);
  w.Key("load_time_ms");
  w.Double(m.load_time_ms);
  w.Key("load_kind");
  w.String(m.load_kind);
  w.Key("pinned");
  w.Bool(m.pinned);
  w.Key("keep_alive_ms");
  w.Int(m.keep_alive_ms);
  w.Key("priority");
  w.Int(m.priority);
  w.Key("last_used_unix_ms");
  w.Int(m.last_used_unix_ms);
  w.Key("evictions");
  w.UInt(m.evictions);
  w.Key("unload_reason");
  w.String(m.unload_reason);
  w.Key("isolation");
  w.String(core::IsolationName(m.isolation));
  if (m.worker_pid != 0) {
    w.Key("worker_pid");
    w.Int(m.worker_pid);
  }
  if (!m.worker_state.empty()) {
    w.Key("worker_state");
    w.String(m.worker_state);
  }
  w.Key("worker_restarts");
  w.UInt(m.worker_restarts);
  if (!m.last_crash.empty()) {
    w.Key("last_crash");
    w.String(m.last_crash);
  }
  w.Key("inputs");
  WriteTensorInfos(w, m.inputs);
  w.Key("outputs");
  WriteTensorInfos(w, m.outputs);
  w.Key("dependencies");
  WriteStringArray(w, m.dependencies);
  w.EndObject();
}

}  // namespace

Result<core::RegisterRequest> ParseRegisterRequest(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the register request");
  if (!doc.is_object()) return InvalidArgument("the register request must be a JSON object");
  core::RegisterRequest r;
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "model_id", r.model_id));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "name", r.name));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "framework", r.framework));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "execution_format", r.execution_format));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "description", r.description));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "manifest_path", r.manifest_path));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "path", r.path));
  if (r.path.empty()) MLOS_RETURN_IF_ERROR(OptionalString(doc, "model_path", r.path));
  if (r.model_id.empty()) return InvalidArgument("field 'model_id' is required");
  if (r.path.empty()) return InvalidArgument("field 'path' (or 'model_path') is required");
  return r;
}

void EncodeModelStatus(const core::ModelStatus& m, std::string& out) {
  JsonWriter w(out);
  WriteModel(w, m);
}

void EncodeModelList(const std::vector<core::ModelStatus>& models, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("models");
  w.BeginArray();
  for (const core::ModelStatus& m : models) WriteModel(w, m);
  w.EndArray();
  w.Key("count");
  w.UInt(models.size());
  w.EndObject();
}

void EncodePlugins(const std::vector<core::PluginStatus>& plugins, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("plugins");
  w.BeginArray();
  for (const core::PluginStatus& p : plugins) {
    w.BeginObject();
    w.Key("name");
    w.String(p.name);
    w.Key("version");
    w.String(p.version);
    w.Key("framework");
    w.String(p.framework);
    w.Key("execution_formats");
    WriteStringArray(w, p.execution_formats);
    w.Key("capabilities");
    WriteStringArray(w, p.capabilities);
    w.Key("path");
    w.String(p.path);
    w.EndObject();
  }
  w.EndArray();
  w.Key("count");
  w.UInt(plugins.size());
  w.EndObject();
}

void EncodeStats(const core::CoreStats& s, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("requests");
  w.UInt(s.requests);
  w.Key("errors");
  w.UInt(s.errors);
  w.Key("models_registered");
  w.UInt(s.models_registered);
  w.Key("models_ready");
  w.UInt(s.models_ready);
  w.Key("uptime_s");
  w.Double(s.uptime_s);
  w.Key("memory_budget_bytes");
  w.UInt(s.memory_budget_bytes);
  w.Key("memory_used_bytes");
  w.UInt(s.memory_used_bytes);
  w.Key("memory_base_bytes");
  w.UInt(s.memory_base_bytes);
  w.Key("evictions");
  w.UInt(s.evictions);
  w.Key("queues");
  w.BeginArray();
  for (const core::QueueDepth& q : s.queues) {
    w.BeginObject();
    w.Key("model");
    w.String(q.model);
    w.Key("priority");
    w.Int(q.priority);
    w.Key("depth");
    w.UInt(q.depth);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void EncodeKServeModelMetadata(const core::ModelStatus& model,
                               const std::vector<std::string>& versions, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(model.name);
  w.Key("versions");
  WriteStringArray(w, versions);
  w.Key("platform");
  w.String(KServePlatform(model));
  w.Key("inputs");
  WriteTensorInfos(w, model.inputs, DtypeNames::kKServe);
  w.Key("outputs");
  WriteTensorInfos(w, model.outputs, DtypeNames::kKServe);
  w.EndObject();
}

std::string TritonConfigDataType(std::string_view kserve_datatype) {
  return kserve_datatype == "BYTES" ? std::string("TYPE_STRING")
                                    : "TYPE_" + std::string(kserve_datatype);
}

namespace {

void WriteConfigTensors(JsonWriter& w, const std::vector<core::TensorInfo>& infos) {
  w.BeginArray();
  for (const core::TensorInfo& i : infos) {
    w.BeginObject();
    w.Key("name");
    w.String(i.name);
    w.Key("data_type");
    w.String(TritonConfigDataType(core::DataTypeKServeName(i.dtype)));
    w.Key("dims");
    WriteShape(w, i.shape);
    w.EndObject();
  }
  w.EndArray();
}

void WriteDuration(JsonWriter& w, const char* key, const service::StatDuration& d) {
  w.Key(key);
  w.BeginObject();
  w.Key("count");
  w.UInt(d.count);
  w.Key("ns");
  w.UInt(d.ns);
  w.EndObject();
}

}  // namespace

void EncodeKServeModelConfig(const core::ModelStatus& model, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(model.name);
  w.Key("platform");
  w.String(KServePlatform(model));
  w.Key("backend");
  w.String(model.plugin);
  w.Key("max_batch_size");
  w.Int(0);
  w.Key("input");
  WriteConfigTensors(w, model.inputs);
  w.Key("output");
  WriteConfigTensors(w, model.outputs);
  w.EndObject();
}

void EncodeKServeModelStats(const std::vector<service::ModelStatistics>& stats, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("model_stats");
  w.BeginArray();
  for (const service::ModelStatistics& s : stats) {
    w.BeginObject();
    w.Key("name");
    w.String(s.name);
    w.Key("version");
    w.String(s.version);
    w.Key("last_inference");
    w.UInt(s.last_inference_ms);
    w.Key("inference_count");
    w.UInt(s.inference_count);
    w.Key("execution_count");
    w.UInt(s.execution_count);
    w.Key("inference_stats");
    w.BeginObject();
    WriteDuration(w, "success", s.success);
    WriteDuration(w, "fail", s.fail);
    WriteDuration(w, "queue", s.queue);
    WriteDuration(w, "compute_input", s.compute_input);
    WriteDuration(w, "compute_infer", s.compute_infer);
    WriteDuration(w, "compute_output", s.compute_output);
    WriteDuration(w, "cache_hit", {});
    WriteDuration(w, "cache_miss", {});
    w.EndObject();
    w.Key("batch_stats");
    w.BeginArray();
    w.EndArray();
    w.Key("memory_usage");
    w.BeginArray();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void EncodeRepositoryIndex(const std::vector<core::ModelStatus>& models, std::string& out) {
  JsonWriter w(out);
  w.BeginArray();
  for (const core::ModelStatus& s : models) {
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

void EncodeShmStatus(const std::vector<service::ShmRegionStatus>& regions, std::string& out) {
  JsonWriter w(out);
  w.BeginArray();
  for (const service::ShmRegionStatus& s : regions) {
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
}

void EncodeServerMetadata(const service::ServerMetadata& m, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(m.name);
  w.Key("version");
  w.String(m.version);
  w.Key("extensions");
  WriteStringArray(w, m.extensions);
  w.EndObject();
}

Result<AliasBody> ParseAliasRequest(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the alias request");
  if (!doc.is_object()) return InvalidArgument("the alias request must be a JSON object");
  AliasBody a;
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "alias", a.alias));
  MLOS_RETURN_IF_ERROR(OptionalString(doc, "version", a.version));
  if (a.alias.empty()) return InvalidArgument("field 'alias' is required");
  return a;
}

}  // namespace mlos::api
