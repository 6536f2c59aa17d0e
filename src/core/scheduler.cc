#include "core/scheduler.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>

#include "core/policy.h"

namespace mlos::core {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             Scheduler::Clock::now().time_since_epoch())
      .count();
}

const char* ClassName(int c) { return c == 1 ? "batch" : c == 2 ? "idle" : "normal"; }

}  // namespace

Result<std::vector<int>> ParseCpuList(const std::string& text, const std::string& what) {
  std::vector<int> cpus;
  auto bad = [&]() {
    return InvalidArgument(what + ": \"" + text + "\" is not a CPU list (e.g. \"0-3,6\")");
  };
  if (text.empty()) return bad();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = part.find('-');
    auto num = [](const std::string& s, int* out) {
      if (s.empty() || s.size() > 4) return false;
      for (char c : s) {
        if (c < '0' || c > '9') return false;
      }
      *out = std::stoi(s);
      return *out < CPU_SETSIZE;
    };
    int lo = 0, hi = 0;
    if (dash == std::string::npos) {
      if (!num(part, &lo)) return bad();
      hi = lo;
    } else if (!num(part.substr(0, dash), &lo) || !num(part.substr(dash + 1), &hi) || hi < lo) {
      return bad();
    }
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

// Threads of one kernel class. Call() runs a function on one of them and waits for it; a
// thread is added when none is free (calls of a class are bounded by the slots, so the pool
// stays small). Each thread sets its class when it starts.
class Scheduler::Pool {
 public:
  Pool(int cls, std::vector<int> cpus) : cls_(cls), cpus_(std::move(cpus)) {}
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Starts the first thread and reports what the kernel refused ("" when nothing).
  std::string Start() {
    std::unique_lock<std::mutex> lock(mu_);
    Spawn();
    started_cv_.wait(lock, [&] { return first_done_; });
    return first_error_;
  }

  Status Call(const std::function<Status()>& fn) {
    Task task;
    task.fn = &fn;
    std::unique_lock<std::mutex> lock(mu_);
    if (idle_ == 0 && threads_.size() < 256) Spawn();
    tasks_.push_back(&task);
    cv_.notify_one();
    task.cv.wait(lock, [&] { return task.done; });
    return task.status;
  }

 private:
  struct Task {
    const std::function<Status()>* fn = nullptr;
    Status status;
    bool done = false;
    std::condition_variable cv;
  };
  void Spawn() {  // mu_ held
    threads_.emplace_back([this] { Loop(); });
  }

  std::string Configure() {
    std::string error;
    auto add = [&](const std::string& e) { error += (error.empty() ? "" : "; ") + e; };
    sched_param param{};
    param.sched_priority = 0;
    const int policy = cls_ == kIdle ? SCHED_IDLE : cls_ == kBatch ? SCHED_BATCH : SCHED_OTHER;
    if (cls_ != kNormal && pthread_setschedparam(pthread_self(), policy, &param) != 0) {
      add(std::string("cannot set ") + (cls_ == kIdle ? "SCHED_IDLE" : "SCHED_BATCH") +
          " on its threads");
    }
    const int nice = cls_ == kIdle ? 19 : cls_ == kBatch ? 10 : 0;
    if (nice != 0 &&
        setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice) != 0) {
      add("cannot set nice " + std::to_string(nice) + ": " + std::strerror(errno));
    }
    if (!cpus_.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int c : cpus_) CPU_SET(c, &set);
      if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        add("cannot pin its threads to the CPU set");
      }
    }
    return error;
  }

  void Loop() {
    std::string error = Configure();
    std::unique_lock<std::mutex> lock(mu_);
    if (!first_done_) {
      first_done_ = true;
      first_error_ = error;
      started_cv_.notify_all();
    }
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      --idle_;
      if (stop_ && tasks_.empty()) return;
      Task* t = tasks_.front();
      tasks_.pop_front();
      lock.unlock();
      Status st;
      try {
        st = (*t->fn)();
      } catch (...) {
        st = Internal("plugin call threw an exception");
      }
      lock.lock();
      t->status = std::move(st);
      t->done = true;
      t->cv.notify_one();
    }
  }

  const int cls_;
  const std::vector<int> cpus_;
  std::mutex mu_;
  std::condition_variable cv_, started_cv_;
  std::deque<Task*> tasks_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool stop_ = false, first_done_ = false;
  std::string first_error_;
};

struct Scheduler::Waiter {
  policy::QueuedCall call;
  std::string model;
  std::condition_variable cv;
};

