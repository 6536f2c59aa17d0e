// CoreImpl: the mechanism behind mlos::core::Core. It keeps the live registry in memory (one
// mutex, mu_, and one condition variable for state changes), writes desired state through the
// RegistryStore and asks policy.h what to do. Every state change goes through TransitionLocked,
// which applies state_machine.h's table (ModelEntry::life can change no other way).
//
// Locks. mu_ guards the in-memory registry and is taken by every request (AcquireForInfer), so
// nothing slow runs under it: plugin calls (load, unload, infer) and store writes run outside
// it. mutation_mu_ serialises the mutations that write to the store (register, unregister,
// desired load state, defaults, aliases) and is held across the write: a mutation checks and
// computes under mu_, releases mu_, writes the store, then takes mu_ again to publish (or, when
// the write failed, to undo its reservation), so a refused request changes nothing and memory
// always matches the store. Order: mutation_mu_ before mu_; never wait for a load or an unload
// while holding mutation_mu_.
//
// Split by concern: core_impl.cc (create, restore, queries, shutdown), core_register.cc
// (register, unregister), core_lifecycle.cc (load, unload, defaults, aliases), core_infer.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "core/core.h"
#include "core/loaded_model.h"
#include "core/plugin_host.h"
#include "core/policy.h"
#include "core/scheduler.h"
#include "core/state_machine.h"
#include "mpf/manifest.h"
#include "mpf/signature.h"
#include "sandbox/proxy_plugin.h"
#include "store/store.h"

namespace mlos::core {

// One registered model version.
struct ModelEntry {
  store::ModelRecord rec;
  std::shared_ptr<const mpf::Manifest> manifest;  // null when it could not be read at restore
  std::shared_ptr<const ModelPolicy> policy = std::make_shared<const ModelPolicy>();
  std::string manifest_json;
  const Plugin* plugin = nullptr;  // null when no plugin serves the format (after a restart)
  std::string model_path;          // the execution file (absolute)
  std::vector<std::string> deps;   // resolved dependency ids
  Lifecycle life;                  // state and why FAILED; changed only by TransitionLocked
  std::shared_ptr<LoadedModel> loaded;  // set while READY
  double load_time_ms = 0;
  bool removing = false;           // Unregister in progress: no new loads or requests
  // ---- resource manager ----
  uint64_t measured_bytes = 0;     // the last load's measure (kept after an unload: plans reloads)
  uint64_t shared_bytes = 0, shared_key = 0;  // of measured_bytes, shared with same-key models
  bool ever_loaded = false;        // a later load is "warm"
  std::string load_kind;           // of the last load
  uint64_t evictions = 0;
  std::string unload_reason;       // why the server last unloaded it itself
  int64_t last_used_ms = 0;        // steady ms of the last request (kept after an unload)
  int waiting = 0;                 // requests that asked for a load and wait to use it: queued
  // The last request's keep_alive (Ollama: applies after that request); unset = the model's.
  std::optional<std::chrono::milliseconds> request_keep_alive;
  // ---- isolation (core_isolation.cc) ----
  bool signed_trusted = false;     // signed by one of isolation.trusted_keys (checked at register)
  Isolation isolation = Isolation::kInProcess;  // of the current (or last) load
  std::vector<int64_t> crashes;    // steady ms of worker deaths within restart_window_ms
  int64_t restart_due_ms = -1;     // a restart is pending at this steady ms
  std::string worker_state;        // "restarting", "stopped" (see ModelStatus); "" otherwise
  uint64_t worker_restarts = 0;
  std::string last_crash;
};

// What the registry knows about one model name.
struct NameEntry {
  std::vector<policy::VersionEntry> versions;
  store::DefaultRecord defaults;
  std::map<std::string, std::string> aliases;  // user aliases
};

class CoreImpl final : public Core {
 public:
  CoreImpl(const CoreOptions& options, std::unique_ptr<store::RegistryStore> store,
           std::unique_ptr<PluginHost> plugins);
  ~CoreImpl() override;

  // Core::Create with a given store (tests wrap the SQLite one): discovers plugins, then
  // Restore().
  static Result<std::unique_ptr<Core>> Create(const CoreOptions& options,
                                              std::unique_ptr<store::RegistryStore> store);

  // Rebuilds the registry from the store; when options.restore, loads the models desired
  // loaded: before returning, or on restore_thread_ when options.restore_in_background.
  Status Restore();

