// MakeHubAdapter: namespace -> adapter.
#include "axon/hub/adapters.h"
#include "axon/hub/hf.h"
#include "axon/hub/hub.h"

namespace mlos::axon {

Result<std::unique_ptr<HubAdapter>> MakeHubAdapter(const std::string& ns, const HubConfig& config) {
  if (ns == "hf") return MakeHfAdapter(config);
  if (ns == "modelscope") return MakeModelScopeAdapter(config);
  if (ns == "pytorch") return MakePyTorchHubAdapter(config);
  if (ns == "tfhub") return MakeKaggleAdapter(config);
  if (ns != "local" && !ns.empty() && !config.registry_url.empty()) return MakeRegistryAdapter(config);
  return NotFound("no hub serves namespace \"" + ns + "\"" +
                  (config.registry_url.empty() && ns != "local"
                       ? " (no Axon registry configured: set AXON_REGISTRY_URL)"
                       : ""));
}

}  // namespace mlos::axon
