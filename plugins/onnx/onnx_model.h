// One loaded ONNX model: an Ort::Session, its IO schema as SMI tensors, and the requests
// running on it (for cancellation).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "mapped_ort_model.h"
#include "mlos/smi.h"
#include "session_config.h"
#include "session_loader.h"

namespace mlos::onnx_plugin {

// One model input or output as the session declares it.
struct IoSpec {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_INVALID;
  ONNXTensorElementDataType ort_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;  // -1 = symbolic/dynamic
  bool is_static = false;     // every dim known
};

class OnnxModel {
 public:
  // Loads params.model_path into a session on `env` with `config` (already merged with the
  // per-model options). With a cache_dir and config.optimized_model_cache, the first load saves
  // ONNX Runtime's optimised graph there in ORT format and later loads of the unchanged file
  // map it, sharing the mapping (through `mappings`) with other sessions of the same file (see
  // session_loader.h). Returns NULL and sets *out on success; an error otherwise (NOT_FOUND: no
  // file; INVALID_ARGUMENT: not a loadable model; UNSUPPORTED: an IO type SMI cannot carry).
  static smi_error* Load(Ort::Env& env, const SessionConfig& config,
                         const smi_model_load_params& params, MappedOrtModelCache& mappings,
                         std::unique_ptr<OnnxModel>* out);

  const std::vector<smi_tensor>& inputs() const { return input_tensors_; }
  const std::vector<smi_tensor>& outputs() const { return output_tensors_; }
  // Estimate of the host memory the session holds: its weights. From a shared mapping, the
  // mapped size (the weights and, in the mapping's container, their prepacked forms, which
  // replace the mapped pages they were made from); otherwise the model file's size.
  // Arenas grown by inference are not counted.
  uint64_t host_bytes() const { return host_bytes_; }
  // Of host_bytes, the bytes shared with every session of the same mapping (the mapped size),
  // and the mapping's non-zero key; both 0 when the session does not read a shared mapping.
  uint64_t shared_bytes() const { return mapping_ ? mapping_->size() : 0; }
  uint64_t shared_key() const { return mapping_ ? mapping_->key() : 0; }
  // Where the session was made from.
  SessionSource source() const { return source_; }

  // Validates request against the schema, runs the session, writes the outputs into buffers
  // from request.alloc. Any thread, concurrently (Ort::Session::Run is thread-safe).
  smi_error* Infer(const smi_infer_request& request);
  // Sets the terminate flag of every running request with this id. Any thread.
  void Cancel(uint64_t request_id);

 private:
  OnnxModel() = default;
  smi_error* ReadSchema();
  smi_error* ValidateInputs(const smi_infer_request& request,
                            std::vector<const smi_tensor*>& by_schema) const;
  smi_error* WantedOutputs(const smi_infer_request& request, std::vector<size_t>& wanted) const;
  smi_error* Run(const smi_infer_request& request, const std::vector<const smi_tensor*>& by_schema,
                 const std::vector<size_t>& wanted, Ort::RunOptions& run_options);

  struct Running {
    Ort::RunOptions* options;
    bool cancelled;
  };

  std::shared_ptr<MappedOrtModel> mapping_;  // before session_: outlives it
  std::unique_ptr<Ort::Session> session_;
  Ort::MemoryInfo cpu_{nullptr};
  std::vector<IoSpec> inputs_, outputs_;
  std::vector<smi_tensor> input_tensors_, output_tensors_;  // names point into inputs_/outputs_
  std::vector<const char*> input_names_;                    // schema order, for Run
  std::unordered_map<std::string, size_t> input_index_, output_index_;
  uint64_t host_bytes_ = 0;
  SessionSource source_ = SessionSource::kModelFile;

  std::mutex mu_;  // guards running_
  std::unordered_multimap<uint64_t, Running> running_;
};

}  // namespace mlos::onnx_plugin
