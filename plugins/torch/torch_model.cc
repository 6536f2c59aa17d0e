#include "torch_model.h"

#include <cstring>
#include <map>
#include <new>
#include <string>
#include <unordered_set>
#include <utility>

#include <torch/script.h>

#include "mlos/smi_plugin.h"
#include "torch_runtime.h"

namespace mlos::torch_plugin {

using smi::MakeError;
using smi::Quoted;

struct TorchModel::Module {
  torch::jit::Module module;
};

namespace {

// Where a zero-element input's data points when the caller gave NULL (from_blob wants a pointer).
alignas(64) char g_empty[64];

c10::ScalarType ToScalarType(smi_dtype dtype) {
  switch (dtype) {
    case SMI_DTYPE_FLOAT32: return c10::ScalarType::Float;
    case SMI_DTYPE_FLOAT64: return c10::ScalarType::Double;
    case SMI_DTYPE_FLOAT16: return c10::ScalarType::Half;
    case SMI_DTYPE_BFLOAT16: return c10::ScalarType::BFloat16;
    case SMI_DTYPE_INT8: return c10::ScalarType::Char;
    case SMI_DTYPE_INT16: return c10::ScalarType::Short;
    case SMI_DTYPE_INT32: return c10::ScalarType::Int;
    case SMI_DTYPE_INT64: return c10::ScalarType::Long;
    case SMI_DTYPE_UINT8: return c10::ScalarType::Byte;
    case SMI_DTYPE_BOOL: return c10::ScalarType::Bool;
    default: return c10::ScalarType::Undefined;  // ReadIoSchema admits none of the others
  }
}

// The SMI dtype name of a scalar type, or libtorch's own name for one SMI does not have.
std::string DtypeName(c10::ScalarType type) {
  for (int d = SMI_DTYPE_FLOAT32; d <= SMI_DTYPE_BOOL; ++d) {
    if (ToScalarType(static_cast<smi_dtype>(d)) == type) {
      return smi_dtype_name(static_cast<smi_dtype>(d));
    }
  }
  return c10::toString(type);
}

// The first line of a load error (c10::Error's text without its backtrace).
std::string LoadReason(const std::exception& e) {
  const std::string message = ShortTorchMessage(e);
  return message.substr(0, message.find('\n'));
}

// Bytes of the storages behind the module's parameters and buffers, each storage once.
uint64_t WeightBytes(const torch::jit::Module& module) {
  std::unordered_set<const void*> seen;
  uint64_t bytes = 0;
  auto add = [&](const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return;
    const c10::Storage& storage = t.storage();
    if (seen.insert(storage.unsafeGetStorageImpl()).second) bytes += storage.nbytes();
  };
  for (const at::Tensor& p : module.parameters(/*recurse=*/true)) add(p);
  for (const at::Tensor& b : module.buffers(/*recurse=*/true)) add(b);
  return bytes;
}

// Checks that forward can take the manifest's inputs as tensors, positionally.
smi_error* CheckForwardSchema(const torch::jit::Module& module, const IoSchema& schema,
                              const std::string& path) {
  const auto forward = module.find_method("forward");
  if (!forward) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, path + " has no forward method");
  }
  const std::vector<c10::Argument>& args = forward->function().getSchema().arguments();
  // arguments()[0] is the module itself.
  const size_t available = args.empty() ? 0 : args.size() - 1;
  size_t required = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    if (!args[i].default_value()) required = i;
  }
  const size_t given = schema.inputs.size();
  if (given > available || given < required) {
    std::string names;
    for (size_t i = 1; i < args.size(); ++i) names += (i > 1 ? ", " : "") + args[i].name();
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "forward takes " + std::to_string(available) + " inputs (" + names +
                         "), the manifest declares " + std::to_string(given));
  }
  for (size_t k = 0; k < given; ++k) {
    const c10::Argument& arg = args[k + 1];
    if (!c10::TensorType::get()->isSubtypeOf(*arg.type())) {
      return MakeError(SMI_ERROR_UNSUPPORTED,
                       "input " + Quoted(schema.inputs[k].name.c_str()) + ": forward's argument " +
                           Quoted(arg.name().c_str()) + " is " + arg.type()->annotation_str() +
                           ", not a Tensor");
    }
  }
  return nullptr;
}