  void SetObserver(CoreObserver* observer) override { observer_.store(observer); }
  Result<ModelStatus> Register(const RegisterRequest& request) override;
  Status Unregister(const std::string& id) override;
  Result<ModelStatus> Load(const std::string& id) override;
  Result<ModelStatus> Unload(const std::string& id) override;
  Result<ModelStatus> SetDefault(const std::string& name, const std::string& version) override;
  Result<ModelStatus> Rollback(const std::string& name) override;
  Result<ModelStatus> SetAlias(const std::string& name, const std::string& alias,
                               const std::string& version) override;
  std::vector<ModelStatus> List() const override;
  Result<ModelStatus> Get(const std::string& id) const override;
  Result<ResolvedModel> Resolve(const std::string& ref, const std::string& version) const override;
  std::vector<PluginStatus> Plugins() const override;
  CoreStats Stats() const override;
  Result<ModelStatus> Pin(const std::string& id, bool pinned) override;
  bool Ready() const override { return ready_.load(); }
  Result<InferResponse> Infer(InferRequest request) override;
  Result<GenerateResponse> Generate(GenerateRequest request) override;  // core_generate.cc
  void Shutdown() override;

 private:
  using Lock = std::unique_lock<std::mutex>;

  // ---- helpers; "Locked" ones need mu_ held ----
  ModelStatus StatusLocked(const ModelEntry& e) const;
  policy::NameSnapshot SnapshotLocked(const std::string& name) const;
  // Resolves "ns/name[@version|@alias]" to a registered id.
  Result<std::string> ResolveLocked(const std::string& ref, const std::string& version) const;
  policy::DepGraph GraphLocked() const;
  std::vector<std::string> DependentsLocked(const std::string& id) const;
  // The one place a model's state changes: applies `event` through the transition table,
  // wakes waiters and tells the observer. kInternal (state unchanged) when the table refuses.
  Status TransitionLocked(ModelEntry& e, LifecycleEvent event, std::string reason = "");
  Result<ModelEntry> PrepareEntry(const store::ModelRecord& rec, bool verify_checksums) const;
  Status ResolveDepsLocked(const std::string& id, const mpf::Manifest& m,
                           std::vector<std::string>* deps) const;
  std::string CacheDir(const Plugin* plugin) const;

  // Loads one model (its dependencies must be loaded); waits for a transition in progress.
  Status LoadOne(const std::string& id);
  // Loads dependencies then the model; marks it desired loaded when `persist`.
  Status LoadWithDeps(const std::string& id, bool persist);
  // Drains and unloads; records desired_loaded=false when `persist`.
  Status UnloadOne(const std::string& id, bool persist);
  // Records the desired load state of `id` in the store, then in memory (no-op when equal).
  // Takes mutation_mu_ and mu_ itself (neither may be held).
  Status PersistDesiredLoaded(const std::string& id, bool desired_loaded);
  // Loads `ids` (restore): each ends READY or FAILED, or is skipped at shutdown; then Ready().
  void RestoreLoads(const std::vector<std::string>& ids);
  // Points the name's default at `next` once `next.current` is loaded.
  Result<ModelStatus> SwitchDefault(const std::string& name, const std::string& version,
                                    bool rollback);

  Status AcquireForInfer(const InferRequest& request, std::string* id,
                         std::shared_ptr<LoadedModel>* model, int* default_priority);
  Result<InferResponse> InferImpl(InferRequest& request, std::string* model_id, uint64_t* queue_us,
                                  uint64_t* infer_us);

  // ---- resource manager (core_resources.cc); "Locked" ones need mu_ held ----
  const ModelResourceOptions* ResourceOptionsFor(const ModelEntry& e) const;
  bool PinnedLocked(const ModelEntry& e) const;  // config or API pin
  // Negative = never; the request's keep_alive, else the model's, else the server's.
  int64_t KeepAliveMsLocked(const ModelEntry& e) const;
  int DefaultPriorityLocked(const ModelEntry& e) const;
  // Base + loaded models (READY, UNLOADING, LOADING), shared bytes once per key.
  uint64_t UsedBytesLocked() const;
  // What loading `e` is expected to add: its last measure, else the manifest's minimum or the
  // model file's size, whichever is larger.
  uint64_t EstimateLocked(const ModelEntry& e) const;
  uint64_t FileBytesLocked(const ModelEntry& e) const;  // the execution file's size
  // Evicts idle, unpinned models until `need` more bytes fit the budget (nothing when they
  // already fit); `keep` are never chosen (the model being loaded and its dependencies).
  // kUnavailable naming what holds the memory when not enough can be freed. Needs load_mu_;
  // may release and retake `lock` (mu_).
  // *busy_could: when it fails, whether models that are only busy (requests in flight) would
  // free enough once idle (worth waiting for).
  Status MakeRoomLocked(Lock& lock, const std::string& for_id, uint64_t need,
                        const std::set<std::string>& keep, bool* busy_could = nullptr);
  // Unloads `victims` (READY and idle, checked again under mu_) for `reason` ("memory",
  // "keep_alive"). Needs load_mu_; releases and retakes `lock`.
  void EvictLocked(Lock& lock, const std::vector<std::string>& victims, const char* reason);
  // Measures a model just loaded: the plugin's report, the growth of resident memory and of
  // the heap in use across the load.
  void RecordMemory(ModelEntry& e, const LoadedModel& m, uint64_t rss_grew, uint64_t heap_grew);
  // When an idle model's keep_alive runs out (steady ms); -1 when it does not apply (busy,
  // pinned, not loaded, kept forever). Arms the model's idle callback to match.
  int64_t KeepAliveDueLocked(const ModelEntry& e) const;
  void ReaperLoop();  // keep_alive
  void WakeReaper();        // takes mu_
  void WakeReaperLocked();

