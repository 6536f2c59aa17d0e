// A model worker seen from mlosd: starts mlos-worker in its sandbox (sandbox.h) and cgroup,
// has it load one model with one plugin, runs plugin calls on it over channels (protocol.h)
// with tensors in shared arenas, watches it (a call that runs past the watchdog kills it), and
// reports its death once, with the reason, to whoever owns it.
//
// Thread-safety: Infer and Cancel may run concurrently from any threads (Infer waits for
// a free channel). Stop and the destructor must not run concurrently with them.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "mlos/smi.h"
#include "sandbox/arena.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

namespace mlos::sandbox {

struct WorkerOptions {
  std::string executable;           // mlos-worker
  SandboxSpec sandbox;              // level kNone: a plain child process (tests, diagnosis)
  int channels = 4;                 // plugin calls in flight at once
  int64_t watchdog_ms = 60000;      // 0 = none
  uint64_t memory_limit = 0;        // cgroup memory limit; 0 = none
  bool memory_limit_required = false;  // no cgroup to enforce it: refuse to start
  uint64_t cpu_weight = 100;        // 1..10000
  uint64_t pids_max = 64;
  std::string plugin_path, plugin_config_json;
  std::string model_id, model_dir, model_path, manifest_json, options_json, cache_dir;
};

struct TensorMeta {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_INVALID;
  std::vector<int64_t> dims;
};

// What the worker reports once the model is loaded.
struct WorkerModel {
  std::vector<TensorMeta> inputs, outputs;
  uint64_t host_bytes = 0, device_bytes = 0;  // the worker process: max(plugin, resident)
};

class Worker {
 public:
  // Called once when the worker dies without Stop() (on the monitor thread): reason "signal",
  // "oom", "exit" or "hang", and what happened ("crashed (signal 11: Segmentation fault)").
  // Returns whether the owner restarts it (the failed calls' message says so).
  using DeathFn = std::function<bool(const char* reason, const std::string& what)>;

  ~Worker();  // Stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the worker and loads the model; returns once it is loaded. The plugin's load error
  // keeps its code and message; a sandbox the machine cannot provide is kFailedPrecondition.
  static Result<std::unique_ptr<Worker>> Start(const WorkerOptions& options, DeathFn on_death);

  const WorkerModel& model() const { return model_; }
  // The serving process as mlosd sees it (what `kill` and /proc/<pid> take); 0 when dead.
  pid_t pid() const { return dead_.load() ? 0 : server_pid_; }
  bool dead() const { return dead_.load(); }

  // One plugin call; outputs through request.alloc as an in-process plugin would. Returns an
  // error made with mlos/smi_plugin.h's MakeError (free it with FreeError).
  smi_error* Infer(const smi_infer_request& request);
  // One generation (model_generate in the worker): chunks to request.on_token on this thread;
  // when it asks to stop, the worker's plugin is cancelled and the call ends CANCELLED.
  smi_error* Generate(const smi_generate_request& request);
  void Cancel(uint64_t request_id);
  // Asks the worker to unload and exit; kills it after 2 s. Idempotent.
  void Stop();

 private:
  struct Channel {
    int fd = -1;
    Arena arena;
  };
  Worker() = default;
  Status Spawn();
  Status Setup(const std::string& setup_json);
  void Monitor();
  // Waits (up to 2 s) for the monitor to know why the worker died; the message for a failed call.
  std::string DeathMessage();
  smi_error* InferOn(Channel& ch, const smi_infer_request& request);
  smi_error* GenerateOn(Channel& ch, const smi_generate_request& request);
  // Takes a free channel (waits for one); null when the worker is dead.
  Channel* TakeChannel();
  void ReturnChannel(Channel* ch);
  Status Control(uint16_t op, const std::string& payload, std::string* reply, int64_t timeout_ms);

  WorkerOptions options_;
  DeathFn on_death_;
  WorkerModel model_;
  pid_t pid_ = -1;          // PID 1 of the worker's namespace (our child)
  pid_t server_pid_ = -1;   // the process that serves (its child), as mlosd sees it
  int control_fd_ = -1;
  std::unique_ptr<Cgroup> cgroup_;
  std::mutex control_mu_;

  std::vector<std::unique_ptr<Channel>> channels_;
  std::mutex free_mu_;
  std::condition_variable free_cv_;
  std::vector<Channel*> free_;

  std::thread monitor_;
  std::atomic<bool> dead_{false}, stopping_{false}, hung_{false};
  std::mutex death_mu_;
  std::condition_variable death_cv_;
  bool death_known_ = false;
  std::string death_what_;
  bool restarting_ = false;
};

}  // namespace mlos::sandbox
