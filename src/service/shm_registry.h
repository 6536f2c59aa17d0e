// Shared-memory regions registered by clients on the same host, used by every front-end:
// KServe's system shared-memory extension (HTTP and gRPC: a POSIX shm object named by `key`)
// and the IPC socket (a memfd passed with SCM_RIGHTS). Each region is mapped once, when it is
// registered; requests then name (region, offset, byte_size) for inputs and outputs, and the
// front-end turns them into core::Tensor::external views (inputs) and an output_allocator that
// hands out region memory (outputs): tensor bytes are not copied on that path.
//
// A client must not be able to make the daemon read or write outside a region: every view is
// bounds-checked against the registered [offset, offset + byte_size), and a region whose backing
// file could shrink under the mapping (which would turn accesses into SIGBUS) is refused unless
// it is sealed against shrinking (memfd F_SEAL_SHRINK) or is a shm object the daemon checked
// at registration (system regions: the size is re-checked with fstat on every Resolve).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace mlos::service {

struct ShmRegionStatus {
  std::string name;
  std::string key;        // the shm_open name for system regions, "memfd" for IPC regions
  uint64_t offset = 0;    // offset into the backing object where the region starts
  uint64_t byte_size = 0;
  std::string owner;      // IPC connection id, "" for system regions
};

// A bounds-checked window into a region. `keepalive` holds the mapping while a request uses it,
// so unregistering a region in use does not unmap memory under the request.
struct ShmView {
  std::shared_ptr<void> keepalive;
  uint8_t* data = nullptr;
  uint64_t size = 0;
};

class ShmRegistry {
 public:
  ShmRegistry();
  ~ShmRegistry();
  ShmRegistry(const ShmRegistry&) = delete;
  ShmRegistry& operator=(const ShmRegistry&) = delete;

  // KServe system shared memory: shm_open(key, O_RDWR) and map [offset, offset + byte_size).
  // kAlreadyExists if `name` is registered; kInvalidArgument naming the field for an empty
  // name/key, a key with '/' after the first character, byte_size 0, or a region beyond the
  // object's size; kNotFound when the shm object does not exist.
  Status RegisterSystem(const std::string& name, const std::string& key, uint64_t offset,
                        uint64_t byte_size);
  // A descriptor received over IPC; the registry takes ownership of `fd` (closed on failure
  // too). Requires F_SEAL_SHRINK on a memfd (or a regular file whose size covers the region).
  Status RegisterFd(const std::string& name, int fd, uint64_t offset, uint64_t byte_size,
                    const std::string& owner);
  // kNotFound when `name` is not registered.
  Status Unregister(const std::string& name);
  // Drops every region of an IPC connection (when it closes).
  void UnregisterOwnedBy(const std::string& owner);
  // All regions, or the one named (kNotFound when absent).
  Result<std::vector<ShmRegionStatus>> List(const std::string& name = "") const;
  // [offset, offset + size) of region `name`; kNotFound for an unknown region,
  // kInvalidArgument (`shared memory region "r": offset 8 + size 64 exceeds its 32 bytes`)
  // when out of bounds.
  Result<ShmView> Resolve(const std::string& name, uint64_t offset, uint64_t size) const;

 private:
  struct Region;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Region>> regions_;
};

}  // namespace mlos::service
