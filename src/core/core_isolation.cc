// Isolation (docs/isolation.md): where each model runs, the sandbox proxies models in workers
// load through, and crash recovery (a dead worker's model goes FAILED and is restarted with
// exponential backoff until it crashes too often).
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/core_impl.h"
#include "core/resources.h"
#include "common/fs.h"
#include "mpf/signature.h"
#include "sandbox/sandbox.h"

namespace mlos::core {
namespace {

namespace fs = std::filesystem;

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Isolation FromManifest(mpf::SandboxMode m) {
  switch (m) {
    case mpf::SandboxMode::kProcess: return Isolation::kProcess;
    case mpf::SandboxMode::kStrict: return Isolation::kStrict;
    default: return Isolation::kInProcess;
  }
}

fs::path WorkerExecutable(const IsolationOptions& o) {
  if (!o.worker_executable.empty()) return o.worker_executable;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("mlos-worker") : self.parent_path() / "mlos-worker";
}

}  // namespace

Isolation CoreImpl::IsolationLocked(const ModelEntry& e) const {
  const IsolationOptions& o = options_.isolation;
  Isolation server = o.default_isolation;
  if (auto it = o.models.find(e.rec.id); it != o.models.end()) {
    server = it->second;
  } else if (auto n = o.models.find(e.rec.name); n != o.models.end()) {
    server = n->second;
  }
  Isolation i = server;
  if (e.manifest) i = std::max(i, FromManifest(e.manifest->security.sandbox));
  if (o.unsigned_process && !e.signed_trusted) i = std::max(i, Isolation::kProcess);
  return i;
}

bool CoreImpl::SignedByTrustedKey(const store::ModelRecord& rec) const {
  if (trusted_keys_.empty()) return false;
  auto manifest = ReadFile(rec.manifest_path);
  auto signature = ReadFile(mpf::SignaturePathFor(rec.path));
  if (!manifest.ok() || !signature.ok()) return false;
  for (const mpf::PublicKey& key : trusted_keys_) {
    if (mpf::VerifyManifestBytes(*manifest, *signature, key).ok()) return true;
  }
  return false;
}

Result<const Plugin*> CoreImpl::PluginForLocked(const ModelEntry& e, Isolation isolation,
                                                std::string* options_json) {
  options_json->clear();
  if (isolation == Isolation::kInProcess) return e.plugin;
  const IsolationOptions& o = options_.isolation;
  auto& slot = proxies_[e.plugin];
  if (!slot) {
    const fs::path exe = WorkerExecutable(o);
    if (::access(exe.c_str(), X_OK) != 0) {
      return FailedPrecondition("model " + e.rec.id + " runs in a sandboxed worker, but " +
                                exe.string() + " is not an executable (isolation.worker)");
    }
    sandbox::ProxyConfig pc;
    pc.worker_executable = exe.string();
    pc.plugin_path = e.plugin->path.string();
    pc.plugin_config_json = e.plugin->config_json;
    pc.sandbox_root = (options_.state_dir / "sandbox-root").string();
    pc.channels = std::max(1, o.channels);
    pc.watchdog_ms = o.watchdog_ms;
    pc.pids_max = o.pids_max;
    pc.file_size_max = o.file_size_max;
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam(o.user.c_str());
      if (!pw) {
        return FailedPrecondition("isolation.user: no user \"" + o.user +
                                  "\" for sandboxed workers on this machine");
      }
      pc.uid = pw->pw_uid;
      pc.gid = pw->pw_gid;
    }
    std::error_code ec;
    fs::create_directories(pc.sandbox_root, ec);
    auto p = std::make_unique<Proxy>();
    p->proxy = std::make_unique<sandbox::ProxyPlugin>(pc);
    p->proxy->SetDeathHandler([this](const std::string& id, const smi_model* handle,
                                     const char* reason, const std::string& what) {
      return OnWorkerDeath(id, handle, reason, what);
    });
    p->plugin.name = e.plugin->name;
    p->plugin.version = e.plugin->version;
    p->plugin.framework = e.plugin->framework;
    p->plugin.execution_formats = e.plugin->execution_formats;
    // The real plugin's (model_generate is proxied too: worker.cc GenerateOn).
    p->plugin.capabilities = e.plugin->capabilities;
    p->plugin.path = e.plugin->path;
    p->plugin.api = p->proxy->api();
    p->plugin.instance = p->proxy->instance();
    p->plugin.config_json = e.plugin->config_json;
    p->plugin.proxy = p->proxy.get();
    slot = std::move(p);
  }
  sandbox::ProxyModelOptions mo;
  mo.level = isolation == Isolation::kStrict ? 2 : 1;
  const uint64_t quota = e.manifest ? e.manifest->security.max_memory : 0;
  if (quota > 0) {
    mo.memory_limit = quota;
    mo.memory_limit_required = true;
  } else if (options_.resources.memory_budget_bytes > 0) {
    mo.memory_limit = options_.resources.memory_budget_bytes;
  }
  // CPU weight from the default priority. At the server's default, 100 per channel (or per
  // CPU, if more): a worker's group competes as one entity against every thread outside it, each
  // weighing 100, so the weight of one thread would starve its calls on a busy machine, while
  // in-process each running call weighs 100. Doubling per level more urgent, halving per level
  // less (cgroup weights run 1..10000).
  const int shift = options_.resources.default_priority - DefaultPriorityLocked(e);
  double w = 100.0 * std::max<unsigned>(static_cast<unsigned>(std::max(1, o.channels)),
                                        std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < std::abs(shift); ++i) w = shift > 0 ? w * 2 : w / 2;
  mo.cpu_weight = static_cast<uint64_t>(std::clamp(w, 1.0, 10000.0));
  *options_json = sandbox::MakeProxyOptions(mo);
  return &slot->plugin;
}

