#include "tflite_model.h"

#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "mlos/smi_plugin.h"
#include "string_tensor.h"

namespace mlos::tflite_plugin {

using smi::MakeError;
using smi::Quoted;

namespace {

// Whether the library's type 17 is UINT16 (2.9.0's is; its c_api_types.h predates it).
bool LibraryHasUInt16() {
  static const bool known = std::strcmp(TfLiteTypeGetName(static_cast<TfLiteType>(
                                            kTfLiteTypeUInt16)),
                                        "UINT16") == 0;
  return known;
}

smi_dtype ToSmiDtype(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return SMI_DTYPE_FLOAT32;
    case kTfLiteFloat64: return SMI_DTYPE_FLOAT64;
    case kTfLiteFloat16: return SMI_DTYPE_FLOAT16;
    case kTfLiteInt8: return SMI_DTYPE_INT8;
    case kTfLiteInt16: return SMI_DTYPE_INT16;
    case kTfLiteInt32: return SMI_DTYPE_INT32;
    case kTfLiteInt64: return SMI_DTYPE_INT64;
    case kTfLiteUInt8: return SMI_DTYPE_UINT8;
    case kTfLiteUInt32: return SMI_DTYPE_UINT32;
    case kTfLiteUInt64: return SMI_DTYPE_UINT64;
    case kTfLiteBool: return SMI_DTYPE_BOOL;
    case kTfLiteString: return SMI_DTYPE_STRING;
    default:
      if (static_cast<int>(type) == kTfLiteTypeUInt16 && LibraryHasUInt16()) {
        return SMI_DTYPE_UINT16;
      }
      return SMI_DTYPE_INVALID;  // complex64/128, resource, variant, unknown
  }
}

// spec.io.<side>[] of the manifest as name -> shape; empty when the manifest has none or is not
// the expected JSON (the host made it from a validated manifest; nothing here is required).
std::unordered_map<std::string, std::vector<int64_t>> ManifestShapes(const char* manifest_json,
                                                                     const char* side) {
  std::unordered_map<std::string, std::vector<int64_t>> shapes;
  if (manifest_json == nullptr || *manifest_json == '\0') return shapes;
  const nlohmann::json j = nlohmann::json::parse(manifest_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("spec")) return shapes;
  const nlohmann::json& spec = j["spec"];
  if (!spec.is_object() || !spec.contains("io") || !spec["io"].is_object()) return shapes;
  const nlohmann::json& io = spec["io"];
  if (!io.contains(side) || !io[side].is_array()) return shapes;
  for (const nlohmann::json& t : io[side]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("shape") ||
        !t["shape"].is_array()) {
      continue;
    }
    std::vector<int64_t> shape;
    bool ok = true;
    for (const nlohmann::json& d : t["shape"]) {
      if (!d.is_number_integer()) ok = false;
      if (ok) shape.push_back(d.get<int64_t>());
    }
    if (ok) shapes[t["name"].get<std::string>()] = std::move(shape);
  }
  return shapes;
}

// Reads the interpreter's inputs or outputs into specs: names, types and the file's dims, with
// dims dynamic where the file's shape_signature or the manifest says -1.
template <typename TensorAt>
smi_error* ReadIo(const char* what, int32_t count, TensorAt tensor_at,
                  const std::vector<std::vector<int32_t>>& signatures,
                  const std::unordered_map<std::string, std::vector<int64_t>>& manifest,
                  std::vector<IoSpec>& specs) {
  std::unordered_map<std::string, int32_t> seen;
  for (int32_t i = 0; i < count; ++i) {
    const TfLiteTensor* t = tensor_at(i);
    IoSpec spec;
    spec.index = i;
    const char* name = TfLiteTensorName(t);
    spec.name = name != nullptr && *name != '\0' ? std::string(name)
                                                  : std::string(what) + "_" + std::to_string(i);
    if (!seen.emplace(spec.name, i).second) {
      return MakeError(SMI_ERROR_UNSUPPORTED,
                       std::string(what) + "s " + std::to_string(seen[spec.name]) + " and " +
                           std::to_string(i) + " are both named " + Quoted(spec.name.c_str()));
    }
    const TfLiteType type = TfLiteTensorType(t);
    spec.dtype = ToSmiDtype(type);
    if (spec.dtype == SMI_DTYPE_INVALID) {
      return MakeError(SMI_ERROR_UNSUPPORTED, std::string(what) + " " + Quoted(spec.name.c_str()) +
                                                  ": TFLite type " + TfLiteTypeGetName(type) +
                                                  " is not supported");
    }
    const int32_t rank = TfLiteTensorNumDims(t);
    if (rank < 0 || rank > SMI_MAX_RANK) {
      return MakeError(SMI_ERROR_UNSUPPORTED, std::string(what) + " " + Quoted(spec.name.c_str()) +
                                                  ": rank " + std::to_string(rank) +
                                                  " is not from 0 to 16");
    }
    for (int32_t d = 0; d < rank; ++d) spec.dims.push_back(TfLiteTensorDim(t, d));
    if (static_cast<size_t>(i) < signatures.size() &&
        signatures[static_cast<size_t>(i)].size() == spec.dims.size()) {
      for (size_t d = 0; d < spec.dims.size(); ++d) {
        if (signatures[static_cast<size_t>(i)][d] < 0) spec.dims[d] = -1;
      }
    }
    auto m = manifest.find(spec.name);
    if (m != manifest.end() && m->second.size() == spec.dims.size()) {
      for (size_t d = 0; d < spec.dims.size(); ++d) {
        if (m->second[d] < 0) spec.dims[d] = -1;
      }
    }
    specs.push_back(std::move(spec));
  }
  return nullptr;
}

