#include "mapped_ort_model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iterator>

#include "ort_format_initializers.h"

namespace mlos::onnx_plugin {
namespace {

uint64_t HashIdentity(dev_t dev, ino_t ino, int64_t size, int64_t mtime_ns) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 over the four values' bytes
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  };
  mix(static_cast<uint64_t>(dev));
  mix(static_cast<uint64_t>(ino));
  mix(static_cast<uint64_t>(size));
  mix(static_cast<uint64_t>(mtime_ns));
  return h != 0 ? h : 1;
}

// Closes a file descriptor on every path out of Acquire.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedOrtModel::Region::~Region() {
  if (data != nullptr) ::munmap(data, size);
}

MappedOrtModel::MappedOrtModel(void* data, size_t size, uint64_t key) : key_(key) {
  region_.data = data;
  region_.size = size;
}

bool MappedOrtModel::ReadInitializers() {
  std::vector<OrtFormatInitializer> initializers;
  if (!ReadOrtFormatInitializers(static_cast<const uint8_t*>(region_.data), region_.size,
                                 &initializers)) {
    return false;
  }
  const Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault);
  for (const OrtFormatInitializer& i : initializers) {
    // ONNX Runtime never writes to a constant initializer; the mapping is read-only.
    values_.push_back(Ort::Value::CreateTensor(cpu, const_cast<void*>(i.data), i.byte_size,
                                               i.dims.data(), i.dims.size(), i.type));
    names_.push_back(i.name);
  }
  return true;
}

void MappedOrtModel::AddSharedInitializers(Ort::SessionOptions& options) const {
  for (size_t i = 0; i < names_.size(); ++i) options.AddInitializer(names_[i].c_str(), values_[i]);
}

void MappedOrtModel::ReleaseResidentPages() const {
  ::madvise(region_.data, region_.size, MADV_DONTNEED);
}

std::shared_ptr<MappedOrtModel> MappedOrtModelCache::Acquire(const std::string& path) {
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
    return nullptr;
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  const FileIdentity identity{st.st_dev, st.st_ino, static_cast<int64_t>(st.st_size), mtime_ns};

  std::lock_guard<std::mutex> lock(mu_);
  auto it = mappings_.find(identity);
  if (it != mappings_.end()) {
    if (std::shared_ptr<MappedOrtModel> live = it->second.lock()) return live;
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.fd, 0);
  if (data == MAP_FAILED) return nullptr;
  std::shared_ptr<MappedOrtModel> mapping(
      new MappedOrtModel(data, size, HashIdentity(st.st_dev, st.st_ino, st.st_size, mtime_ns)));
  try {
    if (!mapping->ReadInitializers()) return nullptr;
  } catch (const Ort::Exception&) {
    return nullptr;
  }
  for (auto e = mappings_.begin(); e != mappings_.end();) {
    e = e->second.expired() ? mappings_.erase(e) : std::next(e);
  }
  mappings_[identity] = mapping;
  return mapping;
}

std::shared_ptr<std::mutex> MappedOrtModelCache::PathLock(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::shared_ptr<std::mutex> live = path_locks_[path].lock()) return live;
  for (auto e = path_locks_.begin(); e != path_locks_.end();) {
    e = e->second.expired() && e->first != path ? path_locks_.erase(e) : std::next(e);
  }
  auto made = std::make_shared<std::mutex>();
  path_locks_[path] = made;
  return made;
}

}  // namespace mlos::onnx_plugin
