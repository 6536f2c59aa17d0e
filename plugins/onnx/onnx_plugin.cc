// The ONNX Runtime SMI plugin (execution format "onnx"): the exported function table.
// Every exported function catches everything: no exception crosses the ABI.

#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <onnxruntime_cxx_api.h>

#include "mlos/smi.h"
#include "onnx_model.h"
#include "session_config.h"
#include "smi_error.h"

// One per host: the Ort::Env every session of this instance runs on, and the plugin-wide
// session defaults from plugin_init's config.
struct smi_plugin {
  Ort::Env env{nullptr};
  mlos::onnx_plugin::SessionConfig defaults;
  std::atomic<int64_t> live_models{0};
};

struct smi_model {
  smi_plugin* plugin = nullptr;
  std::unique_ptr<mlos::onnx_plugin::OnnxModel> model;
};

namespace mlos::onnx_plugin {
namespace {

template <typename F>
smi_error* Guard(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, "onnx plugin: out of memory");
  } catch (const Ort::Exception& e) {
    return MakeError(SMI_ERROR_INTERNAL, std::string("onnxruntime: ") + e.what());
  } catch (const std::exception& e) {
    return MakeError(SMI_ERROR_INTERNAL, std::string("onnx plugin: ") + e.what());
  } catch (...) {
    return MakeError(SMI_ERROR_INTERNAL, "onnx plugin: unknown exception");
  }
}

const char* const kFormats[] = {"onnx", nullptr};

const smi_plugin_info* GetInfo() {
  // Built once (thread-safe static init); OrtGetApiBase is safe to call before plugin_init.
  static const std::string framework =
      std::string("onnxruntime ") + OrtGetApiBase()->GetVersionString();
  static const smi_plugin_info info = {
      sizeof(smi_plugin_info),
      "onnx",
      "1.0.0",
      framework.c_str(),
      kFormats,
      SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_CANCEL | SMI_CAP_DEVICE_CPU,
  };
  return &info;
}

void ErrorFree(smi_error* error) {
  FreeError(error);
}
smi_error_code ErrorCode(const smi_error* error) {
  return error ? error->code : SMI_ERROR_INTERNAL;
}
const char* ErrorMessage(const smi_error* error) {
  return error ? error->message.c_str() : "";
}

smi_error* PluginInit(const char* config_json, smi_plugin** out) {
  return Guard([&]() -> smi_error* {
    if (out == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "plugin is NULL");
    const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (api == nullptr) {
      return MakeError(SMI_ERROR_UNAVAILABLE,
                       std::string("onnxruntime ") + OrtGetApiBase()->GetVersionString() +
                           " does not provide API version " + std::to_string(ORT_API_VERSION));
    }
    Ort::InitApi(api);
    auto plugin = std::make_unique<smi_plugin>();
    const std::string error = ApplySessionConfig(config_json, plugin->defaults);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "onnx plugin config: " + error);
    }
    plugin->env = Ort::Env(plugin->defaults.log_level, "mlos-onnx");
    *out = plugin.release();
    return nullptr;
  });
}

void PluginShutdown(smi_plugin* plugin) {
  try {
    delete plugin;
  } catch (...) {
  }
}

smi_error* ModelLoad(smi_plugin* plugin, const smi_model_load_params* params, smi_model** out) {
  return Guard([&]() -> smi_error* {
    if (!plugin || !params || !out) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "plugin, params and model must not be NULL");
    }
    if (params->size < sizeof(smi_model_load_params)) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "params: size is smaller than SMI 1.0's");
    }
    SessionConfig config = plugin->defaults;
    const std::string error = ApplySessionConfig(params->options_json, config);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model options: " + error);
    }
    auto model = std::make_unique<smi_model>();
    model->plugin = plugin;
    if (smi_error* e = OnnxModel::Load(plugin->env, config, *params, &model->model)) return e;
    plugin->live_models.fetch_add(1);
    *out = model.release();
    return nullptr;
  });
}

