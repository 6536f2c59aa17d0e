// The plugin's settings: plugin-wide from plugin_init's config, overridable per model by
// smi_model_load_params.options_json (same keys).
#pragma once

#include <string>

namespace mlos::tflite_plugin {

struct TfliteConfig {
  bool xnnpack = true;       // run supported ops through the XNNPACK delegate
  int threads = 1;           // intra-op threads of each interpreter (and of its XNNPACK delegate)
  int max_interpreters = 0;  // interpreters per model at most; 0 = the CPUs this process may use
};

// Applies the keys of the JSON object `json_text` over `config`:
//   xnnpack: bool
//   threads: integer from 1 to 256
//   max_interpreters: integer from 1 to 1024
// NULL or "" changes nothing. When the object has a "tflite" object member (the daemon's
// per-plugin map), that member is used. Unknown keys are ignored (the host may pass keys meant
// for itself). Returns "" on success, else a message naming the key at fault; `config` is then
// unchanged.
std::string ApplyConfig(const char* json_text, TfliteConfig& config);

// config.max_interpreters, or the number of CPUs in this process's affinity mask when it is 0
// (at least 1).
int MaxInterpreters(const TfliteConfig& config);

}  // namespace mlos::tflite_plugin
