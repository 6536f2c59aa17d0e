#include "sampling.h"

#include <cmath>
#include <random>

#include <llama.h>
#include <nlohmann/json.hpp>

namespace mlos::llama_plugin {
namespace {

using nlohmann::json;

bool ReadFloat(const json& j, const char* key, double min, double max, const char* rule,
               float& out, std::string& error) {
  if (!j.contains(key) || j[key].is_null()) return true;
  const json& v = j[key];
  if (!v.is_number() || v.get<double>() < min || v.get<double>() > max) {
    error = std::string(key) + ": " + rule;
    return false;
  }
  out = static_cast<float>(v.get<double>());
  return true;
}

bool ReadInt(const json& j, const char* key, int64_t min, int64_t max, const char* rule,
             int64_t& out, std::string& error) {
  if (!j.contains(key) || j[key].is_null()) return true;
  const json& v = j[key];
  // 16.0 is accepted as 16 (JSON has one number type); 16.5 is not. Doubles are range-checked
  // before the cast (a cast out of range is undefined).
  int64_t value = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    value = u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    value = v.get<int64_t>();
  } else if (v.is_number_float() && std::fabs(v.get<double>()) < 9e18 &&
             std::trunc(v.get<double>()) == v.get<double>()) {
    value = static_cast<int64_t>(v.get<double>());
  } else {
    error = std::string(key) + ": " + rule;
    return false;
  }
  if (value < min || value > max) {
    error = std::string(key) + ": " + rule;
    return false;
  }
  out = value;
  return true;
}

std::string ReadStop(const json& j, std::vector<std::string>& out) {
  if (!j.contains("stop") || j["stop"].is_null()) return "";
  const json& v = j["stop"];
  if (v.is_string()) {  // OpenAI also allows a single string
    if (!v.get<std::string>().empty()) out.push_back(v.get<std::string>());
    return "";
  }
  if (!v.is_array()) return "stop: must be an array of strings";
  for (const json& s : v) {
    if (!s.is_string()) return "stop: must be an array of strings";
    if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
  }
  return "";
}

std::string ReadMessages(const json& j, std::optional<std::vector<ChatMessage>>& out) {
  if (!j.contains("messages") || j["messages"].is_null()) return "";
  const json& v = j["messages"];
  if (!v.is_array() || v.empty()) return "messages: must be a non-empty array";
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return where + ": must be an object";
    if (!m.contains("role") || !m["role"].is_string()) return where + ".role: must be a string";
    ChatMessage message{m["role"].get<std::string>(), ""};
    if (m.contains("content") && !m["content"].is_null()) {
      if (!m["content"].is_string()) return where + ".content: must be a string";
      message.content = m["content"].get<std::string>();
    }
    messages.push_back(std::move(message));
  }
  out = std::move(messages);
  return "";
}

}  // namespace

std::string ParseGenerateParams(const char* json_text, GenerateParams& out) {
  out = GenerateParams{};
  if (json_text == nullptr || *json_text == '\0') return "";
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "params_json: not valid JSON";
  if (!j.is_object()) return "params_json: must be a JSON object";

  std::string error;
  int64_t max_tokens = out.max_tokens;
  int64_t top_k = out.top_k;
  int64_t repeat_last_n = out.repeat_last_n;
  int64_t seed = -1;
  if (!ReadInt(j, "max_tokens", -1, INT32_MAX, "must be >= 0 or -1", max_tokens, error) ||
      !ReadFloat(j, "temperature", 0, 1e9, "must be a number >= 0", out.temperature, error) ||
      !ReadFloat(j, "top_p", 0, 1, "must be a number from 0 to 1", out.top_p, error) ||
      !ReadInt(j, "top_k", 0, INT32_MAX, "must be an integer >= 0", top_k, error) ||
      !ReadFloat(j, "min_p", 0, 1, "must be a number from 0 to 1", out.min_p, error) ||
      !ReadFloat(j, "repeat_penalty", 1e-9, 1e9, "must be a number > 0", out.repeat_penalty,
                 error) ||
      !ReadInt(j, "repeat_last_n", -1, INT32_MAX, "must be an integer >= -1", repeat_last_n,
               error) ||
      !ReadInt(j, "seed", 0, UINT32_MAX, "must be an integer from 0 to 4294967295", seed,
               error)) {
    return error;
  }
  out.max_tokens = max_tokens;
  out.top_k = static_cast<int32_t>(top_k);
  out.repeat_last_n = static_cast<int32_t>(repeat_last_n);
  if (seed >= 0) out.seed = static_cast<uint32_t>(seed);
  if (std::string e = ReadStop(j, out.stop); !e.empty()) return e;
  if (std::string e = ReadMessages(j, out.messages); !e.empty()) return e;
  return "";
}

llama_sampler* MakeSamplerChain(const GenerateParams& params, int32_t n_ctx, int32_t n_vocab) {
  llama_sampler_chain_params chain_params = llama_sampler_chain_default_params();
  chain_params.no_perf = true;
  llama_sampler* chain = llama_sampler_chain_init(chain_params);
  if (params.repeat_penalty != 1.0f) {
    const int32_t last_n = params.repeat_last_n < 0 ? n_ctx : params.repeat_last_n;
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(n_vocab, last_n,
                                                                params.repeat_penalty, 0.0f, 0.0f));
  }
  if (params.temperature <= 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    return chain;
  }
  if (params.top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(params.top_k));
  if (params.top_p < 1.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_top_p(params.top_p, 1));
  }
  if (params.min_p > 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_min_p(params.min_p, 1));
  }
  llama_sampler_chain_add(chain, llama_sampler_init_temp(params.temperature));
  uint32_t seed = 0;
  if (params.seed) {
    seed = *params.seed;
  } else {
    std::random_device rd;
    seed = rd();
  }
  llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
  return chain;
}

}  // namespace mlos::llama_plugin
