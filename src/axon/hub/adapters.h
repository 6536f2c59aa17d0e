// Factory functions of the hub adapters other than Hugging Face (see MakeHubAdapter).
// Each returns a new adapter configured from `config`; never null.
#pragma once

#include <memory>

#include "axon/hub/hub.h"

namespace mlos::axon {

std::unique_ptr<HubAdapter> MakeModelScopeAdapter(const HubConfig& config);  // modelscope.cc
std::unique_ptr<HubAdapter> MakePyTorchHubAdapter(const HubConfig& config);  // pytorch.cc
std::unique_ptr<HubAdapter> MakeKaggleAdapter(const HubConfig& config);      // kaggle.cc (tfhub)
std::unique_ptr<HubAdapter> MakeRegistryAdapter(const HubConfig& config);    // registry.cc

}  // namespace mlos::axon