std::string DimsText(const int64_t* dims, uint32_t rank) {
  std::string text = "[";
  for (uint32_t d = 0; d < rank; ++d) text += (d ? "," : "") + std::to_string(dims[d]);
  return text + "]";
}

}  // namespace

LoadedModel::~LoadedModel() {
  pool_.reset();  // interpreters before the model they run
}

smi_error* LoadedModel::Load(const TfliteConfig& config, const smi_model_load_params& params,
                             std::unique_ptr<LoadedModel>* out) {
  uint64_t file_bytes = 0;
  if (smi_error* e = smi::CheckModelFile(params, &file_bytes)) return e;
  const std::string path = params.model_path;

  std::unique_ptr<LoadedModel> model(new LoadedModel());
  ModelFileInfo file;
  const std::string file_error = ReadModelFile(path, &file);
  // The library verifies the whole FlatBuffer; it reports why only on stderr, so the reason
  // given is the plugin's own reading of the file when that found one.
  model->model_.reset(TfLiteModelCreateFromFile(path.c_str()));
  if (!model->model_) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "tflite cannot load " + path + ": " +
                         (file_error.empty() ? "TensorFlow Lite's verifier rejected the FlatBuffer"
                                             : file_error));
  }
  if (!file_error.empty()) {
    // The library accepts what the plugin's reader does not: dims stay as the library has them
    // (static), and the memory estimate counts the file and the IO tensors only.
    file = ModelFileInfo{};
  }
  model->file_bytes_ = file_bytes;
  model->activation_bytes_ = file.activation_bytes;

  PoolOptions pool_options;
  pool_options.threads = config.threads;
  pool_options.xnnpack = config.xnnpack;
  pool_options.max_interpreters = MaxInterpreters(config);
  model->pool_ = std::make_unique<InterpreterPool>(model->model_.get(), pool_options);
  const std::string error = model->pool_->Prime();
  if (!error.empty()) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "tflite cannot load " + path + ": " + error);
  }
  {
    InterpreterPool::Lease lease;
    const std::string acquire_error = model->pool_->Acquire(&lease);
    if (!acquire_error.empty()) {
      return MakeError(SMI_ERROR_INTERNAL, "tflite cannot load " + path + ": " + acquire_error);
    }
    if (smi_error* e = model->ReadSchema(lease->get(), file, params.manifest_json)) return e;
    model->loaded_io_bytes_ = lease->io_bytes.load();
  }
  *out = std::move(model);
  return nullptr;
}

smi_error* LoadedModel::ReadSchema(const TfLiteInterpreter* interpreter, const ModelFileInfo& file,
                                   const char* manifest_json) {
  if (smi_error* e = ReadIo(
          "input", TfLiteInterpreterGetInputTensorCount(interpreter),
          [&](int32_t i) { return TfLiteInterpreterGetInputTensor(interpreter, i); },
          file.input_signatures, ManifestShapes(manifest_json, "inputs"), inputs_)) {
    return e;
  }
  if (smi_error* e = ReadIo(
          "output", TfLiteInterpreterGetOutputTensorCount(interpreter),
          [&](int32_t i) { return TfLiteInterpreterGetOutputTensor(interpreter, i); },
          file.output_signatures, ManifestShapes(manifest_json, "outputs"), outputs_)) {
    return e;
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    input_tensors_.push_back(smi::SchemaTensor(inputs_[i].name, inputs_[i].dtype, inputs_[i].dims));
    input_index_.emplace(inputs_[i].name, i);
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    output_tensors_.push_back(
        smi::SchemaTensor(outputs_[i].name, outputs_[i].dtype, outputs_[i].dims));
    output_index_.emplace(outputs_[i].name, i);
  }
  return nullptr;
}

