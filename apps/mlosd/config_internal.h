// What config.cc and the section files (security_, resources_, isolation_config.cc) share.
#pragma once

#include <initializer_list>
#include <string>

#include <yaml-cpp/yaml.h>

#include "common/status.h"
#include "config.h"

namespace mlos::mlosd {

// parent[key] as T when present and not null; "config field '<path>' has the wrong type".
template <typename T>
Status Read(const YAML::Node& parent, const char* key, const std::string& path, T& out);

// `map` must be a mapping whose keys are all in `keys`; otherwise "config field '<path>.<key>' is
// unknown (known: ...)" (the keys in the order given).
Status CheckKnownKeys(const YAML::Node& map, const std::string& path,
                      std::initializer_list<const char*> keys);

// The `security:` section.
Status ApplySecurityConfig(const YAML::Node& security, DaemonConfig& config);
// The `resources:` section (resources_config.cc).
Status ApplyResourcesConfig(const YAML::Node& resources, DaemonConfig& config);
// The `isolation:` section (isolation_config.cc).
Status ApplyIsolationConfig(const YAML::Node& isolation, DaemonConfig& config);
// `security.trusted_keys` (isolation_config.cc): every file must hold a public key.
Status ApplyTrustedKeysConfig(const YAML::Node& trusted_keys, DaemonConfig& config);

}  // namespace mlos::mlosd
