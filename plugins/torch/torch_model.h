// One loaded TorchScript module: the module (behind a pointer, so that only torch_model.cc
// includes libtorch's headers), its IO schema from the manifest, and the memory estimate.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io_schema.h"
#include "mlos/smi.h"

namespace mlos::torch_plugin {

class TorchModel {
 public:
  // Reads the IO schema from params.manifest_json (see ReadIoSchema), then loads
  // params.model_path with torch::jit::load on the CPU (TorchScript, scripted or traced, and
  // lite-interpreter files: torch::jit::load reads both the zip and the flatbuffer form) and puts
  // it in eval mode. Errors: NOT_FOUND (no file), INVALID_ARGUMENT (schema errors, `torch cannot
  // load <path>: <reason>`, no forward method, a manifest whose input count forward cannot take),
  // UNSUPPORTED (a dtype libtorch lacks, a forward argument that is not a tensor). Returns NULL
  // and sets *out on success. Any thread.
  static smi_error* Load(const smi_model_load_params& params, std::unique_ptr<TorchModel>* out);
  ~TorchModel();

  const std::vector<smi_tensor>& inputs() const { return input_tensors_; }
  const std::vector<smi_tensor>& outputs() const { return output_tensors_; }
  // The module's parameters and buffers (every submodule's, each storage counted once), or the
  // file's size when that is larger. Activations and libtorch's caches are not counted.
  uint64_t host_bytes() const { return host_bytes_; }

  // Validates the request against the schema, runs forward under inference mode with the inputs
  // in manifest order, maps its result to the manifest's outputs and writes the wanted ones into
  // buffers from request.alloc. Any thread, concurrently: forward on one module is safe for
  // inference. libtorch's exceptions propagate (the table's Guard turns them into errors).
  smi_error* Infer(const smi_infer_request& request);

 private:
  struct Module;  // the torch::jit::Module
  TorchModel();

  std::unique_ptr<Module> module_;
  IoSchema schema_;
  std::vector<smi_tensor> input_tensors_, output_tensors_;  // names point into schema_
  uint64_t host_bytes_ = 0;
};

}  // namespace mlos::torch_plugin
