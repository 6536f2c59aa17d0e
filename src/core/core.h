// MLOS Core: the model registry, lifecycle, plugin host and inference path, as a library with
// no network code. service::Service (src/service) is its one caller on the serving path: every
// front-end reaches the core through it, so all protocols behave the same.
//
// Thread-safety: every Core method may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/tensor.h"

namespace mlos::core {

enum class ModelState { kRegistered, kLoading, kReady, kUnloading, kUnloaded, kFailed };
const char* ModelStateName(ModelState s);  // "REGISTERED", "LOADING", "READY", ...

// Dynamic batching (batcher.h), for every model whose inputs and outputs all have a dynamic
// first dimension. Off by default: batched results may differ from unbatched ones in the last
// bits (kernels block differently), and a model must treat rows independently.
struct BatchingOptions {
  int max_batch_size = 0;          // rows per batch; <= 1 disables batching
  int max_concurrent_batches = 1;  // batches (plugin calls) running at once per model
};

// Where a model runs (docs/isolation.md): inside mlosd, or in a sandboxed mlos-worker process.
// Ordered from weakest to strictest; the stricter of the server's setting and the manifest's
// security.sandbox wins.
enum class Isolation { kInProcess = 0, kProcess = 1, kStrict = 2 };
const char* IsolationName(Isolation i);  // "in_process", "process", "strict"
// "in_process" (or "none"), "process", "strict"; nullopt otherwise.
std::optional<Isolation> ParseIsolation(const std::string& text);

// Sandboxed workers (src/sandbox/). Defaults run every model in-process, as before.
struct IsolationOptions {
  Isolation default_isolation = Isolation::kInProcess;
  std::map<std::string, Isolation> models;  // overrides by "ns/name" or id (the id wins)
  // Packages without a valid signature by one of trusted_keys run at least in `process`.
  bool unsigned_process = false;
  std::vector<std::filesystem::path> trusted_keys;  // public key files (mlos-ed25519-public)
  std::filesystem::path worker_executable;  // "" = mlos-worker beside /proc/self/exe
  int64_t watchdog_ms = 60000;      // a plugin call running longer kills its worker; 0 = never
  int restart_limit = 5;            // crashes within restart_window_ms; one more: stays FAILED
  int64_t restart_window_ms = 60000;
  int64_t restart_backoff_ms = 100;       // before the first restart; doubles per crash
  int64_t restart_backoff_max_ms = 5000;
  int channels = 16;                // plugin calls in flight per worker (each has a channel)
  std::string user = "nobody";      // who workers run as when mlosd runs as root
  uint64_t pids_max = 64;           // processes and threads per worker (cgroup pids, RLIMIT_NPROC)
  uint64_t file_size_max = 1ull << 30;  // RLIMIT_FSIZE of a worker
};

// Per model (by "ns/name" or "ns/name@version"; the id wins over the name).
struct ModelResourceOptions {
  std::optional<std::chrono::milliseconds> keep_alive;  // negative = never unload
  int priority = 0;   // default priority of the model's requests; 0 = the server's
  bool pinned = false;
};

// The resource manager's settings (docs/resources.md). mlosd fills them from `resources:`.
struct ResourceOptions {
  // Memory the process may use (its base at start plus every loaded model); 0 = no budget.
  uint64_t memory_budget_bytes = 0;
  // Unload a model after this long without a request; negative = never (the default).
  std::chrono::milliseconds keep_alive{-1};
  std::map<std::string, ModelResourceOptions> models;  // overrides by name or id
  // The scheduler. cpu_slots > 0 turns it on: plugin calls of one priority level or more
  // urgent ones running at once (cores over intra-op threads); 0 = off (each model's own
  // FIFO limit, max_concurrent_infers, as before).
  int cpu_slots = 0;
  int priority_levels = 10;   // priorities 1 (highest) .. priority_levels
  int default_priority = 5;   // a request without one, on a model without a default
  // A waiting request moves up one level per `aging` waited (never starved); 0 = no aging.
  std::chrono::milliseconds aging{100};
  // Kernel classes: plugin calls of requests at priority >= batch_priority run on SCHED_BATCH
  // threads (nice 10), >= idle_priority on SCHED_IDLE threads; 0 = off.
  int batch_priority = 0, idle_priority = 0;
  // CPU sets per class ("normal", "batch", "idle"), as taskset lists ("0-3,6").
  std::map<std::string, std::string> cpu_sets;
  // One queue in arrival order for every call (no priorities, no kernel classes): the baseline.
  bool fifo = false;
  // Refuse at once a request whose deadline the queue ahead of it makes unreachable.
  bool deadline_admission = true;
};

struct CoreOptions {
  std::filesystem::path state_dir;                  // SQLite db, plugin caches
  std::vector<std::filesystem::path> plugin_dirs;   // searched for lib*.so SMI plugins
  std::string plugin_config_json = "{}";            // passed to every plugin_init ({"onnx": {...}} keyed by plugin name)
  bool lazy_load = true;                // load on first request when not loaded
  bool verify_checksums = true;         // verify file sha256 at register
  bool restore = true;                  // reload models that were loaded before a restart
  // With `restore`: Create returns once the registry is read and reloads those models on a
  // background thread (Ready() is false until it is done); false: Create returns after them.
  bool restore_in_background = false;
  BatchingOptions batching;
  // Plugin calls running at once per model when it is not batched (0 = unlimited); more wait
  // in FIFO order (deadlines still apply). On CPU, the number of cores over the plugin's
  // intra-op threads: more calls at once only contend for the same cores.
  int max_concurrent_infers = 0;
  // The resource manager (resources.h): memory budget, eviction, keep_alive, pins, the
  // priority scheduler and deadline-aware admission. Its defaults change nothing.
  ResourceOptions resources;
  IsolationOptions isolation;
};

// The payload `axon register` sends (POST /models/register), parsed by the front-end.
struct RegisterRequest {
  std::string model_id;         // "ns/name@version" (required)
  std::string name;             // metadata.name (informational)
  std::string framework;
  std::string execution_format;
  std::string path;             // the package directory (required)
  std::string description;
  std::string manifest_path;    // default: path/manifest.yaml
};

struct PluginStatus {
  std::string name, version, framework;
  std::vector<std::string> execution_formats;
  std::vector<std::string> capabilities;  // "batching", "streaming", "thread_safe_infer", ...
  std::string path;                       // the .so
};

// A manifest's security section as the service enforces it: who may use the model
// (security.access) and what it allows everyone together (security.quotas).
struct ModelPolicy {
  std::vector<std::string> principals, roles;  // both empty: everyone allowed to use models
  int max_concurrency = 0;                     // requests in flight; 0 = unlimited
  double rate_limit = 0;                       // requests per second; 0 = unlimited
};

// A reference resolved to one registered version (Core::Resolve).
struct ResolvedModel {
  std::string id;    // ns/name@version
  std::string name;  // ns/name
  std::shared_ptr<const ModelPolicy> policy;  // never null
};

// What a GGUF model's manifest says about it (spec.llm; axon fills it from the GGUF metadata).
struct LlmInfo {
  std::string architecture;       // general.architecture: "llama", "bert", "qwen2", ...
  uint64_t context_length = 0;    // the context it was trained with
  uint64_t embedding_length = 0;
  uint64_t parameter_count = 0;   // 0 = unknown
  std::string quantization;       // "Q4_K_M", "Q8_0", "F16", ...
  std::string chat_template;      // Jinja text from tokenizer.chat_template; "" = none
  bool embedding = false;         // an embedding model (BERT family): infer, not generate
};

struct ModelStatus {
  std::string id;        // ns/name@version
  std::string name;      // ns/name
  std::string version;
  ModelState state = ModelState::kRegistered;
  std::string reason;    // why FAILED
  std::string execution_format, framework, plugin, path, description;
  bool is_default = false;             // the version requests without a version get
  std::vector<std::string> aliases;    // e.g. "latest"
  bool desired_loaded = false;
  uint64_t memory_bytes = 0;         // measured at load (0 when not loaded)
  uint64_t shared_memory_bytes = 0;  // of memory_bytes, shared with other models (counted once)
  uint64_t memory_estimate_bytes = 0;  // what a load is planned with (last measure or manifest)
  double load_time_ms = 0;           // the last load
  std::string load_kind;             // "cold" (first load in this process) or "warm"; "" never
  bool pinned = false;               // never evicted (config resources.pinned or a pin)
  int64_t keep_alive_ms = -1;        // unloaded after this long idle; -1 = never
  int priority = 0;                  // default request priority (1 = highest)
  int64_t last_used_unix_ms = 0;     // last request or load; 0 = not since start
  uint64_t evictions = 0;            // times evicted (memory or keep_alive) since start
  // Why the server itself last unloaded it: "memory" (evicted for the budget), "keep_alive"
  // (idle too long), "withdrawn" (measured after loading, it did not fit); "" = never.
  std::string unload_reason;
  // ---- isolation (docs/isolation.md) ----
  Isolation isolation = Isolation::kInProcess;  // where it runs (or will run when loaded)
  int64_t worker_pid = 0;            // the worker serving it (pid as mlosd sees it); 0 = none
  // "running", "restarting" (crashed, a restart is pending), "stopped" (crash loop: it stays
  // FAILED); "" in-process.
  std::string worker_state;
  uint64_t worker_restarts = 0;      // worker restarts since start
  std::string last_crash;            // why its worker last died; "" = never
  std::vector<TensorInfo> inputs, outputs;
  // Its plugin generates text (SMI_CAP_STREAMING: Core::Generate works on it).
  bool generates = false;
  // From the manifest's spec.llm (GGUF models): what /api/show and /v1/models tell.
  std::optional<LlmInfo> llm;
  std::vector<std::string> dependencies;  // ids this model depends on
  std::shared_ptr<const ModelPolicy> policy;  // never null (empty when the manifest has none)
};

struct InferRequest {
  std::string model;              // "ns/name" or "ns/name@version" (or "@alias")
  std::string version;            // optional; overrides the @version part
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;  // wanted outputs; empty = all
  std::string principal;          // who asks (set by the service from its RequestContext)
  const char* protocol = "";      // "http", "grpc", "ipc" (set by the service)
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int priority = 0;               // 1 = highest; 0 = the model's default
  // Ollama's keep_alive: how long the model stays loaded after this request (negative =
  // forever, 0 = unload right after it); unset = the model's setting.
  std::optional<std::chrono::milliseconds> keep_alive;
  uint64_t request_id = 0;        // 0 = assigned by the core
  // Called once the request names a registered version, before it waits, loads or runs: a
  // refusal fails the request with that status and nothing runs (the service's authorization
  // and quotas). Runs under the registry lock: it must be quick and must not call the core.
  std::function<Status(const std::string& id, const std::string& name, const ModelPolicy& policy)>
      admit;
  // Where output bytes go. When unset, the core allocates Tensor::data / strings itself.
  // When set, it is asked for each output's buffer (e.g. a shared-memory region); returning
  // nullptr fails the request with kResourceExhausted.
  std::function<void*(const std::string& name, DataType dtype, const std::vector<int64_t>& shape,
                      uint64_t byte_size)>
      output_allocator;
};

// ---- generation (LLM plugins: smi.h model_generate; docs/llm.md) ----
struct GenerateRequest {
  std::string model;              // as InferRequest
  std::string version;
  std::string prompt;             // the raw prompt; ignored when params_json has "messages"
  // smi_generate_request.params_json: max_tokens, temperature, top_p, top_k, min_p,
  // repeat_penalty, repeat_last_n, seed, stop, messages (chat; the plugin applies the model's
  // chat template). "" = defaults.
  std::string params_json;
  std::string principal;
  const char* protocol = "";
  // Checked until the plugin starts generating (a generation is not cut short by it).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int priority = 0;
  std::optional<std::chrono::milliseconds> keep_alive;
  uint64_t request_id = 0;        // 0 = assigned by the core
  // As InferRequest::admit.
  std::function<Status(const std::string& id, const std::string& name, const ModelPolicy& policy)>
      admit;
  // Each chunk of generated text in order (one token's text; never a split UTF-8 character), on
  // the generating thread. Returning false stops the generation within one token (the client
  // went away): the answer is then ok with finish_reason "cancelled". Unset: the text is
  // collected in GenerateResponse::text.
  std::function<bool(std::string_view text)> on_token;
};

struct GenerateResponse {
  std::string model_id, model_name, model_version;
  std::string text;  // the whole generated text when GenerateRequest::on_token is unset
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;     // prompt tokens whose KV cache was reused
  std::string finish_reason;      // "stop", "length" or "cancelled"
  uint64_t queue_time_us = 0;     // until the plugin was called (a lazy load included)
  uint64_t first_token_us = 0;    // from the plugin call to the first chunk (0 = none)
  uint64_t generate_time_us = 0;  // the plugin call
};

struct InferResponse {
  std::string model_id;   // ns/name@version that ran
  std::string model_name; // ns/name
  std::string model_version;
  std::vector<Tensor> outputs;  // with output_allocator set: external points at those buffers
  uint64_t queue_time_us = 0;
  uint64_t inference_time_us = 0;
};

struct QueueDepth {
  std::string model;  // id
  int priority = 0;
  uint64_t depth = 0;  // requests waiting for a plugin call
};

struct CoreStats {
  uint64_t requests = 0, errors = 0;
  uint64_t models_registered = 0, models_ready = 0;
  double uptime_s = 0;
  uint64_t memory_budget_bytes = 0;  // 0 = none
  uint64_t memory_used_bytes = 0;    // base + loaded models (shared bytes once)
  uint64_t memory_base_bytes = 0;    // the process before any model (resident at start)
  uint64_t evictions = 0;
  std::vector<QueueDepth> queues;    // non-empty queues only
};

// Observes what happens, for metrics; called synchronously, must be cheap and thread-safe.
class CoreObserver {
 public:
  virtual ~CoreObserver() = default;
  virtual void OnInfer(const std::string& /*model_id*/, const char* /*protocol*/, bool /*ok*/,
                       uint64_t /*queue_us*/, uint64_t /*infer_us*/) {}
  virtual void OnLoad(const std::string& /*model_id*/, bool /*ok*/, double /*load_ms*/) {}
  // A batch ran: `requests` requests merged into one plugin call of `rows` rows.
  virtual void OnBatch(const std::string& /*model_id*/, size_t /*requests*/, int64_t /*rows*/) {}
  virtual void OnStateChange(const std::string& /*model_id*/, ModelState /*state*/) {}
  // A load that succeeded: "cold" (first in this process) or "warm" (a reload).
  virtual void OnLoadKind(const std::string& /*model_id*/, bool /*warm*/, double /*load_ms*/) {}
  // The server unloaded a model by itself: reason "memory" or "keep_alive".
  virtual void OnEvict(const std::string& /*model_id*/, const char* /*reason*/) {}
  // A request refused by the resource manager: reason "deadline" or "memory".
  virtual void OnReject(const std::string& /*model_id*/, const char* /*reason*/) {}
  // A model's worker died and is being restarted: reason "signal", "oom", "exit" or "hang".
  virtual void OnWorkerRestart(const std::string& /*model_id*/, const char* /*reason*/) {}
};

class Core {
 public:
  virtual ~Core() = default;
  // Opens the store under options.state_dir, discovers plugins, restores registrations (and
  // loads what was loaded when options.restore: before returning, or in the background when
  // options.restore_in_background; see Ready()).
  static Result<std::unique_ptr<Core>> Create(const CoreOptions& options);

