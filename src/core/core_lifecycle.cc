// Load, unload and default switching. One rule: a version takes traffic only once it is READY.
#include <chrono>
#include <cstring>
#include <spdlog/spdlog.h>

#include "core/core_impl.h"
#include "core/resources.h"

namespace mlos::core {
namespace {

// How long a load waits for busy models to go idle when only they hold the memory it needs.
constexpr std::chrono::seconds kMemoryWait{10};

std::vector<TensorInfo> Specs(const std::vector<mpf::TensorSpec>& specs) {
  std::vector<TensorInfo> out;
  for (const mpf::TensorSpec& s : specs) {
    out.push_back({s.name, DataTypeFromName(s.dtype).value_or(DataType::kInvalid), s.shape});
  }
  return out;
}

bool ValidAlias(const std::string& a) {
  if (a.empty() || a.size() > 128 || a == "." || a == "..") return false;
  for (char c : a) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("._-", c) == nullptr) {
      return false;
    }
  }
  return true;
}

}  // namespace

Status CoreImpl::LoadOne(const std::string& id) {
  // One load at a time: the plan (what fits the budget, what to evict) holds until it is done.
  std::unique_lock<std::mutex> serial(load_mu_);
  Lock lock(mu_);
  ModelEntry* e = nullptr;
  while (true) {
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    e = &it->second;
    if (Serving(e->life.state())) return Status::Ok();
    if (!Transitioning(e->life.state())) break;
    cv_.wait(lock);
  }
  if (!e->plugin || !e->manifest) {
    std::string reason = e->life.reason().empty() ? "no plugin serves execution format \"" +
                                                        e->rec.execution_format + "\""
                                                  : e->life.reason();
    MLOS_RETURN_IF_ERROR(TransitionLocked(*e, LifecycleEvent::kLoadRefused, reason));
    return FailedPrecondition("model " + id + ": " + reason);
  }
  // With a budget, room first: evict idle models, never this one or its dependencies (loaded
  // already), before the load and again once it is measured.
  const bool budgeted = options_.resources.memory_budget_bytes > 0;
  std::set<std::string> keep{id};
  if (budgeted) {
    auto order = policy::LoadOrder(GraphLocked(), id);
    if (order.ok()) keep.insert(order->begin(), order->end());
    const uint64_t estimate = EstimateLocked(*e);
    const bool measured = e->measured_bytes > 0;
    const uint64_t file_bytes = FileBytesLocked(*e);
    // Never measured: the manifest's figure is an estimate, often high. When it does not fit,
    // plan with room for the file; the measurement after the load decides (withdrawn if it
    // does not fit).
    const auto make_room = [&](bool* busy_could) {
      Status st = MakeRoomLocked(lock, id, estimate, keep, busy_could);
      if (!st.ok() && !measured && file_bytes < estimate) {
        st = MakeRoomLocked(lock, id, file_bytes, keep, busy_could);
      }
      return st;
    };
    bool busy_could = false;
    Status room = make_room(&busy_could);
    // The memory is held by models that are busy, not pinned: wait (up to kMemoryWait) for
    // their requests to finish rather than refuse a request that will fit in a moment.
    const auto give_up = std::chrono::steady_clock::now() + kMemoryWait;
    while (!room.ok() && busy_could && !shutting_down_ &&
           std::chrono::steady_clock::now() < give_up) {
      cv_.wait_for(lock, std::chrono::milliseconds(2));
      auto again = models_.find(id);
      if (again == models_.end() || again->second.removing) {
        return NotFound("model " + id + " is not registered");
      }
      if (Serving(again->second.life.state())) return Status::Ok();
      room = make_room(&busy_could);
    }
    if (!room.ok()) {
      if (CoreObserver* o = observer_.load()) o->OnReject(id, "memory");
      return room;
    }
    auto it = models_.find(id);  // mu_ was released while evicting
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    e = &it->second;
    if (Serving(e->life.state())) return Status::Ok();
    if (Transitioning(e->life.state())) return Unavailable("model " + id + " is changing state");
  }
  // Where it runs: in-process, or in a sandboxed worker through the plugin's proxy.
  const Isolation isolation = IsolationLocked(*e);
  std::string plugin_options;
  auto chosen = PluginForLocked(*e, isolation, &plugin_options);
  if (!chosen.ok()) {
    MLOS_RETURN_IF_ERROR(TransitionLocked(*e, LifecycleEvent::kLoadRefused, chosen.status().message()));
    return chosen.status();
  }
  MLOS_RETURN_IF_ERROR(TransitionLocked(*e, LifecycleEvent::kLoad));
  const Plugin* plugin = *chosen;
  // A sandboxed model gets no plugin cache: one shared with other models would let it write
  // what they load.
  LoadParams params{id, e->rec.path, e->model_path, e->manifest_json,
                    isolation == Isolation::kInProcess ? CacheDir(plugin) : "", plugin_options};
  auto manifest = e->manifest;
  const int default_priority = DefaultPriorityLocked(*e);
  lock.unlock();

  std::error_code ec;
  if (!params.cache_dir.empty()) std::filesystem::create_directories(params.cache_dir, ec);
  const uint64_t rss_before = ResidentBytes(), heap_before = HeapBytesInUse();
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = LoadedModel::Load(plugin, params);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
  ReturnFreedMemory();  // what the load only borrowed (parsing, optimising) is not the model's
  const uint64_t rss_after = ResidentBytes(), heap_after = HeapBytesInUse();
  if (loaded.ok()) {
    (*loaded)->SetSchemaIfEmpty(Specs(manifest->io.inputs), Specs(manifest->io.outputs));
    if (scheduler_) {
      (*loaded)->UseScheduler(scheduler_.get(), id, default_priority,
                              options_.resources.deadline_admission);
    }
    if ((*loaded)->EnableBatching(options_.batching, [this, id](size_t requests, int64_t rows) {
          if (CoreObserver* o = observer_.load()) o->OnBatch(id, requests, rows);
        })) {
      spdlog::info("{}: dynamic batching on (up to {} rows, {} batches at once)", id,
                   options_.batching.max_batch_size, options_.batching.max_concurrent_batches);
    } else if (!scheduler_) {
      (*loaded)->LimitConcurrency(options_.max_concurrent_infers);
    }
    (*loaded)->SetIdleCallback([this] { WakeReaper(); });
  }

  lock.lock();
  e = &models_.at(id);  // LOADING entries are never erased
  Status st;
  bool warm = false, withdrawn = false;
  if (loaded.ok()) {
    RecordMemory(*e, **loaded, rss_after > rss_before ? rss_after - rss_before : 0,
                 heap_after > heap_before ? heap_after - heap_before : 0);
    const uint64_t quota = manifest->security.max_memory;
    if (plugin->proxy && sandbox::ProxyPlugin::WorkerPid((*loaded)->handle()) == 0) {
      // Its worker died between the load and now: its death report found no READY model to
      // fail (it ran before this lock, or runs after it and finds none), so the load fails.
      st = Unavailable("model worker for " + id + " died right after loading");
    } else if (quota > 0 && e->measured_bytes > quota) {
      st = ResourceExhausted("model " + id + " uses " + FormatBytes(e->measured_bytes) +
                             ", over its security.quotas.max_memory of " + FormatBytes(quota));
    } else if (budgeted) {
      // It is measured now (the plan had an estimate): it serves only if it fits, evicting
      // more idle models when it measured larger than planned. EstimateLocked is now what
      // its measure adds (its shared part is free when another model holds it).
      st = MakeRoomLocked(lock, id, EstimateLocked(*e), keep);
      e = &models_.at(id);
      withdrawn = !st.ok();
      if (withdrawn) {
        if (CoreObserver* o = observer_.load()) o->OnReject(id, "memory");
      }
    }
  } else {
    st = loaded.status();
  }
  if (st.ok()) {
    e->loaded = std::shared_ptr<LoadedModel>(std::move(loaded).value());
    e->load_time_ms = ms;
    warm = e->ever_loaded;
    e->ever_loaded = true;
    e->load_kind = warm ? "warm" : "cold";
    e->isolation = isolation;
    e->restart_due_ms = -1;
    if (e->worker_state == "stopped") e->worker_state.clear();
    e->last_used_ms = e->loaded->last_used_ms();
    e->loaded->ArmIdleCallback(KeepAliveMsLocked(*e) >= 0);
    st = TransitionLocked(*e, LifecycleEvent::kLoaded);  // LOADING -> READY: cannot fail
    spdlog::info("loaded {} in {:.1f} ms ({}, {})", id, ms, e->load_kind,
                 FormatBytes(e->measured_bytes));
    WakeReaperLocked();
  } else {
    if (loaded.ok()) {
      // Loaded but refused (quota, budget): released outside mu_ before anyone used it.
      std::unique_ptr<LoadedModel> doomed = std::move(loaded).value();
      lock.unlock();
      doomed.reset();
      ReturnFreedMemory();
      lock.lock();
      e = &models_.at(id);
    }
    if (withdrawn) {
      e->unload_reason = "withdrawn";  // loaded, measured, did not fit the budget
      (void)TransitionLocked(*e, LifecycleEvent::kLoadWithdrawn);  // LOADING -> UNLOADED
      spdlog::warn("load {} withdrawn: {}", id, st.message());
    } else {
      (void)TransitionLocked(*e, LifecycleEvent::kLoadFailed, st.message());  // LOADING -> FAILED
      spdlog::warn("load {} failed: {}", id, st.message());
    }
  }
  lock.unlock();
  if (CoreObserver* o = observer_.load()) {
    o->OnLoad(id, st.ok(), ms);
    if (st.ok()) o->OnLoadKind(id, warm, ms);
  }
  return st.WithPrefix("load " + id);
}