bool CoreImpl::OnWorkerDeath(const std::string& id, const smi_model* handle, const char* reason,
                             const std::string& what) {
  Lock lock(mu_);
  auto it = models_.find(id);
  if (it == models_.end()) return false;
  ModelEntry& e = it->second;
  // Only the instance serving now: an unload in progress, or an older instance, is not ours.
  if (!e.loaded || e.loaded->handle() != handle || e.life.state() != ModelState::kReady ||
      shutting_down_) {
    return false;
  }
  const IsolationOptions& o = options_.isolation;
  const int64_t now = SteadyNowMs();
  e.crashes.push_back(now);
  std::erase_if(e.crashes, [&](int64_t t) { return t < now - o.restart_window_ms; });
  e.last_crash = what;
  const bool restart = static_cast<int>(e.crashes.size()) <= o.restart_limit;
  std::string why = "model worker " + what;
  if (restart) {
    int64_t backoff = std::max<int64_t>(o.restart_backoff_ms, 0);
    for (size_t i = 1; i < e.crashes.size() && backoff < o.restart_backoff_max_ms; ++i) backoff *= 2;
    backoff = std::min(backoff, o.restart_backoff_max_ms);
    e.restart_due_ms = now + backoff;
    e.worker_state = "restarting";
    why += "; restarting in " + std::to_string(backoff) + " ms";
  } else {
    e.restart_due_ms = -1;
    e.worker_state = "stopped";
    why += "; not restarting: " + std::to_string(e.crashes.size()) + " crashes within " +
           std::to_string(o.restart_window_ms / 1000) + " s (isolation.restart_limit " +
           std::to_string(o.restart_limit) + ")";
  }
  // Released on the reaper thread: the last reference may not go on this (monitor) thread.
  graveyard_.push_back(std::move(e.loaded));
  (void)TransitionLocked(e, LifecycleEvent::kCrashed, why);
  spdlog::error("{}: {}", id, why);
  if (restart) {
    if (CoreObserver* obs = observer_.load()) obs->OnWorkerRestart(id, reason);
  }
  WakeReaperLocked();
  return restart;
}

int64_t CoreImpl::RestartDueLocked(Lock& lock, int64_t now) {
  // Graves first: the dead instances' last references (their requests have failed).
  if (!graveyard_.empty()) {
    std::vector<std::shared_ptr<LoadedModel>> graves;
    graves.swap(graveyard_);
    lock.unlock();
    graves.clear();
    lock.lock();
  }
  int64_t next = -1;
  std::vector<std::string> due;
  for (auto& [id, e] : models_) {
    if (e.restart_due_ms < 0) continue;
    if (e.life.state() != ModelState::kFailed || e.removing) {
      e.restart_due_ms = -1;
      continue;
    }
    if (e.restart_due_ms <= now) {
      due.push_back(id);
      e.restart_due_ms = -1;
    } else {
      next = next < 0 ? e.restart_due_ms : std::min(next, e.restart_due_ms);
    }
  }
  for (const std::string& id : due) {
    lock.unlock();
    Status st = LoadOne(id);
    lock.lock();
    auto it = models_.find(id);
    if (it == models_.end()) continue;
    ModelEntry& e = it->second;
    if (st.ok()) {
      ++e.worker_restarts;
      e.worker_state.clear();
      spdlog::info("{}: worker restarted", id);
      continue;
    }
    // A restart that fails counts as another crash (a model that dies while loading).
    const int64_t t = SteadyNowMs();
    e.crashes.push_back(t);
    std::erase_if(e.crashes,
                  [&](int64_t c) { return c < t - options_.isolation.restart_window_ms; });
    if (static_cast<int>(e.crashes.size()) <= options_.isolation.restart_limit &&
        e.life.state() == ModelState::kFailed) {
      int64_t backoff = std::max<int64_t>(options_.isolation.restart_backoff_ms, 0);
      for (size_t i = 1; i < e.crashes.size(); ++i) backoff *= 2;
      e.restart_due_ms = t + std::min(backoff, options_.isolation.restart_backoff_max_ms);
      next = next < 0 ? e.restart_due_ms : std::min(next, e.restart_due_ms);
    } else {
      e.worker_state = "stopped";
    }
    spdlog::error("{}: worker restart failed: {}", id, st.message());
  }
  return next;
}

void CoreImpl::IsolationStatusLocked(const ModelEntry& e, ModelStatus* s) const {
  s->isolation = e.loaded ? e.isolation : IsolationLocked(e);
  s->worker_restarts = e.worker_restarts;
  s->last_crash = e.last_crash;
  s->worker_state = e.worker_state;
  if (e.loaded && e.loaded->plugin() && e.loaded->plugin()->proxy) {
    s->worker_pid = sandbox::ProxyPlugin::WorkerPid(e.loaded->handle());
    if (s->worker_state.empty()) s->worker_state = s->worker_pid > 0 ? "running" : "restarting";
  }
}

}  // namespace mlos::core
