// The libtorch SMI plugin (execution format "torchscript"): the exported function table, built
// by mlos/smi_plugin.h from TorchPlugin below. The table's entries check NULL arguments and
// catch everything: no exception crosses the ABI. libtorch's headers stay in torch_model.cc and
// torch_runtime.cc.

#include <memory>
#include <string>
#include <vector>

#include "mlos/smi.h"
#include "mlos/smi_plugin.h"
#include "torch_config.h"
#include "torch_model.h"
#include "torch_runtime.h"

// One per host: the settings plugin_init applied (libtorch keeps them per process, so they are
// the process's until another plugin_init changes them).
struct smi_plugin {
  mlos::torch_plugin::TorchConfig config;
};

struct smi_model {
  std::unique_ptr<mlos::torch_plugin::TorchModel> model;
};

namespace mlos::torch_plugin {
namespace {

using smi::MakeError;

const char* const kFormats[] = {"torchscript", nullptr};

// The smi::PluginImpl for libtorch; contracts are smi.h's for the matching table function.
struct TorchPlugin {
  static constexpr smi::GuardOptions kGuard{"torch plugin", &FromTorchException};

  static const smi_plugin_info* GetInfo() {
    static const smi_plugin_info info = {
        sizeof(smi_plugin_info),
        "torch",
        "1.0.0",
        FrameworkName(),
        kFormats,
        // forward on one module may run on several threads at once for inference. No
        // SMI_CAP_CANCEL: libtorch cannot interrupt a running forward.
        SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_DEVICE_CPU,
    };
    return &info;
  }

  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
    auto plugin = std::make_unique<smi_plugin>();
    std::string error = ApplyTorchConfig(config_json, plugin->config);
    if (error.empty()) error = ApplyThreadSettings(plugin->config);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "torch plugin config: " + error);
    }
    *out = plugin.release();
    return nullptr;
  }

  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }

  static smi_error* ModelLoad(smi_plugin&, const smi_model_load_params& params,
                              smi_model** out) {
    const std::string error = CheckModelOptions(params.options_json);
    if (!error.empty()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model options: " + error);
    auto model = std::make_unique<smi_model>();
    if (smi_error* e = TorchModel::Load(params, &model->model)) return e;
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

  // A no-op: libtorch has no way to stop a forward in progress (no SMI_CAP_CANCEL).
  static void ModelCancel(smi_model&, uint64_t) {}
  // No ModelGenerate: the table's model_generate is NULL (no SMI_CAP_STREAMING).
};

}  // namespace
}  // namespace mlos::torch_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  return mlos::smi::GetApi<mlos::torch_plugin::TorchPlugin>(host_major, host_minor);
}
