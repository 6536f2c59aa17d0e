// ShmRegistry: each region is mapped once at registration (MAP_SHARED, read/write); views are
// bounds-checked windows into that mapping, kept alive by a shared_ptr so that unregistering a
// region in use unmaps only when the last request using it finishes.
#include "service/shm_registry.h"

#include "sandbox/shared_mappings.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mlos::service {

namespace {

// The mapping and its descriptor; unmapped and closed when the last holder goes.
struct Mapping {
  void* base = MAP_FAILED;
  size_t length = 0;
  int fd = -1;
  ~Mapping() {
    if (base != MAP_FAILED) {
      sandbox::UnregisterSharedMapping(base);
      ::munmap(base, length);
    }
    if (fd >= 0) ::close(fd);
  }
};

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool IsMemfd(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[256];
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  return std::strncmp(target, "/memfd:", 7) == 0;
}

}  // namespace

struct ShmRegistry::Region {
  ShmRegionStatus status;
  std::shared_ptr<Mapping> mapping;
  uint8_t* start = nullptr;      // mapping base + (offset - aligned offset)
  bool recheck_size = false;     // the backing file could shrink: fstat on every Resolve
};

ShmRegistry::ShmRegistry() = default;
ShmRegistry::~ShmRegistry() = default;

namespace {

// Maps [offset, offset + byte_size) of `fd` (taking ownership of fd) after checking the file
// covers it.
Result<std::shared_ptr<Mapping>> MapRegion(int fd, const std::string& name, uint64_t offset,
                                           uint64_t byte_size, uint8_t** start) {
  auto mapping = std::make_shared<Mapping>();
  mapping->fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Internal(Errno("fstat"));
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument("shared memory region \"" + name +
                           "\": the descriptor is not a regular file or memfd");
  }
  if (offset > UINT64_MAX - byte_size ||
      offset + byte_size > static_cast<uint64_t>(st.st_size)) {
    return InvalidArgument("shared memory region \"" + name + "\": offset " +
                           std::to_string(offset) + " + byte_size " + std::to_string(byte_size) +
                           " exceeds the object's " + std::to_string(st.st_size) + " bytes");
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset / page * page;
  const uint64_t length = offset - aligned + byte_size;
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                      static_cast<off_t>(aligned));
  if (base == MAP_FAILED) {
    return InvalidArgument("shared memory region \"" + name + "\": " + Errno("mmap"));
  }
  mapping->base = base;
  mapping->length = length;
  // Sandboxed models' workers map big inputs that lie here in place (sandbox/worker.cc).
  sandbox::RegisterSharedMapping(base, length, fd, aligned);
  *start = static_cast<uint8_t*>(base) + (offset - aligned);
  return mapping;
}

}  // namespace

Status ShmRegistry::RegisterSystem(const std::string& name, const std::string& key,
                                   uint64_t offset, uint64_t byte_size) {
  if (name.empty()) return InvalidArgument("shared memory region name must not be empty");
  if (key.empty()) return InvalidArgument("shared memory region \"" + name + "\": key must not be empty");
  if (key.find('/', 1) != std::string::npos) {
    return InvalidArgument("shared memory region \"" + name + "\": key \"" + key +
                           "\" must not contain '/' after the first character");
  }
  if (byte_size == 0) {
    return InvalidArgument("shared memory region \"" + name + "\": byte_size must be > 0");
  }
  {
    std::lock_guard lock(mu_);
    if (regions_.count(name)) {
      return AlreadyExists("shared memory region \"" + name + "\" is already registered");
    }
  }
  const std::string shm_name = key[0] == '/' ? key : "/" + key;
  const int fd = ::shm_open(shm_name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) {
      return NotFound("shared memory region \"" + name + "\": no shared memory object \"" + key +
                      "\"");
    }
    return InvalidArgument("shared memory region \"" + name + "\": " + Errno("shm_open"));
  }
  auto region = std::make_shared<Region>();
  auto mapped = MapRegion(fd, name, offset, byte_size, &region->start);
  if (!mapped.ok()) return mapped.status();
  region->mapping = std::move(*mapped);
  region->recheck_size = true;
  region->status = {name, key, offset, byte_size, ""};
  std::lock_guard lock(mu_);
  if (!regions_.emplace(name, std::move(region)).second) {
    return AlreadyExists("shared memory region \"" + name + "\" is already registered");
  }
  return Status::Ok();
}

