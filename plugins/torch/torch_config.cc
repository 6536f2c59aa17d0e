#include "torch_config.h"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace mlos::torch_plugin {
namespace {

constexpr const char* kThreadKeys[] = {"intra_op_threads", "inter_op_threads"};

// The object `json_text` holds ("torch" member first); a discarded value when it is not one.
nlohmann::json ParseObject(const char* json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return nlohmann::json(nlohmann::json::value_t::discarded);
  if (j.contains("torch") && j["torch"].is_object()) return nlohmann::json(j["torch"]);
  return j;
}

bool ReadThreads(const nlohmann::json& j, const char* key, int& out, std::string& error) {
  if (!j.contains(key)) return true;
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1024) {
    error = std::string(key) + ": must be an integer from 0 to 1024";
    return false;
  }
  out = static_cast<int>(v.get<int64_t>());
  return true;
}

}  // namespace

std::string ApplyTorchConfig(const char* json_text, TorchConfig& config) {
  if (json_text == nullptr || *json_text == '\0') return "";
  const nlohmann::json j = ParseObject(json_text);
  if (j.is_discarded()) return "not a JSON object";
  TorchConfig next = config;
  std::string error;
  if (!ReadThreads(j, "intra_op_threads", next.intra_op_threads, error) ||
      !ReadThreads(j, "inter_op_threads", next.inter_op_threads, error)) {
    return error;
  }
  config = next;
  return "";
}

std::string CheckModelOptions(const char* json_text) {
  if (json_text == nullptr || *json_text == '\0') return "";
  const nlohmann::json j = ParseObject(json_text);
  if (j.is_discarded()) return "not a JSON object";
  for (const char* key : kThreadKeys) {
    if (j.contains(key)) {
      return std::string(key) +
             ": libtorch's thread counts are process-wide: set it in the plugin's config "
             "(plugins.torch)";
    }
  }
  return "";
}

}  // namespace mlos::torch_plugin
