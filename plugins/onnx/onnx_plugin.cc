// The ONNX Runtime SMI plugin (execution format "onnx"): the exported function table, built by
// mlos/smi_plugin.h from OnnxPlugin below. The table's entries check NULL arguments and catch
// everything: no exception crosses the ABI.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "mapped_ort_model.h"
#include "mlos/smi.h"
#include "mlos/smi_plugin.h"
#include "onnx_model.h"
#include "session_config.h"

// One per host: the Ort::Env every session of this instance runs on, the plugin-wide
// session defaults from plugin_init's config, and the mapped ORT-format cache files its sessions
// share (each mapping lives as long as a session uses it).
struct smi_plugin {
  Ort::Env env{nullptr};
  mlos::onnx_plugin::SessionConfig defaults;
  mlos::onnx_plugin::MappedOrtModelCache mappings;
  std::atomic<int64_t> live_models{0};
};

struct smi_model {
  smi_plugin* plugin = nullptr;
  std::unique_ptr<mlos::onnx_plugin::OnnxModel> model;
};

namespace mlos::onnx_plugin {
namespace {

using smi::MakeError;

// GuardOptions::translate: ONNX Runtime's exceptions become INTERNAL "onnxruntime: ...".
smi_error* FromOrtException() {
  try {
    throw;
  } catch (const Ort::Exception& e) {
    return MakeError(SMI_ERROR_INTERNAL, std::string("onnxruntime: ") + e.what());
  } catch (...) {
    return nullptr;
  }
}

const char* const kFormats[] = {"onnx", nullptr};

// The smi::PluginImpl for ONNX Runtime; contracts are smi.h's for the matching table function.
struct OnnxPlugin {
  static constexpr smi::GuardOptions kGuard{"onnx plugin", &FromOrtException};

  static const smi_plugin_info* GetInfo() {
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

  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
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
  }

  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }

  static smi_error* ModelLoad(smi_plugin& plugin, const smi_model_load_params& params,
                              smi_model** out) {
    SessionConfig config = plugin.defaults;
    const std::string error = ApplySessionConfig(params.options_json, config);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model options: " + error);
    }
    auto model = std::make_unique<smi_model>();
    model->plugin = &plugin;
    if (smi_error* e =
            OnnxModel::Load(plugin.env, config, params, plugin.mappings, &model->model)) {
      return e;
    }
    plugin.live_models.fetch_add(1);
    *out = model.release();
    return nullptr;
  }

  static void ModelUnload(smi_model* model) {
    model->plugin->live_models.fetch_sub(1);
    delete model;
  }

  static const std::vector<smi_tensor>& ModelInputs(const smi_model& model) {
    return model.model->inputs();
  }
  static const std::vector<smi_tensor>& ModelOutputs(const smi_model& model) {
    return model.model->outputs();
  }

  static smi_memory_info ModelMemory(const smi_model& model) {
    smi_memory_info m{};
    m.size = sizeof m;
    m.host_bytes = model.model->host_bytes();
    m.shared_bytes = model.model->shared_bytes();
    m.shared_key = model.model->shared_key();
    return m;
  }

  static smi_error* ModelInfer(smi_model& model, const smi_infer_request& request) {
    return model.model->Infer(request);
  }

  static void ModelCancel(smi_model& model, uint64_t request_id) {
    model.model->Cancel(request_id);
  }
  // No ModelGenerate: the table's model_generate is NULL (no SMI_CAP_STREAMING).
};

}  // namespace
}  // namespace mlos::onnx_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  return mlos::smi::GetApi<mlos::onnx_plugin::OnnxPlugin>(host_major, host_minor);
}
