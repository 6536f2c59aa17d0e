#include "core/loaded_model.h"

#include <chrono>
#include <cstddef>
#include <cstring>

#include <nlohmann/json.hpp>

namespace mlos::core {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TensorInfo InfoFrom(const smi_tensor* t) {
  TensorInfo info;
  info.name = t->name ? t->name : "";
  info.dtype = static_cast<DataType>(t->dtype);
  for (uint32_t i = 0; i < t->rank && i < SMI_MAX_RANK; ++i) info.shape.push_back(t->dims[i]);
  return info;
}

// Where the plugin's output allocations go during one infer call.
struct AllocContext {
  const InferRequest* request = nullptr;
  InferResponse* response = nullptr;
  // String outputs: smi_string entries + storage per output, decoded after the call.
  struct StringOut {
    size_t output_index;
    uint64_t count;
    std::vector<uint8_t> buffer;
  };
  std::vector<StringOut> strings;
  Status error;
};

int AllocOutput(void* user_data, const char* name, smi_dtype dtype, uint32_t rank,
                const int64_t* dims, uint64_t byte_size, void** buffer) noexcept {
  auto* ctx = static_cast<AllocContext*>(user_data);
  try {
    if (!buffer || rank > SMI_MAX_RANK) return 1;
    Tensor t;
    t.name = name ? name : "";
    t.dtype = static_cast<DataType>(dtype);
    for (uint32_t i = 0; i < rank; ++i) t.shape.push_back(dims[i]);
    int64_t count = ElementCount(t.shape);
    if (count < 0) {
      ctx->error = Internal("plugin allocated output \"" + t.name + "\" with a negative dim");
      return 1;
    }
    auto& outs = ctx->response->outputs;
    if (dtype == SMI_DTYPE_STRING) {
      AllocContext::StringOut s;
      s.output_index = outs.size();
      s.count = static_cast<uint64_t>(count);
      s.buffer.resize(s.count * sizeof(smi_string) + byte_size);
      *buffer = s.buffer.data();
      ctx->strings.push_back(std::move(s));
      // the vector's heap block does not move with the StringOut
      *buffer = ctx->strings.back().buffer.data();
      outs.push_back(std::move(t));
      return 0;
    }
    if (ctx->request->output_allocator) {
      void* p = ctx->request->output_allocator(t.name, t.dtype, t.shape, byte_size);
      if (!p) {
        ctx->error = ResourceExhausted("output allocator refused output \"" + t.name + "\" (" +
                                       std::to_string(byte_size) + " bytes)");
        return 1;
      }
      t.external = p;
      t.external_size = byte_size;
      *buffer = p;
      outs.push_back(std::move(t));
      return 0;
    }
    t.data.resize(byte_size);
    outs.push_back(std::move(t));
    *buffer = outs.back().data.data();
    return 0;
  } catch (const std::bad_alloc&) {
    ctx->error = ResourceExhausted("out of memory allocating an output");
    return 1;
  } catch (...) {
    ctx->error = Internal("output allocation failed");
    return 1;
  }
}

}  // namespace

Result<std::unique_ptr<LoadedModel>> LoadedModel::Load(const Plugin* plugin,
                                                       const LoadParams& params) {
  smi_model_load_params p{};
  p.size = sizeof(p);
  p.model_dir = params.model_dir.c_str();
  p.model_path = params.model_path.c_str();
  p.model_id = params.model_id.c_str();
  p.manifest_json = params.manifest_json.empty() ? nullptr : params.manifest_json.c_str();
  p.options_json = params.options_json.empty() ? nullptr : params.options_json.c_str();
  p.cache_dir = params.cache_dir.empty() ? nullptr : params.cache_dir.c_str();
  smi_model* model = nullptr;
  MLOS_RETURN_IF_ERROR(StatusFromSmi(plugin->api, plugin->api->model_load(plugin->instance, &p, &model)));
  std::unique_ptr<LoadedModel> m(new LoadedModel());
  m->plugin_ = plugin;
  m->model_ = model;
  const smi_plugin_api* api = plugin->api;
  uint32_t n_in = api->model_input_count(model), n_out = api->model_output_count(model);
  for (uint32_t i = 0; i < n_in; ++i) {
    const smi_tensor* t = nullptr;
    MLOS_RETURN_IF_ERROR(StatusFromSmi(api, api->model_input(model, i, &t)));
    if (t) m->inputs_.push_back(InfoFrom(t));
  }
  for (uint32_t i = 0; i < n_out; ++i) {
    const smi_tensor* t = nullptr;
    MLOS_RETURN_IF_ERROR(StatusFromSmi(api, api->model_output(model, i, &t)));
    if (t) m->outputs_.push_back(InfoFrom(t));
  }
  if (api->model_memory) {
    smi_memory_info mem{};
    mem.size = sizeof(mem);
    if (StatusFromSmi(api, api->model_memory(model, &mem)).ok()) {
      m->memory_bytes_ = mem.host_bytes + mem.device_bytes;
      // Older plugins stop before the shared fields (their `size` says so).
      if (mem.size >= offsetof(smi_memory_info, shared_key) + sizeof(mem.shared_key) &&
          mem.shared_key != 0) {
        m->shared_bytes_ = std::min(mem.shared_bytes, m->memory_bytes_);
        m->shared_key_ = mem.shared_key;
      }
    }
  }
  m->last_used_ms_ = NowMs();
  return m;
}

