// The scheduler: one queue for the plugin calls of every model, ordered by policy.h
// (priority with aging, then earliest deadline, then arrival), with at most `slots` calls of a
// priority level or a more urgent one running at once (the CPU budget: cores over intra-op
// threads). A call starts on its caller's thread, or, when its priority falls in a kernel class
// (resources.batch_priority / idle_priority), on a thread of that class (SCHED_BATCH with nice
// 10, SCHED_IDLE), so the kernel preempts it for more urgent work within a time slice.
//
// It also keeps, per model, an online estimate of a call's service time (an exponentially
// weighted mean), from which deadline-aware admission predicts a new call's latency.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/core.h"

namespace mlos::core {

struct SchedulerOptions {
  int slots = 1;
  int levels = 10;
  int default_priority = 5;
  std::chrono::microseconds aging{100000};  // 0 = no aging
  bool fifo = false;  // every call at default_priority, in arrival order, no kernel classes
  int batch_priority = 0, idle_priority = 0;  // 0 = class off
  std::map<std::string, std::string> cpu_sets;  // "normal", "batch", "idle" -> "0-3,6"
  // Called when Run refuses a call whose deadline cannot be met (for metrics).
  std::function<void(const std::string& model)> on_deadline_refused;
};

// Parses a taskset-style CPU list ("0-3,6"); kInvalidArgument naming `what` otherwise.
Result<std::vector<int>> ParseCpuList(const std::string& text, const std::string& what);

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Scheduler(SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // What the kernel refused at start (a class's policy, nice or CPU set), one line each.
  const std::vector<std::string>& warnings() const { return warnings_; }
  const SchedulerOptions& options() const { return options_; }

  // A request's priority as the scheduler uses it: 0 -> `model_default` (or the server's),
  // clamped to 1..levels; the default for everything in FIFO mode.
  int Normalise(int priority, int model_default = 0) const;

  // Runs `fn` once a slot is free for `priority` (Normalise()d), on a thread of its kernel
  // class. kDeadlineExceeded (fn not run) if `deadline` passes while waiting. *wait_us: time
  // queued. The model's service-time estimate learns from fn's duration.
  // With `admit` and a deadline: deadline-aware admission at the moment the call joins the
  // queue (so calls admitted together see each other): kResourceExhausted with a retry hint,
  // fn not run, when the predicted latency exceeds what is left of the deadline.
  Status Run(const std::string& model, int priority,
             std::optional<Clock::time_point> deadline, const std::function<Status()>& fn,
             uint64_t* wait_us, bool admit = false);

  // Deadline-aware admission, as Run does it with `admit`: kResourceExhausted (with a retry
  // hint and the predicted and allowed latency) when a call of `model` at `priority` joining
  // the queue now could not finish by `deadline`. For requests that queue elsewhere first (a
  // model's batcher).
  Status Admit(const std::string& model, int priority, Clock::time_point deadline);

  // Predicted latency (µs) of a call of `model` at `priority` arriving now: the work queued
  // or running at its level or a more urgent one, over the slots, plus its own service time.
  // *service_us: the model's estimate (0 = none yet: nothing predicted).
  int64_t PredictUs(const std::string& model, int priority, int64_t* service_us,
                    size_t* ahead) const;

  // Waiting calls by model and priority (non-empty only).
  std::vector<QueueDepth> Depths() const;
  void Forget(const std::string& model);  // drops a model's estimate (unregistered)

 private:
  struct Waiter;
  struct Running {
    std::string model;
    int64_t start_us = 0;
    int priority = 0;  // effective, when it started
  };
  class Pool;
  enum Class { kNormal = 0, kBatch = 1, kIdle = 2 };

  Class ClassOf(int priority) const;
  int64_t EstimateLocked(const std::string& model) const;  // mean µs per call; 0 = unknown
  // The prediction of PredictUs with mu_ held; `own` = the call's own service time (the mean
  // plus three mean deviations: admission errs on the side of the deadline).
  int64_t PredictLocked(const std::string& model, int priority, int64_t now, int64_t* own,
                        size_t* ahead) const;
  // Admit with mu_ held (`lock`); it is released before on_deadline_refused is called.
  Status AdmitLocked(std::unique_lock<std::mutex>& lock, const std::string& model, int priority,
                     Clock::time_point deadline, int64_t now);
  void WakeNextLocked(int64_t now_us);
  void RemoveLocked(Waiter* w);

  const SchedulerOptions options_;
  std::vector<std::string> warnings_;
  std::unique_ptr<Pool> pools_[3];  // null: run on the caller's thread

  mutable std::mutex mu_;
  std::vector<Waiter*> queue_;             // waiting calls; guarded by mu_
  std::vector<int> running_;               // by effective priority; guarded by mu_
  std::map<uint64_t, Running> running_calls_;  // by seq; guarded by mu_
  struct Estimate {
    double mean = 0, dev = 0;  // µs per call: exponentially weighted mean and mean deviation
  };
  std::map<std::string, Estimate> estimates_;  // by model; guarded by mu_
  uint64_t next_seq_ = 1;                      // guarded by mu_
};

}  // namespace mlos::core
