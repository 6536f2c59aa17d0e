#include "api/grpc/shm_bridge.h"

namespace mlos::grpcapi {
namespace {

Status NoShm() {
  return Unimplemented("shared memory is not available");
}

}  // namespace

std::shared_ptr<api::ShmRegistry> NewShmRegistry() {
  return std::make_shared<api::ShmRegistry>();
}

Status ShmRegisterSystem(api::ShmRegistry* shm, const std::string& name, const std::string& key,
                         uint64_t offset, uint64_t byte_size) {
  if (!shm) return NoShm();
  return shm->RegisterSystem(name, key, offset, byte_size);
}

Status ShmUnregister(api::ShmRegistry* shm, const std::string& name) {
  if (!shm) return NoShm();
  return shm->Unregister(name);
}

Result<std::vector<api::ShmRegionStatus>> ShmList(api::ShmRegistry* shm, const std::string& name) {
  if (!shm) return NoShm();
  return shm->List(name);
}

Result<api::ShmView> ShmResolve(api::ShmRegistry* shm, const std::string& name, uint64_t offset,
                                uint64_t size) {
  if (!shm) return NoShm();
  return shm->Resolve(name, offset, size);
}

}  // namespace mlos::grpcapi
