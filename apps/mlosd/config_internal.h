// What config.cc and security_config.cc share.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "common/status.h"
#include "config.h"

namespace mlos::mlosd {

// parent[key] as T when present and not null; "config field '<path>' has the wrong type".
template <typename T>
Status Read(const YAML::Node& parent, const char* key, const std::string& path, T& out);

// The `security:` section.
Status ApplySecurityConfig(const YAML::Node& security, DaemonConfig& config);
// The `resources:` section (resources_config.cc).
Status ApplyResourcesConfig(const YAML::Node& resources, DaemonConfig& config);

}  // namespace mlos::mlosd
