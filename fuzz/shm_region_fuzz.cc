// Shared-memory region descriptors: the IPC REGISTER_SHM payload (str name, u64 offset,
// u64 byte_size, read with ipc::Reader as src/api/ipc/connection.cc reads it) registered with
// service::ShmRegistry::RegisterFd, then (offset, size) windows resolved in it as requests name
// them. The backing object is a 64 KiB memfd sealed against shrinking, or a regular file that may
// be truncated after registration (first byte). Every view Resolve hands out is written at its
// first and last byte: a view outside the object would crash (SIGSEGV, or SIGBUS past the end
// of the file).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "service/shm_registry.h"
#include "wire/ipc_protocol.h"

namespace {

constexpr uint64_t kObjectBytes = 64 << 10;

int SealedMemfd() {
  static const int fd = [] {
    const int m = ::memfd_create("mlos-fuzz-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0 || ::ftruncate(m, kObjectBytes) != 0 || ::fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
      std::abort();
    }
    return m;
  }();
  return ::dup(fd);
}

int RegularFile() {
  const auto path = mlos::fuzz::ScratchDir() / "region";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, kObjectBytes) != 0) std::abort();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  mlos::ipc::Reader r(mlos::fuzz::View(data + 1, size - 1));
  const std::string name(r.Str());
  const uint64_t offset = r.U64(), byte_size = r.U64();
  if (!r.ok()) return 0;  // connection.cc refuses the frame
  const bool regular = mode & 1;
  const int fd = regular ? RegularFile() : SealedMemfd();
  if (fd < 0) std::abort();
  const int keep = regular ? ::dup(fd) : -1;  // to truncate the file after registration
  mlos::service::ShmRegistry registry;
  const mlos::Status st = registry.RegisterFd(name, fd, offset, byte_size, "fuzz");
  if (st.ok() && regular && (mode & 2)) {
    if (::ftruncate(keep, static_cast<off_t>(r.U32() % (kObjectBytes + 1))) != 0) std::abort();
  }
  if (keep >= 0) ::close(keep);
  while (st.ok() && r.ok() && !r.done()) {
    const uint8_t which = r.U8();
    const uint64_t at = r.U64(), n = r.U64();
    auto view = registry.Resolve(which & 1 ? name + "x" : name, at, n);
    if (!view.ok()) continue;
    if (view->size != n) {
      std::fprintf(stderr, "Resolve gave %llu bytes for %llu\n",
                   static_cast<unsigned long long>(view->size), static_cast<unsigned long long>(n));
      std::abort();
    }
    if (n > 0) {
      view->data[0] ^= 1;
      view->data[n - 1] ^= 1;
    }
  }
  (void)registry.List(name);
  (void)registry.Unregister(name);
  return 0;
}
