#include "testing_config.h"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace mlos::testing_plugin {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<const char*, smi_error_code>, 7> kErrorCodes = {{
    {"INVALID_ARGUMENT", SMI_ERROR_INVALID_ARGUMENT},
    {"NOT_FOUND", SMI_ERROR_NOT_FOUND},
    {"UNSUPPORTED", SMI_ERROR_UNSUPPORTED},
    {"RESOURCE_EXHAUSTED", SMI_ERROR_RESOURCE_EXHAUSTED},
    {"CANCELLED", SMI_ERROR_CANCELLED},
    {"INTERNAL", SMI_ERROR_INTERNAL},
    {"UNAVAILABLE", SMI_ERROR_UNAVAILABLE},
}};

constexpr std::array<std::pair<const char*, Behavior>, 9> kBehaviors = {{
    {"identity", Behavior::kIdentity},
    {"add", Behavior::kAdd},
    {"sleep", Behavior::kSleep},
    {"fail", Behavior::kFail},
    {"alloc", Behavior::kAlloc},
    {"hang", Behavior::kHang},
    {"crash", Behavior::kCrash},
    {"segv", Behavior::kSegv},
    {"attack", Behavior::kAttack},
}};

constexpr std::array<std::pair<const char*, Attack>, 8> kAttacks = {{
    {"read_file", Attack::kReadFile},
    {"write_file", Attack::kWriteFile},
    {"connect", Attack::kConnect},
    {"exec", Attack::kExec},
    {"fork", Attack::kFork},
    {"alloc", Attack::kAlloc},
    {"kill", Attack::kKill},
    {"ptrace", Attack::kPtrace},
}};

// Thrown inside this file only; ParseModelConfig turns it into a ParseResult.
struct ConfigError {
  std::string message;
};

json ParseObject(const std::string& text, const char* what) {
  if (text.empty()) return json::object();
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    throw ConfigError{std::string(what) + " is not a JSON object"};
  }
  return j;
}

int64_t GetNonNegativeInt(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    throw ConfigError{std::string(key) + ": must be a non-negative integer"};
  }
  return v.get<int64_t>();
}

int64_t GetIntInRange(const json& j, const char* key, int64_t lo, int64_t hi) {
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw ConfigError{std::string(key) + ": must be an integer in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]"};
  }
  return v.get<int64_t>();
}

std::string GetString(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_string()) throw ConfigError{std::string(key) + ": must be a string"};
  return v.get<std::string>();
}

