// The inference path: resolve -> (lazy) load -> validate -> run -> count.
#include <chrono>
#include <cstdio>

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
  std::string waiting_on;  // the model whose `waiting` this request holds (after a load)
  Lock lock(mu_, std::defer_lock);
  // Drops the hold in the same critical section that takes the model (or gives up).
  auto release_wait = [&] {
    if (waiting_on.empty()) return;
    if (auto w = models_.find(waiting_on); w != models_.end()) w->second.waiting--;
    waiting_on.clear();
  };
  struct Release {
    std::function<void()> fn;
    ~Release() { fn(); }
  } on_exit{[&] {
    if (waiting_on.empty()) return;
    if (!lock.owns_lock()) lock.lock();
    release_wait();
  }};
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!lock.owns_lock()) lock.lock();
    release_wait();
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
      return Unavailable("model " + *id + " failed to load: " + e.life.reason());
    }
    if (!options_.lazy_load) return Unavailable("model " + *id + " is not loaded");
    // Until this request runs on it, the model it loads counts as busy: another load must not
    // evict it in between (under memory pressure that would starve the request).
    e.waiting++;
    waiting_on = *id;
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
    if (request.deadline && options_.resources.deadline_admission) {
      MLOS_RETURN_IF_ERROR(Admit(request, *model_id));
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

Status CoreImpl::Admit(const InferRequest& request, const std::string& model_id) {
  int64_t service_us = 0;
  size_t ahead = 0;
  const int64_t predicted = scheduler_->PredictUs(model_id, request.priority, &service_us, &ahead);
  if (service_us <= 0) return Status::Ok();  // nothing learnt yet: no prediction
  const int64_t allowed =
      std::chrono::duration_cast<std::chrono::microseconds>(*request.deadline - Clock::now())
          .count();
  if (predicted <= allowed) return Status::Ok();
  if (CoreObserver* o = observer_.load()) o->OnReject(model_id, "deadline");
  char buf[320];
  std::snprintf(buf, sizeof(buf),
                "deadline cannot be met: predicted latency %.1f ms (%zu calls ahead at priority "
                "%d or more urgent, about %.1f ms per call of this model on %d slots), allowed "
                "%.1f ms",
                static_cast<double>(predicted) / 1000.0, ahead, request.priority,
                static_cast<double>(service_us) / 1000.0, scheduler_->options().slots,
                static_cast<double>(std::max<int64_t>(0, allowed)) / 1000.0);
  const auto retry = static_cast<uint32_t>(std::max<int64_t>(1, (predicted + 999999) / 1000000));
  return ResourceExhausted("model " + model_id + ": " + buf).WithRetryAfter(retry);
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
