#include "core/plugin_host.h"

#include <dlfcn.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

namespace mlos::core {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> CapabilityNames(uint32_t caps) {
  std::vector<std::string> out;
  const std::pair<uint32_t, const char*> names[] = {
      {SMI_CAP_BATCHING, "batching"},
      {SMI_CAP_STREAMING, "streaming"},
      {SMI_CAP_THREAD_SAFE_INFER, "thread_safe_infer"},
      {SMI_CAP_CANCEL, "cancel"},
      {SMI_CAP_DEVICE_CPU, "cpu"},
      {SMI_CAP_DEVICE_CUDA, "cuda"},
  };
  for (const auto& [bit, name] : names) {
    if (caps & bit) out.push_back(name);
  }
  return out;
}

// Every function the host calls must be present.
bool TableComplete(const smi_plugin_api* a) {
  return a->get_info && a->error_free && a->error_code && a->error_message && a->plugin_init &&
         a->plugin_shutdown && a->model_load && a->model_unload && a->model_input_count &&
         a->model_output_count && a->model_input && a->model_output && a->model_infer;
}

}  // namespace

Status StatusFromSmi(const smi_plugin_api* api, smi_error* error) {
  if (error == nullptr) return Status::Ok();
  const char* msg = api->error_message(error);
  Status st(StatusCodeFromSmi(api->error_code(error)), msg ? msg : "unknown plugin error");
  api->error_free(error);
  return st;
}

PluginHost::~PluginHost() {
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    Plugin& p = **it;
    if (p.api && p.instance) p.api->plugin_shutdown(p.instance);
    if (p.handle) dlclose(p.handle);
  }
}

Result<std::unique_ptr<PluginHost>> PluginHost::Create(const PluginHostOptions& options) {
  const std::string config = options.plugin_config_json.empty() ? "{}" : options.plugin_config_json;
  auto parsed = nlohmann::json::parse(config, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return InvalidArgument("plugin_config_json: not a JSON object");
  }
  std::unique_ptr<PluginHost> host(new PluginHost());
  for (const fs::path& dir : options.plugin_dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      spdlog::debug("plugin dir {} does not exist", dir.string());
      continue;
    }
    std::vector<fs::path> libs;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string f = e.path().filename().string();
      if (f.rfind("lib", 0) == 0 && f.size() > 6 && f.compare(f.size() - 3, 3, ".so") == 0) {
        libs.push_back(e.path());
      }
    }
    std::sort(libs.begin(), libs.end());
    for (const fs::path& lib : libs) {
      Status st = host->LoadOne(lib, config);
      if (!st.ok()) {
        spdlog::error("plugin {}: {}", lib.filename().string(), st.message());
        host->refused_.push_back(lib.filename().string() + ": " + st.message());
      }
    }
  }
  return host;
}

Status PluginHost::LoadOne(const fs::path& path, const std::string& config_json_all) {
#ifdef MLOS_SANITIZER_BUILD
  // Sanitizer builds keep a plugin and the libraries it brought mapped after dlclose:
  // LeakSanitizer names the library of a leak's frames (and its suppressions match it) only
  // while it is mapped (docs/reliability.md, "Sanitizers").
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
#else
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
  if (!handle) {
    const char* err = dlerror();
    return Unavailable(std::string("dlopen failed: ") + (err ? err : "unknown error"));
  }
  auto fail = [&](Status st) {
    dlclose(handle);
    return st;
  };
  auto get_api = reinterpret_cast<smi_plugin_get_api_fn>(dlsym(handle, SMI_PLUGIN_GET_API_SYMBOL));
  if (!get_api) return fail(InvalidArgument("no " SMI_PLUGIN_GET_API_SYMBOL " symbol: refused"));
  const smi_plugin_api* api = get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR);
  const std::string host_ver =
      std::to_string(SMI_VERSION_MAJOR) + "." + std::to_string(SMI_VERSION_MINOR);
  if (!api) {
    return fail(FailedPrecondition("returned no API table for host ABI " + host_ver + ": refused"));
  }
  if (api->abi_major != SMI_VERSION_MAJOR || api->abi_minor > SMI_VERSION_MINOR) {
    return fail(FailedPrecondition("ABI " + std::to_string(api->abi_major) + "." +
                                   std::to_string(api->abi_minor) + ", host speaks " + host_ver +
                                   ": refused"));
  }
  if (api->size < offsetof(smi_plugin_api, model_cancel) || !TableComplete(api)) {
    return fail(FailedPrecondition("incomplete API table: refused"));
  }
  const smi_plugin_info* info = api->get_info();
  if (!info || !info->name || !*info->name) {
    return fail(FailedPrecondition("no plugin info or name: refused"));
  }
  auto p = std::make_unique<Plugin>();
  p->name = info->name;
  p->version = info->version ? info->version : "";
  p->framework = info->framework ? info->framework : "";
  for (const char* const* f = info->execution_formats; f && *f; ++f) {
    p->execution_formats.push_back(*f);
  }
  p->capabilities = info->capabilities;
  p->path = path;
  p->api = api;
  p->handle = handle;
  for (const auto& other : plugins_) {
    if (other->name == p->name) {
      return fail(AlreadyExists("a plugin named \"" + p->name + "\" is already loaded from " +
                                other->path.string() + ": skipped"));
    }
  }

  // The plugin's own section of the config ({} when absent).
  std::string section = "{}";
  auto all = nlohmann::json::parse(config_json_all, nullptr, false);
  if (all.is_object() && all.contains(p->name)) section = all[p->name].dump();
  p->config_json = section;
  smi_plugin* instance = nullptr;
  Status st = StatusFromSmi(api, api->plugin_init(section.c_str(), &instance));
  if (!st.ok()) return fail(st.WithPrefix("plugin_init failed"));
  p->instance = instance;
  for (const std::string& f : p->execution_formats) {
    if (const Plugin* other = ForFormat(f)) {
      spdlog::warn("plugin {}: execution format \"{}\" is already served by {}; keeping {}",
                   path.filename().string(), f, other->name, other->name);
    }
  }
  std::string formats;
  for (const std::string& f : p->execution_formats) formats += (formats.empty() ? "" : ",") + f;
  spdlog::info("plugin {} {} ({}) loaded from {}: formats [{}]", p->name, p->version,
               p->framework, path.string(), formats);
  plugins_.push_back(std::move(p));
  return Status::Ok();
}

const Plugin* PluginHost::ForFormat(const std::string& execution_format) const {
  for (const auto& p : plugins_) {
    for (const std::string& f : p->execution_formats) {
      if (f == execution_format) return p.get();
    }
  }
  return nullptr;
}

std::string PluginHost::Names() const {
  std::set<std::string> names;
  for (const auto& p : plugins_) names.insert(p->name);
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

std::vector<PluginStatus> PluginHost::List() const {
  std::vector<PluginStatus> out;
  for (const auto& p : plugins_) {
    PluginStatus s;
    s.name = p->name;
    s.version = p->version;
    s.framework = p->framework;
    s.execution_formats = p->execution_formats;
    s.capabilities = CapabilityNames(p->capabilities);
    s.path = p->path.string();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace mlos::core
