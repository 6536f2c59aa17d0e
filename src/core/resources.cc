#include "core/resources.h"

#include <malloc.h>
#include <unistd.h>
#ifdef MLOS_SANITIZER_BUILD
// The sanitizer runtimes' allocator statistics (compiler-rt's allocator_interface.h, which GCC
// 12 does not install).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "mpf/manifest.h"

namespace mlos::core {
namespace {

uint64_t ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    return std::stoull(text);
  } catch (...) {
    return 0;
  }
}

// The process's cgroup path for `controller` ("" = the v2 unified hierarchy).
std::string CgroupPath(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-ID:controller-list:path
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    if (controller.empty() ? controllers.empty()
                           : (("," + controllers + ",").find("," + controller + ",") !=
                              std::string::npos)) {
      return line.substr(b + 1);
    }
  }
  return "";
}

}  // namespace

uint64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t HeapBytesInUse() {
#ifdef MLOS_SANITIZER_BUILD
  // The sanitizer's allocator replaces glibc's malloc there; mallinfo2 would not see it.
  return static_cast<uint64_t>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 m = ::mallinfo2();
  return static_cast<uint64_t>(m.uordblks) + static_cast<uint64_t>(m.hblkhd);
#endif
}

uint64_t MemoryAvailableToProcess() {
  uint64_t total = 0;
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit) {
      if (key == "MemTotal:") {
        total = kb * 1024;
        break;
      }
    }
  }
  uint64_t limit = 0;
  const std::string v2 = CgroupPath("");
  if (!v2.empty() || std::ifstream("/sys/fs/cgroup/cgroup.controllers")) {
    // Walk up from the process's cgroup: the tightest memory.max on the way counts.
    std::string path = v2.empty() ? "/" : v2;
    while (true) {
      uint64_t v = ReadNumber("/sys/fs/cgroup" + (path == "/" ? std::string() : path) +
                              "/memory.max");
      if (v > 0 && (limit == 0 || v < limit)) limit = v;
      if (path == "/" || path.empty()) break;
      size_t slash = path.find_last_of('/');
      path = slash == 0 ? "/" : path.substr(0, slash);
    }
  }
  const std::string v1 = CgroupPath("memory");
  if (!v1.empty()) {
    uint64_t v = ReadNumber("/sys/fs/cgroup/memory" + (v1 == "/" ? std::string() : v1) +
                            "/memory.limit_in_bytes");
    // v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages).
    if (v > 0 && v < (1ull << 60) && (limit == 0 || v < limit)) limit = v;
  }
  if (limit > 0 && (total == 0 || limit < total)) return limit;
  return total;
}

Result<uint64_t> ParseMemoryBudget(const std::string& text, uint64_t available,
                                   const std::string& what) {
  if (!text.empty() && text.back() == '%') {
    const std::string num = text.substr(0, text.size() - 1);
    char* end = nullptr;
    double pct = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() || !(pct > 0) || pct > 100) {
      return InvalidArgument(what + ": \"" + text + "\" is not a percentage in (0, 100]");
    }
    if (available == 0) {
      return FailedPrecondition(what + ": \"" + text +
                                "\" needs the memory available to the process, which cannot be "
                                "read here; give a size instead");
    }
    return static_cast<uint64_t>(std::floor(static_cast<double>(available) * pct / 100.0));
  }
  auto bytes = mpf::ParseByteSize(text);
  if (!bytes.ok()) {
    return InvalidArgument(what + ": \"" + text +
                           "\" is not a size (bytes, \"2GiB\", \"512MiB\") or a percentage "
                           "(\"80%\")");
  }
  return *bytes;
}

void ReturnFreedMemory() { ::malloc_trim(0); }

std::string FormatBytes(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace mlos::core
