#include "sandbox/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mlos::sandbox {

uint64_t ArenaSizeFor(uint64_t n) {
  uint64_t size = 64 * 1024;
  while (size < n && size < (uint64_t{1} << 62)) size <<= 1;
  return size;
}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = std::exchange(o.fd_, -1);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void Arena::Reset() {
  if (base_) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  base_ = nullptr;
  size_ = 0;
}

Result<Arena> Arena::Map(int fd, uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    return ResourceExhausted(std::string("mmap of shared memory: ") + std::strerror(err));
  }
  Arena a;
  a.fd_ = fd;
  a.base_ = static_cast<uint8_t*>(p);
  a.size_ = size;
  return a;
}

Result<Arena> Arena::Create(uint64_t size, const char* name) {
  size = ArenaSizeFor(size);
  const int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ResourceExhausted(std::string("memfd_create: ") + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    const int err = errno;
    ::close(fd);
    return ResourceExhausted("shared memory of " + std::to_string(size) +
                             " bytes: " + std::strerror(err));
  }
  return Map(fd, size);
}

Result<Arena> Arena::Adopt(int fd, uint64_t size) {
  if (size > kMaxArenaBytes) {
    ::close(fd);
    return InvalidArgument("shared memory from the other side is over the " +
                           std::to_string(kMaxArenaBytes >> 30) + " GiB limit");
  }
  struct stat st{};
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
    ::close(fd);
    return InvalidArgument("shared memory from the other side is not sealed against shrinking");
  }
  if (::fstat(fd, &st) != 0 || size == 0 || static_cast<uint64_t>(st.st_size) < size) {
    ::close(fd);
    return InvalidArgument("shared memory from the other side is smaller than announced");
  }
  return Map(fd, size);
}

}  // namespace mlos::sandbox