Status CoreImpl::PersistDesiredLoaded(const std::string& id, bool desired_loaded) {
  std::lock_guard<std::mutex> mutations(mutation_mu_);
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    if (it->second.rec.desired_loaded == desired_loaded) return Status::Ok();
  }
  // Outside mu_: requests keep running. mutation_mu_ keeps the entry (Unregister erases under
  // it) and its desired state (only written under it) as they were checked.
  MLOS_RETURN_IF_ERROR(store_->SetDesiredLoaded(id, desired_loaded));
  Lock lock(mu_);
  models_.at(id).rec.desired_loaded = desired_loaded;
  return Status::Ok();
}

Status CoreImpl::LoadWithDeps(const std::string& id, bool persist) {
  std::vector<std::string> order;
  {
    Lock lock(mu_);
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    MLOS_ASSIGN_OR_RETURN(order, policy::LoadOrder(GraphLocked(), id));
  }
  if (persist) MLOS_RETURN_IF_ERROR(PersistDesiredLoaded(id, true));
  for (const std::string& dep : order) {
    Status st = LoadOne(dep);
    if (!st.ok() && dep != id) {
      return FailedPrecondition("model " + id + ": dependency " + dep +
                                " did not load: " + st.message());
    }
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status CoreImpl::UnloadOne(const std::string& id, bool persist) {
  if (persist) {
    // First the store (a refused write changes nothing), then the unload.
    MLOS_RETURN_IF_ERROR(PersistDesiredLoaded(id, false));
  }
  Lock lock(mu_);
  ModelEntry* e = nullptr;
  while (true) {
    auto it = models_.find(id);
    if (it == models_.end()) return NotFound("model " + id + " is not registered");
    e = &it->second;
    if (!Transitioning(e->life.state())) break;
    cv_.wait(lock);
  }
  if (persist && e->rec.desired_loaded) {
    // A Load recorded after ours: it comes later, and wants the model loaded.
    return Status::Ok();
  }
  if (e->life.state() == ModelState::kFailed) {
    e->restart_due_ms = -1;  // an unload ends a pending worker restart
    e->worker_state.clear();
    return TransitionLocked(*e, LifecycleEvent::kUnload);  // FAILED -> UNLOADED
  }
  if (!Serving(e->life.state())) return Status::Ok();
  MLOS_RETURN_IF_ERROR(TransitionLocked(*e, LifecycleEvent::kUnload));  // READY -> UNLOADING
  std::shared_ptr<LoadedModel> model = e->loaded;  // still counted as used until released
  lock.unlock();

  model->WaitIdle();  // requests in flight finish on it
  model->Release();
  lock.lock();
  e = &models_.at(id);
  e->last_used_ms = std::max(e->last_used_ms, model->last_used_ms());
  e->loaded.reset();
  lock.unlock();
  model.reset();
  ReturnFreedMemory();

  lock.lock();
  e = &models_.at(id);  // UNLOADING entries are never erased
  MLOS_RETURN_IF_ERROR(TransitionLocked(*e, LifecycleEvent::kUnloaded));
  spdlog::info("unloaded {}", id);
  return Status::Ok();
}

Result<ModelStatus> CoreImpl::Load(const std::string& id) {
  std::string resolved;
  {
    Lock lock(mu_);
    MLOS_ASSIGN_OR_RETURN(resolved, ResolveLocked(id, ""));
  }
  MLOS_RETURN_IF_ERROR(LoadWithDeps(resolved, /*persist=*/true));
  return Get(resolved);
}

Result<ModelStatus> CoreImpl::Unload(const std::string& id) {
  std::string resolved;
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    MLOS_ASSIGN_OR_RETURN(resolved, ResolveLocked(id, ""));
  }
  MLOS_RETURN_IF_ERROR(UnloadOne(resolved, /*persist=*/true));
  return Get(resolved);
}

Result<ModelStatus> CoreImpl::SwitchDefault(const std::string& name, const std::string& version,
                                            bool rollback) {
  const std::string id = name + "@" + version;
  MLOS_RETURN_IF_ERROR(LoadWithDeps(id, /*persist=*/true));
  std::lock_guard<std::mutex> mutations(mutation_mu_);
  store::DefaultRecord next;
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    if (!Serving(it->second.life.state())) {
      return FailedPrecondition("model " + id + " is " + ModelStateName(it->second.life.state()) +
                                " (unloaded while switching); the default is unchanged");
    }
    const NameEntry& n = names_.at(name);
    if (rollback) {
      std::set<std::string> registered;
      for (const auto& v : n.versions) registered.insert(v.version);
      auto plan = policy::NextDefaultOnRollback(n.defaults, registered);
      if (!plan || plan->current != version) {
        return FailedPrecondition("the defaults of " + name +
                                  " changed during the rollback; retry");
      }
      next = *plan;
    } else {
      next = policy::DefaultsAfterSet(n.defaults, version);
    }
  }
  // Outside mu_ (requests keep running); under mutation_mu_ nothing else changes the defaults.
  // The version was READY when checked: an unload racing with this switch is ordered after it.
  MLOS_RETURN_IF_ERROR(store_->PutDefaults(name, next));
  Lock lock(mu_);
  NameEntry& n = names_.at(name);
  std::string old = n.defaults.current;
  n.defaults = next;
  spdlog::info("{}: default {} -> {}{}", name, old.empty() ? "(none)" : old, version,
               rollback ? " (rollback)" : "");
  return StatusLocked(models_.at(id));
}