LoadedModel::~LoadedModel() { Release(); }

void LoadedModel::Release() {
  std::lock_guard<std::mutex> lock(infer_mu_);
  if (model_) {
    plugin_->api->model_unload(model_);
    model_ = nullptr;
  }
}

void LoadedModel::SetSchemaIfEmpty(std::vector<TensorInfo> inputs,
                                   std::vector<TensorInfo> outputs) {
  if (inputs_.empty() && outputs_.empty()) {
    inputs_ = std::move(inputs);
    outputs_ = std::move(outputs);
  }
}

void LoadedModel::End() {
  last_used_ms_ = NowMs();
  if (in_flight_.fetch_sub(1) == 1) {
    {
      std::lock_guard<std::mutex> lock(idle_mu_);
      idle_cv_.notify_all();
    }
    if (idle_armed_.load() && on_idle_) on_idle_();
  }
}

void LoadedModel::WaitIdle() {
  std::unique_lock<std::mutex> lock(idle_mu_);
  idle_cv_.wait(lock, [&] { return in_flight_.load() == 0; });
}

void LoadedModel::SetBatcher(const BatchingOptions& options, Batcher::BatchFn on_batch) {
  batcher_ = std::make_unique<Batcher>(
      options,
      [this](const InferRequest& r, uint64_t id, InferResponse* resp, uint64_t* wait_us) {
        return Call(r, id, resp, wait_us, /*admit=*/false);  // a batch: admitted per request
      },
      std::move(on_batch));
}

bool LoadedModel::EnableBatching(const BatchingOptions& options, Batcher::BatchFn on_batch) {
  if (options.max_batch_size <= 1 || !BatchableSchema(inputs_, outputs_)) return false;
  SetBatcher(options, std::move(on_batch));
  return true;
}

void LoadedModel::LimitConcurrency(int n) {
  if (n > 0 && !batcher_) SetBatcher(BatchingOptions{1, n}, nullptr);
}

void LoadedModel::UseScheduler(Scheduler* scheduler, std::string model_id, int default_priority,
                               bool admit) {
  scheduler_ = scheduler;
  model_id_ = std::move(model_id);
  default_priority_ = default_priority;
  admit_ = admit;
}

Status LoadedModel::Infer(const InferRequest& request, uint64_t request_id,
                          InferResponse* response, uint64_t* wait_us) {
  if (batcher_) return batcher_->Infer(request, request_id, response, wait_us);
  return Call(request, request_id, response, wait_us, admit_);
}

Status LoadedModel::Call(const InferRequest& request, uint64_t request_id,
                         InferResponse* response, uint64_t* wait_us, bool admit) {
  if (!scheduler_) return InferDirect(request, request_id, response, wait_us);
  uint64_t queued = 0, locked = 0;
  Status st = scheduler_->Run(
      model_id_, scheduler_->Normalise(request.priority, default_priority_), request.deadline,
      [&] { return InferDirect(request, request_id, response, &locked); }, &queued, admit);
  *wait_us = queued + locked;
  return st;
}

