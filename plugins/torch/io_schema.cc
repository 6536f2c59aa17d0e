#include "io_schema.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "mlos/smi_plugin.h"

namespace mlos::torch_plugin {

using smi::MakeError;
using smi::Quoted;

namespace {

constexpr const char* kHowToDeclare =
    "TorchScript files carry no typed signature, so the manifest must declare the model's IO "
    "(spec.io), e.g. axon install --input x:float32:-1,4 --output y:float32:-1,2";

smi_dtype DtypeFromName(const std::string& name) {
  for (int d = SMI_DTYPE_FLOAT32; d <= SMI_DTYPE_STRING; ++d) {
    if (name == smi_dtype_name(static_cast<smi_dtype>(d))) return static_cast<smi_dtype>(d);
  }
  return SMI_DTYPE_INVALID;
}

// Reads one entry of spec.io.<list>; `who` is e.g. "spec.io.inputs[1]".
smi_error* ReadSpec(const nlohmann::json& entry, const std::string& who, const char* what,
                    IoSpec& spec) {
  if (!entry.is_object()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": not an object");
  if (!entry.contains("name") || !entry["name"].is_string() ||
      entry["name"].get<std::string>().empty()) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ".name: missing or not a string");
  }
  spec.name = entry["name"].get<std::string>();
  const std::string tensor = std::string(what) + " " + Quoted(spec.name.c_str());
  if (!entry.contains("dtype") || !entry["dtype"].is_string()) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     who + ".dtype (" + tensor + "): missing or not a string");
  }
  const std::string dtype = entry["dtype"].get<std::string>();
  spec.dtype = DtypeFromName(dtype);
  if (spec.dtype == SMI_DTYPE_INVALID) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     who + ".dtype (" + tensor + "): unknown dtype " + Quoted(dtype.c_str()));
  }
  if (!TorchHasDtype(spec.dtype)) {
    return MakeError(SMI_ERROR_UNSUPPORTED,
                     tensor + ": dtype " + dtype + " is not supported by libtorch");
  }
  if (entry.contains("shape") && !entry["shape"].is_null()) {
    const nlohmann::json& shape = entry["shape"];
    if (!shape.is_array()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                       who + ".shape (" + tensor + "): not a list of integers");
    }
    if (shape.size() > SMI_MAX_RANK) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ".shape (" + tensor + "): rank " +
                                                       std::to_string(shape.size()) +
                                                       " is above 16");
    }
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!shape[d].is_number_integer() || shape[d].get<int64_t>() < -1) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                         who + ".shape[" + std::to_string(d) + "] (" + tensor +
                             "): must be -1 (dynamic) or an integer >= 0");
      }
      spec.dims.push_back(shape[d].get<int64_t>());
    }
  }
  return nullptr;
}

// Reads spec.io.<key> into specs and index.
smi_error* ReadList(const nlohmann::json& io, const char* key, const char* what,
                    std::vector<IoSpec>& specs, std::unordered_map<std::string, size_t>& index) {
  const std::string where = std::string("spec.io.") + key;
  if (!io.contains(key) || io[key].is_null() || (io[key].is_array() && io[key].empty())) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "the manifest has no " + where + ": " + kHowToDeclare);
  }
  if (!io[key].is_array()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, where + ": not a list");
  const nlohmann::json& list = io[key];
  for (size_t i = 0; i < list.size(); ++i) {
    IoSpec spec;
    if (smi_error* e = ReadSpec(list[i], where + "[" + std::to_string(i) + "]", what, spec)) {
      return e;
    }
    if (!index.emplace(spec.name, specs.size()).second) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                       where + ": " + what + " " + Quoted(spec.name.c_str()) + " is listed twice");
    }
    specs.push_back(std::move(spec));
  }
  return nullptr;
}

}  // namespace

bool TorchHasDtype(smi_dtype dtype) {
  switch (dtype) {
    case SMI_DTYPE_FLOAT32:
    case SMI_DTYPE_FLOAT64:
    case SMI_DTYPE_FLOAT16:
    case SMI_DTYPE_BFLOAT16:
    case SMI_DTYPE_INT8:
    case SMI_DTYPE_INT16:
    case SMI_DTYPE_INT32:
    case SMI_DTYPE_INT64:
    case SMI_DTYPE_UINT8:
    case SMI_DTYPE_BOOL:
      return true;
    default:
      return false;
  }
}

smi_error* ReadIoSchema(const char* manifest_json, IoSchema* out) {
  if (manifest_json == nullptr || *manifest_json == '\0') {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, std::string("no manifest: ") + kHowToDeclare);
  }
  const nlohmann::json manifest =
      nlohmann::json::parse(manifest_json, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "manifest_json: not a JSON object");
  }
  const nlohmann::json* io = nullptr;
  if (manifest.contains("spec") && manifest["spec"].is_object() &&
      manifest["spec"].contains("io") && manifest["spec"]["io"].is_object()) {
    io = &manifest["spec"]["io"];
  }
  if (io == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     std::string("the manifest has no spec.io: ") + kHowToDeclare);
  }
  IoSchema schema;
  if (smi_error* e = ReadList(*io, "inputs", "input", schema.inputs, schema.input_index)) {
    return e;
  }
  if (smi_error* e = ReadList(*io, "outputs", "output", schema.outputs, schema.output_index)) {
    return e;
  }
  *out = std::move(schema);
  return nullptr;
}

std::vector<smi_tensor> SchemaTensors(const std::vector<IoSpec>& specs) {
  std::vector<smi_tensor> tensors;
  tensors.reserve(specs.size());
  for (const IoSpec& spec : specs) {
    tensors.push_back(smi::SchemaTensor(spec.name, spec.dtype, spec.dims));
  }
  return tensors;
}

smi_error* MatchInputs(const IoSchema& schema, const smi_infer_request& request,
                       std::vector<const smi_tensor*>& by_schema) {
  return smi::MatchInputs(schema.inputs, schema.input_index, request, by_schema);
}

smi_error* WantedOutputs(const IoSchema& schema, const smi_infer_request& request,
                         std::vector<size_t>& wanted) {
  return smi::MatchOutputs(schema.outputs.size(), schema.output_index, request, wanted);
}

}  // namespace mlos::torch_plugin
