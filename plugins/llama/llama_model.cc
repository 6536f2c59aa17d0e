#include "llama_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "chat.h"
#include "mlos/smi_plugin.h"
#include "runtime.h"
#include "sampling.h"

namespace mlos::llama_plugin {
namespace {

using smi::MakeError;

// Architectures whose GGUFs are encoders for embeddings even without a pooling_type key.
constexpr const char* kEmbeddingArchs[] = {"bert",         "nomic-bert", "nomic-bert-moe",
                                           "jina-bert-v2", "jina-bert-v3", "modern-bert",
                                           "neo-bert",     "eurobert"};

std::string MetaString(const llama_model* model, const std::string& key) {
  char buf[256];
  const int32_t n = llama_model_meta_val_str(model, key.c_str(), buf, sizeof buf);
  if (n < 0) return "";
  return std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

// The pooling type the GGUF names (<arch>.pooling_type), LLAMA_POOLING_TYPE_UNSPECIFIED if none.
enum llama_pooling_type ModelPooling(const llama_model* model, const std::string& arch) {
  const std::string value = MetaString(model, arch + ".pooling_type");
  if (value.empty()) return LLAMA_POOLING_TYPE_UNSPECIFIED;
  try {
    return static_cast<enum llama_pooling_type>(std::stoi(value));
  } catch (...) {
    return LLAMA_POOLING_TYPE_UNSPECIFIED;
  }
}

smi_tensor StringTensor(const std::string& name) {
  const int64_t dims[] = {-1};
  return smi::SchemaTensor(name, SMI_DTYPE_STRING, dims);
}

// The strings of a rank-1 STRING input named `name`, or INVALID_ARGUMENT naming it.
smi_error* ReadStrings(const smi_infer_request& request, const std::string& name,
                       std::vector<std::string>* out) {
  if (request.input_count != 1 || request.inputs == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "expected 1 input (\"" + name + "\"), got " +
                         std::to_string(request.input_count));
  }
  const smi_tensor& t = request.inputs[0];
  const std::string who = "input " + smi::Quoted(t.name);
  if (t.name == nullptr || name != t.name) {
    return MakeError(SMI_ERROR_NOT_FOUND,
                     who + " not found (the model's input is \"" + name + "\")");
  }
  if (t.dtype != SMI_DTYPE_STRING) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     who + ": dtype " + smi_dtype_name(t.dtype) + ", expected string");
  }
  if (t.rank != 1 || t.dims[0] < 0) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": expected rank 1 ([n] strings)");
  }
  const uint64_t count = static_cast<uint64_t>(t.dims[0]);
  if (smi_error* e = smi::CheckInputBytes(who, t, count)) return e;
  const auto* entries = static_cast<const smi_string*>(t.data);
  out->clear();
  for (uint64_t i = 0; i < count; ++i) {
    if (entries[i].data == nullptr && entries[i].length > 0) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                       who + ": element " + std::to_string(i) + " has NULL data");
    }
    out->emplace_back(entries[i].data ? entries[i].data : "", entries[i].length);
  }
  return nullptr;
}

smi_error* CheckOutputNames(const smi_infer_request& request, const std::string& name) {
  for (uint32_t i = 0; i < request.output_count; ++i) {
    const char* wanted = request.output_names ? request.output_names[i] : nullptr;
    if (wanted == nullptr || name != wanted) {
      return MakeError(SMI_ERROR_NOT_FOUND, "output " + smi::Quoted(wanted) + " not found");
    }
  }
  return nullptr;
}