  virtual void SetObserver(CoreObserver* observer) = 0;  // before serving; not owned

  // Validates the manifest, verifies checksums, checks a plugin serves the execution format,
  // resolves dependencies (registered, no cycles), persists. kAlreadyExists if the id is
  // registered with another path; re-registering the same id+path is idempotent.
  virtual Result<ModelStatus> Register(const RegisterRequest& request) = 0;
  // Unloads and forgets a version. kFailedPrecondition if another model depends on it.
  virtual Status Unregister(const std::string& id) = 0;
  // Loads (dependencies first) and waits until READY or FAILED.
  virtual Result<ModelStatus> Load(const std::string& id) = 0;
  // Drains in-flight requests, then unloads.
  virtual Result<ModelStatus> Unload(const std::string& id) = 0;
  // Makes `version` the default of `name` once it has loaded; requests in flight on the old
  // one finish on it.
  virtual Result<ModelStatus> SetDefault(const std::string& name, const std::string& version) = 0;
  // Back to the previous default. kFailedPrecondition when there is none.
  virtual Result<ModelStatus> Rollback(const std::string& name) = 0;
  // Points the user alias `alias` of `name` at `version` ("" removes it); returns the status of
  // the version it now names (or of the default after a removal). Setting "latest" pins it;
  // otherwise "latest" is computed (highest semver, else most recently registered). Errors:
  // kNotFound (name or version), kInvalidArgument (bad alias: letters, digits, '.', '_', '-';
  // not a registered version string). (Added after the first contract; default: unimplemented.)
  virtual Result<ModelStatus> SetAlias(const std::string& /*name*/, const std::string& /*alias*/,
                                       const std::string& /*version*/) {
    return Unimplemented("SetAlias");
  }

