// A model instance loaded by a plugin: owns the smi_model, knows its IO schema, runs infer
// calls with host-allocated outputs, and counts requests in flight so an unload can drain.
//
// Lifetime: created by Load(); the core hands a shared_ptr to each request, and Unload()
// waits (WaitIdle) until no request is in flight before calling Release().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/batcher.h"
#include "core/core.h"
#include "core/plugin_host.h"
#include "core/scheduler.h"

namespace mlos::core {

struct LoadParams {
  std::string model_id;
  std::string model_dir;      // absolute
  std::string model_path;     // absolute execution file
  std::string manifest_json;  // may be empty
  std::string cache_dir;
  std::string options_json;   // per-model plugin options (the sandbox proxy's settings)
};

class LoadedModel {
 public:
  ~LoadedModel();  // Release()s if still loaded
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  // Calls plugin model_load and reads the IO schema and memory. Plugin errors keep their code.
  static Result<std::unique_ptr<LoadedModel>> Load(const Plugin* plugin, const LoadParams& params);

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  // What the plugin reports (model_memory): host + device bytes, and of them the bytes shared
  // with models reporting the same non-zero key.
  uint64_t memory_bytes() const { return memory_bytes_; }
  uint64_t shared_bytes() const { return shared_bytes_; }
  uint64_t shared_key() const { return shared_key_; }
  const Plugin* plugin() const { return plugin_; }
  // The plugin's model handle (identifies the instance, e.g. to a worker's death report).
  const smi_model* handle() const { return model_; }
  // Replaces an empty schema reported by the plugin (falls back to the manifest's).
  void SetSchemaIfEmpty(std::vector<TensorInfo> inputs, std::vector<TensorInfo> outputs);

  // Runs one inference on validated inputs. Output buffers come from request.output_allocator
  // when set (numeric outputs), else they are allocated into response->outputs. Serialises
  // calls when the plugin lacks SMI_CAP_THREAD_SAFE_INFER; *wait_us gets the time spent
  // waiting for that lock.
  // With batching enabled, concurrent requests may be merged into one plugin call (see
  // batcher.h); *wait_us then also counts the time queued behind running batches.
  Status Infer(const InferRequest& request, uint64_t request_id, InferResponse* response,
               uint64_t* wait_us);

  // Runs the plugin's model_generate for one generation (the plugin batches concurrent ones
  // itself), filling *response's text (when request.on_token is unset), usage, finish reason and
  // first-token time. A stop asked by request.on_token is a success with finish_reason
  // "cancelled". kInvalidArgument when the plugin cannot generate.
  Status Generate(const GenerateRequest& request, uint64_t request_id,
                  GenerateResponse* response);
  // The plugin implements model_generate.
  bool generates() const;

  // Turns dynamic batching on when options.max_batch_size > 1 and the schema allows it
  // (BatchableSchema). Call once, before the model serves. Returns whether it is on.
  bool EnableBatching(const BatchingOptions& options, Batcher::BatchFn on_batch = nullptr);
  // Without batching: at most `n` plugin calls at once, the others queue in order (the batcher
  // with batches of one). Call once, before the model serves; n <= 0 does nothing.
  void LimitConcurrency(int n);
  // Routes every plugin call (single or batched) through the shared scheduler, as `model_id`
  // with `default_priority` for requests without one. Call once, before the model serves.
  // With `admit`, a call that is not batched is admitted by its deadline as it joins the
  // scheduler's queue (Scheduler::Run).
  void UseScheduler(Scheduler* scheduler, std::string model_id, int default_priority,
                    bool admit);
  // Called when the last request in flight ends while `armed` (keep_alive applies).
  void SetIdleCallback(std::function<void()> on_idle) { on_idle_ = std::move(on_idle); }
  void ArmIdleCallback(bool armed) { idle_armed_.store(armed); }

  // Request accounting. Begin() is called while the core's lock is held (so an unload that
  // takes the model away afterwards sees it); End() when the request is done.
  void Begin() { in_flight_.fetch_add(1); }
  void End();
  uint64_t in_flight() const { return in_flight_.load(); }
  // Dynamic batching is on (not LimitConcurrency's batches of one).
  bool batched() const { return batcher_ && batcher_->options().max_batch_size > 1; }
  int64_t last_used_ms() const { return last_used_ms_.load(); }
  // Blocks until no request is in flight.
  void WaitIdle();
  // model_unload; no request may be in flight. Idempotent.
  void Release();

 private:
  LoadedModel() = default;
  Status InferDirect(const InferRequest& request, uint64_t request_id, InferResponse* response,
                     uint64_t* wait_us);
  // InferDirect through the scheduler when there is one (`admit`: deadline-aware admission).
  Status Call(const InferRequest& request, uint64_t request_id, InferResponse* response,
              uint64_t* wait_us, bool admit);
  // Routes Infer through a Batcher over InferDirect.
  void SetBatcher(const BatchingOptions& options, Batcher::BatchFn on_batch);

  const Plugin* plugin_ = nullptr;
  smi_model* model_ = nullptr;
  std::vector<TensorInfo> inputs_, outputs_;
  uint64_t memory_bytes_ = 0, shared_bytes_ = 0, shared_key_ = 0;
  Scheduler* scheduler_ = nullptr;
  std::string model_id_;
  int default_priority_ = 0;
  bool admit_ = false;
  std::function<void()> on_idle_;
  std::atomic<bool> idle_armed_{false};

  std::mutex infer_mu_;  // serialises infer without SMI_CAP_THREAD_SAFE_INFER
  std::unique_ptr<Batcher> batcher_;
  std::atomic<uint64_t> in_flight_{0};
  std::atomic<int64_t> last_used_ms_{0};
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
};

// RAII for Begin()/End().
class InFlight {
 public:
  explicit InFlight(std::shared_ptr<LoadedModel> m) : m_(std::move(m)) {}
  ~InFlight() {
    if (m_) m_->End();
  }
  InFlight(InFlight&& o) noexcept = default;
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  LoadedModel* get() const { return m_.get(); }
  LoadedModel* operator->() const { return m_.get(); }

 private:
  std::shared_ptr<LoadedModel> m_;
};

}  // namespace mlos::core
