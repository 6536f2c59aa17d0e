// YAML -> JSON conversion for --json output of manifests.
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace mlos::axon::cli {

nlohmann::json YamlToJson(const YAML::Node& node);

}  // namespace mlos::axon::cli
