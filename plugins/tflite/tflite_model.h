// One loaded TFLite model: the TfLiteModel (the file, memory-mapped by the library), its IO
// schema as SMI tensors, and the pool of interpreters that run it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "interpreter_pool.h"
#include "mlos/smi.h"
#include "model_file.h"
#include "tflite_api.h"
#include "tflite_config.h"

namespace mlos::tflite_plugin {

// One model input or output.
struct IoSpec {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_INVALID;
  int32_t index = 0;          // the C API's input / output index
  std::vector<int64_t> dims;  // -1 = dynamic
};

class LoadedModel {
 public:
  // Loads params.model_path with `config` (already merged with the per-model options).
  // Dynamic dims come from the file's shape_signature and from -1 dims the manifest's spec.io
  // gives for a tensor of the same name and rank. Returns NULL and sets *out, or an error:
  // NOT_FOUND (no file), INVALID_ARGUMENT "tflite cannot load <path>: <why>" (not a model, or
  // the library cannot build or allocate an interpreter for it), UNSUPPORTED (an IO type SMI
  // cannot carry, naming the tensor).
  static smi_error* Load(const TfliteConfig& config, const smi_model_load_params& params,
                         std::unique_ptr<LoadedModel>* out);
  ~LoadedModel();

  const std::vector<smi_tensor>& inputs() const { return input_tensors_; }
  const std::vector<smi_tensor>& outputs() const { return output_tensors_; }
  // Estimate of the host memory the model holds: the file (mapped by the library), plus for each
  // interpreter the bytes of the graph's non-constant tensors at the file's shapes (the arena
  // without reuse between tensors; kernels' scratch buffers and XNNPACK's packed weights are not
  // seen), scaled by how much the interpreter's IO tensors grew with resizes.
  uint64_t host_bytes() const;
  // Whether the XNNPACK delegate runs this model's interpreters.
  bool xnnpack_active() const { return pool_->xnnpack_active(); }

  // Validates request against the schema, leases an interpreter, resizes its inputs when the
  // request's dims differ, runs it, and writes the outputs into buffers from request.alloc. Any
  // thread, concurrently (each call on an interpreter of its own).
  smi_error* Infer(const smi_infer_request& request);

 private:
  LoadedModel() = default;
  smi_error* ReadSchema(const TfLiteInterpreter* interpreter, const ModelFileInfo& file,
                        const char* manifest_json);
  smi_error* ValidateInputs(const smi_infer_request& request,
                            std::vector<const smi_tensor*>& by_schema) const;
  smi_error* WantedOutputs(const smi_infer_request& request, std::vector<size_t>& wanted) const;
  smi_error* Run(Interpreter& interpreter, const std::vector<const smi_tensor*>& by_schema,
                 const std::vector<size_t>& wanted, const smi_infer_request& request,
                 bool* discard);
  smi_error* ShapeInputs(Interpreter& interpreter,
                         const std::vector<const smi_tensor*>& by_schema, bool* discard);
  smi_error* CopyInputs(Interpreter& interpreter,
                        const std::vector<const smi_tensor*>& by_schema);
  smi_error* CopyOutput(const TfLiteTensor* tensor, const IoSpec& spec,
                        const smi_infer_request& request);

  struct ModelDeleter {
    void operator()(TfLiteModel* model) const { TfLiteModelDelete(model); }
  };
  std::unique_ptr<TfLiteModel, ModelDeleter> model_;  // outlives pool_
  std::unique_ptr<InterpreterPool> pool_;
  std::vector<IoSpec> inputs_, outputs_;
  std::vector<smi_tensor> input_tensors_, output_tensors_;  // names point into inputs_/outputs_
  std::unordered_map<std::string, size_t> input_index_, output_index_;
  uint64_t file_bytes_ = 0;
  uint64_t activation_bytes_ = 0;  // ModelFileInfo::activation_bytes
  uint64_t loaded_io_bytes_ = 0;   // the first interpreter's IoBytes at the file's shapes
};

}  // namespace mlos::tflite_plugin
