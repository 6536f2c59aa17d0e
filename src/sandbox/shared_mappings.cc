#include "sandbox/shared_mappings.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace mlos::sandbox {
namespace {

struct Entry {
  uint64_t size = 0, file_offset = 0, id = 0;
  std::shared_ptr<int> ro_fd, rw_fd;  // closed when the last holder goes
};

std::mutex g_mu;
std::map<uintptr_t, Entry>& Table() {
  static std::map<uintptr_t, Entry> t;
  return t;
}
uint64_t g_next_id = 1;
std::atomic<size_t> g_count{0};

}  // namespace

void RegisterSharedMapping(const void* base, uint64_t size, int fd, uint64_t file_offset) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const int ro = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (ro < 0) return;  // not shareable: tensors there are copied, as elsewhere
  const int rw = ::open(self.c_str(), O_RDWR | O_CLOEXEC);
  Entry e;
  e.size = size;
  e.file_offset = file_offset;
  const auto own = [](int fd) {
    return fd < 0 ? nullptr : std::shared_ptr<int>(new int(fd), [](int* p) {
      ::close(*p);
      delete p;
    });
  };
  e.ro_fd = own(ro);
  e.rw_fd = own(rw);
  std::lock_guard<std::mutex> lock(g_mu);
  e.id = g_next_id++;
  Table()[reinterpret_cast<uintptr_t>(base)] = std::move(e);
  g_count.store(Table().size());
}

bool AnySharedMappings() { return g_count.load(std::memory_order_relaxed) > 0; }

void UnregisterSharedMapping(const void* base) {
  std::lock_guard<std::mutex> lock(g_mu);
  Table().erase(reinterpret_cast<uintptr_t>(base));
  g_count.store(Table().size());
}

std::optional<SharedRef> FindSharedMapping(const void* p, uint64_t n, bool writable) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mu);
  auto& t = Table();
  auto it = t.upper_bound(at);
  if (it == t.begin()) return std::nullopt;
  --it;
  const uintptr_t base = it->first;
  const Entry& e = it->second;
  if (at - base > e.size || n > e.size - (at - base)) return std::nullopt;
  const std::shared_ptr<int>& fd = writable ? e.rw_fd : e.ro_fd;
  if (!fd) return std::nullopt;
  SharedRef r;
  r.fd = *fd;
  r.offset = e.file_offset + (at - base);
  r.id = e.id;
  r.hold = fd;
  return r;
}

}  // namespace mlos::sandbox