Scheduler::Scheduler(SchedulerOptions options) : options_(std::move(options)) {
  running_.assign(static_cast<size_t>(std::max(1, options_.levels)) + 1, 0);
  for (int cls = kNormal; cls <= kIdle; ++cls) {
    const char* name = ClassName(cls);
    std::vector<int> cpus;
    if (auto it = options_.cpu_sets.find(name); it != options_.cpu_sets.end()) {
      auto parsed = ParseCpuList(it->second, std::string("resources.cpu_sets.") + name);
      if (parsed.ok()) {
        cpus = *parsed;
      } else {
        warnings_.push_back(parsed.status().message());
      }
    }
    const bool used = !options_.fifo && ((cls == kBatch && options_.batch_priority > 0) ||
                                         (cls == kIdle && options_.idle_priority > 0));
    if (!used && !(cls == kNormal && !cpus.empty())) continue;
    pools_[cls] = std::make_unique<Pool>(cls, cpus);
    std::string refused = pools_[cls]->Start();
    if (!refused.empty()) warnings_.push_back(std::string(name) + " class: " + refused);
  }
}

Scheduler::~Scheduler() = default;

int Scheduler::Normalise(int priority, int model_default) const {
  if (options_.fifo) return std::clamp(options_.default_priority, 1, options_.levels);
  int p = priority > 0 ? priority : model_default > 0 ? model_default : options_.default_priority;
  return std::clamp(p, 1, std::max(1, options_.levels));
}

Scheduler::Class Scheduler::ClassOf(int priority) const {
  if (options_.fifo) return kNormal;
  if (options_.idle_priority > 0 && priority >= options_.idle_priority) return kIdle;
  if (options_.batch_priority > 0 && priority >= options_.batch_priority) return kBatch;
  return kNormal;
}

int64_t Scheduler::EstimateLocked(const std::string& model) const {
  auto it = estimates_.find(model);
  return it == estimates_.end() ? 0 : static_cast<int64_t>(it->second.mean);
}

int64_t Scheduler::PredictLocked(const std::string& model, int priority, int64_t now,
                                 int64_t* own, size_t* ahead) const {
  const int p = priority;
  const int64_t aging = options_.fifo ? 0 : options_.aging.count();
  auto it = estimates_.find(model);
  *own = it == estimates_.end() ? 0
                                : static_cast<int64_t>(it->second.mean + 3 * it->second.dev);
  *ahead = 0;
  int64_t work = 0;
  for (const Waiter* w : queue_) {
    if (policy::EffectivePriority(w->call.priority, now - w->call.enqueued_us, aging) <= p) {
      auto e = estimates_.find(w->model);
      if (e != estimates_.end()) work += static_cast<int64_t>(e->second.mean + e->second.dev);
      ++*ahead;
    }
  }
  if (*ahead == 0 && policy::MayStart(running_, p, options_.slots)) return *own;
  for (const auto& [seq, r] : running_calls_) {
    if (r.priority > p) continue;  // less urgent: the kernel runs it behind this one
    work += std::max<int64_t>(0, EstimateLocked(r.model) - (now - r.start_us));
  }
  // A margin for what a request spends outside its plugin call (decoding, encoding, the
  // answer's way back) on a machine this busy: 15 % and 1 ms.
  const int64_t predicted = policy::PredictLatencyUs(work, *own, options_.slots);
  return predicted + predicted * 15 / 100 + 1000;
}

void Scheduler::RemoveLocked(Waiter* w) {
  queue_.erase(std::remove(queue_.begin(), queue_.end(), w), queue_.end());
}

void Scheduler::WakeNextLocked(int64_t now_us) {
  if (queue_.empty()) return;
  std::vector<policy::QueuedCall> calls;
  calls.reserve(queue_.size());
  for (const Waiter* w : queue_) calls.push_back(w->call);
  const int64_t aging = options_.fifo ? 0 : options_.aging.count();
  int next = policy::NextToRun(calls, now_us, aging);
  Waiter* w = queue_[static_cast<size_t>(next)];
  const int eff = policy::EffectivePriority(w->call.priority, now_us - w->call.enqueued_us, aging);
  if (policy::MayStart(running_, eff, options_.slots)) w->cv.notify_one();
}

