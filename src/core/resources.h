// What the resource manager reads from the system: the process's resident memory, the memory
// available to it (a cgroup limit wins over the machine's), and the budget as configured.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace mlos::core {

// Resident bytes of this process (/proc/self/statm); 0 when unreadable.
uint64_t ResidentBytes();

// Bytes the process's heap has handed out and not taken back (glibc mallinfo2: in use in every
// arena plus mmap'd chunks). Unlike resident memory, it does not hide an allocation that reuses
// pages freed earlier, nor count freed pages the allocator keeps.
uint64_t HeapBytesInUse();

// The memory this process may use: the machine's MemTotal, or the cgroup's limit when it is
// lower (cgroup v2 memory.max, or v1 memory.limit_in_bytes, of the process's own cgroup).
// 0 when nothing is readable.
uint64_t MemoryAvailableToProcess();

// resources.memory_budget: bytes ("1073741824"), a size with a unit ("2GiB", "512MiB", "1.5G"),
// or a percentage of `available` ("80%", 1..100). kInvalidArgument naming `what` otherwise.
Result<uint64_t> ParseMemoryBudget(const std::string& text, uint64_t available,
                                   const std::string& what = "resources.memory_budget");

// Gives freed heap memory back to the kernel (after an eviction), so resident memory follows
// what the models hold.
void ReturnFreedMemory();

// "123.4 MiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace mlos::core
