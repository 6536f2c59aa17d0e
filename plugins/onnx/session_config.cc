#include "session_config.h"

#include <nlohmann/json.hpp>

namespace mlos::onnx_plugin {
namespace {

struct LevelName {
  const char* name;
  GraphOptimizationLevel level;
};
constexpr LevelName kLevels[] = {
    {"disable", ORT_DISABLE_ALL},  {"basic", ORT_ENABLE_BASIC}, {"extended", ORT_ENABLE_EXTENDED},
    {"layout", ORT_ENABLE_LAYOUT}, {"all", ORT_ENABLE_ALL},
};

struct LogLevelName {
  const char* name;
  OrtLoggingLevel level;
};
constexpr LogLevelName kLogLevels[] = {
    {"verbose", ORT_LOGGING_LEVEL_VERBOSE}, {"info", ORT_LOGGING_LEVEL_INFO},
    {"warning", ORT_LOGGING_LEVEL_WARNING}, {"error", ORT_LOGGING_LEVEL_ERROR},
    {"fatal", ORT_LOGGING_LEVEL_FATAL},
};

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

const char* OptimizationLevelName(GraphOptimizationLevel level) {
  for (const LevelName& l : kLevels) {
    if (l.level == level) return l.name;
  }
  return "unknown";
}

std::string ApplySessionConfig(const char* json_text, SessionConfig& config) {
  if (json_text == nullptr || *json_text == '\0') return "";
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "options: not a JSON object";
  if (j.contains("onnx") && j["onnx"].is_object()) j = nlohmann::json(j["onnx"]);

  SessionConfig next = config;
  std::string error;
  if (!ReadThreads(j, "intra_op_threads", next.intra_op_threads, error) ||
      !ReadThreads(j, "inter_op_threads", next.inter_op_threads, error)) {
    return error;
  }
  if (j.contains("graph_optimization_level")) {
    const nlohmann::json& v = j["graph_optimization_level"];
    bool found = false;
    if (v.is_string()) {
      for (const LevelName& l : kLevels) {
        if (v.get<std::string>() == l.name) {
          next.optimization_level = l.level;
          found = true;
        }
      }
    }
    if (!found) {
      return "graph_optimization_level: must be one of disable, basic, extended, layout, all";
    }
  }
  if (j.contains("optimized_model_cache")) {
    if (!j["optimized_model_cache"].is_boolean()) return "optimized_model_cache: must be a bool";
    next.optimized_model_cache = j["optimized_model_cache"].get<bool>();
  }
  if (j.contains("log_level")) {
    const nlohmann::json& v = j["log_level"];
    bool found = false;
    if (v.is_string()) {
      for (const LogLevelName& l : kLogLevels) {
        if (v.get<std::string>() == l.name) {
          next.log_level = l.level;
          found = true;
        }
      }
    }
    if (!found) return "log_level: must be one of verbose, info, warning, error, fatal";
  }
  config = next;
  return "";
}

Ort::SessionOptions MakeSessionOptions(const SessionConfig& config, GraphOptimizationLevel level) {
  Ort::SessionOptions options;
  if (config.intra_op_threads > 0) options.SetIntraOpNumThreads(config.intra_op_threads);
  if (config.inter_op_threads > 0) {
    options.SetInterOpNumThreads(config.inter_op_threads);
    if (config.inter_op_threads > 1) options.SetExecutionMode(ORT_PARALLEL);
  }
  options.SetGraphOptimizationLevel(level);
  return options;
}

}  // namespace mlos::onnx_plugin
