#include "sandbox/shared_mappings.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>

namespace mlos::sandbox {
namespace {

struct Entry {
  uint64_t size = 0, file_offset = 0, id = 0;
  std::shared_ptr<int> ro_fd;  // closed when the last holder goes
};

std::mutex g_mu;
std::map<uintptr_t, Entry>& Table() {
  static std::map<uintptr_t, Entry> t;
  return t;
}
uint64_t g_next_id = 1;

}  // namespace

void RegisterSharedMapping(const void* base, uint64_t size, int fd, uint64_t file_offset) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const int ro = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (ro < 0) return;  // not shareable read-only: inputs there are copied, as elsewhere
  Entry e;
  e.size = size;
  e.file_offset = file_offset;
  e.ro_fd = std::shared_ptr<int>(new int(ro), [](int* p) {
    ::close(*p);
    delete p;
  });
  std::lock_guard<std::mutex> lock(g_mu);
  e.id = g_next_id++;
  Table()[reinterpret_cast<uintptr_t>(base)] = std::move(e);
}

void UnregisterSharedMapping(const void* base) {
  std::lock_guard<std::mutex> lock(g_mu);
  Table().erase(reinterpret_cast<uintptr_t>(base));
}

std::optional<SharedRef> FindSharedMapping(const void* p, uint64_t n) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mu);
  auto& t = Table();
  auto it = t.upper_bound(at);
  if (it == t.begin()) return std::nullopt;
  --it;
  const uintptr_t base = it->first;
  const Entry& e = it->second;
  if (at - base > e.size || n > e.size - (at - base)) return std::nullopt;
  SharedRef r;
  r.fd = *e.ro_fd;
  r.offset = e.file_offset + (at - base);
  r.id = e.id;
  r.hold = e.ro_fd;
  return r;
}

}  // namespace mlos::sandbox