void ModelUnload(smi_model* model) {
  if (!model) return;
  try {
    model->plugin->live_models.fetch_sub(1);
    delete model;
  } catch (...) {
  }
}

uint32_t ModelInputCount(const smi_model* model) {
  return model ? static_cast<uint32_t>(model->model->inputs().size()) : 0;
}
uint32_t ModelOutputCount(const smi_model* model) {
  return model ? static_cast<uint32_t>(model->model->outputs().size()) : 0;
}

smi_error* TensorAt(const std::vector<smi_tensor>& list, const char* what, uint32_t index,
                    const smi_tensor** tensor) {
  if (tensor == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "tensor is NULL");
  if (index >= list.size()) {
    return MakeError(SMI_ERROR_NOT_FOUND, std::string(what) + " index " + std::to_string(index) +
                                              " out of range (" + std::to_string(list.size()) +
                                              ")");
  }
  *tensor = &list[index];
  return nullptr;
}

smi_error* ModelInput(const smi_model* model, uint32_t index, const smi_tensor** tensor) {
  return Guard([&]() -> smi_error* {
    if (!model) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model is NULL");
    return TensorAt(model->model->inputs(), "input", index, tensor);
  });
}

smi_error* ModelOutput(const smi_model* model, uint32_t index, const smi_tensor** tensor) {
  return Guard([&]() -> smi_error* {
    if (!model) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model is NULL");
    return TensorAt(model->model->outputs(), "output", index, tensor);
  });
}

smi_error* ModelMemory(const smi_model* model, smi_memory_info* info) {
  return Guard([&]() -> smi_error* {
    if (!model || !info) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model or info is NULL");
    smi_memory_info m{};
    m.size = sizeof(m);
    m.host_bytes = model->model->host_bytes();
    m.device_bytes = 0;
    // Fill up to the caller's size (fields past it are unknown to the caller).
    const size_t n = info->size < sizeof(m) ? info->size : sizeof(m);
    if (n > sizeof(size_t)) {
      std::memcpy(reinterpret_cast<char*>(info) + sizeof(size_t),
                  reinterpret_cast<const char*>(&m) + sizeof(size_t), n - sizeof(size_t));
    }
    return nullptr;
  });
}

smi_error* ModelInfer(smi_model* model, const smi_infer_request* request) {
  return Guard([&]() -> smi_error* {
    if (!model || !request) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model or request is NULL");
    }
    return model->model->Infer(*request);
  });
}

void ModelCancel(smi_model* model, uint64_t request_id) {
  if (!model) return;
  try {
    model->model->Cancel(request_id);
  } catch (...) {
  }
}

// The SMI handshake: equal major, and the host knows at least this plugin's minor.
bool HostCanServe(uint32_t host_major, uint32_t host_minor, uint32_t plugin_major,
                  uint32_t plugin_minor) {
  return host_major == plugin_major && host_minor >= plugin_minor;
}

const smi_plugin_api kApi = {
    sizeof(smi_plugin_api),
    SMI_VERSION_MAJOR,
    SMI_VERSION_MINOR,
    GetInfo,
    ErrorFree,
    ErrorCode,
    ErrorMessage,
    PluginInit,
    PluginShutdown,
    ModelLoad,
    ModelUnload,
    ModelInputCount,
    ModelOutputCount,
    ModelInput,
    ModelOutput,
    ModelMemory,
    ModelInfer,
    ModelCancel,
    nullptr,  // model_generate: no SMI_CAP_STREAMING
};

}  // namespace
}  // namespace mlos::onnx_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  if (!mlos::onnx_plugin::HostCanServe(host_major, host_minor, SMI_VERSION_MAJOR,
                                       SMI_VERSION_MINOR)) {
    return nullptr;
  }
  return &mlos::onnx_plugin::kApi;
}
