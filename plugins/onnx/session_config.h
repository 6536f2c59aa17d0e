// ONNX Runtime session settings: plugin-wide from plugin_init's config, overridable per model
// by smi_model_load_params.options_json (same keys).
#pragma once

#include <string>

#include <onnxruntime_cxx_api.h>

namespace mlos::onnx_plugin {

struct SessionConfig {
  int intra_op_threads = 0;  // 0 = ONNX Runtime's default (one per core)
  int inter_op_threads = 0;  // 0 = default; > 1 also selects the parallel execution mode
  GraphOptimizationLevel optimization_level = ORT_ENABLE_ALL;
  bool optimized_model_cache = true;  // used only when the host gives a cache_dir
  // ONNX Runtime's log level for the plugin's Ort::Env (plugin_init only; ignored per model).
  OrtLoggingLevel log_level = ORT_LOGGING_LEVEL_WARNING;
};

// Applies the keys of the JSON object `json_text` over `config`:
//   intra_op_threads, inter_op_threads: integers >= 0
//   graph_optimization_level: "disable" | "basic" | "extended" | "layout" | "all"
//   optimized_model_cache: bool
//   log_level: "verbose" | "info" | "warning" | "error" | "fatal" (used by plugin_init only)
// NULL or "" changes nothing. When the object has an "onnx" object member (the daemon's
// per-plugin map), that member is used. Unknown keys are ignored (the host may pass keys meant
// for itself). Returns "" on success, else a message naming the key at fault; `config` is then
// unchanged.
std::string ApplySessionConfig(const char* json_text, SessionConfig& config);

// "disable" ... "all".
const char* OptimizationLevelName(GraphOptimizationLevel level);

// SessionOptions for `config` with `level` (which may differ from config's: a model loaded from
// the optimised-model cache is not optimised again).
Ort::SessionOptions MakeSessionOptions(const SessionConfig& config, GraphOptimizationLevel level);

}  // namespace mlos::onnx_plugin
