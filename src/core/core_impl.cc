#include "core/core_impl.h"
#include "sandbox/sandbox.h"

#include <algorithm>
#include <spdlog/spdlog.h>

#include "core/resources.h"
#include "store/sqlite_store.h"

namespace mlos::core {
namespace {

std::vector<TensorInfo> FromSpecs(const std::vector<mpf::TensorSpec>& specs) {
  std::vector<TensorInfo> out;
  for (const mpf::TensorSpec& s : specs) {
    TensorInfo t;
    t.name = s.name;
    t.dtype = DataTypeFromName(s.dtype).value_or(DataType::kInvalid);
    t.shape = s.shape;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Core>> Core::Create(const CoreOptions& options) {
  if (options.state_dir.empty()) return InvalidArgument("state_dir: required");
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Unavailable("state_dir: cannot create " + options.state_dir.string() + ": " +
                       ec.message());
  }
  MLOS_ASSIGN_OR_RETURN(auto store, store::OpenSqliteStore(options.state_dir / "registry.db"));
  return CoreImpl::Create(options, std::move(store));
}

Result<std::unique_ptr<Core>> CoreImpl::Create(const CoreOptions& options,
                                               std::unique_ptr<store::RegistryStore> store) {
  PluginHostOptions po;
  po.plugin_dirs = options.plugin_dirs;
  po.plugin_config_json = options.plugin_config_json;
  MLOS_ASSIGN_OR_RETURN(auto plugins, PluginHost::Create(po));
  // What the machine offers sandboxed workers, reported once at start when the config asks
  // for them (otherwise at the first model whose manifest does).
  const IsolationOptions& iso = options.isolation;
  if (iso.default_isolation != Isolation::kInProcess || !iso.models.empty() ||
      iso.unsigned_process) {
    (void)sandbox::ProbeSupport();
  }
  auto core = std::make_unique<CoreImpl>(options, std::move(store), std::move(plugins));
  MLOS_RETURN_IF_ERROR(core->Restore());
  return std::unique_ptr<Core>(std::move(core));
}

CoreImpl::CoreImpl(const CoreOptions& options, std::unique_ptr<store::RegistryStore> store,
                   std::unique_ptr<PluginHost> plugins)
    : options_(options), plugins_(std::move(plugins)), store_(std::move(store)) {
  base_bytes_ = ResidentBytes();
  for (const std::filesystem::path& k : options_.isolation.trusted_keys) {
    auto key = mpf::LoadPublicKey(k);
    if (key.ok()) {
      trusted_keys_.push_back(*key);
    } else {
      spdlog::warn("isolation: trusted key {} ignored: {}", k.string(), key.status().message());
    }
  }
  wall_minus_steady_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() -
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
  const ResourceOptions& r = options_.resources;
  if (r.cpu_slots > 0) {
    SchedulerOptions so;
    so.slots = r.cpu_slots;
    so.levels = std::max(1, r.priority_levels);
    so.default_priority = r.default_priority;
    so.aging = std::chrono::duration_cast<std::chrono::microseconds>(r.aging);
    so.fifo = r.fifo;
    so.batch_priority = r.batch_priority;
    so.idle_priority = r.idle_priority;
    so.cpu_sets = r.cpu_sets;
    so.on_deadline_refused = [this](const std::string& model) {
      if (CoreObserver* o = observer_.load()) o->OnReject(model, "deadline");
    };
    scheduler_ = std::make_unique<Scheduler>(so);
    for (const std::string& w : scheduler_->warnings()) spdlog::warn("scheduler: {}", w);
    spdlog::info("scheduler: {} order, {} slots per priority level{}",
                 r.fifo ? "FIFO" : "priority", r.cpu_slots,
                 r.fifo ? "" : ", " + std::to_string(so.levels) + " levels");
  }
  if (r.memory_budget_bytes > 0) {
    spdlog::info("memory budget {} (the process now uses {})", FormatBytes(r.memory_budget_bytes),
                 FormatBytes(base_bytes_));
  }
  reaper_ = std::thread([this] { ReaperLoop(); });
}

CoreImpl::~CoreImpl() { Shutdown(); }

Status CoreImpl::Restore() {
  MLOS_ASSIGN_OR_RETURN(store::RegistrySnapshot snap, store_->Load());
  std::vector<std::string> to_load;
  {
    Lock lock(mu_);
    for (auto& [name, d] : snap.defaults) names_[name].defaults = d;
    for (auto& [name, a] : snap.aliases) names_[name].aliases = a;
    for (const store::ModelRecord& rec : snap.models) {
      auto prepared = PrepareEntry(rec, /*verify_checksums=*/false);
      ModelEntry e;
      std::string broken;  // why it cannot load at all
      if (prepared.ok()) {
        e = std::move(prepared).value();
        Status st = ResolveDepsLocked(rec.id, *e.manifest, &e.deps);
        if (!st.ok()) broken = "restore: " + st.message();
      } else {
        e.rec = rec;
        broken = "restore: " + prepared.status().message();
      }
      if (!broken.empty()) {
        spdlog::warn("model {}: {}", rec.id, broken);
        (void)TransitionLocked(e, LifecycleEvent::kLoadRefused, broken);  // REGISTERED -> FAILED
      }
      names_[rec.name].versions.push_back({rec.version, rec.seq});
      models_.emplace(rec.id, std::move(e));
      if (rec.desired_loaded) to_load.push_back(rec.id);
    }
  }
  spdlog::info("registry: {} models restored from {}", snap.models.size(),
               (options_.state_dir / "registry.db").string());
  if (!options_.restore) to_load.clear();
  if (options_.restore_in_background && !to_load.empty()) {
    spdlog::info("restore: loading {} models in the background", to_load.size());
    restore_thread_ = std::thread([this, to_load] { RestoreLoads(to_load); });
  } else {
    RestoreLoads(to_load);
  }
  return Status::Ok();
}

void CoreImpl::RestoreLoads(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    Status st = LoadWithDeps(id, /*persist=*/false);
    if (!st.ok()) spdlog::warn("restore: model {} did not load: {}", id, st.message());
  }
  ready_.store(true);
  if (!ids.empty()) spdlog::info("restore: done, {} models", ids.size());
}

std::string CoreImpl::CacheDir(const Plugin* plugin) const {
  // One directory per plugin, shared by its models: its caches are keyed by the model file, so
  // versions that share a file share the cached copy (and a plugin can map it once).
  std::string safe = plugin && !plugin->name.empty() ? plugin->name : "unknown";
  std::replace(safe.begin(), safe.end(), '/', '_');
  return (options_.state_dir / "cache" / safe).string();
}

policy::NameSnapshot CoreImpl::SnapshotLocked(const std::string& name) const {
  policy::NameSnapshot s;
  auto it = names_.find(name);
  if (it == names_.end()) return s;
  s.versions = it->second.versions;
  s.defaults = it->second.defaults;
  s.aliases = it->second.aliases;
  return s;
}

Result<std::string> CoreImpl::ResolveLocked(const std::string& ref,
                                            const std::string& version) const {
  MLOS_ASSIGN_OR_RETURN(policy::ModelRef r, policy::ParseModelRef(ref, version));
  MLOS_ASSIGN_OR_RETURN(std::string v, policy::ResolveVersion(r.name, SnapshotLocked(r.name),
                                                              r.requested));
  return r.name + "@" + v;
}

policy::DepGraph CoreImpl::GraphLocked() const {
  policy::DepGraph g;
  for (const auto& [id, e] : models_) g[id] = e.deps;
  return g;
}

std::vector<std::string> CoreImpl::DependentsLocked(const std::string& id) const {
  std::vector<std::string> out;
  for (const auto& [other, e] : models_) {
    if (other != id && std::find(e.deps.begin(), e.deps.end(), id) != e.deps.end()) {
      out.push_back(other);
    }
  }
  return out;
}

Status CoreImpl::TransitionLocked(ModelEntry& e, LifecycleEvent event, std::string reason) {
  const ModelState from = e.life.state();
  std::optional<ModelState> to = e.life.Apply(event, std::move(reason));
  if (!to) {
    std::string what = std::string("model ") + e.rec.id + ": illegal transition " +
                       ModelStateName(from) + " --" + LifecycleEventName(event) + "-->";
    spdlog::error("{}", what);
    return Internal(what);
  }
  cv_.notify_all();
  NotifyState(e.rec.id, *to);
  return Status::Ok();
}

ModelStatus CoreImpl::StatusLocked(const ModelEntry& e) const {
  ModelStatus s;
  s.id = e.rec.id;
  s.name = e.rec.name;
  s.version = e.rec.version;
  s.state = e.life.state();
  s.reason = e.life.reason();
  s.execution_format = e.rec.execution_format;
  s.framework = e.rec.framework;
  s.plugin = e.plugin ? e.plugin->name : "";
  s.path = e.rec.path;
  s.description = e.rec.description;
  s.desired_loaded = e.rec.desired_loaded;
  s.load_time_ms = e.load_time_ms;
  s.dependencies = e.deps;
  s.policy = e.policy;
  auto n = names_.find(e.rec.name);
  if (n != names_.end()) {
    policy::NameSnapshot snap = SnapshotLocked(e.rec.name);
    auto def = policy::ResolveVersion(e.rec.name, snap, "");
    s.is_default = def.ok() && *def == e.rec.version;
    bool latest_pinned = n->second.aliases.count("latest") > 0;
    if (!latest_pinned && policy::LatestVersion(n->second.versions) == e.rec.version) {
      s.aliases.push_back("latest");
    }
    for (const auto& [alias, version] : n->second.aliases) {
      if (version == e.rec.version) s.aliases.push_back(alias);
    }
  }
  s.load_kind = e.load_kind;
  s.pinned = PinnedLocked(e);
  s.keep_alive_ms = KeepAliveMsLocked(e);
  s.priority = DefaultPriorityLocked(e);
  s.evictions = e.evictions;
  s.unload_reason = e.unload_reason;
  IsolationStatusLocked(e, &s);
  s.memory_estimate_bytes = EstimateLocked(e);
  const int64_t last_used = e.loaded ? std::max(e.last_used_ms, e.loaded->last_used_ms())
                                     : e.last_used_ms;
  if (last_used > 0) s.last_used_unix_ms = last_used + wall_minus_steady_ms_;
  s.generates = e.plugin && e.plugin->Has(SMI_CAP_STREAMING);
  if (e.manifest && e.manifest->llm) {
    const mpf::Llm& l = *e.manifest->llm;
    s.llm = LlmInfo{l.architecture,   l.context_length, l.embedding_length, l.parameter_count,
                    l.quantization,   l.chat_template,  l.embedding};
  }
  if (e.loaded) {
    s.memory_bytes = e.measured_bytes;
    s.shared_memory_bytes = e.shared_bytes;
    s.inputs = e.loaded->inputs();
    s.outputs = e.loaded->outputs();
  } else if (e.manifest) {
    s.inputs = FromSpecs(e.manifest->io.inputs);
    s.outputs = FromSpecs(e.manifest->io.outputs);
  }
  return s;
}

std::vector<ModelStatus> CoreImpl::List() const {
  Lock lock(mu_);
  std::vector<const ModelEntry*> entries;
  for (const auto& [id, e] : models_) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](const ModelEntry* a, const ModelEntry* b) {
    return a->rec.seq < b->rec.seq;
  });
  std::vector<ModelStatus> out;
  for (const ModelEntry* e : entries) out.push_back(StatusLocked(*e));
  return out;
}

