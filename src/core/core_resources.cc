// The resource manager's mechanism: memory accounting, eviction under the budget, keep_alive,
// pins. What to evict is policy::ChooseEvictionVictims's decision; this file gathers the
// candidates, performs the unloads and keeps the books.
#include <algorithm>
#include <cmath>
#include <map>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "core/core_impl.h"
#include "core/resources.h"

namespace mlos::core {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const ModelResourceOptions* CoreImpl::ResourceOptionsFor(const ModelEntry& e) const {
  const auto& models = options_.resources.models;
  if (models.empty()) return nullptr;
  if (auto it = models.find(e.rec.id); it != models.end()) return &it->second;
  if (auto it = models.find(e.rec.name); it != models.end()) return &it->second;
  return nullptr;
}

bool CoreImpl::PinnedLocked(const ModelEntry& e) const {
  if (e.rec.pinned) return true;
  const ModelResourceOptions* o = ResourceOptionsFor(e);
  return o && o->pinned;
}

int64_t CoreImpl::KeepAliveMsLocked(const ModelEntry& e) const {
  if (e.request_keep_alive) return std::max<int64_t>(-1, e.request_keep_alive->count());
  if (const ModelResourceOptions* o = ResourceOptionsFor(e); o && o->keep_alive) {
    return std::max<int64_t>(-1, o->keep_alive->count());
  }
  if (e.manifest && e.manifest->resources.keep_alive_ms) {
    return std::max<int64_t>(-1, *e.manifest->resources.keep_alive_ms);
  }
  return std::max<int64_t>(-1, options_.resources.keep_alive.count());
}

int CoreImpl::DefaultPriorityLocked(const ModelEntry& e) const {
  if (const ModelResourceOptions* o = ResourceOptionsFor(e); o && o->priority > 0) {
    return o->priority;
  }
  if (e.manifest && e.manifest->resources.priority > 0) return e.manifest->resources.priority;
  return options_.resources.default_priority;
}

uint64_t CoreImpl::UsedBytesLocked() const {
  uint64_t used = base_bytes_;
  std::map<uint64_t, uint64_t> shared;  // key -> bytes, counted once
  for (const auto& [id, e] : models_) {
    const ModelState s = e.life.state();
    if (!(s == ModelState::kReady || s == ModelState::kUnloading) || !e.loaded) continue;
    used += e.measured_bytes - e.shared_bytes;
    if (e.shared_key != 0) {
      uint64_t& b = shared[e.shared_key];
      b = std::max(b, e.shared_bytes);
    }
  }
  for (const auto& [key, bytes] : shared) used += bytes;
  return used;
}

uint64_t CoreImpl::FileBytesLocked(const ModelEntry& e) const {
  struct stat st {};
  if (e.model_path.empty() || ::stat(e.model_path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

uint64_t CoreImpl::EstimateLocked(const ModelEntry& e) const {
  if (e.measured_bytes > 0) {
    // Measured before: what it adds now (its shared part is free when another holds it).
    if (e.shared_key != 0) {
      for (const auto& [id, other] : models_) {
        if (&other != &e && other.loaded && other.shared_key == e.shared_key &&
            (other.life.state() == ModelState::kReady ||
             other.life.state() == ModelState::kUnloading)) {
          return e.measured_bytes - e.shared_bytes;
        }
      }
    }
    return e.measured_bytes;
  }
  // Never loaded here: the manifest's minimum (axon writes it from the model), at least the
  // model file.
  uint64_t estimate = 0;
  if (e.manifest) {
    estimate = static_cast<uint64_t>(e.manifest->requirements.memory_min_gb * 1024.0 * 1024.0 *
                                     1024.0);
  }
  return std::max(estimate, FileBytesLocked(e));
}

void CoreImpl::RecordMemory(ModelEntry& e, const LoadedModel& m, uint64_t rss_grew,
                            uint64_t heap_grew) {
  const uint64_t reported = m.memory_bytes();
  e.shared_bytes = m.shared_bytes();
  e.shared_key = m.shared_key();
  // What the process grew by: resident memory (what the budget is about; it keeps what a cold
  // load left behind), or the heap in use when that is more (an allocation that reused pages
  // an earlier unload freed does not show in resident memory). The shared part (a mapped file)
  // is paged in by use, not by the load. The plugin's report when it says more.
  e.measured_bytes = std::max(reported, std::max(rss_grew, heap_grew) + e.shared_bytes);
}

Status CoreImpl::MakeRoomLocked(Lock& lock, const std::string& for_id, uint64_t need,
                                const std::set<std::string>& keep, bool* busy_could) {
  if (busy_could) *busy_could = false;
  const uint64_t budget = options_.resources.memory_budget_bytes;
  if (budget == 0) return Status::Ok();
  const uint64_t used = UsedBytesLocked();
  if (used + need <= budget) return Status::Ok();
  const uint64_t to_free = used + need - budget;

  // Who holds a shared key (evicting one holder of several frees only its private part).
  std::map<uint64_t, int> holders;
  for (const auto& [id, e] : models_) {
    if (e.loaded && e.shared_key != 0 && Serving(e.life.state())) holders[e.shared_key]++;
  }
  std::vector<policy::EvictionCandidate> candidates;
  uint64_t busy_bytes = 0;  // what unpinned models that are only busy hold
  std::string holding;  // for the refusal
  for (const auto& [id, e] : models_) {
    const ModelState s = e.life.state();
    if (!e.loaded || !(s == ModelState::kReady || s == ModelState::kUnloading)) continue;
    policy::EvictionCandidate c;
    c.id = id;
    c.memory_bytes = e.measured_bytes - e.shared_bytes +
                     (e.shared_key != 0 && holders[e.shared_key] <= 1 ? e.shared_bytes : 0);
    c.in_flight = e.loaded->in_flight() + static_cast<uint64_t>(std::max(0, e.waiting));
    c.last_used_ms = std::max(e.last_used_ms, e.loaded->last_used_ms());
    std::string why;
    if (s != ModelState::kReady) {
      why = "unloading";
    } else if (keep.count(id)) {
      why = "needed by " + for_id;
    } else if (PinnedLocked(e)) {
      why = "pinned";
    } else if (c.in_flight > 0) {
      why = "busy: " + std::to_string(c.in_flight) + " requests";
      busy_bytes += c.memory_bytes;
    } else {
      for (const std::string& d : DependentsLocked(id)) {
        auto it = models_.find(d);
        if (it != models_.end() && it->second.loaded) {
          why = "dependency of " + d;
          break;
        }
      }
    }
    c.pinned = !why.empty();
    holding += ", " + id + " " + FormatBytes(e.measured_bytes) + (why.empty() ? "" : " (" + why + ")");
    candidates.push_back(std::move(c));
  }
  std::vector<std::string> victims = policy::ChooseEvictionVictims(candidates, to_free);
  if (victims.empty()) {
    if (busy_could) {
      uint64_t idle_bytes = 0;
      for (const auto& c : candidates) idle_bytes += c.pinned ? 0 : c.memory_bytes;
      *busy_could = idle_bytes + busy_bytes >= to_free;
    }
    return Unavailable("not enough memory to load " + for_id + ": it needs about " +
                       FormatBytes(need) + ", the memory budget is " + FormatBytes(budget) +
                       " and " + FormatBytes(used) + " is in use (process base " +
                       FormatBytes(base_bytes_) + holding +
                       "); nothing idle and unpinned can be evicted to make room");
  }
  EvictLocked(lock, victims, "memory");
  const uint64_t after = UsedBytesLocked();
  if (after + need > budget) {
    return Unavailable("not enough memory to load " + for_id + ": it needs about " +
                       FormatBytes(need) + ", the memory budget is " + FormatBytes(budget) +
                       " and " + FormatBytes(after) + " is still in use after evicting " +
                       std::to_string(victims.size()) + " models");
  }
  return Status::Ok();
}

void CoreImpl::EvictLocked(Lock& lock, const std::vector<std::string>& victims,
                           const char* reason) {
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> going;
  for (const std::string& id : victims) {
    auto it = models_.find(id);
    if (it == models_.end()) continue;
    ModelEntry& e = it->second;
    // Requests take a model under mu_ (Begin), so idle now means no request can reach it.
    if (!Serving(e.life.state()) || !e.loaded || e.loaded->in_flight() > 0 || e.waiting > 0) {
      continue;
    }
    if (!TransitionLocked(e, LifecycleEvent::kUnload).ok()) continue;  // READY -> UNLOADING
    going.emplace_back(id, e.loaded);
  }
  if (going.empty()) return;
  lock.unlock();
  for (auto& [id, model] : going) model->Release();
  lock.lock();
  const std::string why = reason;
  for (auto& [id, model] : going) {
    ModelEntry& e = models_.at(id);  // UNLOADING entries are never erased
    e.last_used_ms = std::max(e.last_used_ms, model->last_used_ms());
    e.loaded.reset();
    e.evictions++;
    e.unload_reason = why;
    e.request_keep_alive.reset();
    (void)TransitionLocked(e, LifecycleEvent::kUnloaded);  // UNLOADING -> UNLOADED
    evictions_.fetch_add(1);
    spdlog::info("evicted {} ({}): {}, {} now in use", id, FormatBytes(e.measured_bytes),
                 why == "memory" ? "memory budget" : "keep_alive expired",
                 FormatBytes(UsedBytesLocked()));
  }
  std::vector<std::string> evicted;
  for (const auto& [id, model] : going) evicted.push_back(id);
  lock.unlock();
  going.clear();  // the last references: the plugin's memory goes here
  ReturnFreedMemory();
  if (CoreObserver* o = observer_.load()) {
    for (const std::string& id : evicted) o->OnEvict(id, reason);
  }
  lock.lock();
}

void CoreImpl::WakeReaper() {
  std::lock_guard<std::mutex> lock(mu_);
  WakeReaperLocked();
}

void CoreImpl::WakeReaperLocked() {
  reaper_wake_ = true;
  reaper_cv_.notify_one();
}

int64_t CoreImpl::KeepAliveDueLocked(const ModelEntry& e) const {
  if (!Serving(e.life.state()) || !e.loaded || e.loaded->in_flight() > 0 || e.waiting > 0) {
    return -1;
  }
  const int64_t keep = KeepAliveMsLocked(e);
  e.loaded->ArmIdleCallback(keep >= 0);
  if (keep < 0 || PinnedLocked(e)) return -1;
  return std::max(e.last_used_ms, e.loaded->last_used_ms()) + keep;
}

void CoreImpl::ReaperLoop() {
  Lock lock(mu_);
  while (!shutting_down_) {
    int64_t next = SteadyMs() + 3600 * 1000;
    // Worker restarts (core_isolation.cc) may load for a while: the clock is read after them.
    if (const int64_t restart = RestartDueLocked(lock, SteadyMs()); restart >= 0) {
      next = std::min(next, restart);
    }
    if (shutting_down_) break;
    const int64_t now = SteadyMs();
    std::vector<std::string> expired;
    for (const auto& [id, e] : models_) {
      const int64_t due = KeepAliveDueLocked(e);
      if (due < 0) continue;
      if (due <= now) {
        expired.push_back(id);
      } else {
        next = std::min(next, due);
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      {
        std::lock_guard<std::mutex> serial(load_mu_);  // before mu_
        Lock again(mu_);
        // Looked at again under both locks: a request may have arrived in between.
        std::vector<std::string> still;
        const int64_t t = SteadyMs();
        for (const std::string& id : expired) {
          auto it = models_.find(id);
          if (it == models_.end()) continue;
          const int64_t due = KeepAliveDueLocked(it->second);
          if (due >= 0 && due <= t) still.push_back(id);
        }
        if (!still.empty() && !shutting_down_) EvictLocked(again, still, "keep_alive");
      }
      lock.lock();
      continue;
    }
    reaper_cv_.wait_until(lock,
                          std::chrono::steady_clock::time_point(std::chrono::milliseconds(next)),
                          [&] { return shutting_down_ || reaper_wake_; });
    reaper_wake_ = false;
  }
}

Result<ModelStatus> CoreImpl::Pin(const std::string& ref, bool pinned) {
  std::lock_guard<std::mutex> mutations(mutation_mu_);
  std::string id;
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    MLOS_ASSIGN_OR_RETURN(id, ResolveLocked(ref, ""));
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    if (it->second.rec.pinned == pinned) return StatusLocked(it->second);
  }
  // Outside mu_; under mutation_mu_ the entry stays (Unregister erases under it).
  MLOS_RETURN_IF_ERROR(store_->SetPinned(id, pinned));
  Lock lock(mu_);
  ModelEntry& e = models_.at(id);
  e.rec.pinned = pinned;
  spdlog::info("{} {}", pinned ? "pinned" : "unpinned", id);
  lock.unlock();
  WakeReaper();  // an unpinned model's keep_alive may be due
  lock.lock();
  return StatusLocked(models_.at(id));
}

}  // namespace mlos::core