  // Pins (never evicted, never unloaded by keep_alive) or unpins a version; persisted. `id` as
  // Get takes it. (Added after the first contract; default: unimplemented.)
  virtual Result<ModelStatus> Pin(const std::string& /*id*/, bool /*pinned*/) {
    return Unimplemented("Pin");
  }

  // `ref` (and `version`) as Infer takes them, resolved to the registered version a request
  // would run now, with its policy; kNotFound / kInvalidArgument as Infer answers. Cheap: one
  // lookup, no copies of the model's status. (Added after the first contract; default: Get.)
  virtual Result<ResolvedModel> Resolve(const std::string& ref, const std::string& version) const {
    MLOS_ASSIGN_OR_RETURN(ModelStatus s, Get(version.empty() ? ref : ref + "@" + version));
    return ResolvedModel{s.id, s.name,
                         s.policy ? s.policy : std::make_shared<const ModelPolicy>()};
  }

  virtual std::vector<ModelStatus> List() const = 0;
  // `id` may be "ns/name@version", "ns/name@alias" or "ns/name" (its default).
  virtual Result<ModelStatus> Get(const std::string& id) const = 0;
  virtual std::vector<PluginStatus> Plugins() const = 0;
  virtual CoreStats Stats() const = 0;
  // Readiness: true once the registry is restored from the store and every model that was
  // desired loaded before the restart is READY or FAILED (the restore loads have ended; later
  // loads and unloads do not change it). Without restore_in_background, true when Create
  // returns. Cheap (an atomic read). (Added after the first contract; default: always ready.)
  virtual bool Ready() const { return true; }

  // Validates inputs against the model's IO schema (name, dtype, rank, fixed dims; errors name
  // the tensor), lazily loads if allowed (else kUnavailable), runs, returns outputs.
  virtual Result<InferResponse> Infer(InferRequest request) = 0;

  // Streams a generation from an LLM (a model whose plugin has SMI_CAP_STREAMING; else
  // kInvalidArgument "model X does not generate text"): resolves, admits and (lazily) loads as
  // Infer does, then runs the plugin's model_generate on the calling thread (the plugin batches
  // concurrent generations itself: continuous batching). Plugin errors keep their code
  // (kInvalidArgument for bad parameters or a prompt longer than the context).
  // (Added after the first contract; default: unimplemented.)
  virtual Result<GenerateResponse> Generate(GenerateRequest /*request*/) {
    return Unimplemented("Generate");
  }

  // Stop taking work, drain, unload everything, persist. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace mlos::core
