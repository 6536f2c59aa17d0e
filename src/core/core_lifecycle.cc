// Load, unload and default switching. One rule: a version takes traffic only once it is READY.
#include <chrono>
#include <cstring>
#include <spdlog/spdlog.h>

#include "core/core_impl.h"

namespace mlos::core {
namespace {

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
  Lock lock(mu_);
  ModelEntry* e = nullptr;
  while (true) {
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    e = &it->second;
    if (e->state == ModelState::kReady) return Status::Ok();
    if (!Transitioning(e->state)) break;
    cv_.wait(lock);
  }
  if (!e->plugin || !e->manifest) {
    std::string reason = e->reason.empty() ? "no plugin serves execution format \"" +
                                                 e->rec.execution_format + "\""
                                           : e->reason;
    SetStateLocked(*e, ModelState::kFailed, reason);
    return FailedPrecondition("model " + id + ": " + reason);
  }
  if (!NextState(e->state, LifecycleEvent::kLoad)) {
    return Internal(std::string("model ") + id + ": cannot load in state " +
                    ModelStateName(e->state));
  }
  SetStateLocked(*e, ModelState::kLoading);
  const Plugin* plugin = e->plugin;
  LoadParams params{id, e->rec.path, e->model_path, e->manifest_json, CacheDir(id)};
  auto manifest = e->manifest;
  lock.unlock();

  std::error_code ec;
  std::filesystem::create_directories(params.cache_dir, ec);
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = LoadedModel::Load(plugin, params);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
  if (loaded.ok()) {
    (*loaded)->SetSchemaIfEmpty(Specs(manifest->io.inputs), Specs(manifest->io.outputs));
    if ((*loaded)->EnableBatching(options_.batching, [this, id](size_t requests, int64_t rows) {
          if (CoreObserver* o = observer_.load()) o->OnBatch(id, requests, rows);
        })) {
      spdlog::info("{}: dynamic batching on (up to {} rows, {} batches at once)", id,
                   options_.batching.max_batch_size, options_.batching.max_concurrent_batches);
    } else {
      (*loaded)->LimitConcurrency(options_.max_concurrent_infers);
    }
  }

  lock.lock();
  e = &models_.at(id);  // LOADING entries are never erased
  Status st;
  if (loaded.ok()) {
    e->loaded = std::shared_ptr<LoadedModel>(std::move(loaded).value());
    e->load_time_ms = ms;
    SetStateLocked(*e, ModelState::kReady);
    spdlog::info("loaded {} in {:.1f} ms", id, ms);
  } else {
    st = loaded.status();
    SetStateLocked(*e, ModelState::kFailed, st.message());
    spdlog::warn("load {} failed: {}", id, st.message());
  }
  if (CoreObserver* o = observer_.load()) o->OnLoad(id, st.ok(), ms);
  return st.WithPrefix("load " + id);
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
    if (persist && !it->second.rec.desired_loaded) {
      MLOS_RETURN_IF_ERROR(store_->SetDesiredLoaded(id, true));
      it->second.rec.desired_loaded = true;
    }
  }
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
  Lock lock(mu_);
  ModelEntry* e = nullptr;
  while (true) {
    auto it = models_.find(id);
    if (it == models_.end()) return NotFound("model " + id + " is not registered");
    e = &it->second;
    if (!Transitioning(e->state)) break;
    cv_.wait(lock);
  }
  if (persist && e->rec.desired_loaded) {
    MLOS_RETURN_IF_ERROR(store_->SetDesiredLoaded(id, false));
    e->rec.desired_loaded = false;
  }
  if (e->state == ModelState::kFailed) {
    SetStateLocked(*e, ModelState::kUnloaded);
    return Status::Ok();
  }
  if (e->state != ModelState::kReady) return Status::Ok();
  SetStateLocked(*e, ModelState::kUnloading);
  std::shared_ptr<LoadedModel> model = std::move(e->loaded);
  e->loaded.reset();
  lock.unlock();

  model->WaitIdle();  // requests in flight finish on it
  model->Release();
  model.reset();

  lock.lock();
  e = &models_.at(id);  // UNLOADING entries are never erased
  SetStateLocked(*e, ModelState::kUnloaded);
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
  Lock lock(mu_);
  auto it = models_.find(id);
  if (it == models_.end() || it->second.removing) {
    return NotFound("model " + id + " is not registered");
  }
  if (it->second.state != ModelState::kReady) {
    return FailedPrecondition("model " + id + " is " + ModelStateName(it->second.state) +
                              " (unloaded while switching); the default is unchanged");
  }
  NameEntry& n = names_[name];
  store::DefaultRecord next;
  if (rollback) {
    std::set<std::string> registered;
    for (const auto& v : n.versions) registered.insert(v.version);
    auto plan = policy::NextDefaultOnRollback(n.defaults, registered);
    if (!plan || plan->current != version) {
      return FailedPrecondition("the defaults of " + name + " changed during the rollback; retry");
    }
    next = *plan;
  } else {
    next = policy::DefaultsAfterSet(n.defaults, version);
  }
  MLOS_RETURN_IF_ERROR(store_->PutDefaults(name, next));
  std::string old = n.defaults.current;
  n.defaults = next;
  spdlog::info("{}: default {} -> {}{}", name, old.empty() ? "(none)" : old, version,
               rollback ? " (rollback)" : "");
  return StatusLocked(it->second);
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
  if (!version.empty() && !models_.count(name + "@" + version)) {
    return NotFound("model " + name + "@" + version + " is not registered");
  }
  MLOS_RETURN_IF_ERROR(store_->PutAlias(name, alias, version));
  if (version.empty()) {
    n->second.aliases.erase(alias);
  } else {
    n->second.aliases[alias] = version;
  }
  MLOS_ASSIGN_OR_RETURN(std::string id, ResolveLocked(version.empty() ? name : name + "@" + alias, ""));
  return StatusLocked(models_.at(id));
}

}  // namespace mlos::core
