#include "axon/inspect/torchscript_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace mlos::axon {
namespace {

constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kCentralEntry = 0x02014b50;
constexpr uint64_t kEndRecordSize = 22;
constexpr uint64_t kMaxComment = 0xffff;
constexpr uint64_t kMaxDirectoryBytes = 64ull << 20;

// Little-endian field of `n` bytes at `at`; the caller checked the bounds.
uint64_t Le(const std::vector<uint8_t>& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}

bool ReadAt(int fd, uint64_t offset, size_t n, std::vector<uint8_t>* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

// True for "<root>/code/..." and "<root>/constants.pkl".
bool IsTorchScriptEntry(std::string_view name) {
  const size_t slash = name.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  const std::string_view rest = name.substr(slash + 1);
  return rest == "constants.pkl" || rest.starts_with("code/");
}

// Walks the central directory entries in `dir`.
bool DirectoryHasTorchScript(const std::vector<uint8_t>& dir) {
  size_t at = 0;
  while (at + 46 <= dir.size() && Le(dir, at, 4) == kCentralEntry) {
    const size_t name_len = Le(dir, at + 28, 2);
    const size_t extra_len = Le(dir, at + 30, 2);
    const size_t comment_len = Le(dir, at + 32, 2);
    if (at + 46 + name_len > dir.size()) return false;
    const std::string_view name(reinterpret_cast<const char*>(dir.data() + at + 46), name_len);
    if (IsTorchScriptEntry(name)) return true;
    at += 46 + name_len + extra_len + comment_len;
  }
  return false;
}

bool ScanFile(int fd, uint64_t size) {
  if (size < kEndRecordSize) return false;
  const uint64_t tail_len = std::min<uint64_t>(size, kEndRecordSize + kMaxComment + 20);
  const uint64_t tail_start = size - tail_len;
  std::vector<uint8_t> tail;
  if (!ReadAt(fd, tail_start, tail_len, &tail)) return false;
  // The end record: the last signature that leaves room for the record.
  size_t end = tail.size() - kEndRecordSize + 1;
  bool found = false;
  while (end-- > 0) {
    if (Le(tail, end, 4) == kEndOfCentralDirectory) {
      found = true;
      break;
    }
  }
  if (!found) return false;
  uint64_t dir_size = Le(tail, end + 12, 4);
  uint64_t dir_offset = Le(tail, end + 16, 4);
  if (dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    // zip64: a locator right before the end record points at the zip64 end record.
    if (end < 20 || Le(tail, end - 20, 4) != kZip64EndLocator) return false;
    const uint64_t zip64_end = Le(tail, end - 20 + 8, 8);
    std::vector<uint8_t> rec;
    if (zip64_end > size || size - zip64_end < 56 || !ReadAt(fd, zip64_end, 56, &rec) ||
        Le(rec, 0, 4) != kZip64End)
      return false;
    dir_size = Le(rec, 40, 8);
    dir_offset = Le(rec, 48, 8);
  }
  if (dir_size == 0 || dir_size > kMaxDirectoryBytes || dir_offset > size ||
      dir_size > size - dir_offset)
    return false;
  std::vector<uint8_t> dir;
  if (!ReadAt(fd, dir_offset, static_cast<size_t>(dir_size), &dir)) return false;
  return DirectoryHasTorchScript(dir);
}

}  // namespace

bool IsTorchScriptArchive(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  ScanFile(fd, static_cast<uint64_t>(st.st_size));
  ::close(fd);
  return ok;
}

}  // namespace mlos::axon
