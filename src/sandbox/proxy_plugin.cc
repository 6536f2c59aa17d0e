#include "sandbox/proxy_plugin.h"

#include <link.h>

#include <filesystem>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "common/smi_status.h"
#include "mlos/smi_plugin.h"
#include "sandbox/worker.h"

namespace mlos::sandbox {
namespace {

using nlohmann::json;

struct ProxyModel {
  std::string id;
  std::unique_ptr<Worker> worker;
  std::vector<smi_tensor> inputs, outputs;
};

ProxyModel* M(smi_model* m) { return reinterpret_cast<ProxyModel*>(m); }
const ProxyModel* M(const smi_model* m) { return reinterpret_cast<const ProxyModel*>(m); }

std::vector<smi_tensor> Tensors(const std::vector<TensorMeta>& metas) {
  std::vector<smi_tensor> out;
  for (const TensorMeta& m : metas) {
    smi_tensor t{};
    t.size = sizeof(t);
    t.name = m.name.c_str();  // lives in the Worker's model(), as long as the model
    t.dtype = m.dtype;
    t.rank = static_cast<uint32_t>(std::min<size_t>(m.dims.size(), SMI_MAX_RANK));
    for (uint32_t i = 0; i < t.rank; ++i) t.dims[i] = m.dims[i];
    out.push_back(t);
  }
  return out;
}

const smi_plugin_info* Info() {
  static const char* const kFormats[] = {nullptr};
  static const smi_plugin_info info{sizeof(smi_plugin_info), "sandbox-proxy", "1.0.0",
                                    "mlos-worker", kFormats, 0};
  return &info;
}

smi_error* Init(const char*, smi_plugin**) {
  return smi::MakeError(SMI_ERROR_UNSUPPORTED, "the sandbox proxy is made by the host");
}
void Shutdown(smi_plugin*) {}

smi_error* Load(smi_plugin* plugin, const smi_model_load_params* params, smi_model** model) {
  if (!plugin || !params || !model) return smi::MakeError(SMI_ERROR_INVALID_ARGUMENT, "null");
  return reinterpret_cast<ProxyPlugin*>(plugin)->Load(params, model);
}

void Unload(smi_model* model) { delete M(model); }

uint32_t InputCount(const smi_model* m) { return m ? static_cast<uint32_t>(M(m)->inputs.size()) : 0; }
uint32_t OutputCount(const smi_model* m) { return m ? static_cast<uint32_t>(M(m)->outputs.size()) : 0; }

smi_error* Input(const smi_model* m, uint32_t i, const smi_tensor** t) {
  if (!m || !t || i >= M(m)->inputs.size()) return smi::MakeError(SMI_ERROR_NOT_FOUND, "no such input");
  *t = &M(m)->inputs[i];
  return nullptr;
}
smi_error* Output(const smi_model* m, uint32_t i, const smi_tensor** t) {
  if (!m || !t || i >= M(m)->outputs.size()) return smi::MakeError(SMI_ERROR_NOT_FOUND, "no such output");
  *t = &M(m)->outputs[i];
  return nullptr;
}

smi_error* Memory(const smi_model* m, smi_memory_info* info) {
  if (!m || !info) return smi::MakeError(SMI_ERROR_INVALID_ARGUMENT, "null");
  const WorkerModel& w = M(m)->worker->model();
  // The load's measure (the worker's resident memory then); no sharing across processes.
  smi_memory_info out{};
  out.size = sizeof(out);
  out.host_bytes = w.host_bytes;
  out.device_bytes = w.device_bytes;
  const size_t n = std::min(info->size, sizeof(out));
  const size_t keep = info->size;
  std::memcpy(info, &out, n);
  info->size = keep;
  return nullptr;
}

smi_error* Infer(smi_model* m, const smi_infer_request* r) {
  if (!m || !r) return smi::MakeError(SMI_ERROR_INVALID_ARGUMENT, "null");
  try {
    return M(m)->worker->Infer(*r);
  } catch (const std::exception& e) {
    return smi::MakeError(SMI_ERROR_INTERNAL, e.what());
  }
}

smi_error* Generate(smi_model* m, const smi_generate_request* r) {
  if (!m || !r || !r->on_token) return smi::MakeError(SMI_ERROR_INVALID_ARGUMENT, "null");
  try {
    return M(m)->worker->Generate(*r);
  } catch (const std::exception& e) {
    return smi::MakeError(SMI_ERROR_INTERNAL, e.what());
  }
}

void Cancel(smi_model* m, uint64_t request_id) {
  if (m) M(m)->worker->Cancel(request_id);
}

const smi_plugin_api kApi = {
    sizeof(smi_plugin_api), SMI_VERSION_MAJOR, SMI_VERSION_MINOR, &Info,
    &smi::FreeError, &smi::ErrorCode, &smi::ErrorMessage, &Init, &Shutdown, &Load, &Unload,
    &InputCount, &OutputCount, &Input, &Output, &Memory, &Infer, &Cancel, &Generate};

// The directory of each library mlosd has loaded, and of every hop of the symlink chain that leads
// to its file: Debian's alternatives (libblas.so.3 -> /etc/alternatives/... -> .../blas/libblas.so.3,
// which libtorch needs) resolve inside the sandbox only if each hop is there.
int AddLibrary(dl_phdr_info* info, size_t, void* data) {
  auto* dirs = static_cast<std::set<std::string>*>(data);
  if (!info->dlpi_name || info->dlpi_name[0] != '/') return 0;
  std::filesystem::path p = info->dlpi_name;
  dirs->insert(p.parent_path().string());
  std::error_code ec;
  for (int hop = 0; hop < 16 && std::filesystem::is_symlink(p, ec); ++hop) {
    std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    if (ec) break;
    if (target.is_relative()) target = p.parent_path() / target;
    p = target.lexically_normal();
    dirs->insert(p.parent_path().string());
  }
  return 0;
}

}  // namespace

std::string MakeProxyOptions(const ProxyModelOptions& o) {
  return json{{"level", o.level},
              {"memory_limit", o.memory_limit},
              {"memory_limit_required", o.memory_limit_required},
              {"cpu_weight", o.cpu_weight}}
      .dump();
}

ProxyPlugin::ProxyPlugin(ProxyConfig config) : config_(std::move(config)) {
  std::set<std::string> dirs;
  dl_iterate_phdr(&AddLibrary, &dirs);
  dirs.insert(std::filesystem::path(config_.plugin_path).parent_path().string());
  libraries_.assign(dirs.begin(), dirs.end());
  // Harmless facts runtimes read at start (ONNX Runtime's telemetry falls back to running a
  // command, which the sandbox refuses, when it cannot read the OS release).
  for (const char* f : {"/etc/ld.so.cache", "/etc/os-release"}) {
    if (std::filesystem::exists(f)) libraries_.push_back(f);
  }
}

const smi_plugin_api* ProxyPlugin::api() const { return &kApi; }

pid_t ProxyPlugin::WorkerPid(const smi_model* model) {
  return model ? M(model)->worker->pid() : 0;
}

smi_error* ProxyPlugin::Load(const smi_model_load_params* params, smi_model** model) {
  ProxyModelOptions mo;
  if (params->options_json && *params->options_json) {
    try {
      const json j = json::parse(params->options_json);
      mo.level = j.value("level", mo.level);
      mo.memory_limit = j.value("memory_limit", mo.memory_limit);
      mo.memory_limit_required = j.value("memory_limit_required", false);
      mo.cpu_weight = j.value("cpu_weight", mo.cpu_weight);
    } catch (const std::exception& e) {
      return smi::MakeError(SMI_ERROR_INVALID_ARGUMENT,
                            std::string("sandbox options: ") + e.what());
    }
  }
  WorkerOptions w;
  w.executable = config_.worker_executable;
  w.sandbox.level = mo.level >= 2 ? Level::kStrict : mo.level == 1 ? Level::kProcess : Level::kNone;
  w.sandbox.root_dir = config_.sandbox_root;
  w.sandbox.read_only = libraries_;
  if (params->model_dir) w.sandbox.read_only.push_back(params->model_dir);
  w.sandbox.uid = config_.uid;
  w.sandbox.gid = config_.gid;
  w.sandbox.nproc = config_.pids_max;
  w.sandbox.file_size_max = config_.file_size_max;
  w.channels = config_.channels;
  w.watchdog_ms = config_.watchdog_ms;
  w.memory_limit = mo.memory_limit;
  w.memory_limit_required = mo.memory_limit_required;
  w.cpu_weight = mo.cpu_weight;
  w.pids_max = config_.pids_max;
  w.plugin_path = config_.plugin_path;
  w.plugin_config_json = config_.plugin_config_json;
  w.model_id = params->model_id ? params->model_id : "";
  w.model_dir = params->model_dir ? params->model_dir : "";
  w.model_path = params->model_path ? params->model_path : "";
  w.manifest_json = params->manifest_json ? params->manifest_json : "";
  // No plugin cache in a sandbox: a cache shared with other models would let one model write
  // what another loads.
  auto pm = std::make_unique<ProxyModel>();
  pm->id = w.model_id;
  ProxyModel* raw = pm.get();
  auto worker = Worker::Start(w, [this, raw](const char* reason, const std::string& what) {
    return on_death_ ? on_death_(raw->id, reinterpret_cast<const smi_model*>(raw), reason, what)
                     : false;
  });
  if (!worker.ok()) {
    return smi::MakeError(SmiCodeFromStatus(worker.status().code()), worker.status().message());
  }
  pm->worker = std::move(worker).value();
  pm->inputs = Tensors(pm->worker->model().inputs);
  pm->outputs = Tensors(pm->worker->model().outputs);
  *model = reinterpret_cast<smi_model*>(pm.release());
  return nullptr;
}

}  // namespace mlos::sandbox
