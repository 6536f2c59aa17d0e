// The plugin's settings: plugin_init's config (plugins.llama) and per-model options_json, which
// override the same keys for one model.
#pragma once

#include <cstdint>
#include <string>

namespace mlos::llama_plugin {

struct LlamaConfig {
  int threads = 0;             // llama.cpp threads per model; 0 = hardware concurrency
  int parallel = 4;            // slots (concurrent sequences) per model
  int ctx_per_slot = 2048;     // tokens each slot holds (capped by the model's training context)
  int batch = 512;             // tokens per llama_decode (n_batch)
};

// Applies the keys of `json_text` (an object, or {"llama": {...}}; NULL or "" = nothing) over
// `config`. Unknown keys are ignored. Returns "" on success, else the message naming the key
// (e.g. "parallel: must be an integer from 1 to 256"); `config` is then left untouched.
std::string ApplyLlamaConfig(const char* json_text, LlamaConfig& config);

// `threads`, with 0 resolved to the hardware concurrency (at least 1).
int EffectiveThreads(const LlamaConfig& config);

}  // namespace mlos::llama_plugin
