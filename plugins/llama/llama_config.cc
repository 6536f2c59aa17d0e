#include "llama_config.h"

#include <thread>

#include <nlohmann/json.hpp>

namespace mlos::llama_plugin {
namespace {

bool ReadInt(const nlohmann::json& j, const char* key, int64_t min, int64_t max, int& out,
             std::string& error) {
  if (!j.contains(key)) return true;
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    error = std::string(key) + ": must be an integer from " + std::to_string(min) + " to " +
            std::to_string(max);
    return false;
  }
  out = static_cast<int>(v.get<int64_t>());
  return true;
}

}  // namespace

std::string ApplyLlamaConfig(const char* json_text, LlamaConfig& config) {
  if (json_text == nullptr || *json_text == '\0') return "";
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "options: not a JSON object";
  if (j.contains("llama") && j["llama"].is_object()) j = nlohmann::json(j["llama"]);

  LlamaConfig next = config;
  std::string error;
  if (!ReadInt(j, "threads", 0, 1024, next.threads, error) ||
      !ReadInt(j, "parallel", 1, 256, next.parallel, error) ||
      !ReadInt(j, "ctx_per_slot", 16, 1 << 20, next.ctx_per_slot, error) ||
      !ReadInt(j, "batch", 1, 1 << 16, next.batch, error)) {
    return error;
  }
  config = next;
  return "";
}

int EffectiveThreads(const LlamaConfig& config) {
  if (config.threads > 0) return config.threads;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace mlos::llama_plugin
