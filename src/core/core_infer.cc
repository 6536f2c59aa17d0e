// The inference path: resolve -> (lazy) load -> validate -> run -> count.
#include <chrono>

#include "core/core_impl.h"
#include "core/io_validate.h"

namespace mlos::core {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t Micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us > 0 ? static_cast<uint64_t>(us) : 0;
}

bool Expired(const InferRequest& r) { return r.deadline && Clock::now() >= *r.deadline; }

}  // namespace

// Finds the version the request names and holds it (in-flight counted) once READY: waits for a
// transition in progress, lazily loads when allowed.
Status CoreImpl::AcquireForInfer(const InferRequest& request, std::string* id,
                                 std::shared_ptr<LoadedModel>* model, int* default_priority) {
  std::string admitted;  // the version request.admit accepted (asked again if it changes)
  Lock lock(mu_, std::defer_lock);
  // The model whose `waiting` count this request holds between its lazy load and taking the
  // model: dropped in the critical section that takes it (or on the way out).
  struct WaitHold {
    CoreImpl* core;
    Lock* lock;
    std::string id;
    void Drop() {  // mu_ held
      if (id.empty()) return;
      if (auto w = core->models_.find(id); w != core->models_.end()) w->second.waiting--;
      id.clear();
    }
    ~WaitHold() {
      if (id.empty()) return;
      if (!lock->owns_lock()) lock->lock();
      Drop();
    }
  } waiting{this, &lock, {}};
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!lock.owns_lock()) lock.lock();
    waiting.Drop();
    if (shutting_down_) return Unavailable("core is shutting down");
    MLOS_ASSIGN_OR_RETURN(*id, ResolveLocked(request.model, request.version));
    auto it = models_.find(*id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + *id + " is not registered");
    }
    ModelEntry& e = it->second;
    if (request.admit && admitted != *id) {
      MLOS_RETURN_IF_ERROR(request.admit(*id, e.rec.name, *e.policy));
      admitted = *id;
    }
    if (Serving(e.life.state())) {
      e.loaded->Begin();
      *model = e.loaded;
      if (request.keep_alive || e.request_keep_alive) {
        // Ollama: a request's keep_alive holds after it; one without goes back to the model's.
        e.request_keep_alive = request.keep_alive;
        e.loaded->ArmIdleCallback(KeepAliveMsLocked(e) >= 0);
      }
      if (default_priority) *default_priority = DefaultPriorityLocked(e);
      return Status::Ok();
    }
    if (Expired(request)) {
      return Status(StatusCode::kDeadlineExceeded, "deadline exceeded waiting for model " + *id);
    }
    if (Transitioning(e.life.state())) {
      // Wait for the load/unload to finish (or the deadline), then look again.
      if (request.deadline) {
        cv_.wait_until(lock, *request.deadline);
      } else {
        cv_.wait(lock);
      }
      --attempt;  // waiting for a transition is not an attempt
      continue;
    }
    if (e.life.state() == ModelState::kFailed) {
      if (!e.worker_state.empty()) return Unavailable("model " + *id + ": " + e.life.reason());
      return Unavailable("model " + *id + " failed to load: " + e.life.reason());
    }
    if (!options_.lazy_load) return Unavailable("model " + *id + " is not loaded");
    // Until this request runs on it, the model it loads counts as busy: another load must not
    // evict it in between (under memory pressure that would starve the request).
    e.waiting++;
    waiting.id = *id;
    lock.unlock();
    Status st = LoadWithDeps(*id, /*persist=*/true);
    if (!st.ok()) {
      return st.code() == StatusCode::kNotFound || st.code() == StatusCode::kUnavailable
                 ? st
                 : Unavailable("model " + *id + " failed to load: " + st.message());
    }
  }
  return Unavailable("model " + *id + " is not loaded (it was unloaded while loading)");
}

Result<InferResponse> CoreImpl::InferImpl(InferRequest& request, std::string* model_id,
                                          uint64_t* queue_us, uint64_t* infer_us) {
  const Clock::time_point t0 = Clock::now();
  if (request.model.empty()) return InvalidArgument("model: required");
  std::shared_ptr<LoadedModel> model;
  int default_priority = 0;
  MLOS_RETURN_IF_ERROR(AcquireForInfer(request, model_id, &model, &default_priority));
  InFlight hold(std::move(model));
  *queue_us = Micros(Clock::now() - t0);
  if (Expired(request)) {
    return Status(StatusCode::kDeadlineExceeded,
                  "deadline exceeded before model " + *model_id + " ran");
  }
  MLOS_RETURN_IF_ERROR(ValidateInputs(hold->inputs(), request.inputs));
  MLOS_RETURN_IF_ERROR(ValidateOutputNames(hold->outputs(), request.outputs));
  if (scheduler_) {
    request.priority = scheduler_->Normalise(request.priority, default_priority);
    // Unbatched calls are admitted as they join the scheduler's queue (LoadedModel::Call); a
    // batched one queues in its model's batcher first, so it is admitted here.
    if (request.deadline && options_.resources.deadline_admission && hold->batched()) {
      MLOS_RETURN_IF_ERROR(scheduler_->Admit(*model_id, request.priority, *request.deadline));
    }
  }
  if (request.request_id == 0) request.request_id = next_request_id_.fetch_add(1);

  InferResponse response;
  response.model_id = *model_id;
  response.model_name = model_id->substr(0, model_id->find('@'));
  response.model_version = model_id->substr(model_id->find('@') + 1);
  uint64_t wait_us = 0;
  const Clock::time_point t1 = Clock::now();
  Status st = hold->Infer(request, request.request_id, &response, &wait_us);
  uint64_t total = Micros(Clock::now() - t1);
  *queue_us += wait_us;
  *infer_us = total > wait_us ? total - wait_us : 0;
  if (!st.ok()) return st.WithPrefix("model " + *model_id);
  response.queue_time_us = *queue_us;
  response.inference_time_us = *infer_us;
  return response;
}

Result<InferResponse> CoreImpl::Infer(InferRequest request) {
  requests_.fetch_add(1);
  std::string model_id;
  uint64_t queue_us = 0, infer_us = 0;
  Result<InferResponse> r = InferImpl(request, &model_id, &queue_us, &infer_us);
  if (!r.ok()) errors_.fetch_add(1);
  if (CoreObserver* o = observer_.load()) {
    o->OnInfer(model_id.empty() ? request.model : model_id, request.protocol, r.ok(), queue_us,
               infer_us);
  }
  return r;
}

}  // namespace mlos::core