// A short description of an IValue's kind for messages ("Tensor", "Tuple", "int", ...).
std::string KindOf(const c10::IValue& value) { return value.tagKind(); }

// Maps forward's result to the wanted outputs: a Tensor (one output), a tuple or list (by
// position) or a Dict[str, Tensor] (by key). INTERNAL when the result does not fit the manifest.
smi_error* ResultTensors(const c10::IValue& result, const IoSchema& schema,
                         const std::vector<size_t>& wanted, std::vector<at::Tensor>& tensors) {
  const size_t declared = schema.outputs.size();
  std::vector<c10::IValue> by_position;
  std::map<std::string, c10::IValue> by_key;
  bool keyed = false;
  if (result.isTensor()) {
    by_position.push_back(result);
    if (declared != 1) {
      return MakeError(SMI_ERROR_INTERNAL, "forward returned one tensor, the manifest declares " +
                                               std::to_string(declared) + " outputs");
    }
  } else if (result.isTuple() || result.isList()) {
    by_position =
        result.isTuple() ? result.toTupleRef().elements().vec() : result.toListRef().vec();
    if (by_position.size() != declared) {
      return MakeError(SMI_ERROR_INTERNAL,
                       std::string("forward returned a ") + (result.isTuple() ? "tuple" : "list") +
                           " of " + std::to_string(by_position.size()) +
                           " values, the manifest declares " + std::to_string(declared) +
                           " outputs");
    }
  } else if (result.isGenericDict()) {
    keyed = true;
    for (const auto& entry : result.toGenericDict()) {
      if (!entry.key().isString()) {
        return MakeError(SMI_ERROR_INTERNAL, "forward returned a dict with " +
                                                 KindOf(entry.key()) + " keys, not str");
      }
      by_key.emplace(entry.key().toStringRef(), entry.value());
    }
  } else {
    return MakeError(SMI_ERROR_INTERNAL, "forward returned " + KindOf(result) +
                                             "; expected a Tensor, a tuple or list of tensors, "
                                             "or a Dict[str, Tensor]");
  }

  tensors.clear();
  for (size_t w : wanted) {
    const IoSpec& spec = schema.outputs[w];
    const std::string who = "output " + Quoted(spec.name.c_str());
    const c10::IValue* value = nullptr;
    if (keyed) {
      auto it = by_key.find(spec.name);
      if (it == by_key.end()) {
        std::string keys;
        for (const auto& [key, v] : by_key) keys += (keys.empty() ? "" : ", ") + key;
        return MakeError(SMI_ERROR_INTERNAL,
                         who + ": forward's dict has no such key (keys: " + keys + ")");
      }
      value = &it->second;
    } else {
      value = &by_position[w];
    }
    if (!value->isTensor()) {
      return MakeError(SMI_ERROR_INTERNAL,
                       who + ": forward returned " + KindOf(*value) + ", not a Tensor");
    }
    const at::Tensor& t = value->toTensor();
    if (!t.defined() || t.layout() != c10::kStrided || !t.device().is_cpu()) {
      return MakeError(SMI_ERROR_INTERNAL, who + ": not a dense CPU tensor");
    }
    if (t.scalar_type() != ToScalarType(spec.dtype)) {
      return MakeError(SMI_ERROR_INTERNAL, who + ": the model returned " +
                                               DtypeName(t.scalar_type()) +
                                               ", the manifest declares " +
                                               smi_dtype_name(spec.dtype));
    }
    if (static_cast<size_t>(t.dim()) != spec.dims.size()) {
      return MakeError(SMI_ERROR_INTERNAL, who + ": the model returned rank " +
                                               std::to_string(t.dim()) +
                                               ", the manifest declares rank " +
                                               std::to_string(spec.dims.size()));
    }
    for (size_t d = 0; d < spec.dims.size(); ++d) {
      if (spec.dims[d] >= 0 && t.size(static_cast<int64_t>(d)) != spec.dims[d]) {
        return MakeError(SMI_ERROR_INTERNAL, who + ": the model returned dim " +
                                                 std::to_string(d) + " = " +
                                                 std::to_string(t.size(static_cast<int64_t>(d))) +
                                                 ", the manifest declares " +
                                                 std::to_string(spec.dims[d]));
      }
    }
    tensors.push_back(t);
  }
  return nullptr;
}

}  // namespace

