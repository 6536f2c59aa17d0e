// The manifest as JSON, for smi_model_load_params.manifest_json: the parsed YAML document
// converted (quoted scalars stay strings; plain scalars become numbers, booleans or null when
// they read as such).
#pragma once

#include <string>

#include "mpf/manifest.h"

namespace mlos::core {

std::string ManifestJson(const mpf::Manifest& manifest);

}  // namespace mlos::core