uint64_t FileSize(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

smi_error* LlamaModel::Load(const LlamaConfig& config, const smi_model_load_params& params,
                            std::unique_ptr<LlamaModel>* out) {
  if (params.model_path == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "params: model_path is NULL");
  }
  const std::string path = params.model_path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return MakeError(SMI_ERROR_NOT_FOUND, "model file " + path + " does not exist");
  }
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->id_ = params.model_id ? params.model_id : path;
  m->path_ = path;

  llama_model_params model_params = llama_model_default_params();
  model_params.n_gpu_layers = 0;  // CPU plugin
  ClearLastLlamaError();
  m->model_ = llama_model_load_from_file(path.c_str(), model_params);
  if (m->model_ == nullptr) {
    const std::string why = LastLlamaError();
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "failed to load GGUF model " + path + (why.empty() ? "" : ": " + why));
  }

  const std::string arch = MetaString(m->model_, "general.architecture");
  const enum llama_pooling_type pooling = ModelPooling(m->model_, arch);
  bool embedding = pooling > LLAMA_POOLING_TYPE_NONE;
  for (const char* a : kEmbeddingArchs) embedding = embedding || arch == a;
  if (pooling == LLAMA_POOLING_TYPE_RANK) {
    return MakeError(SMI_ERROR_UNSUPPORTED,
                     "model " + path + " is a reranker (pooling rank), which is not supported");
  }

  const int32_t n_ctx_train = llama_model_n_ctx_train(m->model_);
  m->ctx_per_slot_ = config.ctx_per_slot;
  if (n_ctx_train > 0) m->ctx_per_slot_ = std::min(m->ctx_per_slot_, n_ctx_train);
  const int threads = EffectiveThreads(config);

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(config.parallel * m->ctx_per_slot_);
  cp.n_seq_max = static_cast<uint32_t>(config.parallel);
  cp.n_batch = static_cast<uint32_t>(config.batch);
  cp.n_ubatch = static_cast<uint32_t>(config.batch);
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.kv_unified = false;  // each slot its own ctx_per_slot cells
  if (embedding) {
    // A non-causal encoder sees a whole sequence in one ubatch.
    cp.embeddings = true;
    cp.pooling_type = pooling > LLAMA_POOLING_TYPE_NONE ? pooling : LLAMA_POOLING_TYPE_MEAN;
    cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(std::max(config.batch, m->ctx_per_slot_));
    cp.n_outputs_max_per_seq = 0;
  }
  ClearLastLlamaError();
  m->ctx_ = llama_init_from_model(m->model_, cp);
  if (m->ctx_ == nullptr) {
    const std::string why = LastLlamaError();
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                     "failed to create a llama.cpp context for " + path +
                         (why.empty() ? "" : ": " + why));
  }
  // One persistent thread pool for generation and batches (the same thread count), as
  // llama-server does; without it ggml starts and joins its worker threads at every decode.
  m->threadpool_ = std::make_unique<CpuThreadpool>(threads);
  if (m->threadpool_->get() != nullptr) {
    llama_attach_threadpool(m->ctx_, m->threadpool_->get(), nullptr);
  }

  // Memory: the mapped file (weights + metadata), the KV cache (F16 K and V per layer and
  // cell) and the context's other state (output buffers).
  const int64_t n_head = std::max(1, llama_model_n_head(m->model_));
  const int64_t head_dim = llama_model_n_embd(m->model_) / n_head;
  const uint64_t kv_cells = static_cast<uint64_t>(llama_n_ctx(m->ctx_)) *
                            static_cast<uint64_t>(llama_model_n_layer(m->model_));
  const uint64_t kv_row = 2 * static_cast<uint64_t>(head_dim) *
                          static_cast<uint64_t>(llama_model_n_head_kv(m->model_));  // K and V
  const uint64_t kv_bytes = embedding ? 0 : kv_cells * kv_row * 2;                 // F16
  m->host_bytes_ = std::max(FileSize(path), llama_model_size(m->model_)) + kv_bytes +
                   llama_state_get_size(m->ctx_);

  if (embedding) {
    m->embedder_ =
        std::make_unique<Embedder>(m->ctx_, m->model_, config.parallel, m->ctx_per_slot_);
    m->names_ = {"text", "embedding"};
    m->inputs_.push_back(StringTensor(m->names_[0]));
    const int64_t dims[] = {-1, m->embedder_->n_embd()};
    m->outputs_.push_back(smi::SchemaTensor(m->names_[1], SMI_DTYPE_FLOAT32, dims));
  } else {
    EngineOptions options;
    options.parallel = config.parallel;
    options.ctx_per_slot = m->ctx_per_slot_;
    options.batch = config.batch;
    options.model_id = m->id_;
    m->engine_ = std::make_unique<Engine>(m->ctx_, m->model_, options);
    m->names_ = {"prompt", "text"};
    m->inputs_.push_back(StringTensor(m->names_[0]));
    m->outputs_.push_back(StringTensor(m->names_[1]));
  }
  *out = std::move(m);
  return nullptr;
}

