// The gRPC front-end's access to shared-memory regions (api::ShmRegistry). Built from
// shm_bridge.cc when mlos_shm is part of the build, else from shm_bridge_none.cc, whose calls
// answer kUnimplemented, so the rest of the front-end has no build-time switches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/shm/shm_registry.h"
#include "common/status.h"

namespace mlos::grpcapi {

// A new registry, or nullptr when shared memory is not built in.
std::shared_ptr<api::ShmRegistry> NewShmRegistry();

// Each answers kUnimplemented when `shm` is null.
Status ShmRegisterSystem(api::ShmRegistry* shm, const std::string& name, const std::string& key,
                         uint64_t offset, uint64_t byte_size);
Status ShmUnregister(api::ShmRegistry* shm, const std::string& name);
Result<std::vector<api::ShmRegionStatus>> ShmList(api::ShmRegistry* shm, const std::string& name);
Result<api::ShmView> ShmResolve(api::ShmRegistry* shm, const std::string& name, uint64_t offset,
                                uint64_t size);

}  // namespace mlos::grpcapi