TorchModel::TorchModel() = default;
TorchModel::~TorchModel() = default;

smi_error* TorchModel::Load(const smi_model_load_params& params,
                            std::unique_ptr<TorchModel>* out) {
  uint64_t file_bytes = 0;
  if (smi_error* e = smi::CheckModelFile(params, &file_bytes)) return e;
  const std::string path = params.model_path;
  std::unique_ptr<TorchModel> model(new TorchModel());
  if (smi_error* e = ReadIoSchema(params.manifest_json, &model->schema_)) return e;

  auto module = std::make_unique<Module>();
  try {
    module->module = torch::jit::load(path, c10::Device(c10::kCPU));
    module->module.eval();
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "torch cannot load " + path + ": " + LoadReason(e));
  }
  if (smi_error* e = CheckForwardSchema(module->module, model->schema_, path)) return e;

  model->host_bytes_ = std::max<uint64_t>(WeightBytes(module->module),
                                          file_bytes);
  model->module_ = std::move(module);
  // After schema_ has its final place: the tensors' names point into it.
  model->input_tensors_ = SchemaTensors(model->schema_.inputs);
  model->output_tensors_ = SchemaTensors(model->schema_.outputs);
  *out = std::move(model);
  return nullptr;
}

smi_error* TorchModel::Infer(const smi_infer_request& request) {
  if (request.size < sizeof(smi_infer_request)) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "request: size is smaller than SMI 1.0's");
  }
  if (request.alloc == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "alloc is NULL");
  std::vector<const smi_tensor*> by_schema;
  if (smi_error* e = MatchInputs(schema_, request, by_schema)) return e;
  std::vector<size_t> wanted;
  if (smi_error* e = WantedOutputs(schema_, request, wanted)) return e;

  // No autograd state, and tensors made here are inference tensors (no version counters).
  torch::NoGradGuard no_grad;
  c10::InferenceMode inference_mode;

  // The inputs are views of the host's buffers, not copies. from_blob wants a mutable pointer:
  // the buffers are the host's const inputs, and stay unwritten as long as forward does not
  // modify its arguments in place (a model that does, e.g. x.add_(1), would write into them).
  std::vector<c10::IValue> args;
  args.reserve(schema_.inputs.size());
  for (size_t k = 0; k < schema_.inputs.size(); ++k) {
    const smi_tensor& t = *by_schema[k];
    void* data = t.data != nullptr ? t.data : static_cast<void*>(g_empty);
    args.emplace_back(torch::from_blob(data, c10::IntArrayRef(t.dims, t.rank),
                                       torch::TensorOptions().dtype(
                                           ToScalarType(schema_.inputs[k].dtype))));
  }
  const c10::IValue result = module_->module.forward(std::move(args));

  std::vector<at::Tensor> tensors;
  if (smi_error* e = ResultTensors(result, schema_, wanted, tensors)) return e;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const IoSpec& spec = schema_.outputs[wanted[i]];
    const at::Tensor dense = tensors[i].contiguous();
    const uint64_t bytes = static_cast<uint64_t>(dense.numel()) * dense.element_size();
    const std::vector<int64_t> dims(dense.sizes().begin(), dense.sizes().end());
    void* buffer = nullptr;
    if (request.alloc(request.alloc_user_data, spec.name.c_str(), spec.dtype,
                      static_cast<uint32_t>(dims.size()), dims.data(), bytes, &buffer) != 0 ||
        (buffer == nullptr && bytes > 0)) {
      return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "output " + Quoted(spec.name.c_str()) +
                                                         ": the host refused to allocate " +
                                                         std::to_string(bytes) + " bytes");
    }
    if (bytes > 0) std::memcpy(buffer, dense.data_ptr(), bytes);
  }
  return nullptr;
}

}  // namespace mlos::torch_plugin
