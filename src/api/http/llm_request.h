// The LLM APIs' requests as native types: OpenAI (chat, completions, embeddings), Ollama (chat,
// generate, embed) and the KServe/Triton generate extension are parsed here, once, into one
// GenerationRequest / EmbeddingRequest, and the sampling options become smi.h's params_json.
// Pure functions (no service, no I/O): the handlers in openai_api.cc, ollama_api.cc and
// generate_api.cc decode with these, call service::Service, and encode.
//
// Errors are kInvalidArgument with a message naming the field; `param` (when given) receives
// the field's name, for OpenAI's error object.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/common/request_options.h"
#include "common/status.h"

namespace mlos::http::llm {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
};

// smi.h's sampling keys; unset = the plugin's default.
struct SamplingParams {
  std::optional<int64_t> max_tokens;  // >= 0 (OpenAI max_tokens / max_completion_tokens,
                                      // Ollama num_predict >= 0)
  std::optional<double> temperature, top_p, min_p, repeat_penalty;
  std::optional<int64_t> top_k, repeat_last_n, seed;
  std::vector<std::string> stop;
};

struct GenerationRequest {
  std::string model;                  // as the client named it (echoed back)
  bool chat = false;                  // messages (the plugin applies the chat template)
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completion / raw prompt
  std::string system;                 // Ollama /api/generate `system`
  bool raw = false;                   // Ollama /api/generate `raw`: no template
  SamplingParams sampling;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  // keep_alive (Ollama body), priority / timeout / keep_alive (KServe parameters).
  api::RequestOptions options;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> inputs;
  bool base64 = false;  // OpenAI encoding_format "base64"
  api::RequestOptions options;
};

// ---- model names ----
// An Ollama model name: "ns/name" and "ns/name:latest" -> "ns/name" (the default version),
// "ns/name:tag" -> "ns/name@tag" (a version or an alias); an MLOS id ("ns/name@1.0.0") as is.
std::string OllamaModelId(std::string_view name);
// The Ollama name of a registered version: "ns/name:latest" for the default, else
// "ns/name:<version>".
std::string OllamaModelName(const std::string& name, const std::string& version, bool is_default);

// ---- parsers ----
Result<GenerationRequest> ParseOpenAIChat(std::string_view body, std::string* param = nullptr);
Result<GenerationRequest> ParseOpenAICompletion(std::string_view body,
                                                std::string* param = nullptr);
Result<EmbeddingRequest> ParseOpenAIEmbeddings(std::string_view body,
                                               std::string* param = nullptr);
// stream defaults to true (Ollama's default).
Result<GenerationRequest> ParseOllamaChat(std::string_view body);
Result<GenerationRequest> ParseOllamaGenerate(std::string_view body);
// /api/embed ("input": string or array) and the older /api/embeddings ("prompt": string).
Result<EmbeddingRequest> ParseOllamaEmbed(std::string_view body);
// /api/show, /api/delete...: {"model": ...} or {"name": ...}.
Result<std::string> ParseOllamaModelField(std::string_view body);
// {"text_input": "...", "parameters": {...}} plus sampling keys at the top level (Triton's
// generate maps top-level keys to inputs); `stream` is set by the route, not the body.
Result<GenerationRequest> ParseKServeGenerate(std::string_view body);

// The params_json handed to the plugin (smi_generate_request.params_json): the sampling keys
// that are set, and "messages" for a chat.
std::string ParamsJson(const GenerationRequest& request);

// ---- encoding helpers ----
// RFC 3339 UTC with nanoseconds ("2026-12-04T10:11:12.123456789Z"), Ollama's created_at.
std::string Rfc3339(std::chrono::system_clock::time_point t);
// Ollama's parameter_size: "1.2M", "7.2B" ("" for 0).
std::string ParameterSize(uint64_t parameters);
// `text` with every invalid UTF-8 sequence replaced by U+FFFD (as llama-server's JSON does): a
// model can emit byte tokens that form no character, and JSON must be valid UTF-8.
std::string ValidUtf8(std::string_view text);
// OpenAI's finish_reason from the core's ("stop", "length"; "cancelled" -> "stop").
const char* OpenAIFinishReason(const std::string& finish_reason);

}  // namespace mlos::http::llm
