// Memory this process maps from a file another process can map too: the shared-memory regions
// clients register (IPC memfds, KServe system shm objects). When an input of a sandboxed
// model lies inside one, the worker is handed a read-only descriptor of the region and maps the
// input in place, instead of receiving a copy (worker.cc). The service registers each region
// mapping here while it is mapped.
//
// Thread-safety: all functions may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

namespace mlos::sandbox {

// [base, base + size) maps `fd` from `file_offset`. A read-only and a read-write descriptor of
// the same file are opened now (what workers get for inputs and for outputs); `fd` itself is
// not kept.
void RegisterSharedMapping(const void* base, uint64_t size, int fd, uint64_t file_offset);
void UnregisterSharedMapping(const void* base);

struct SharedRef {
  int fd = -1;             // valid while `hold` lives
  uint64_t offset = 0;     // of the queried pointer in the file
  uint64_t id = 0;         // the mapping (several inputs in one region share a descriptor)
  std::shared_ptr<void> hold;
};
// The registered mapping that holds all of [p, p + n), if any; its read-only descriptor, or the
// read-write one when `writable`.
std::optional<SharedRef> FindSharedMapping(const void* p, uint64_t n, bool writable = false);
// Whether any mapping is registered (no client uses shared memory: nothing to look for).
bool AnySharedMappings();

}  // namespace mlos::sandbox
