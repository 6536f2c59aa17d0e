#include "onnx_model.h"

#include <cstring>
#include <limits>

#include "mlos/smi_plugin.h"

namespace mlos::onnx_plugin {

using smi::FreeError;
using smi::MakeError;
using smi::Quoted;

namespace {

smi_dtype ToSmiDtype(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return SMI_DTYPE_FLOAT32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return SMI_DTYPE_FLOAT64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return SMI_DTYPE_FLOAT16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return SMI_DTYPE_BFLOAT16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
      return SMI_DTYPE_INT8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
      return SMI_DTYPE_INT16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return SMI_DTYPE_INT32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return SMI_DTYPE_INT64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return SMI_DTYPE_UINT8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
      return SMI_DTYPE_UINT16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return SMI_DTYPE_UINT32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return SMI_DTYPE_UINT64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return SMI_DTYPE_BOOL;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING:
      return SMI_DTYPE_STRING;
    default:
      return SMI_DTYPE_INVALID;
  }
}

std::string OrtTypeName(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64:
      return "complex64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128:
      return "complex128";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E4M3FN:
      return "float8e4m3fn";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E4M3FNUZ:
      return "float8e4m3fnuz";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E5M2:
      return "float8e5m2";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E5M2FNUZ:
      return "float8e5m2fnuz";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT4:
      return "uint4";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT4:
      return "int4";
    default: {
      const smi_dtype d = ToSmiDtype(t);
      return d == SMI_DTYPE_INVALID ? "element type " + std::to_string(static_cast<int>(t))
                                    : smi_dtype_name(d);
    }
  }
}

const char* OnnxTypeName(ONNXType t) {
  switch (t) {
    case ONNX_TYPE_SEQUENCE:
      return "sequence";
    case ONNX_TYPE_MAP:
      return "map";
    case ONNX_TYPE_OPAQUE:
      return "opaque";
    case ONNX_TYPE_SPARSETENSOR:
      return "sparse tensor";
    case ONNX_TYPE_OPTIONAL:
      return "optional";
    default:
      return "unknown";
  }
}

smi_error_code FromOrtCode(OrtErrorCode code) {
  switch (code) {
    case ORT_INVALID_ARGUMENT:
    case ORT_INVALID_PROTOBUF:
    case ORT_INVALID_GRAPH:
    case ORT_NO_MODEL:
      return SMI_ERROR_INVALID_ARGUMENT;
    case ORT_NO_SUCHFILE:
      return SMI_ERROR_NOT_FOUND;
    case ORT_NOT_IMPLEMENTED:
      return SMI_ERROR_UNSUPPORTED;
    case ORT_MODEL_LOADED:
    case ORT_ENGINE_ERROR:
    case ORT_EP_FAIL:
      return SMI_ERROR_UNAVAILABLE;
    default:
      return SMI_ERROR_INTERNAL;
  }
}

// Where a zero-byte tensor's data points when the caller gave NULL (ORT wants non-NULL).
alignas(16) char g_empty[16];

// Reads the session's inputs or outputs into specs.
template <typename NameFn, typename TypeFn>
smi_error* ReadIo(size_t count, const char* what, NameFn name_at, TypeFn type_at,
                  std::vector<IoSpec>& specs) {
  for (size_t i = 0; i < count; ++i) {
    IoSpec spec;
    spec.name = name_at(i);
    Ort::TypeInfo info = type_at(i);
    if (info.GetONNXType() != ONNX_TYPE_TENSOR) {
      return MakeError(SMI_ERROR_UNSUPPORTED,
                       std::string(what) + " " + Quoted(spec.name.c_str()) + ": ONNX type " +
                           OnnxTypeName(info.GetONNXType()) + " is not supported");
    }
    auto tensor = info.GetTensorTypeAndShapeInfo();
    spec.ort_type = tensor.GetElementType();
    spec.dtype = ToSmiDtype(spec.ort_type);
    if (spec.dtype == SMI_DTYPE_INVALID) {
      return MakeError(SMI_ERROR_UNSUPPORTED, std::string(what) + " " + Quoted(spec.name.c_str()) +
                                                  ": element type " + OrtTypeName(spec.ort_type) +
                                                  " is not supported");
    }
    spec.dims = tensor.GetShape();
    if (spec.dims.size() > SMI_MAX_RANK) {
      return MakeError(SMI_ERROR_UNSUPPORTED, std::string(what) + " " + Quoted(spec.name.c_str()) +
                                                  ": rank " + std::to_string(spec.dims.size()) +
                                                  " is above 16");
    }
    spec.is_static = true;
    for (int64_t& d : spec.dims) {
      if (d < 0) {
        d = -1;
        spec.is_static = false;
      }
    }
    specs.push_back(std::move(spec));
  }
  return nullptr;
}