struct LlamaModel::CallScope {
  explicit CallScope(LlamaModel* m) : model(m) {
    std::lock_guard<std::mutex> lock(model->calls_mu_);
    ++model->calls_;
  }
  ~CallScope() {
    std::lock_guard<std::mutex> lock(model->calls_mu_);
    if (--model->calls_ == 0) model->calls_cv_.notify_all();
  }
  LlamaModel* model;
};

LlamaModel::~LlamaModel() {
  if (engine_) engine_->Stop();  // running and waiting generations end with UNAVAILABLE
  {
    std::unique_lock<std::mutex> lock(calls_mu_);
    calls_cv_.wait(lock, [&] { return calls_ == 0; });
  }
  engine_.reset();
  embedder_.reset();
  if (ctx_ != nullptr) {
    llama_detach_threadpool(ctx_);
    llama_free(ctx_);
  }
  threadpool_.reset();
  if (model_ != nullptr) llama_model_free(model_);
}

smi_memory_info LlamaModel::Memory() const {
  smi_memory_info info{};
  info.host_bytes = host_bytes_;
  return info;
}

void LlamaModel::Cancel(uint64_t request_id) {
  if (engine_) engine_->Cancel(request_id);
}

smi_error* LlamaModel::PromptTokens(const std::string& prompt,
                                    std::vector<llama_token>* tokens) const {
  if (prompt.empty()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "prompt: must not be empty");
  *tokens = Tokenize(llama_model_get_vocab(model_), prompt);
  if (tokens->empty()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "prompt: has no tokens");
  if (tokens->size() + 1 > static_cast<size_t>(ctx_per_slot_)) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     "prompt is " + std::to_string(tokens->size()) +
                         " tokens; the context holds " + std::to_string(ctx_per_slot_));
  }
  return nullptr;
}

smi_error* LlamaModel::Generate(const smi_generate_request& request) {
  CallScope scope(this);
  if (embedder_) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model " + id_ + " is an embedding model");
  }
  GenerateParams params;
  if (std::string e = ParseGenerateParams(request.params_json, params); !e.empty()) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, e);
  }
  const std::string prompt = params.messages ? ApplyChatTemplate(model_, *params.messages)
                                             : std::string(request.prompt ? request.prompt : "");
  std::vector<llama_token> tokens;
  if (smi_error* e = PromptTokens(prompt, &tokens)) return e;

  const ChunkFn on_chunk = [&request](const std::string& text) {
    return request.on_token == nullptr ||
           request.on_token(request.user_data, text.data(), text.size()) == 0;
  };
  GenerateResult result;
  if (smi_error* e = engine_->Generate(std::move(tokens), params, request.request_id, on_chunk,
                                       &result)) {
    return e;
  }
  const bool has_on_done = request.size >= offsetof(smi_generate_request, on_done) +
                                               sizeof(request.on_done);
  if (has_on_done && request.on_done != nullptr) {
    const nlohmann::json done = {{"prompt_tokens", result.prompt_tokens},
                                 {"completion_tokens", result.completion_tokens},
                                 {"cached_tokens", result.cached_tokens},
                                 {"finish_reason", FinishReasonName(result.finish)}};
    request.on_done(request.user_data, done.dump().c_str());
  }
  if (result.finish == FinishReason::kCancelled) {
    return MakeError(SMI_ERROR_CANCELLED,
                     "request " + std::to_string(request.request_id) + " was cancelled");
  }
  return nullptr;
}

