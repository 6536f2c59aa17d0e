// Built when mlos_shm is not part of the build: no registry, every call kUnimplemented.
#include "api/grpc/shm_bridge.h"

namespace mlos::grpcapi {
namespace {

Status NoShm() {
  return Unimplemented("shared memory is not built into this mlosd");
}

}  // namespace

std::shared_ptr<api::ShmRegistry> NewShmRegistry() {
  return nullptr;
}

Status ShmRegisterSystem(api::ShmRegistry*, const std::string&, const std::string&, uint64_t,
                         uint64_t) {
  return NoShm();
}

Status ShmUnregister(api::ShmRegistry*, const std::string&) {
  return NoShm();
}

Result<std::vector<api::ShmRegionStatus>> ShmList(api::ShmRegistry*, const std::string&) {
  return NoShm();
}

Result<api::ShmView> ShmResolve(api::ShmRegistry*, const std::string&, uint64_t, uint64_t) {
  return NoShm();
}

}  // namespace mlos::grpcapi