Result<ModelStatus> CoreImpl::SetDefault(const std::string& name, const std::string& version) {
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto n = names_.find(name);
    if (n == names_.end() || n->second.versions.empty()) {
      return NotFound("model " + name + " is not registered");
    }
    if (!models_.count(name + "@" + version)) {
      return NotFound("model " + name + "@" + version + " is not registered");
    }
  }
  return SwitchDefault(name, version, /*rollback=*/false);
}

Result<ModelStatus> CoreImpl::Rollback(const std::string& name) {
  std::string target;
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto n = names_.find(name);
    if (n == names_.end() || n->second.versions.empty()) {
      return NotFound("model " + name + " is not registered");
    }
    std::set<std::string> registered;
    for (const auto& v : n->second.versions) registered.insert(v.version);
    auto plan = policy::NextDefaultOnRollback(n->second.defaults, registered);
    if (!plan) {
      return FailedPrecondition("model " + name + " has no previous default to roll back to");
    }
    target = plan->current;
  }
  return SwitchDefault(name, target, /*rollback=*/true);
}

Result<ModelStatus> CoreImpl::SetAlias(const std::string& name, const std::string& alias,
                                       const std::string& version) {
  std::lock_guard<std::mutex> mutations(mutation_mu_);
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto n = names_.find(name);
    if (n == names_.end() || n->second.versions.empty()) {
      return NotFound("model " + name + " is not registered");
    }
    if (!ValidAlias(alias)) {
      return InvalidArgument("alias: invalid \"" + alias + "\" (letters, digits, '.', '_', '-')");
    }
    for (const auto& v : n->second.versions) {
      if (v.version == alias) {
        return InvalidArgument("alias: \"" + alias + "\" is a registered version of " + name);
      }
    }
    if (!version.empty()) {
      auto it = models_.find(name + "@" + version);
      if (it == models_.end() || it->second.removing) {
        return NotFound("model " + name + "@" + version + " is not registered");
      }
    }
  }
  // Outside mu_; under mutation_mu_ the name, its versions and aliases stay as checked.
  MLOS_RETURN_IF_ERROR(store_->PutAlias(name, alias, version));
  Lock lock(mu_);
  NameEntry& n = names_.at(name);
  if (version.empty()) {
    n.aliases.erase(alias);
  } else {
    n.aliases[alias] = version;
  }
  MLOS_ASSIGN_OR_RETURN(std::string id, ResolveLocked(version.empty() ? name : name + "@" + alias, ""));
  return StatusLocked(models_.at(id));
}

}  // namespace mlos::core
