// The host side of a sandboxed model: an SMI plugin (the same smi_plugin_api table the core
// calls for in-process plugins) whose models are Workers (worker.h). The core loads a model
// through a ProxyPlugin instead of the real plugin when the model's isolation says so, and
// otherwise does not care where it runs: schema, memory, infer, cancel and unload all go
// through the table. Streaming generation is not proxied yet (model_generate is NULL).
//
// Per-model settings come in smi_model_load_params.options_json (ProxyModelOptions JSON, made
// by MakeProxyOptions); the real plugin gets none (as in-process).
//
// Thread-safety: as the table documents; SetDeathHandler before the first load.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mlos/smi.h"

namespace mlos::sandbox {

struct ProxyConfig {
  std::string worker_executable;   // mlos-worker
  std::string plugin_path;         // the real plugin (.so)
  std::string plugin_config_json;  // its plugin_init config
  std::string sandbox_root;        // an empty directory workers mount their root on
  int channels = 16;
  int64_t watchdog_ms = 60000;
  uint32_t uid = 65534, gid = 65534;  // the sandbox user (when mlosd is root)
  uint64_t pids_max = 64;
  uint64_t file_size_max = 1ull << 30;
};

// What the core asks for one model (in options_json).
struct ProxyModelOptions {
  int level = 1;                      // 1 process, 2 strict
  uint64_t memory_limit = 0;          // cgroup limit; 0 = none
  bool memory_limit_required = false; // from the manifest's quota: no cgroup -> refuse
  uint64_t cpu_weight = 100;
};
std::string MakeProxyOptions(const ProxyModelOptions& o);

class ProxyPlugin {
 public:
  // model_id, the model's handle (as model_load returned it), reason ("signal", "oom", "exit",
  // "hang") and what happened; returns whether the model will be restarted. Runs on the
  // worker's monitor thread: it must not unload that model itself.
  using DeathFn = std::function<bool(const std::string& model_id, const smi_model* model,
                                     const char* reason, const std::string& what)>;

  explicit ProxyPlugin(ProxyConfig config);
  const smi_plugin_api* api() const;
  smi_plugin* instance() { return reinterpret_cast<smi_plugin*>(this); }
  void SetDeathHandler(DeathFn fn) { on_death_ = std::move(fn); }
  const ProxyConfig& config() const { return config_; }
  // The read-only paths a worker gets: the plugin's directory and those of the libraries
  // mlosd has loaded (the plugin's dependencies among them), and /etc/ld.so.cache.
  const std::vector<std::string>& library_paths() const { return libraries_; }

  // The serving process of a model loaded through a ProxyPlugin (0 when it died).
  static pid_t WorkerPid(const smi_model* model);

  // Implementation of the table (public for the C trampolines).
  smi_error* Load(const smi_model_load_params* params, smi_model** model);

 private:
  ProxyConfig config_;
  DeathFn on_death_;
  std::vector<std::string> libraries_;
};

}  // namespace mlos::sandbox
