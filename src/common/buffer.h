// Message buffers for large tensors: memory that is not initialised when allocated (a 64 MB
// body is written by recv() once, not zero-filled first), 64-byte aligned, and, from 1 MiB,
// mapped with transparent huge pages requested (a 64 MB buffer takes 32 page faults instead of
// 16,384) and taken from / given back to a process-wide pool, so a connection that moves 64 MB
// per request reuses the pages of the last one instead of faulting in new ones each time.
//
// The pool keeps at most kPoolRetainBytes in idle buffers (the largest are freed first), so an
// idle server holds a bounded amount after a burst of large requests.
//
// Thread-safety: a Buffer is owned by one thread at a time; the pool is internally locked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlos {

inline constexpr size_t kPoolMinBytes = size_t{1} << 20;     // smaller buffers use malloc
inline constexpr size_t kPoolRetainBytes = size_t{256} << 20;  // idle bytes the pool keeps

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) { Resize(n); }
  ~Buffer() { Release(); }
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  char* data() { return p_; }
  const char* data() const { return p_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {p_, size_}; }

  // Sets the size to n (data() is then never null, also for n = 0). Growing past the
  // capacity moves to a larger allocation; the first
  // min(size, n) bytes are kept when `keep` (else the contents are unspecified). New bytes
  // are not initialised. Throws std::bad_alloc.
  void Resize(size_t n, bool keep = true);
  void Clear() { size_ = 0; }
  // Makes room for n bytes without changing the size (contents kept).
  void Reserve(size_t n) {
    const size_t size = size_;
    if (n > cap_) Resize(n);
    size_ = size;
  }
  // Appends bytes (growing by doubling).
  void Append(const void* p, size_t n);
  void Append(std::string_view s) { Append(s.data(), s.size()); }
  // Gives the memory back (to the pool when it came from there).
  void Release();

 private:
  char* p_ = nullptr;
  size_t size_ = 0, cap_ = 0;
};

// The pool's state, for tests and metrics.
struct BufferPoolStats {
  size_t idle_buffers = 0;
  size_t idle_bytes = 0;
  uint64_t reused = 0;     // acquisitions served from the pool
  uint64_t allocated = 0;  // acquisitions that mapped new memory
};
BufferPoolStats GetBufferPoolStats();

}  // namespace mlos
