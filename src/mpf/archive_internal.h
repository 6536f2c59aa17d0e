// Private to src/mpf: what the .axon archive code shares. archive_entries.cc holds the model of a
// package's entries and its symlink rules (Pack applies them to refuse what Unpack would refuse),
// archive_scan.cc the scanner behind Unpack and VerifyArchive, archive_unpack.cc the sink that
// writes to disk, archive_pack.cc the writer.
#pragma once

#include <archive.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "mpf/archive.h"
#include "mpf/manifest.h"
#include "mpf/manifest_internal.h"

namespace mlos::mpf::internal {

// The buffer size for streaming entry data, in and out.
inline constexpr size_t kBufSize = 256 << 10;

// strerror(e).
std::string Errno(int e);
// `archive entry "<name>": <what>` with the given code.
Status EntryError(StatusCode code, const std::string& name, const std::string& what);
// libarchive's last error on `a`, or "unknown error".
std::string ArchiveError(struct archive* a);

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Relative '/'-separated paths. SplitPath("a/b") = {"a", "b"}; JoinPath joins the first n parts;
// DirName("a/b") = "a", DirName("a") = "".
std::vector<std::string> SplitPath(const std::string& p);
std::string JoinPath(const std::vector<std::string>& parts, size_t n);
std::string DirName(const std::string& p);

// Lexically joins a symlink target to the directory holding the link. nullopt when the result
// leaves the package root; "" means the root itself.
std::optional<std::string> LexicalJoin(const std::string& dir, const std::string& target);

// ---------------------------------------------------------------------------------------------
// The model of a package's entries, shared by Pack (to refuse what Unpack would refuse) and by
// the archive scanner.

enum class Kind { kManifest, kSignature, kFile, kDir, kImplicitDir, kSymlink, kHardlink };

struct Node {
  Kind kind = Kind::kFile;
  uint64_t size = 0;     // kFile (and resolved kHardlink)
  std::string sha256;    // idem
  std::string target;    // kSymlink: link text; kHardlink: the kFile path it names
};

inline bool IsDirKind(Kind k) { return k == Kind::kDir || k == Kind::kImplicitDir; }

// Resolves a symlink strictly: every component of the joined target path before the last must
// be a directory of the package (never a symlink, so the lexical result equals what the kernel
// resolves), and the last must be a file, a hard link, or a symlink resolved the same way.
// Returns the path of the regular file it reaches.
Result<std::string> ResolveSymlink(const std::map<std::string, Node>& nodes,
                                   const std::string& link);

// ---------------------------------------------------------------------------------------------
// The scanner behind Unpack and VerifyArchive.

// Where the scanner's accepted entries go. Paths are normalised, checked package paths; a
// hard link's target is an earlier regular file. BeginFile, Write*, EndFile bracket one file.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status BeginFile(const std::string& rel) = 0;
  virtual Status Write(const void* data, size_t n) = 0;
  virtual Status EndFile(bool exec) = 0;
  virtual Status MakeDir(const std::string& rel) = 0;
  virtual Status MakeSymlink(const std::string& rel, const std::string& target) = 0;
  virtual Status MakeHardlink(const std::string& rel, const std::string& target) = 0;
};

// Streams the archive at `path` through every check Unpack makes (see archive.h), handing each
// accepted entry to `sink`; the first error from a check or from the sink ends the scan. When
// given, *manifest_yaml receives the exact bytes of manifest.yaml. Returns the parsed manifest.
Result<Manifest> Scan(const std::filesystem::path& path, const UnpackOptions& options, Sink* sink,
                      std::string* manifest_yaml);

}  // namespace mlos::mpf::internal