std::vector<TensorSpec> ParseSpecs(const json& list, const std::string& field) {
  if (!list.is_array()) throw ConfigError{field + ": must be a list"};
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    const std::string path = field + "[" + std::to_string(i) + "]";
    if (!item.is_object()) throw ConfigError{path + ": must be an object"};
    TensorSpec spec;
    if (!item.contains("name") || !item["name"].is_string() ||
        item["name"].get<std::string>().empty()) {
      throw ConfigError{path + ".name: must be a non-empty string"};
    }
    spec.name = item["name"].get<std::string>();
    if (item.contains("dtype")) {
      if (!item["dtype"].is_string()) throw ConfigError{path + ".dtype: must be a string"};
      spec.dtype = DtypeFromName(item["dtype"].get<std::string>());
      if (spec.dtype == SMI_DTYPE_INVALID) {
        throw ConfigError{path + ".dtype: unknown dtype \"" + item["dtype"].get<std::string>() +
                          "\""};
      }
    }
    if (item.contains("shape")) {
      const json& shape = item["shape"];
      if (!shape.is_array() || shape.size() > SMI_MAX_RANK) {
        throw ConfigError{path + ".shape: must be a list of at most 16 dims"};
      }
      for (const json& d : shape) {
        if (!d.is_number_integer() || d.get<int64_t>() < -1) {
          throw ConfigError{path + ".shape: dims must be integers >= -1"};
        }
        spec.shape.push_back(d.get<int64_t>());
      }
    } else {
      spec.shape = {-1};
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

void Apply(const json& j, ModelConfig& config, bool& inputs_set, bool& outputs_set) {
  if (j.contains("behavior")) {
    const std::string name = GetString(j, "behavior");
    bool found = false;
    for (const auto& [n, b] : kBehaviors) {
      if (name == n) {
        config.behavior = b;
        found = true;
      }
    }
    if (!found) throw ConfigError{"behavior: unknown behaviour \"" + name + "\""};
  }
  if (j.contains("sleep_ms")) config.sleep_ms = GetNonNegativeInt(j, "sleep_ms");
  if (j.contains("load_sleep_ms")) config.load_sleep_ms = GetNonNegativeInt(j, "load_sleep_ms");
  if (j.contains("alloc_bytes")) {
    config.alloc_bytes = static_cast<uint64_t>(GetNonNegativeInt(j, "alloc_bytes"));
  }
  if (j.contains("error_code")) {
    const std::string name = GetString(j, "error_code");
    bool found = false;
    for (const auto& [n, c] : kErrorCodes) {
      if (name == n) {
        config.error_code = c;
        found = true;
      }
    }
    if (!found) throw ConfigError{"error_code: unknown code \"" + name + "\""};
  }
  if (j.contains("error_message")) config.error_message = GetString(j, "error_message");
  if (j.contains("attack")) {
    const std::string name = GetString(j, "attack");
    bool found = false;
    for (const auto& [n, a] : kAttacks) {
      if (name == n) {
        config.attack = a;
        found = true;
      }
    }
    if (!found) throw ConfigError{"attack: unknown attack \"" + name + "\""};
  }
  if (j.contains("attack_path")) config.attack_path = GetString(j, "attack_path");
  if (j.contains("attack_port")) config.attack_port = GetIntInRange(j, "attack_port", 1, 65535);
  if (j.contains("attack_count")) {
    config.attack_count = GetIntInRange(j, "attack_count", 1, 1000000);
  }
  // Never 0 or negative: kill(0 / -1 / -pgid, ...) would hit a process group or everything.
  if (j.contains("attack_pid")) {
    config.attack_pid = GetIntInRange(j, "attack_pid", 1, std::numeric_limits<int32_t>::max());
  }
  if (j.contains("attack_signal")) config.attack_signal = GetIntInRange(j, "attack_signal", 0, 64);
  if (j.contains("load_fail")) config.load_fail = GetString(j, "load_fail");
  if (j.contains("inputs")) {
    config.inputs = ParseSpecs(j["inputs"], "inputs");
    inputs_set = true;
  }
  if (j.contains("outputs")) {
    config.outputs = ParseSpecs(j["outputs"], "outputs");
    outputs_set = true;
  }
}

void ApplyManifest(const json& manifest, ModelConfig& config, bool& inputs_set, bool& outputs_set) {
  const json* spec =
      manifest.contains("spec") && manifest["spec"].is_object() ? &manifest["spec"] : nullptr;
  if (spec && spec->contains("io") && (*spec)["io"].is_object()) {
    const json& io = (*spec)["io"];
    if (io.contains("inputs")) {
      config.inputs = ParseSpecs(io["inputs"], "manifest spec.io.inputs");
      inputs_set = true;
    }
    if (io.contains("outputs")) {
      config.outputs = ParseSpecs(io["outputs"], "manifest spec.io.outputs");
      outputs_set = true;
    }
  }
  if (manifest.contains("testing") && manifest["testing"].is_object()) {
    Apply(manifest["testing"], config, inputs_set, outputs_set);
  }
  if (spec && spec->contains("testing") && (*spec)["testing"].is_object()) {
    Apply((*spec)["testing"], config, inputs_set, outputs_set);
  }
}

// behavior "attack": the attack and the keys it needs are set; one string output.
void CheckAttack(const ModelConfig& config) {
  const std::string who = std::string("behavior attack: ");
  if (config.outputs.size() != 1 || config.outputs[0].dtype != SMI_DTYPE_STRING) {
    throw ConfigError{who + "needs exactly 1 output, of dtype string"};
  }
  const std::string name = AttackName(config.attack);
  switch (config.attack) {
    case Attack::kNone:
      throw ConfigError{who + "needs \"attack\" (read_file, write_file, connect, exec, fork, "
                              "alloc, kill or ptrace)"};
    case Attack::kReadFile:
    case Attack::kWriteFile:
      if (config.attack_path.empty()) throw ConfigError{who + name + " needs \"attack_path\""};
      break;
    case Attack::kConnect:
      if (config.attack_port == 0) throw ConfigError{who + name + " needs \"attack_port\""};
      break;
    case Attack::kKill:
    case Attack::kPtrace:
      if (config.attack_pid == 0) throw ConfigError{who + name + " needs \"attack_pid\""};
      break;
    case Attack::kExec:
    case Attack::kFork:
    case Attack::kAlloc:
      break;
  }
}

}  // namespace

const char* AttackName(Attack attack) {
  for (const auto& [n, a] : kAttacks) {
    if (a == attack) return n;
  }
  return "";
}

smi_dtype DtypeFromName(const std::string& name) {
  // SMI 1.0's dtypes are FLOAT32 (1) .. STRING (14), named by smi_dtype_name.
  for (int d = SMI_DTYPE_FLOAT32; d <= SMI_DTYPE_STRING; ++d) {
    if (name == smi_dtype_name(static_cast<smi_dtype>(d))) return static_cast<smi_dtype>(d);
  }
  return SMI_DTYPE_INVALID;
}

ParseResult ParseModelConfig(const std::string& manifest_json, const std::string& file_json,
                             const std::string& options_json) {
  ParseResult result;
  try {
    ModelConfig config;
    bool inputs_set = false;
    bool outputs_set = false;
    ApplyManifest(ParseObject(manifest_json, "manifest"), config, inputs_set, outputs_set);
    Apply(ParseObject(file_json, "the model file"), config, inputs_set, outputs_set);
    Apply(ParseObject(options_json, "options"), config, inputs_set, outputs_set);

    if (!inputs_set) {
      if (config.behavior == Behavior::kAdd) {
        config.inputs = {{"a", SMI_DTYPE_FLOAT32, {-1}}, {"b", SMI_DTYPE_FLOAT32, {-1}}};
      } else {
        config.inputs = {{"input", SMI_DTYPE_FLOAT32, {-1}}};
      }
    }
    const bool attack = config.behavior == Behavior::kAttack;
    if (!outputs_set) {
      if (attack) {
        config.outputs = {{"result", SMI_DTYPE_STRING, {1}}};
      } else if (config.behavior == Behavior::kAdd) {
        config.outputs = {
            {"sum", SMI_DTYPE_FLOAT32,
             config.inputs.empty() ? std::vector<int64_t>{-1} : config.inputs[0].shape}};
      } else if (config.inputs.size() == 1) {
        config.outputs = {{"output", config.inputs[0].dtype, config.inputs[0].shape}};
      } else {
        for (size_t i = 0; i < config.inputs.size(); ++i) {
          config.outputs.push_back(
              {"output" + std::to_string(i), config.inputs[i].dtype, config.inputs[i].shape});
        }
      }
    }
    if (config.behavior == Behavior::kAdd) {
      if (config.inputs.size() != 2 || config.outputs.size() != 1) {
        throw ConfigError{"behavior add: needs 2 inputs and 1 output"};
      }
      for (const TensorSpec* s : {&config.inputs[0], &config.inputs[1], &config.outputs[0]}) {
        if (s->dtype != SMI_DTYPE_FLOAT32) {
          throw ConfigError{"behavior add: \"" + s->name + "\" must be float32"};
        }
      }
    } else if (attack) {
      CheckAttack(config);
    } else if (config.outputs.size() > config.inputs.size()) {
      throw ConfigError{"outputs: identity needs an input for every output"};
    } else {
      for (size_t i = 0; i < config.outputs.size(); ++i) {
        if (config.outputs[i].dtype != config.inputs[i].dtype) {
          throw ConfigError{"outputs[" + std::to_string(i) + "]: dtype must equal input " +
                            std::to_string(i) + "'s"};
        }
      }
    }
    result.config = std::move(config);
  } catch (const ConfigError& e) {
    result.error = "testing plugin config: " + e.message;
  } catch (const nlohmann::json::exception& e) {
    result.error = std::string("testing plugin config: ") + e.what();
  }
  return result;
}

}  // namespace mlos::testing_plugin
