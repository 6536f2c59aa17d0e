#include "axon/config.h"

#include <cstdlib>

#include <yaml-cpp/yaml.h>

namespace mlos::axon {

Status ApplyAxonConfigFile(const std::filesystem::path& file, HubConfig* config) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return Status::Ok();
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file.string() + ": " + e.what());
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return InvalidArgument(file.string() + ": expected a mapping");
  auto env_set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  try {
    if (auto reg = root["registry"]; reg && reg.IsMap()) {
      if (reg["url"] && !env_set("AXON_REGISTRY_URL")) {
        std::string url = reg["url"].as<std::string>();
        while (!url.empty() && url.back() == '/') url.pop_back();
        config->registry_url = url;
      }
      if (reg["huggingface_token"] && config->hf_token.empty())
        config->hf_token = reg["huggingface_token"].as<std::string>();
      if (reg["timeout"]) config->timeout_s = reg["timeout"].as<int>();
    }
    if (auto dl = root["download"]; dl && dl.IsMap()) {
      if (dl["max_retries"]) config->max_retries = dl["max_retries"].as<int>();
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file.string() + ": " + e.what());
  }
  if (config->timeout_s <= 0) return InvalidArgument(file.string() + ": registry.timeout must be > 0");
  if (config->max_retries < 0)
    return InvalidArgument(file.string() + ": download.max_retries must be >= 0");
  return Status::Ok();
}

}  // namespace mlos::axon
