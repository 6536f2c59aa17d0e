// Filesystem helpers with the durability guarantees installs rely on.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos {

Result<std::string> ReadFile(const std::filesystem::path& path);
// Writes to a temp file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data);
// fsync of a directory (so a rename inside it is durable).
Status FsyncDir(const std::filesystem::path& dir);
// Creates a fresh unique directory `<parent>/<prefix>XXXXXX`.
Result<std::filesystem::path> MakeTempDir(const std::filesystem::path& parent,
                                          std::string_view prefix);
// True when `rel` is a relative path with no "..", no empty or "." components.
bool IsSafeRelativePath(std::string_view rel);

// An exclusive advisory lock (flock) on a file; released on destruction.
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // Blocks until the lock is held. Creates the lock file (and its parent) if needed.
  static Result<FileLock> Acquire(const std::filesystem::path& path);
  // Returns kUnavailable immediately if another process holds it.
  static Result<FileLock> TryAcquire(const std::filesystem::path& path);

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace mlos