Result<ModelStatus> CoreImpl::Get(const std::string& id) const {
  Lock lock(mu_);
  MLOS_ASSIGN_OR_RETURN(std::string resolved, ResolveLocked(id, ""));
  auto it = models_.find(resolved);
  if (it == models_.end()) return NotFound("model " + id + " is not registered");
  return StatusLocked(it->second);
}

Result<ResolvedModel> CoreImpl::Resolve(const std::string& ref, const std::string& version) const {
  Lock lock(mu_);
  MLOS_ASSIGN_OR_RETURN(std::string resolved, ResolveLocked(ref, version));
  auto it = models_.find(resolved);
  if (it == models_.end()) return NotFound("model " + ref + " is not registered");
  return ResolvedModel{std::move(resolved), it->second.rec.name, it->second.policy};
}

std::vector<PluginStatus> CoreImpl::Plugins() const { return plugins_->List(); }

CoreStats CoreImpl::Stats() const {
  CoreStats s;
  s.requests = requests_.load();
  s.errors = errors_.load();
  s.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  Lock lock(mu_);
  s.models_registered = models_.size();
  for (const auto& [id, e] : models_) s.models_ready += Serving(e.life.state()) ? 1 : 0;
  s.memory_budget_bytes = options_.resources.memory_budget_bytes;
  s.memory_used_bytes = UsedBytesLocked();
  s.memory_base_bytes = base_bytes_;
  s.evictions = evictions_.load();
  lock.unlock();
  if (scheduler_) s.queues = scheduler_->Depths();
  return s;
}

