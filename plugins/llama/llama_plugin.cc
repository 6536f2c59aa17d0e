// The llama.cpp SMI plugin (execution format "gguf"): the exported function table, built by
// mlos/smi_plugin.h from LlamaPlugin below. The table's entries check NULL arguments and catch
// everything: no exception crosses the ABI.

#include <atomic>
#include <memory>
#include <string>

#include "llama_config.h"
#include "llama_model.h"
#include "mlos/smi.h"
#include "mlos/smi_plugin.h"
#include "runtime.h"

// One per host: the plugin-wide defaults from plugin_init's config.
struct smi_plugin {
  mlos::llama_plugin::LlamaConfig defaults;
  std::atomic<int64_t> live_models{0};
};

struct smi_model {
  smi_plugin* plugin = nullptr;
  std::unique_ptr<mlos::llama_plugin::LlamaModel> model;
};

namespace mlos::llama_plugin {
namespace {

using smi::MakeError;

const char* const kFormats[] = {"gguf", nullptr};

// The smi::StreamingPluginImpl for llama.cpp; contracts are smi.h's for the matching function.
struct LlamaPlugin {
  static constexpr smi::GuardOptions kGuard{"llama plugin", nullptr};

  static const smi_plugin_info* GetInfo() {
    static const smi_plugin_info info = {
        sizeof(smi_plugin_info),
        "llama",
        "1.0.0",
        "llama.cpp v0.4.0",
        kFormats,
        SMI_CAP_STREAMING | SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_CANCEL | SMI_CAP_DEVICE_CPU,
    };
    return &info;
  }

  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
    auto plugin = std::make_unique<smi_plugin>();
    const std::string error = ApplyLlamaConfig(config_json, plugin->defaults);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "llama plugin config: " + error);
    }
    InitRuntime();
    *out = plugin.release();
    return nullptr;
  }

  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }

  static smi_error* ModelLoad(smi_plugin& plugin, const smi_model_load_params& params,
                              smi_model** out) {
    LlamaConfig config = plugin.defaults;
    const std::string error = ApplyLlamaConfig(params.options_json, config);
    if (!error.empty()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model options: " + error);
    }
    auto model = std::make_unique<smi_model>();
    model->plugin = &plugin;
    if (smi_error* e = LlamaModel::Load(config, params, &model->model)) return e;
    plugin.live_models.fetch_add(1);
    *out = model.release();
    return nullptr;
  }

  static void ModelUnload(smi_model* model) {
    model->plugin->live_models.fetch_sub(1);
    delete model;
  }

  static std::span<const smi_tensor> ModelInputs(const smi_model& model) {
    return model.model->Inputs();
  }
  static std::span<const smi_tensor> ModelOutputs(const smi_model& model) {
    return model.model->Outputs();
  }

  static smi_memory_info ModelMemory(const smi_model& model) { return model.model->Memory(); }

  static smi_error* ModelInfer(smi_model& model, const smi_infer_request& request) {
    return model.model->Infer(request);
  }

  static void ModelCancel(smi_model& model, uint64_t request_id) {
    model.model->Cancel(request_id);
  }

  static smi_error* ModelGenerate(smi_model& model, const smi_generate_request& request) {
    return model.model->Generate(request);
  }
};

static_assert(smi::StreamingPluginImpl<LlamaPlugin>);

}  // namespace
}  // namespace mlos::llama_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  return mlos::smi::GetApi<mlos::llama_plugin::LlamaPlugin>(host_major, host_minor);
}