Status Scheduler::Run(const std::string& model, int priority,
                      std::optional<Clock::time_point> deadline,
                      const std::function<Status()>& fn, uint64_t* wait_us, bool admit) {
  const int base = Normalise(priority);
  const int64_t aging = options_.fifo ? 0 : options_.aging.count();
  Waiter self;
  self.model = model;
  int effective = base;
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t t0 = NowUs();
  if (admit && deadline) {
    Status admitted = AdmitLocked(lock, model, base, *deadline, t0);
    if (!admitted.ok()) return admitted;
  }
  self.call.seq = next_seq_++;
  self.call.priority = base;
  self.call.enqueued_us = t0;
  if (deadline && !options_.fifo) {
    self.call.deadline_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                deadline->time_since_epoch())
                                .count();
  }
  if (queue_.empty() && policy::MayStart(running_, base, options_.slots)) {
    // Fast path: nothing waits and a slot is free.
  } else {
    queue_.push_back(&self);
    for (;;) {
      const int64_t now = NowUs();
      std::vector<policy::QueuedCall> calls;
      calls.reserve(queue_.size());
      for (const Waiter* w : queue_) calls.push_back(w->call);
      const int next = policy::NextToRun(calls, now, aging);
      effective = policy::EffectivePriority(base, now - t0, aging);
      if (queue_[static_cast<size_t>(next)] == &self &&
          policy::MayStart(running_, effective, options_.slots)) {
        RemoveLocked(&self);
        WakeNextLocked(now);  // another slot may be free for the next one
        break;
      }
      if (deadline && Clock::now() >= *deadline) {
        const size_t ahead = queue_.size() - 1;
        RemoveLocked(&self);
        WakeNextLocked(now);
        return Status(StatusCode::kDeadlineExceeded,
                      "deadline exceeded while queued for a CPU slot (priority " +
                          std::to_string(base) + ", " + std::to_string(ahead) +
                          " calls waiting)");
      }
      // Aging changes the order without an event: look again after one step.
      auto until = Clock::now() + (aging > 0 ? std::chrono::microseconds(aging)
                                             : std::chrono::microseconds(50000));
      if (deadline && *deadline < until) until = *deadline;
      self.cv.wait_until(lock, until);
    }
  }
  const int64_t started = NowUs();
  *wait_us = static_cast<uint64_t>(std::max<int64_t>(0, started - t0));
  running_[static_cast<size_t>(effective)]++;
  running_calls_[self.call.seq] = Running{model, started, effective};
  lock.unlock();

  Status st;
  Pool* pool = pools_[ClassOf(base)].get();
  if (pool) {
    st = pool->Call(fn);
  } else {
    st = fn();
  }

  lock.lock();
  const int64_t done = NowUs();
  running_[static_cast<size_t>(effective)]--;
  running_calls_.erase(self.call.seq);
  if (st.ok()) {
    const double took = static_cast<double>(done - started);
    auto [it, fresh] = estimates_.try_emplace(model, Estimate{took, 0});
    if (!fresh) {
      Estimate& e = it->second;
      e.dev = 0.8 * e.dev + 0.2 * std::abs(took - e.mean);
      e.mean = 0.8 * e.mean + 0.2 * took;
    }
  }
  WakeNextLocked(done);
  return st;
}

Status Scheduler::AdmitLocked(std::unique_lock<std::mutex>& lock, const std::string& model,
                              int priority, Clock::time_point deadline, int64_t now) {
  int64_t own = 0;
  size_t ahead = 0;
  const int64_t predicted = PredictLocked(model, priority, now, &own, &ahead);
  const int64_t allowed =
      std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
  if (own <= 0 || predicted <= allowed) return Status::Ok();  // nothing learnt yet, or in time
  lock.unlock();
  if (options_.on_deadline_refused) options_.on_deadline_refused(model);
  char buf[320];
  std::snprintf(buf, sizeof(buf),
                "deadline cannot be met: predicted latency %.1f ms (%zu calls ahead at "
                "priority %d or more urgent, about %.1f ms per call of this model on %d "
                "slots), allowed %.1f ms",
                static_cast<double>(predicted) / 1000.0, ahead, priority,
                static_cast<double>(own) / 1000.0, options_.slots,
                static_cast<double>(std::max<int64_t>(0, allowed)) / 1000.0);
  const auto retry = static_cast<uint32_t>(std::max<int64_t>(1, (predicted + 999999) / 1000000));
  return ResourceExhausted("model " + model + ": " + buf).WithRetryAfter(retry);
}

Status Scheduler::Admit(const std::string& model, int priority, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return AdmitLocked(lock, model, Normalise(priority), deadline, NowUs());
}

int64_t Scheduler::PredictUs(const std::string& model, int priority, int64_t* service_us,
                             size_t* ahead) const {
  std::lock_guard<std::mutex> lock(mu_);
  return PredictLocked(model, Normalise(priority), NowUs(), service_us, ahead);
}

std::vector<QueueDepth> Scheduler::Depths() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::pair<std::string, int>, uint64_t> counts;
  for (const Waiter* w : queue_) counts[{w->model, w->call.priority}]++;
  std::vector<QueueDepth> out;
  for (const auto& [key, n] : counts) out.push_back({key.first, key.second, n});
  return out;
}

void Scheduler::Forget(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  estimates_.erase(model);
}

}  // namespace mlos::core
