// axon's config file, `$AXON_HOME/config.yaml`, in the original Axon's schema:
//   registry: {url, huggingface_token, timeout}
//   download: {max_retries}
// Environment variables win over the file (AXON_REGISTRY_URL, HF_TOKEN, ...).
#pragma once

#include <filesystem>

#include "axon/hub/hub.h"
#include "common/status.h"

namespace mlos::axon {

// Applies the file to *config where the environment left a value unset. A missing file is
// fine; a malformed one is kInvalidArgument naming the file and the field.
Status ApplyAxonConfigFile(const std::filesystem::path& file, HubConfig* config);

}  // namespace mlos::axon
