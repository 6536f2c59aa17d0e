// The plugin host: finds SMI plugins (lib*.so) in the plugin directories, checks the ABI
// handshake, initialises each with its section of the plugin config, and maps execution
// formats to plugins. Plugins stay loaded for the life of the host.
//
// Thread-safety: immutable after Create(); every const method may run concurrently.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/smi_status.h"
#include "common/status.h"
#include "core/core.h"
#include "mlos/smi.h"
#include "sandbox/proxy_plugin.h"

namespace mlos::core {

// One loaded plugin. `api` and `instance` are valid while the PluginHost lives.
struct Plugin {
  std::string name, version, framework;
  std::vector<std::string> execution_formats;
  uint32_t capabilities = 0;
  std::filesystem::path path;
  const smi_plugin_api* api = nullptr;
  smi_plugin* instance = nullptr;
  void* handle = nullptr;  // dlopen handle
  std::string config_json = "{}";  // its plugin_init config
  // Set on the sandbox proxy of a plugin (core_isolation.cc): models run in workers.
  sandbox::ProxyPlugin* proxy = nullptr;

  bool Has(smi_capability cap) const { return (capabilities & cap) != 0; }
};

// Turns an smi_error into a Status (code mapped, message kept) and frees it. nullptr -> OK.
Status StatusFromSmi(const smi_plugin_api* api, smi_error* error);

struct PluginHostOptions {
  std::vector<std::filesystem::path> plugin_dirs;
  std::string plugin_config_json = "{}";  // {"<plugin name>": {...}}
};

class PluginHost {
 public:
  ~PluginHost();  // plugin_shutdown + dlclose, in reverse order of loading
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads every acceptable plugin; a refused or failing plugin is logged and skipped (never an
  // error). kInvalidArgument only when plugin_config_json is not a JSON object.
  static Result<std::unique_ptr<PluginHost>> Create(const PluginHostOptions& options);

  // The plugin serving `execution_format`, or nullptr.
  const Plugin* ForFormat(const std::string& execution_format) const;
  // "onnx, testing" (sorted), or "none".
  std::string Names() const;
  std::vector<PluginStatus> List() const;
  // Why each library in the plugin dirs that was not loaded was refused, one line each:
  // "libx.so: ABI 2.0, host speaks 1.0: refused" (the same lines are logged as errors).
  const std::vector<std::string>& Refused() const { return refused_; }

 private:
  PluginHost() = default;
  // Loads one library; returns why it was refused on failure (the caller logs it).
  Status LoadOne(const std::filesystem::path& path, const std::string& config_json_all);

  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<std::string> refused_;
};

}  // namespace mlos::core
