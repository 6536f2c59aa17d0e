// A generation's parameters (smi_generate_request.params_json, parsed once at the edge) and the
// llama.cpp sampler chain they describe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct llama_sampler;

namespace mlos::llama_plugin {

struct ChatMessage {
  std::string role;
  std::string content;
};

// Defaults follow llama-server's, except temperature: 0 (greedy), so that a request without
// parameters is deterministic.
struct GenerateParams {
  int64_t max_tokens = -1;      // -1 = until the slot's context is full
  float temperature = 0.0f;     // <= 0: greedy (argmax)
  float top_p = 0.95f;          // 1 = off
  int32_t top_k = 40;           // 0 = off
  float min_p = 0.05f;          // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off
  int32_t repeat_last_n = 64;   // -1 = the whole context
  std::optional<uint32_t> seed; // absent: random
  std::vector<std::string> stop;  // stop strings (empty ones dropped)
  std::optional<std::vector<ChatMessage>> messages;  // present: apply the chat template
};

// Parses params_json (NULL or "" = defaults). Unknown keys are ignored. Returns "" on success,
// else the message naming the key ("max_tokens: must be >= 0 or -1"); `out` is then unspecified.
std::string ParseGenerateParams(const char* json_text, GenerateParams& out);

// A sampler chain for `params` (the caller frees it with llama_sampler_free): penalties (when
// repeat_penalty != 1) -> greedy when temperature <= 0, else top_k -> top_p -> min_p -> temp ->
// dist(seed). `n_ctx` resolves repeat_last_n = -1. Never NULL.
llama_sampler* MakeSamplerChain(const GenerateParams& params, int32_t n_ctx, int32_t n_vocab);

}  // namespace mlos::llama_plugin