  // ---- isolation (core_isolation.cc); "Locked" ones need mu_ held ----
  // The stricter of the server's setting (per model, else the default), the manifest's
  // security.sandbox and, for unsigned packages with isolation.unsigned_process, `process`.
  Isolation IsolationLocked(const ModelEntry& e) const;
  // Whether a package's manifest is signed by one of the trusted keys. The manifest holds every
  // file's sha256, so its signature covers the files as far as the checksums checked at register
  // do (the files are not hashed again here, nor at every start).
  bool SignedByTrustedKey(const store::ModelRecord& rec) const;
  // The plugin a load of `e` uses (the sandbox proxy for `isolation` above in-process) and its
  // per-model options. kFailedPrecondition when workers cannot be started.
  Result<const Plugin*> PluginForLocked(const ModelEntry& e, Isolation isolation,
                                        std::string* options_json);
  // A worker died (on its monitor thread): READY -> FAILED, a restart scheduled with backoff
  // unless it crashed too often. Returns whether it restarts.
  bool OnWorkerDeath(const std::string& id, const smi_model* handle, const char* reason,
                     const std::string& what);
  // The reaper's part: restarts that are due (takes mu_ back; `lock` held on entry and exit).
  int64_t RestartDueLocked(Lock& lock, int64_t now);
  // Fills the isolation fields of a status.
  void IsolationStatusLocked(const ModelEntry& e, ModelStatus* s) const;

  void NotifyState(const std::string& id, ModelState s) {
    if (CoreObserver* o = observer_.load()) o->OnStateChange(id, s);
  }

  const CoreOptions options_;
  std::unique_ptr<PluginHost> plugins_;     // outlives every loaded model
  std::unique_ptr<store::RegistryStore> store_;
  std::atomic<CoreObserver*> observer_{nullptr};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<uint64_t> requests_{0}, errors_{0}, next_request_id_{1};

  std::mutex mutation_mu_;                    // see "Locks" above; before mu_
  mutable std::mutex mu_;
  std::condition_variable cv_;               // any state change
  std::map<std::string, ModelEntry> models_;  // by id; guarded by mu_
  std::map<std::string, NameEntry> names_;    // by "ns/name"; guarded by mu_
  bool shutting_down_ = false;                // guarded by mu_
  bool shut_down_ = false;                    // guarded by mu_
  std::atomic<bool> ready_{false};            // restore finished (Ready())
  std::thread restore_thread_;                // background restore; joined by Shutdown
  // Resource manager. load_mu_ serialises loads and evictions (plan, evict, load, measure), so
  // the accounting sees one change at a time. Order: mutation_mu_, load_mu_, mu_.
  std::mutex load_mu_;
  std::unique_ptr<Scheduler> scheduler_;      // null when resources.cpu_slots == 0
  uint64_t base_bytes_ = 0;                   // resident at start, before any model
  int64_t wall_minus_steady_ms_ = 0;          // at start: steady ms -> Unix ms, stable
  std::atomic<uint64_t> evictions_{0};
  std::condition_variable reaper_cv_;         // with mu_
  bool reaper_wake_ = false;                  // guarded by mu_
  std::thread reaper_;
  // Isolation: one sandbox proxy per real plugin, made on first use (guarded by mu_), and the
  // models whose workers died, released on the reaper thread (never on a worker's monitor).
  struct Proxy {
    std::unique_ptr<sandbox::ProxyPlugin> proxy;
    Plugin plugin;
  };
  std::map<const Plugin*, std::unique_ptr<Proxy>> proxies_;
  std::vector<mpf::PublicKey> trusted_keys_;  // isolation.trusted_keys, read once at start
  std::vector<std::shared_ptr<LoadedModel>> graveyard_;  // guarded by mu_
};

}  // namespace mlos::core
