#include "common/buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace mlos {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHuge = size_t{2} << 20;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

class Pool {
 public:
  // A buffer of at least n bytes (n >= kPoolMinBytes); *cap receives its size.
  char* Take(size_t n, size_t* cap) {
    {
      std::lock_guard lock(mu_);
      // Best fit among the idle buffers, but never one over four times the request (a 256 MB
      // buffer should not serve a 1 MB message while the next 256 MB one faults in new pages).
      size_t best = idle_.size();
      for (size_t i = 0; i < idle_.size(); ++i) {
        const size_t c = idle_[i].second;
        if (c >= n && c / 4 <= n && (best == idle_.size() || c < idle_[best].second)) best = i;
      }
      if (best != idle_.size()) {
        char* p = idle_[best].first;
        *cap = idle_[best].second;
        idle_bytes_ -= *cap;
        idle_.erase(idle_.begin() + static_cast<long>(best));
        ++reused_;
        return p;
      }
      ++allocated_;
    }
    return Map(n, cap);
  }

  void Give(char* p, size_t cap) {
    std::vector<std::pair<char*, size_t>> drop;
    {
      std::lock_guard lock(mu_);
      idle_.emplace_back(p, cap);
      idle_bytes_ += cap;
      // Over the limit: free the largest idle buffers first.
      while (idle_bytes_ > kPoolRetainBytes && !idle_.empty()) {
        auto it = std::max_element(idle_.begin(), idle_.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
        drop.push_back(*it);
        idle_bytes_ -= it->second;
        idle_.erase(it);
      }
    }
    for (auto& [q, c] : drop) ::munmap(q, c);
  }

  BufferPoolStats Stats() {
    std::lock_guard lock(mu_);
    return {idle_.size(), idle_bytes_, reused_, allocated_};
  }

 private:
  // Maps a 2 MiB-aligned region (so every 2 MiB of it can be a huge page) and asks for THP.
  static char* Map(size_t n, size_t* cap) {
    const size_t size = RoundUp(n, kHuge);
    void* raw = ::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    char* base = static_cast<char*>(raw);
    char* aligned = reinterpret_cast<char*>(RoundUp(reinterpret_cast<uintptr_t>(base), kHuge));
    if (aligned > base) ::munmap(base, static_cast<size_t>(aligned - base));
    char* end = base + size + kHuge;
    if (end > aligned + size) ::munmap(aligned + size, static_cast<size_t>(end - (aligned + size)));
#ifdef MADV_HUGEPAGE
    (void)::madvise(aligned, size, MADV_HUGEPAGE);
#endif
    *cap = size;
    return aligned;
  }

  std::mutex mu_;
  std::vector<std::pair<char*, size_t>> idle_;  // GUARDED_BY(mu_)
  size_t idle_bytes_ = 0;                       // GUARDED_BY(mu_)
  uint64_t reused_ = 0, allocated_ = 0;         // GUARDED_BY(mu_)
};

Pool& ThePool() {
  static Pool* pool = new Pool();  // never destroyed: buffers may be released at exit
  return *pool;
}

char* Allocate(size_t n, size_t* cap) {
  if (n >= kPoolMinBytes) return ThePool().Take(n, cap);
  *cap = RoundUp(std::max<size_t>(n, 1), kAlign);
  void* p = std::aligned_alloc(kAlign, *cap);
  if (!p) throw std::bad_alloc();
  return static_cast<char*>(p);
}

void Free(char* p, size_t cap) {
  if (!p) return;
  if (cap >= kPoolMinBytes) {
    ThePool().Give(p, cap);
  } else {
    std::free(p);
  }
}

}  // namespace

Buffer::Buffer(Buffer&& o) noexcept
    : p_(std::exchange(o.p_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      cap_(std::exchange(o.cap_, 0)) {}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Release();
    p_ = std::exchange(o.p_, nullptr);
    size_ = std::exchange(o.size_, 0);
    cap_ = std::exchange(o.cap_, 0);
  }
  return *this;
}

void Buffer::Resize(size_t n, bool keep) {
  if (n > cap_ || !p_) {  // never a null data(), also for 0 bytes
    size_t cap = 0;
    char* p = Allocate(n, &cap);
    if (keep && size_) std::memcpy(p, p_, std::min(size_, n));
    Free(p_, cap_);
    p_ = p;
    cap_ = cap;
  }
  size_ = n;
}

void Buffer::Append(const void* p, size_t n) {
  if (!n) return;
  const size_t old = size_;
  if (old + n > cap_) {
    size_t cap = 0;
    char* q = Allocate(std::max(old + n, cap_ * 2), &cap);
    if (old) std::memcpy(q, p_, old);
    Free(p_, cap_);
    p_ = q;
    cap_ = cap;
  }
  std::memcpy(p_ + old, p, n);
  size_ = old + n;
}

void Buffer::Release() {
  Free(p_, cap_);
  p_ = nullptr;
  size_ = cap_ = 0;
}

BufferPoolStats GetBufferPoolStats() { return ThePool().Stats(); }

}  // namespace mlos
