// The TensorFlow Lite SMI plugin (execution format "tflite"): the exported function table,
// built by mlos/smi_plugin.h from TflitePlugin below. The table's entries check NULL arguments
// and catch everything: no exception crosses the ABI.

#include <memory>
#include <string>
#include <vector>

#include "mlos/smi.h"
#include "mlos/smi_plugin.h"
#include "tflite_api.h"
#include "tflite_config.h"
#include "tflite_model.h"

// One per host: the plugin-wide defaults from plugin_init's config.
struct smi_plugin {
  mlos::tflite_plugin::TfliteConfig defaults;
};

struct smi_model {
  smi_plugin* plugin = nullptr;
  std::unique_ptr<mlos::tflite_plugin::LoadedModel> model;
};

namespace mlos::tflite_plugin {
namespace {

using smi::MakeError;

const char* const kFormats[] = {"tflite", nullptr};

// The smi::PluginImpl for TensorFlow Lite; contracts are smi.h's for the matching table
// function.
struct TflitePlugin {
  static constexpr smi::GuardOptions kGuard{"tflite plugin", nullptr};

  static const smi_plugin_info* GetInfo() {
    static const std::string framework = std::string("tensorflow-lite ") + TfLiteVersion();
    // No SMI_CAP_CANCEL: TFLite 2.9's C API cannot interrupt an invoke.
    static const smi_plugin_info info = {
        sizeof(smi_plugin_info),
        "tflite",
        "1.0.0",
        framework.c_str(),
        kFormats,
        SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_DEVICE_CPU,
    };
    return &info;
  }

  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
    auto plugin = std::make_unique<smi_plugin>();
    const std::string error = ApplyConfig(config_json, plugin->defaults);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "tflite plugin config: " + error);
    }
    *out = plugin.release();
    return nullptr;
  }

  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }

  static smi_error* ModelLoad(smi_plugin& plugin, const smi_model_load_params& params,
                              smi_model** out) {
    TfliteConfig config = plugin.defaults;
    const std::string error = ApplyConfig(params.options_json, config);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model options: " + error);
    }
    auto model = std::make_unique<smi_model>();
    model->plugin = &plugin;
    if (smi_error* e = LoadedModel::Load(config, params, &model->model)) return e;
    *out = model.release();
    return nullptr;
  }

  static void ModelUnload(smi_model* model) { delete model; }

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
    return m;
  }

  static smi_error* ModelInfer(smi_model& model, const smi_infer_request& request) {
    return model.model->Infer(request);
  }

  // TFLite 2.9's C API has no way to stop an invoke: cancel is a no-op (no SMI_CAP_CANCEL).
  static void ModelCancel(smi_model&, uint64_t) {}
  // No ModelGenerate: the table's model_generate is NULL (no SMI_CAP_STREAMING).
};

}  // namespace
}  // namespace mlos::tflite_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  return mlos::smi::GetApi<mlos::tflite_plugin::TflitePlugin>(host_major, host_minor);
}
