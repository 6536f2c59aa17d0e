// IPC transport: not built yet in this tree state.
#include "client/internal.h"

namespace mlos::client::internal {

Result<std::unique_ptr<Client>> NewIpcClient(const Endpoint& ep, const ClientOptions&) {
  return Unimplemented("this mlos_client was built without the IPC transport (" +
                       ep.ToString() + ")");
}

}  // namespace mlos::client::internal