uint64_t LoadedModel::host_bytes() const {
  uint64_t total = file_bytes_;
  for (uint64_t io : pool_->IoBytesEach()) {
    double estimate = static_cast<double>(activation_bytes_);
    if (loaded_io_bytes_ > 0) {
      estimate *= static_cast<double>(io) / static_cast<double>(loaded_io_bytes_);
    }
    uint64_t bytes = estimate >= 1.8e19 ? std::numeric_limits<uint64_t>::max() / 2
                                        : static_cast<uint64_t>(estimate);
    if (bytes < io) bytes = io;
    total = bytes > std::numeric_limits<uint64_t>::max() - total
                ? std::numeric_limits<uint64_t>::max()
                : total + bytes;
  }
  return total;
}

smi_error* LoadedModel::ValidateInputs(const smi_infer_request& request,
                                       std::vector<const smi_tensor*>& by_schema) const {
  // TFLite's dims are int32.
  return smi::MatchInputs(inputs_, input_index_, request, by_schema,
                          {std::numeric_limits<int32_t>::max(), "TFLite"});
}

smi_error* LoadedModel::WantedOutputs(const smi_infer_request& request,
                                      std::vector<size_t>& wanted) const {
  return smi::MatchOutputs(outputs_.size(), output_index_, request, wanted);
}

smi_error* LoadedModel::Infer(const smi_infer_request& request) {
  if (request.size < sizeof(smi_infer_request)) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "request: size is smaller than SMI 1.0's");
  }
  if (request.alloc == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "alloc is NULL");
  std::vector<const smi_tensor*> by_schema;
  if (smi_error* e = ValidateInputs(request, by_schema)) return e;
  std::vector<size_t> wanted;
  if (smi_error* e = WantedOutputs(request, wanted)) return e;

  InterpreterPool::Lease lease;
  const std::string error = pool_->Acquire(&lease);
  if (!error.empty()) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "tflite cannot make an interpreter: " + error);
  }
  bool discard = false;
  smi_error* e = Run(*lease, by_schema, wanted, request, &discard);
  if (discard) lease.Discard();
  return e;
}

smi_error* LoadedModel::Run(Interpreter& interpreter,
                            const std::vector<const smi_tensor*>& by_schema,
                            const std::vector<size_t>& wanted, const smi_infer_request& request,
                            bool* discard) {
  interpreter.log().Clear();
  if (smi_error* e = ShapeInputs(interpreter, by_schema, discard)) return e;
  if (smi_error* e = CopyInputs(interpreter, by_schema)) return e;
  if (TfLiteInterpreterInvoke(interpreter.get()) != kTfLiteOk) {
    *discard = true;
    return MakeError(SMI_ERROR_INTERNAL,
                     "tflite invoke failed: " + interpreter.log().Text("no message"));
  }
  for (size_t w : wanted) {
    const IoSpec& spec = outputs_[w];
    const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interpreter.get(), spec.index);
    if (smi_error* e = CopyOutput(t, spec, request)) return e;
  }
  return nullptr;
}

smi_error* LoadedModel::ShapeInputs(Interpreter& interpreter,
                                    const std::vector<const smi_tensor*>& by_schema,
                                    bool* discard) {
  TfLiteInterpreter* it = interpreter.get();
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const smi_tensor& t = *by_schema[k];
    const TfLiteTensor* current = TfLiteInterpreterGetInputTensor(it, inputs_[k].index);
    bool same = TfLiteTensorNumDims(current) == static_cast<int32_t>(t.rank);
    for (uint32_t d = 0; same && d < t.rank; ++d) {
      same = TfLiteTensorDim(current, static_cast<int32_t>(d)) == t.dims[d];
    }
    if (same) continue;
    std::vector<int> dims(t.dims, t.dims + t.rank);  // each checked to fit int32
    interpreter.allocated = false;
    if (TfLiteInterpreterResizeInputTensor(it, inputs_[k].index, dims.data(),
                                           static_cast<int32_t>(dims.size())) != kTfLiteOk) {
      *discard = true;
      return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                       "input " + Quoted(inputs_[k].name.c_str()) +
                           ": tflite cannot resize it to " + DimsText(t.dims, t.rank) + ": " +
                           interpreter.log().Text("no message"));
    }
  }
  if (!interpreter.allocated) {
    if (TfLiteInterpreterAllocateTensors(it) != kTfLiteOk) {
      *discard = true;
      std::string shapes;
      for (size_t k = 0; k < inputs_.size(); ++k) {
        shapes += (k ? ", " : "") + Quoted(inputs_[k].name.c_str()) + " " +
                  DimsText(by_schema[k]->dims, by_schema[k]->rank);
      }
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "the model cannot run with input shapes " +
                                                       shapes + ": " +
                                                       interpreter.log().Text("no message"));
    }
    interpreter.allocated = true;
    interpreter.io_bytes = IoBytes(it);
  }
  return nullptr;
}