Status LoadedModel::InferDirect(const InferRequest& request, uint64_t request_id,
                                InferResponse* response, uint64_t* wait_us) {
  // Input views over the request's tensors (no copies; strings as smi_string arrays).
  std::vector<smi_tensor> inputs(request.inputs.size());
  std::vector<std::vector<smi_string>> string_views(request.inputs.size());
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const Tensor& in = request.inputs[i];
    smi_tensor& t = inputs[i];
    t.size = sizeof(smi_tensor);
    t.name = in.name.c_str();
    t.dtype = static_cast<smi_dtype>(in.dtype);
    t.rank = static_cast<uint32_t>(in.shape.size());
    for (size_t d = 0; d < in.shape.size() && d < SMI_MAX_RANK; ++d) t.dims[d] = in.shape[d];
    if (in.dtype == DataType::kString) {
      auto& views = string_views[i];
      views.reserve(in.strings.size());
      for (const std::string& s : in.strings) views.push_back({s.data(), s.size()});
      t.data = views.data();
      t.byte_size = views.size() * sizeof(smi_string);
    } else {
      t.data = const_cast<uint8_t*>(in.bytes());
      t.byte_size = in.byte_size();
    }
  }
  std::vector<const char*> names;
  for (const std::string& n : request.outputs) names.push_back(n.c_str());

  AllocContext ctx;
  ctx.request = &request;
  ctx.response = response;
  response->outputs.reserve(names.empty() ? outputs_.size() : names.size());

  smi_infer_request r{};
  r.size = sizeof(r);
  r.inputs = inputs.data();
  r.input_count = static_cast<uint32_t>(inputs.size());
  r.output_names = names.empty() ? nullptr : names.data();
  r.output_count = static_cast<uint32_t>(names.size());
  r.alloc = &AllocOutput;
  r.alloc_user_data = &ctx;
  r.request_id = request_id;

  const bool serialise = !plugin_->Has(SMI_CAP_THREAD_SAFE_INFER);
  std::unique_lock<std::mutex> lock(infer_mu_, std::defer_lock);
  auto t0 = std::chrono::steady_clock::now();
  if (serialise) lock.lock();
  *wait_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - t0)
                                       .count());
  if (!model_) return Unavailable("model " + request.model + " was unloaded");
  Status st = StatusFromSmi(plugin_->api, plugin_->api->model_infer(model_, &r));
  if (lock.owns_lock()) lock.unlock();
  if (!ctx.error.ok()) return ctx.error;
  if (!st.ok()) return st;
  for (AllocContext::StringOut& s : ctx.strings) {
    Tensor& t = response->outputs[s.output_index];
    const auto* entries = reinterpret_cast<const smi_string*>(s.buffer.data());
    const uint8_t* storage_begin = s.buffer.data() + s.count * sizeof(smi_string);
    const uint8_t* storage_end = s.buffer.data() + s.buffer.size();
    t.strings.reserve(s.count);
    for (uint64_t i = 0; i < s.count; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(entries[i].data);
      if (entries[i].length > 0 &&
          (p < storage_begin || p > storage_end ||
           entries[i].length > static_cast<uint64_t>(storage_end - p))) {
        return Internal("plugin wrote string output \"" + t.name + "\" outside its buffer");
      }
      t.strings.emplace_back(reinterpret_cast<const char*>(p), entries[i].length);
    }
  }
  return Status::Ok();
}

bool LoadedModel::generates() const {
  return plugin_ && plugin_->Has(SMI_CAP_STREAMING) && plugin_->api->model_generate != nullptr;
}

namespace {

// What the plugin's generate callbacks write to, on the thread that called model_generate.
struct GenerateContext {
  const GenerateRequest* request = nullptr;
  GenerateResponse* response = nullptr;
  std::chrono::steady_clock::time_point start;
  bool first = true;
  bool stopped_by_client = false;
  std::string done_json;
};

int OnToken(void* user_data, const char* text, uint64_t length) {
  auto* c = static_cast<GenerateContext*>(user_data);
  if (c->first) {
    c->first = false;
    c->response->first_token_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                              c->start)
            .count());
  }
  const std::string_view chunk(text ? text : "", text ? length : 0);
  if (!c->request->on_token) {
    c->response->text.append(chunk);
    return 0;
  }
  try {
    if (c->request->on_token(chunk)) return 0;
  } catch (...) {
  }
  c->stopped_by_client = true;
  return 1;
}

void OnDone(void* user_data, const char* result_json) {
  auto* c = static_cast<GenerateContext*>(user_data);
  if (result_json) c->done_json = result_json;
}

}  // namespace

Status LoadedModel::Generate(const GenerateRequest& request, uint64_t request_id,
                             GenerateResponse* response) {
  if (!generates()) {
    return InvalidArgument("model " + request.model + " does not generate text (plugin " +
                           (plugin_ ? plugin_->name : std::string("none")) + ")");
  }
  if (!model_) return Unavailable("model " + request.model + " was unloaded");
  GenerateContext ctx;
  ctx.request = &request;
  ctx.response = response;
  ctx.start = std::chrono::steady_clock::now();

  smi_generate_request r{};
  r.size = sizeof(r);
  r.prompt = request.prompt.c_str();
  r.params_json = request.params_json.empty() ? nullptr : request.params_json.c_str();
  r.on_token = &OnToken;
  r.user_data = &ctx;
  r.request_id = request_id;
  r.on_done = &OnDone;
  Status st = StatusFromSmi(plugin_->api, plugin_->api->model_generate(model_, &r));
  response->generate_time_us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                            ctx.start)
          .count());
  if (!ctx.done_json.empty()) {
    const nlohmann::json done = nlohmann::json::parse(ctx.done_json, nullptr, false);
    if (done.is_object()) {
      auto count = [&](const char* key) -> uint64_t {
        auto it = done.find(key);
        return it != done.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
      };
      response->prompt_tokens = count("prompt_tokens");
      response->completion_tokens = count("completion_tokens");
      response->cached_tokens = count("cached_tokens");
      if (auto it = done.find("finish_reason"); it != done.end() && it->is_string()) {
        response->finish_reason = it->get<std::string>();
      }
    }
  }
  if (!st.ok() && st.code() == StatusCode::kCancelled && ctx.stopped_by_client) {
    response->finish_reason = "cancelled";
    return Status::Ok();
  }
  if (st.ok() && response->finish_reason.empty()) response->finish_reason = "stop";
  return st;
}

}  // namespace mlos::core