smi_tensor MakeSchemaTensor(const IoSpec& spec) {
  return smi::SchemaTensor(spec.name, spec.dtype, spec.dims);
}

}  // namespace

smi_error* OnnxModel::Load(Ort::Env& env, const SessionConfig& config,
                           const smi_model_load_params& params, MappedOrtModelCache& mappings,
                           std::unique_ptr<OnnxModel>* out) {
  uint64_t file_bytes = 0;
  if (smi_error* e = smi::CheckModelFile(params, &file_bytes)) return e;
  const std::string path = params.model_path;

  std::unique_ptr<OnnxModel> model(new OnnxModel());
  model->cpu_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  try {
    LoadedSession loaded = LoadSession(env, config, params, mappings);
    model->mapping_ = std::move(loaded.mapping);
    model->session_ = std::move(loaded.session);
    model->source_ = loaded.source;
  } catch (const Ort::Exception& e) {
    const smi_error_code code = FromOrtCode(e.GetOrtErrorCode());
    return MakeError(code == SMI_ERROR_INTERNAL ? SMI_ERROR_INVALID_ARGUMENT : code,
                     "onnxruntime cannot load " + path + ": " + e.what());
  }
  model->host_bytes_ =
      model->mapping_ ? model->mapping_->size() : file_bytes;
  if (smi_error* e = model->ReadSchema()) return e;
  *out = std::move(model);
  return nullptr;
}

smi_error* OnnxModel::ReadSchema() {
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Session& s = *session_;
  if (smi_error* e = ReadIo(
          s.GetInputCount(), "input",
          [&](size_t i) { return std::string(s.GetInputNameAllocated(i, allocator).get()); },
          [&](size_t i) { return s.GetInputTypeInfo(i); }, inputs_)) {
    return e;
  }
  if (smi_error* e = ReadIo(
          s.GetOutputCount(), "output",
          [&](size_t i) { return std::string(s.GetOutputNameAllocated(i, allocator).get()); },
          [&](size_t i) { return s.GetOutputTypeInfo(i); }, outputs_)) {
    return e;
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    input_tensors_.push_back(MakeSchemaTensor(inputs_[i]));
    input_names_.push_back(inputs_[i].name.c_str());
    input_index_.emplace(inputs_[i].name, i);
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    output_tensors_.push_back(MakeSchemaTensor(outputs_[i]));
    output_index_.emplace(outputs_[i].name, i);
  }
  return nullptr;
}

smi_error* OnnxModel::ValidateInputs(const smi_infer_request& request,
                                     std::vector<const smi_tensor*>& by_schema) const {
  return smi::MatchInputs(inputs_, input_index_, request, by_schema);
}

smi_error* OnnxModel::WantedOutputs(const smi_infer_request& request,
                                    std::vector<size_t>& wanted) const {
  return smi::MatchOutputs(outputs_.size(), output_index_, request, wanted);
}

smi_error* OnnxModel::Infer(const smi_infer_request& request) {
  if (request.size < sizeof(smi_infer_request)) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "request: size is smaller than SMI 1.0's");
  }
  if (request.alloc == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "alloc is NULL");
  std::vector<const smi_tensor*> by_schema;
  if (smi_error* e = ValidateInputs(request, by_schema)) return e;
  std::vector<size_t> wanted;
  if (smi_error* e = WantedOutputs(request, wanted)) return e;

  Ort::RunOptions run_options;
  std::unordered_multimap<uint64_t, Running>::iterator self;
  {
    std::lock_guard<std::mutex> lock(mu_);
    self = running_.emplace(request.request_id, Running{&run_options, false});
  }
  smi_error* error = nullptr;
  try {
    error = Run(request, by_schema, wanted, run_options);
  } catch (const Ort::Exception& e) {
    error = MakeError(FromOrtCode(e.GetOrtErrorCode()), std::string("onnxruntime: ") + e.what());
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(self);
    throw;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (error && self->second.cancelled) {
    FreeError(error);
    error = MakeError(SMI_ERROR_CANCELLED,
                      "request " + std::to_string(request.request_id) + " cancelled");
  }
  running_.erase(self);
  return error;
}

