// Shared memory between mlosd and a model worker: a memfd both processes map. Tensor bytes
// travel through arenas, never through the socket: the host writes inputs into a channel's
// arena, the plugin in the worker writes outputs into it, and the messages only carry offsets.
//
// A memfd received from the other side is trusted for nothing: it must be sealed against
// shrinking (F_SEAL_SHRINK; otherwise the sender could truncate it under the mapping and turn
// our reads into SIGBUS) and at least as large as claimed; every offset and size read from a
// message is checked against the mapping (Span).
//
// Thread-safety: an Arena is used by one channel at a time (one call in flight per channel).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace mlos::sandbox {

class Arena {
 public:
  Arena() = default;
  ~Arena() { Reset(); }
  Arena(Arena&& o) noexcept { *this = std::move(o); }
  Arena& operator=(Arena&& o) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A new sealed memfd of `size` bytes (rounded up to a power of two, at least 64 KiB), mapped.
  static Result<Arena> Create(uint64_t size, const char* name = "mlos-arena");
  // Maps a memfd received from the other side; takes ownership of `fd` (closed on failure too).
  // kInvalidArgument when it is not sealed against shrinking or smaller than `size`.
  static Result<Arena> Adopt(int fd, uint64_t size);

  // [offset, offset + n) inside the mapping, or nullptr when it is not.
  uint8_t* Span(uint64_t offset, uint64_t n) const {
    if (!base_ || offset > size_ || n > size_ - offset) return nullptr;
    return base_ + offset;
  }
  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  bool valid() const { return base_ != nullptr; }
  void Reset();

 private:
  // Maps all `size` bytes of `fd` read-write, shared; takes `fd` (closed on failure too).
  static Result<Arena> Map(int fd, uint64_t size);

  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

// The largest arena either side accepts (a worker could otherwise announce a sparse file of
// any size and have mlosd allocate and copy that much).
inline constexpr uint64_t kMaxArenaBytes = uint64_t{4} << 30;

// Rounds up to a multiple of 64 (tensor buffers in arenas are 64-byte aligned).
inline uint64_t Align64(uint64_t n) { return (n + 63) & ~uint64_t{63}; }
// The arena size that holds `n` bytes: the next power of two, at least 64 KiB.
uint64_t ArenaSizeFor(uint64_t n);

}  // namespace mlos::sandbox