smi_error* LoadedModel::CopyInputs(Interpreter& interpreter,
                                   const std::vector<const smi_tensor*>& by_schema) {
  std::vector<char> encoded;
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const IoSpec& spec = inputs_[k];
    const smi_tensor& t = *by_schema[k];
    TfLiteTensor* tensor = TfLiteInterpreterGetInputTensor(interpreter.get(), spec.index);
    const std::string who = "input " + Quoted(spec.name.c_str());
    const void* data = t.data;
    uint64_t bytes = t.byte_size;
    if (spec.dtype == SMI_DTYPE_STRING) {
      const std::string error = EncodeStrings(static_cast<const smi_string*>(t.data),
                                              t.byte_size / sizeof(smi_string), encoded);
      if (!error.empty()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": " + error);
      TfLiteTensorRealloc(encoded.size(), tensor);  // string tensors are dynamically allocated
      data = encoded.data();
      bytes = encoded.size();
    }
    if (TfLiteTensorByteSize(tensor) != bytes) {
      return MakeError(SMI_ERROR_INTERNAL, who + ": the interpreter holds " +
                                               std::to_string(TfLiteTensorByteSize(tensor)) +
                                               " bytes for it, the request has " +
                                               std::to_string(bytes));
    }
    if (bytes > 0 && TfLiteTensorCopyFromBuffer(tensor, data, bytes) != kTfLiteOk) {
      return MakeError(SMI_ERROR_INTERNAL, who + ": tflite cannot copy it in: " +
                                               interpreter.log().Text("no message"));
    }
  }
  return nullptr;
}

smi_error* LoadedModel::CopyOutput(const TfLiteTensor* tensor, const IoSpec& spec,
                                   const smi_infer_request& request) {
  const std::string who = "output " + Quoted(spec.name.c_str());
  const int32_t rank = TfLiteTensorNumDims(tensor);
  if (rank < 0 || rank > SMI_MAX_RANK) {
    return MakeError(SMI_ERROR_INTERNAL, who + ": rank " + std::to_string(rank) +
                                             " is not from 0 to 16");
  }
  int64_t dims[SMI_MAX_RANK] = {};
  uint64_t count = 1;
  for (int32_t d = 0; d < rank; ++d) {
    dims[d] = TfLiteTensorDim(tensor, d);
    count *= static_cast<uint64_t>(dims[d] < 0 ? 0 : dims[d]);
  }
  const char* data = static_cast<const char*>(TfLiteTensorData(tensor));
  const uint64_t tensor_bytes = TfLiteTensorByteSize(tensor);
  auto refused = [&](uint64_t bytes) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                     who + ": the host refused to allocate " + std::to_string(bytes) + " bytes");
  };
  void* buffer = nullptr;
  if (spec.dtype == SMI_DTYPE_STRING) {
    std::vector<StringSpan> spans;
    const std::string error = DecodeStrings(data, tensor_bytes, count, spans);
    if (!error.empty()) return MakeError(SMI_ERROR_INTERNAL, who + ": " + error);
    uint64_t total = 0;
    for (const StringSpan& s : spans) total += s.length;
    if (request.alloc(request.alloc_user_data, spec.name.c_str(), spec.dtype,
                      static_cast<uint32_t>(rank), dims, total, &buffer) != 0 ||
        (buffer == nullptr && count > 0)) {
      return refused(total);
    }
    if (count == 0) return nullptr;
    smi_string* entries = static_cast<smi_string*>(buffer);
    char* storage = reinterpret_cast<char*>(entries + count);
    uint64_t at = 0;
    for (uint64_t i = 0; i < count; ++i) {
      if (spans[i].length > 0) std::memcpy(storage + at, data + spans[i].offset, spans[i].length);
      entries[i].data = storage + at;
      entries[i].length = spans[i].length;
      at += spans[i].length;
    }
    return nullptr;
  }
  if (tensor_bytes != count * smi_dtype_size(spec.dtype)) {
    return MakeError(SMI_ERROR_INTERNAL, who + ": " + std::to_string(tensor_bytes) +
                                             " bytes do not match its dims " +
                                             DimsText(dims, static_cast<uint32_t>(rank)));
  }
  if (request.alloc(request.alloc_user_data, spec.name.c_str(), spec.dtype,
                    static_cast<uint32_t>(rank), dims, tensor_bytes, &buffer) != 0 ||
      (buffer == nullptr && tensor_bytes > 0)) {
    return refused(tensor_bytes);
  }
  if (tensor_bytes > 0) std::memcpy(buffer, data, tensor_bytes);
  return nullptr;
}

}  // namespace mlos::tflite_plugin
