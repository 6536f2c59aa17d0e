// One loaded GGUF model: the llama_model (memory-mapped), its one llama_context and what serves
// it: an Engine (generation models) or an Embedder (embedding models).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <llama.h>

#include "embeddings.h"
#include "engine.h"
#include "llama_config.h"
#include "mlos/smi.h"
#include "runtime.h"

namespace mlos::llama_plugin {

class LlamaModel {
 public:
  // Loads params.model_path with `config` (plugin defaults with options_json applied). On
  // failure returns the error (naming the file) and leaves *out alone.
  static smi_error* Load(const LlamaConfig& config, const smi_model_load_params& params,
                         std::unique_ptr<LlamaModel>* out);
  ~LlamaModel();  // stops the engine (pending requests fail UNAVAILABLE), frees llama.cpp state

  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  std::span<const smi_tensor> Inputs() const { return inputs_; }
  std::span<const smi_tensor> Outputs() const { return outputs_; }
  smi_memory_info Memory() const;

  // smi.h's model_infer / model_generate / model_cancel. Any thread.
  smi_error* Infer(const smi_infer_request& request);
  smi_error* Generate(const smi_generate_request& request);
  void Cancel(uint64_t request_id);

  bool is_embedding() const { return embedder_ != nullptr; }

 private:
  LlamaModel() = default;
  smi_error* InferGeneration(const smi_infer_request& request,
                             const std::vector<std::string>& prompts);
  smi_error* InferEmbeddings(const smi_infer_request& request,
                             const std::vector<std::string>& texts);
  // Prompt tokens for a request, or an INVALID_ARGUMENT error.
  smi_error* PromptTokens(const std::string& prompt, std::vector<llama_token>* tokens) const;

  std::string id_;    // model_id, for messages
  std::string path_;
  llama_model* model_ = nullptr;
  std::unique_ptr<CpuThreadpool> threadpool_;  // attached to ctx_; freed after it
  llama_context* ctx_ = nullptr;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Embedder> embedder_;
  int ctx_per_slot_ = 0;
  uint64_t host_bytes_ = 0;

  // Calls inside Infer/Generate: the destructor waits for them to leave after stopping the
  // engine (smi.h has the host drain first; this keeps an early unload safe anyway).
  std::mutex calls_mu_;
  std::condition_variable calls_cv_;
  int calls_ = 0;  // guarded by calls_mu_
  struct CallScope;

  std::vector<std::string> names_;  // backing the tensors' names
  std::vector<smi_tensor> inputs_;
  std::vector<smi_tensor> outputs_;
};

}  // namespace mlos::llama_plugin
