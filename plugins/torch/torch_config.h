// The plugin's settings: plugin_init's config (plugins.torch in mlosd's config). libtorch's
// thread counts are process-wide, so they are plugin settings only; per-model options_json may
// not carry them.
#pragma once

#include <string>

namespace mlos::torch_plugin {

struct TorchConfig {
  int intra_op_threads = 0;  // at::set_num_threads; 0 = libtorch's default
  int inter_op_threads = 0;  // at::set_num_interop_threads; 0 = libtorch's default
};

// Applies the keys of the JSON object `json_text` (or of its "torch" member when it has one, the
// daemon's per-plugin map) over `config`: intra_op_threads and inter_op_threads, integers from 0
// to 1024. NULL or "" changes nothing. Unknown keys are ignored, as every MLOS plugin does (the
// host may keep keys of its own in a plugin's section). Returns "" on success, else a message
// naming the key at fault (e.g. "intra_op_threads: must be an integer from 0 to 1024"); `config`
// is then unchanged.
std::string ApplyTorchConfig(const char* json_text, TorchConfig& config);

// Checks a model's options_json (NULL, "" or a JSON object). The thread keys are refused, naming
// the key ("intra_op_threads: libtorch's thread counts are process-wide: set it in the plugin's
// config (plugins.torch)"); other keys are ignored. Returns "" when the options are acceptable.
std::string CheckModelOptions(const char* json_text);

}  // namespace mlos::torch_plugin
