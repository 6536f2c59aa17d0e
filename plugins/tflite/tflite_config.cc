#include "tflite_config.h"

#include <sched.h>

#include <cstdint>
#include <thread>

#include <nlohmann/json.hpp>

namespace mlos::tflite_plugin {
namespace {

// Reads an integer key in [low, high] into out; false with `error` set when it is not one.
bool ReadInt(const nlohmann::json& j, const char* key, int low, int high, int& out,
             std::string& error) {
  if (!j.contains(key)) return true;
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < low || v.get<int64_t>() > high) {
    error = std::string(key) + ": must be an integer from " + std::to_string(low) + " to " +
            std::to_string(high);
    return false;
  }
  out = static_cast<int>(v.get<int64_t>());
  return true;
}

}  // namespace

std::string ApplyConfig(const char* json_text, TfliteConfig& config) {
  if (json_text == nullptr || *json_text == '\0') return "";
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "options: not a JSON object";
  if (j.contains("tflite") && j["tflite"].is_object()) j = nlohmann::json(j["tflite"]);

  TfliteConfig next = config;
  if (j.contains("xnnpack")) {
    if (!j["xnnpack"].is_boolean()) return "xnnpack: must be a bool";
    next.xnnpack = j["xnnpack"].get<bool>();
  }
  std::string error;
  if (!ReadInt(j, "threads", 1, 256, next.threads, error) ||
      !ReadInt(j, "max_interpreters", 1, 1024, next.max_interpreters, error)) {
    return error;
  }
  config = next;
  return "";
}

int MaxInterpreters(const TfliteConfig& config) {
  if (config.max_interpreters > 0) return config.max_interpreters;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace mlos::tflite_plugin