smi_error* OnnxModel::Run(const smi_infer_request& request,
                          const std::vector<const smi_tensor*>& by_schema,
                          const std::vector<size_t>& wanted, Ort::RunOptions& run_options) {
  // Inputs: numeric tensors are views of the caller's memory (no copy); strings are copied.
  std::vector<Ort::Value> input_values;
  input_values.reserve(inputs_.size());
  Ort::AllocatorWithDefaultOptions allocator;
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const smi_tensor& t = *by_schema[k];
    if (inputs_[k].dtype == SMI_DTYPE_STRING) {
      Ort::Value v =
          Ort::Value::CreateTensor(allocator, t.dims, t.rank, ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
      const smi_string* s = static_cast<const smi_string*>(t.data);
      const uint64_t count = t.byte_size / sizeof(smi_string);
      for (uint64_t i = 0; i < count; ++i) {
        char* dst = v.GetResizedStringTensorElementBuffer(i, s[i].length);
        if (s[i].length) std::memcpy(dst, s[i].data, s[i].length);
      }
      input_values.push_back(std::move(v));
    } else {
      void* data = t.byte_size == 0 && t.data == nullptr ? g_empty : t.data;
      input_values.push_back(
          Ort::Value::CreateTensor(cpu_, data, t.byte_size, t.dims, t.rank, inputs_[k].ort_type));
    }
  }
  std::vector<const char*> output_names;
  for (size_t w : wanted) output_names.push_back(outputs_[w].name.c_str());

  // Fully static numeric outputs: the host's buffers are bound before the run and ONNX Runtime
  // writes into them in place. Otherwise outputs are copied out after the run.
  bool preallocate = true;
  for (size_t w : wanted) {
    if (!outputs_[w].is_static || outputs_[w].dtype == SMI_DTYPE_STRING) preallocate = false;
  }
  if (preallocate) {
    std::vector<Ort::Value> output_values;
    for (size_t w : wanted) {
      const IoSpec& spec = outputs_[w];
      uint64_t count = 1;
      for (int64_t d : spec.dims) count *= static_cast<uint64_t>(d);
      const uint64_t bytes = count * smi_dtype_size(spec.dtype);
      void* buffer = nullptr;
      if (request.alloc(request.alloc_user_data, spec.name.c_str(), spec.dtype,
                        static_cast<uint32_t>(spec.dims.size()), spec.dims.data(), bytes,
                        &buffer) != 0 ||
          (buffer == nullptr && bytes > 0)) {
        return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "output " + Quoted(spec.name.c_str()) +
                                                           ": the host refused to allocate " +
                                                           std::to_string(bytes) + " bytes");
      }
      output_values.push_back(Ort::Value::CreateTensor(cpu_, buffer ? buffer : g_empty, bytes,
                                                       spec.dims.data(), spec.dims.size(),
                                                       spec.ort_type));
    }
    session_->Run(run_options, input_names_.data(), input_values.data(), input_values.size(),
                  output_names.data(), output_values.data(), output_values.size());
    return nullptr;
  }

  std::vector<Ort::Value> results =
      session_->Run(run_options, input_names_.data(), input_values.data(), input_values.size(),
                    output_names.data(), output_names.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const IoSpec& spec = outputs_[wanted[i]];
    Ort::Value& value = results[i];
    auto info = value.GetTensorTypeAndShapeInfo();
    const std::vector<int64_t> dims = info.GetShape();
    const uint64_t count = info.GetElementCount();
    if (dims.size() > SMI_MAX_RANK) {
      return MakeError(SMI_ERROR_INTERNAL,
                       "output " + Quoted(spec.name.c_str()) + ": rank above 16");
    }
    uint64_t bytes = 0;
    if (spec.dtype == SMI_DTYPE_STRING) {
      bytes = count ? value.GetStringTensorDataLength() : 0;
    } else {
      bytes = value.GetTensorSizeInBytes();
    }
    void* buffer = nullptr;
    if (request.alloc(request.alloc_user_data, spec.name.c_str(), spec.dtype,
                      static_cast<uint32_t>(dims.size()), dims.data(), bytes, &buffer) != 0 ||
        (buffer == nullptr && (bytes > 0 || (spec.dtype == SMI_DTYPE_STRING && count > 0)))) {
      return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "output " + Quoted(spec.name.c_str()) +
                                                         ": the host refused to allocate " +
                                                         std::to_string(bytes) + " bytes");
    }
    if (spec.dtype == SMI_DTYPE_STRING) {
      if (count == 0) continue;
      smi_string* entries = static_cast<smi_string*>(buffer);
      char* storage = reinterpret_cast<char*>(entries + count);
      std::vector<size_t> offsets(count);
      value.GetStringTensorContent(bytes ? storage : g_empty, bytes, offsets.data(), count);
      for (uint64_t j = 0; j < count; ++j) {
        const size_t end = j + 1 < count ? offsets[j + 1] : bytes;
        entries[j].data = storage + offsets[j];
        entries[j].length = end - offsets[j];
      }
    } else if (bytes > 0) {
      std::memcpy(buffer, value.GetTensorRawData(), bytes);
    }
  }
  return nullptr;
}

void OnnxModel::Cancel(uint64_t request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = running_.equal_range(request_id);
  for (auto it = begin; it != end; ++it) {
    it->second.cancelled = true;
    it->second.options->SetTerminate();
  }
}

}  // namespace mlos::onnx_plugin