Status ShmRegistry::RegisterFd(const std::string& name, int fd, uint64_t offset,
                               uint64_t byte_size, const std::string& owner) {
  if (name.empty()) {
    if (fd >= 0) ::close(fd);
    return InvalidArgument("shared memory region name must not be empty");
  }
  if (fd < 0) return InvalidArgument("shared memory region \"" + name + "\": no descriptor");
  if (byte_size == 0) {
    ::close(fd);
    return InvalidArgument("shared memory region \"" + name + "\": byte_size must be > 0");
  }
  bool recheck = false;
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
    if (IsMemfd(fd)) {
      ::close(fd);
      return InvalidArgument("shared memory region \"" + name +
                             "\": the memfd must be sealed with F_SEAL_SHRINK");
    }
    recheck = true;  // a regular file: its size is re-checked on every Resolve
  }
  {
    std::lock_guard lock(mu_);
    if (regions_.count(name)) {
      ::close(fd);
      return AlreadyExists("shared memory region \"" + name + "\" is already registered");
    }
  }
  auto region = std::make_shared<Region>();
  auto mapped = MapRegion(fd, name, offset, byte_size, &region->start);  // owns fd now
  if (!mapped.ok()) return mapped.status();
  region->mapping = std::move(*mapped);
  region->recheck_size = recheck;
  region->status = {name, "memfd", offset, byte_size, owner};
  std::lock_guard lock(mu_);
  if (!regions_.emplace(name, std::move(region)).second) {
    return AlreadyExists("shared memory region \"" + name + "\" is already registered");
  }
  return Status::Ok();
}

Status ShmRegistry::Unregister(const std::string& name) {
  std::shared_ptr<Region> doomed;  // released outside the lock
  std::lock_guard lock(mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return NotFound("shared memory region \"" + name + "\" is not registered");
  }
  doomed = std::move(it->second);
  regions_.erase(it);
  return Status::Ok();
}

void ShmRegistry::UnregisterOwnedBy(const std::string& owner) {
  std::vector<std::shared_ptr<Region>> doomed;
  std::lock_guard lock(mu_);
  for (auto it = regions_.begin(); it != regions_.end();) {
    if (!owner.empty() && it->second->status.owner == owner) {
      doomed.push_back(std::move(it->second));
      it = regions_.erase(it);
    } else {
      ++it;
    }
  }
}

Result<std::vector<ShmRegionStatus>> ShmRegistry::List(const std::string& name) const {
  std::vector<ShmRegionStatus> out;
  std::lock_guard lock(mu_);
  if (!name.empty()) {
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return NotFound("shared memory region \"" + name + "\" is not registered");
    }
    out.push_back(it->second->status);
    return out;
  }
  out.reserve(regions_.size());
  for (const auto& [n, r] : regions_) out.push_back(r->status);
  return out;
}

Result<ShmView> ShmRegistry::Resolve(const std::string& name, uint64_t offset,
                                     uint64_t size) const {
  std::shared_ptr<Region> region;
  {
    std::lock_guard lock(mu_);
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return NotFound("shared memory region \"" + name + "\" is not registered");
    }
    region = it->second;
  }
  const uint64_t region_size = region->status.byte_size;
  if (offset > region_size || size > region_size - offset) {
    return InvalidArgument("shared memory region \"" + name + "\": offset " +
                           std::to_string(offset) + " + size " + std::to_string(size) +
                           " exceeds its " + std::to_string(region_size) + " bytes");
  }
  if (region->recheck_size) {
    struct stat st {};
    if (::fstat(region->mapping->fd, &st) != 0 ||
        static_cast<uint64_t>(st.st_size) < region->status.offset + offset + size) {
      return InvalidArgument("shared memory region \"" + name +
                             "\": the shared memory object shrank below the region");
    }
  }
  ShmView view;
  view.data = region->start + offset;
  view.size = size;
  view.keepalive = std::shared_ptr<void>(region->mapping, region->mapping.get());
  return view;
}

}  // namespace mlos::service