void CoreImpl::Shutdown() {
  {
    Lock lock(mu_);
    if (shutting_down_) {
      cv_.wait(lock, [&] { return shut_down_; });
      return;
    }
    shutting_down_ = true;  // no new loads: a background restore stops after its current one
    cv_.notify_all();
    reaper_cv_.notify_all();
  }
  if (restore_thread_.joinable()) restore_thread_.join();
  if (reaper_.joinable()) reaper_.join();
  std::vector<std::shared_ptr<LoadedModel>> graves;
  {
    Lock lock(mu_);
    graves.swap(graveyard_);
  }
  graves.clear();  // dead workers' instances (their requests have ended)
  std::vector<std::string> ids;
  {
    Lock lock(mu_);
    ids = policy::UnloadOrder(GraphLocked());  // dependents before their dependencies
  }
  spdlog::info("core: shutting down, unloading {} models", ids.size());
  for (const std::string& id : ids) {
    Status st = UnloadOne(id, /*persist=*/false);
    if (!st.ok() && st.code() != StatusCode::kNotFound) {
      spdlog::warn("shutdown: unload {}: {}", id, st.message());
    }
  }
  {
    std::lock_guard<std::mutex> mutations(mutation_mu_);  // no store write in progress
    store_->Close();
  }
  Lock lock(mu_);
  shut_down_ = true;
  cv_.notify_all();
}

}  // namespace mlos::core
