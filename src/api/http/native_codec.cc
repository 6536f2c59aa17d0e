#include "api/http/native_codec.h"

#include <nlohmann/json.hpp>

#include "api/http/json_writer.h"
#include "api/http/tensor_json.h"

namespace mlos::http {
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

void WriteTensorInfos(JsonWriter& w, const std::vector<core::TensorInfo>& infos) {
  w.BeginArray();
  for (const core::TensorInfo& i : infos) {
    w.BeginObject();
    w.Key("name");
    w.String(i.name);
    w.Key("dtype");
    w.String(core::DataTypeName(i.dtype));
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
  w.Key("load_time_ms");
  w.Double(m.load_time_ms);
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

Result<std::vector<core::Tensor>> ParseNamedInputs(std::string_view body,
                                                   const std::vector<core::TensorInfo>& schema) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the inference request");
  if (!doc.is_object()) {
    return InvalidArgument("the inference request must be a JSON object mapping input names "
                           "to arrays");
  }
  const json* named = &doc;
  if (doc.size() == 1 && doc.begin().key() == "inputs" && doc.begin()->is_object()) {
    bool schema_has_inputs = false;
    for (const auto& i : schema) schema_has_inputs |= i.name == "inputs";
    if (!schema_has_inputs) named = &*doc.begin();
  }
  if (named->empty()) return InvalidArgument("the inference request names no inputs");
  std::vector<core::Tensor> out;
  out.reserve(named->size());
  for (auto it = named->begin(); it != named->end(); ++it) {
    const core::TensorInfo* info = nullptr;
    for (const auto& i : schema) {
      if (i.name == it.key()) info = &i;
    }
    if (!info && !schema.empty()) {
      std::string known;
      for (const auto& i : schema) known += (known.empty() ? "" : ", ") + i.name;
      return InvalidArgument("unknown input '" + it.key() + "' (the model's inputs: " + known +
                             ")");
    }
    core::Tensor t;
    t.name = it.key();
    t.dtype = info ? info->dtype : GuessJsonDataType(*it);
    std::vector<int64_t> nested;
    MLOS_RETURN_IF_ERROR(DecodeJsonTensorData(*it, t, nested));
    if (info && nested.size() == 1 && info->shape.size() != 1) {
      // A flat array: the schema gives the shape.
      MLOS_ASSIGN_OR_RETURN(t.shape, InferFlatShape(info->shape, nested[0], t.name));
    } else if (info && nested.empty() && info->shape.size() > 0) {
      // A bare scalar for a tensor input: shape it like a one-element flat array.
      MLOS_ASSIGN_OR_RETURN(t.shape, InferFlatShape(info->shape, 1, t.name));
    } else {
      t.shape = std::move(nested);
    }
    out.push_back(std::move(t));
  }
  return out;
}

void EncodeInferenceResponse(const core::InferResponse& response, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("status");
  w.String("success");
  w.Key("model_id");
  w.String(response.model_id);
  w.Key("model_version");
  w.String(response.model_version);
  w.Key("inference_time_us");
  w.UInt(response.inference_time_us);
  w.Key("queue_time_us");
  w.UInt(response.queue_time_us);
  w.Key("outputs");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    WriteTensorDataFlat(w, t);
  }
  w.EndObject();
  w.Key("output_shapes");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    WriteShape(w, t.shape);
  }
  w.EndObject();
  w.Key("output_dtypes");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    w.String(core::DataTypeName(t.dtype));
  }
  w.EndObject();
  w.EndObject();
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
  w.EndObject();
}

}  // namespace mlos::http
