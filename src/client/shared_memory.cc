// SharedMemory: sealed memfd regions (IPC) and POSIX shm objects (KServe system shared memory).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mlos/client.h"

namespace mlos::client {
namespace {

Status Errno(const std::string& what) {
  return Internal(what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<SharedMemory>> SharedMemory::CreateMemfd(const std::string& debug_name,
                                                                uint64_t byte_size) {
  if (byte_size == 0) return InvalidArgument("shared memory size must be positive");
  int fd = ::memfd_create(debug_name.empty() ? "mlos-client" : debug_name.c_str(),
                          MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Errno("memfd_create");
  if (::ftruncate(fd, static_cast<off_t>(byte_size)) != 0) {
    Status st = Errno("ftruncate memfd");
    ::close(fd);
    return st;
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    Status st = Errno("sealing memfd");
    ::close(fd);
    return st;
  }
  void* p = ::mmap(nullptr, byte_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    Status st = Errno("mmap memfd");
    ::close(fd);
    return st;
  }
  std::unique_ptr<SharedMemory> m(new SharedMemory());
  m->fd_ = fd;
  m->data_ = static_cast<uint8_t*>(p);
  m->size_ = byte_size;
  return m;
}

Result<std::unique_ptr<SharedMemory>> SharedMemory::CreateSystem(const std::string& key,
                                                                 uint64_t byte_size) {
  if (byte_size == 0) return InvalidArgument("shared memory size must be positive");
  if (key.size() < 2 || key.front() != '/' || key.find('/', 1) != std::string::npos) {
    return InvalidArgument("shared memory key must look like '/name', got '" + key + "'");
  }
  int fd = ::shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists("shared memory key '" + key + "' exists");
    return Errno("shm_open " + key);
  }
  if (::ftruncate(fd, static_cast<off_t>(byte_size)) != 0) {
    Status st = Errno("ftruncate " + key);
    ::close(fd);
    ::shm_unlink(key.c_str());
    return st;
  }
  void* p = ::mmap(nullptr, byte_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    Status st = Errno("mmap " + key);
    ::close(fd);
    ::shm_unlink(key.c_str());
    return st;
  }
  std::unique_ptr<SharedMemory> m(new SharedMemory());
  m->fd_ = fd;
  m->data_ = static_cast<uint8_t*>(p);
  m->size_ = byte_size;
  m->key_ = key;
  return m;
}

SharedMemory::~SharedMemory() {
  if (data_) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  if (!key_.empty()) ::shm_unlink(key_.c_str());
}

Status SharedMemory::Write(uint64_t offset, const void* bytes, uint64_t n) {
  if (offset > size_ || n > size_ - offset) {
    return InvalidArgument("write of " + std::to_string(n) + " bytes at " +
                           std::to_string(offset) + " exceeds the region's " +
                           std::to_string(size_) + " bytes");
  }
  if (n) std::memcpy(data_ + offset, bytes, n);
  return Status::Ok();
}

Result<std::vector<uint8_t>> SharedMemory::Read(uint64_t offset, uint64_t n) const {
  if (offset > size_ || n > size_ - offset) {
    return InvalidArgument("read of " + std::to_string(n) + " bytes at " +
                           std::to_string(offset) + " exceeds the region's " +
                           std::to_string(size_) + " bytes");
  }
  return std::vector<uint8_t>(data_ + offset, data_ + offset + n);
}

}  // namespace mlos::client
