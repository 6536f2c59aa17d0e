// Unpack: the scanner's entries written below a private temp directory, which is renamed into
// place only when the whole archive checked out.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "mpf/archive.h"
#include "mpf/archive_internal.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace internal {
namespace {

Status WriteAll(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Internal(what + ": write: " + Errno(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Writes below a root directory fd. Every path component is opened with O_NOFOLLOW |
// O_DIRECTORY, so nothing is ever written through a symlink; files are created with O_EXCL.
class DiskSink : public Sink {
 public:
  DiskSink(Fd root, bool fsync) : root_(std::move(root)), fsync_(fsync) {}

  Status BeginFile(const std::string& rel) override {
    std::string leaf;
    MLOS_ASSIGN_OR_RETURN(Fd parent, OpenParent(rel, &leaf));
    int fd = ::openat(parent.get(), leaf.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return EntryError(StatusCode::kInternal, rel, "create: " + Errno(errno));
    file_ = Fd(fd);
    rel_ = rel;
    return Status::Ok();
  }
  Status Write(const void* data, size_t n) override {
    return WriteAll(file_.get(), data, n, rel_);
  }
  Status EndFile(bool exec) override {
    if (::fchmod(file_.get(), exec ? 0755 : 0644) != 0) {
      return EntryError(StatusCode::kInternal, rel_, "chmod: " + Errno(errno));
    }
    if (fsync_ && ::fsync(file_.get()) != 0) {
      return EntryError(StatusCode::kInternal, rel_, "fsync: " + Errno(errno));
    }
    file_.Reset();
    return Status::Ok();
  }
  Status MakeDir(const std::string& rel) override {
    std::string leaf;
    MLOS_ASSIGN_OR_RETURN(Fd parent, OpenParent(rel, &leaf));
    MLOS_ASSIGN_OR_RETURN(Fd d, OpenOrMakeDir(parent.get(), leaf, rel));
    return Status::Ok();
  }
  Status MakeSymlink(const std::string& rel, const std::string& target) override {
    std::string leaf;
    MLOS_ASSIGN_OR_RETURN(Fd parent, OpenParent(rel, &leaf));
    if (::symlinkat(target.c_str(), parent.get(), leaf.c_str()) != 0) {
      return EntryError(StatusCode::kInternal, rel, "symlink: " + Errno(errno));
    }
    return Status::Ok();
  }
  Status MakeHardlink(const std::string& rel, const std::string& target) override {
    std::string leaf, target_leaf;
    MLOS_ASSIGN_OR_RETURN(Fd parent, OpenParent(rel, &leaf));
    MLOS_ASSIGN_OR_RETURN(Fd target_parent, OpenParent(target, &target_leaf));
    if (::linkat(target_parent.get(), target_leaf.c_str(), parent.get(), leaf.c_str(), 0) != 0) {
      return EntryError(StatusCode::kInternal, rel, "link: " + Errno(errno));
    }
    return Status::Ok();
  }

  // fsyncs every directory created (deepest first) and the root.
  Status SyncDirs() {
    if (!fsync_) return Status::Ok();
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      std::string leaf;
      auto parent = OpenParent(*it + "/x", &leaf);
      if (parent.ok()) ::fsync(parent->get());
    }
    ::fsync(root_.get());
    return Status::Ok();
  }

 private:
  Result<Fd> OpenOrMakeDir(int parent, const std::string& name, const std::string& rel) {
    bool made = false;
    if (::mkdirat(parent, name.c_str(), 0755) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return EntryError(StatusCode::kInternal, rel, "mkdir: " + Errno(errno));
    }
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      return EntryError(StatusCode::kInvalidArgument, rel,
                        "path component is not a real directory");
    }
    if (made) {
      ::fchmod(fd, 0755);
      dirs_.push_back(rel);
    }
    return Fd(fd);
  }

  // Opens (creating as needed) the directory holding rel; *leaf gets the last component.
  Result<Fd> OpenParent(const std::string& rel, std::string* leaf) {
    std::vector<std::string> parts = SplitPath(rel);
    *leaf = parts.back();
    int dfd = ::dup(root_.get());
    if (dfd < 0) return Internal("dup: " + Errno(errno));
    Fd cur(dfd);
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      MLOS_ASSIGN_OR_RETURN(Fd next, OpenOrMakeDir(cur.get(), parts[i], JoinPath(parts, i + 1)));
      cur = std::move(next);
    }
    return cur;
  }

  Fd root_;
  bool fsync_;
  Fd file_;
  std::string rel_;
  std::vector<std::string> dirs_;
};

// dest_dir without trailing separators; refused when it has no name or already exists.
Result<fs::path> UnpackDestination(const fs::path& dest_dir) {
  fs::path dest = dest_dir;
  while (!dest.has_filename() && dest.has_parent_path() && dest != dest.root_path()) {
    dest = dest.parent_path();
  }
  if (!dest.has_filename()) return InvalidArgument(dest_dir.string() + ": invalid destination");
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) {
    return AlreadyExists(dest.string() + ": already exists");
  }
  return dest;
}

// Removes the temp directory on destruction unless keep is set.
struct TempDirGuard {
  fs::path path;
  bool keep = false;
  ~TempDirGuard() {
    if (!keep) {
      std::error_code e;
      fs::remove_all(path, e);
    }
  }
};

// Scans `archive` into the temp directory `tmp` and fsyncs what it wrote.
Result<Manifest> ExtractInto(const fs::path& archive, const fs::path& tmp,
                             const UnpackOptions& options) {
  int rfd = ::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rfd < 0) return Internal(tmp.string() + ": open: " + Errno(errno));
  ::fchmod(rfd, 0755);
  DiskSink sink(Fd(rfd), options.fsync);
  auto m = internal::Scan(archive, options, &sink, nullptr);
  if (!m.ok()) return m.status();
  MLOS_RETURN_IF_ERROR(sink.SyncDirs());
  return m;
}

// Renames the temp directory to dest, never over an existing one.
Status MoveIntoPlace(const fs::path& tmp, const fs::path& dest) {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    int e = errno;
    if (e == EEXIST || e == ENOTEMPTY) return AlreadyExists(dest.string() + ": already exists");
    return Internal(dest.string() + ": rename: " + Errno(e));
  }
  return Status::Ok();
}

}  // namespace
}  // namespace internal

Result<Manifest> Unpack(const fs::path& archive, const fs::path& dest_dir,
                        const UnpackOptions& options) {
  MLOS_ASSIGN_OR_RETURN(fs::path dest, internal::UnpackDestination(dest_dir));
  fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  std::error_code ec;
  if (!fs::is_regular_file(archive, ec)) {
    return NotFound(archive.string() + ": no such archive file");
  }

  MLOS_ASSIGN_OR_RETURN(fs::path tmp, MakeTempDir(parent, ".unpack-"));
  internal::TempDirGuard guard{tmp};
  fs::permissions(tmp, fs::perms(0755), ec);  // not mkdtemp's 0700: a package is readable
  MLOS_ASSIGN_OR_RETURN(Manifest m, internal::ExtractInto(archive, tmp, options));
  MLOS_RETURN_IF_ERROR(internal::MoveIntoPlace(tmp, dest));
  guard.keep = true;
  if (options.fsync) MLOS_RETURN_IF_ERROR(FsyncDir(parent));
  return m;
}

}  // namespace mlos::mpf