smi_error* LlamaModel::Infer(const smi_infer_request& request) {
  CallScope scope(this);
  std::vector<std::string> strings;
  if (smi_error* e = ReadStrings(request, inputs_[0].name, &strings)) return e;
  if (smi_error* e = CheckOutputNames(request, outputs_[0].name)) return e;
  if (request.alloc == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "request: alloc is NULL");
  }
  return embedder_ ? InferEmbeddings(request, strings) : InferGeneration(request, strings);
}

smi_error* LlamaModel::InferGeneration(const smi_infer_request& request,
                                       const std::vector<std::string>& prompts) {
  // One plain generation per prompt: at most 128 tokens, greedy.
  GenerateParams params;
  params.max_tokens = 128;
  std::vector<std::string> texts;
  uint64_t total = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<llama_token> tokens;
    if (smi_error* e = PromptTokens(prompts[i], &tokens)) {
      std::string message = std::string("input \"prompt\": element ") + std::to_string(i) + ": " +
                            smi::ErrorMessage(e);
      smi::FreeError(e);
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, std::move(message));
    }
    std::string text;
    GenerateResult result;
    const ChunkFn append = [&text](const std::string& chunk) {
      text += chunk;
      return true;
    };
    if (smi_error* e = engine_->Generate(std::move(tokens), params, request.request_id, append,
                                         &result)) {
      return e;
    }
    if (result.finish == FinishReason::kCancelled) {
      return MakeError(SMI_ERROR_CANCELLED,
                       "request " + std::to_string(request.request_id) + " was cancelled");
    }
    total += text.size();
    texts.push_back(std::move(text));
  }
  const int64_t dims[] = {static_cast<int64_t>(texts.size())};
  void* buffer = nullptr;
  if (request.alloc(request.alloc_user_data, outputs_[0].name, SMI_DTYPE_STRING, 1, dims, total,
                    &buffer) != 0 ||
      (buffer == nullptr && !texts.empty())) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "output \"text\": allocation refused");
  }
  auto* entries = static_cast<smi_string*>(buffer);
  char* storage = reinterpret_cast<char*>(entries + texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!texts[i].empty()) std::memcpy(storage, texts[i].data(), texts[i].size());
    entries[i].data = storage;
    entries[i].length = texts[i].size();
    storage += texts[i].size();
  }
  return nullptr;
}

smi_error* LlamaModel::InferEmbeddings(const smi_infer_request& request,
                                       const std::vector<std::string>& texts) {
  const int64_t n_embd = embedder_->n_embd();
  std::vector<float> rows(texts.size() * static_cast<size_t>(n_embd));
  bool invalid = false;
  if (std::string e = embedder_->Embed(texts, rows.data(), &invalid); !e.empty()) {
    return MakeError(invalid ? SMI_ERROR_INVALID_ARGUMENT : SMI_ERROR_INTERNAL, e);
  }
  const int64_t dims[] = {static_cast<int64_t>(texts.size()), n_embd};
  const uint64_t bytes = rows.size() * sizeof(float);
  void* buffer = nullptr;
  if (request.alloc(request.alloc_user_data, outputs_[0].name, SMI_DTYPE_FLOAT32, 2, dims, bytes,
                    &buffer) != 0 ||
      (buffer == nullptr && bytes > 0)) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "output \"embedding\": allocation refused");
  }
  if (bytes > 0) std::memcpy(buffer, rows.data(), bytes);
  return nullptr;
}

}  // namespace mlos::llama_plugin
