#include "mpf/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/package_verify.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

constexpr uint64_t kSlackBytes = 1ull << 20;
constexpr uint64_t kMaxSignatureBytes = 64ull << 10;
constexpr int kMaxSymlinkHops = 40;
constexpr size_t kBufSize = 256 << 10;

std::string Quote(const std::string& s) { return "\"" + s + "\""; }
Status EntryError(StatusCode code, const std::string& name, const std::string& what) {
  return Status(code, "archive entry " + Quote(name) + ": " + what);
}
std::string Errno(int e) { return std::strerror(e); }

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

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    out.push_back(p.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string JoinPath(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string DirName(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

// Lexically joins a symlink target to the directory holding the link. nullopt when the result
// leaves the package root; "" means the root itself.
std::optional<std::string> LexicalJoin(const std::string& dir, const std::string& target) {
  std::vector<std::string> stack;
  if (!dir.empty()) stack = SplitPath(dir);
  for (const std::string& c : SplitPath(target)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) return std::nullopt;
      stack.pop_back();
    } else {
      stack.push_back(c);
    }
  }
  return JoinPath(stack, stack.size());
}

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

bool IsDirKind(Kind k) { return k == Kind::kDir || k == Kind::kImplicitDir; }

// Resolves a symlink strictly: every component of the joined target path before the last must
// be a directory of the package (never a symlink, so the lexical result equals what the kernel
// resolves), and the last must be a file, a hard link, or a symlink resolved the same way.
// Returns the path of the regular file it reaches.
Result<std::string> ResolveSymlink(const std::map<std::string, Node>& nodes,
                                   const std::string& link) {
  std::string cur = link;
  for (int hop = 0; hop < kMaxSymlinkHops; ++hop) {
    auto it = nodes.find(cur);
    if (it == nodes.end()) return NotFound(link + ": symlink target does not exist in the package");
    const Node& n = it->second;
    if (n.kind == Kind::kFile) return cur;
    if (n.kind == Kind::kHardlink) return n.target;
    if (n.kind != Kind::kSymlink) {
      return InvalidArgument(link + ": symlink does not resolve to a regular file of the package");
    }
    if (!n.target.empty() && n.target.front() == '/') {
      return InvalidArgument(link + ": symlink target " + Quote(n.target) + " is absolute");
    }
    std::vector<std::string> stack;
    std::string dir = DirName(cur);
    if (!dir.empty()) stack = SplitPath(dir);
    std::vector<std::string> comps = SplitPath(n.target);
    for (size_t i = 0; i < comps.size(); ++i) {
      const std::string& c = comps[i];
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        if (stack.empty()) {
          return InvalidArgument(link + ": symlink target escapes the package");
        }
        stack.pop_back();
        continue;
      }
      stack.push_back(c);
      bool last = true;
      for (size_t j = i + 1; j < comps.size(); ++j) {
        if (!comps[j].empty() && comps[j] != ".") last = false;
      }
      if (!last) {
        auto d = nodes.find(JoinPath(stack, stack.size()));
        if (d == nodes.end() || !IsDirKind(d->second.kind)) {
          return InvalidArgument(link + ": symlink target " + Quote(n.target) +
                                 " goes through something that is not a directory of the package");
        }
      }
    }
    cur = JoinPath(stack, stack.size());
  }
  return InvalidArgument(link + ": too many levels of symbolic links");
}

// ---------------------------------------------------------------------------------------------
// Reading archives.

struct ReaderDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<struct archive, ReaderDeleter>;

Result<Reader> OpenReader(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound(path.string() + ": no such archive file");
  Reader a(archive_read_new());
  if (!a) return Internal("archive_read_new failed");
  archive_read_support_format_tar(a.get());  // ustar, pax, gnutar: tar formats only
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_bzip2(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 64 << 10) != ARCHIVE_OK) {
    return DataLoss(path.string() + ": cannot open archive: " +
                    std::string(archive_error_string(a.get()) ? archive_error_string(a.get())
                                                              : "unknown error"));
  }
  return a;
}

std::string ArchiveError(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown error";
}

// Reads the next header. nullopt at end of archive.
Result<std::optional<struct archive_entry*>> NextHeader(struct archive* a, const fs::path& path) {
  struct archive_entry* e = nullptr;
  int r = archive_read_next_header(a, &e);
  if (r == ARCHIVE_EOF) return std::optional<struct archive_entry*>();
  if (r < ARCHIVE_WARN) return DataLoss(path.string() + ": corrupt archive: " + ArchiveError(a));
  if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR) {
    return DataLoss(path.string() + ": not a tar archive");
  }
  return std::optional<struct archive_entry*>(e);
}

std::string RawName(struct archive_entry* e) {
  const char* p = archive_entry_pathname(e);
  if (!p) p = archive_entry_pathname_utf8(e);
  return p ? p : "";
}

// Normalises an entry name: strips leading "./" and trailing "/". Returns "" for the root
// directory entry ("." or "./"), nullopt when the name is unsafe.
std::optional<std::string> NormalizeName(std::string name) {
  while (name.starts_with("./")) name.erase(0, 2);
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (name.empty() || name == ".") return std::string();
  if (!IsSafeRelativePath(name)) return std::nullopt;
  return name;
}

const char* TypeName(mode_t type) {
  switch (type) {
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "fifo";
    case AE_IFSOCK: return "socket";
    default: return "special file";
  }
}

// Where the scanner's accepted entries go.
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

class NullSink : public Sink {
 public:
  Status BeginFile(const std::string&) override { return Status::Ok(); }
  Status Write(const void*, size_t) override { return Status::Ok(); }
  Status EndFile(bool) override { return Status::Ok(); }
  Status MakeDir(const std::string&) override { return Status::Ok(); }
  Status MakeSymlink(const std::string&, const std::string&) override { return Status::Ok(); }
  Status MakeHardlink(const std::string&, const std::string&) override { return Status::Ok(); }
};

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

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string msg;
  for (const std::string& p : problems) {
    if (!msg.empty()) msg += "; ";
    msg += p;
  }
  return msg;
}

// Streams the current entry's data into `sink`, enforcing the per-entry and total limits.
Status StreamData(struct archive* a, const std::string& rel, uint64_t entry_limit,
                  const std::string& entry_limit_what, uint64_t* total, uint64_t total_limit,
                  Sink* sink, Sha256* hasher, uint64_t* size_out, std::string* keep = nullptr) {
  static thread_local std::vector<char> buf(kBufSize);
  uint64_t n_entry = 0;
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) return EntryError(StatusCode::kDataLoss, rel, "corrupt data: " + ArchiveError(a));
    n_entry += static_cast<uint64_t>(n);
    *total += static_cast<uint64_t>(n);
    if (n_entry > entry_limit) {
      return EntryError(StatusCode::kDataLoss, rel, entry_limit_what);
    }
    if (*total > total_limit) {
      return Status(StatusCode::kResourceExhausted,
                    "archive expands to more than " + std::to_string(total_limit) +
                        " bytes (limit); refused at entry " + Quote(rel));
    }
    if (hasher) hasher->Update(buf.data(), static_cast<size_t>(n));
    if (keep) keep->append(buf.data(), static_cast<size_t>(n));
    MLOS_RETURN_IF_ERROR(sink->Write(buf.data(), static_cast<size_t>(n)));
  }
  *size_out = n_entry;
  return Status::Ok();
}

// The scanner behind Unpack and VerifyArchive: every check happens here.
Result<Manifest> Scan(const fs::path& path, const UnpackOptions& options, Sink* sink,
                      std::string* manifest_yaml) {
  MLOS_ASSIGN_OR_RETURN(Reader reader, OpenReader(path));
  struct archive* a = reader.get();

  std::map<std::string, Node> nodes;
  std::map<std::string, const FileEntry*> declared;
  std::optional<Manifest> manifest;
  std::vector<std::string> problems;
  uint64_t entries = 0, total = 0;
  uint64_t total_limit = std::min<uint64_t>(options.max_bytes, kMaxManifestBytes);

  for (;;) {
    MLOS_ASSIGN_OR_RETURN(std::optional<struct archive_entry*> next, NextHeader(a, path));
    if (!next) break;
    struct archive_entry* e = *next;
    if (++entries > options.max_entries) {
      return ResourceExhausted(path.string() + ": archive has more than " +
                               std::to_string(options.max_entries) + " entries (limit)");
    }
    const std::string raw = RawName(e);
    std::optional<std::string> norm = NormalizeName(raw);
    if (!norm) {
      return EntryError(StatusCode::kInvalidArgument, raw,
                        "unsafe path (absolute, \"..\" or empty component)");
    }
    const std::string rel = *norm;
    const char* hardlink = archive_entry_hardlink(e);
    const mode_t type = archive_entry_filetype(e);
    const bool is_dir = !hardlink && type == AE_IFDIR;

    if (rel.empty()) {  // "./": the package root
      if (!is_dir) return EntryError(StatusCode::kInvalidArgument, raw, "unsafe path");
      continue;
    }

    if (!manifest) {
      if (rel != kManifestFileName || hardlink || type != AE_IFREG) {
        return DataLoss(path.string() + ": manifest.yaml must be the first entry of the archive "
                        "(found " + Quote(raw) + ")");
      }
      if (archive_entry_size_is_set(e) &&
          static_cast<uint64_t>(archive_entry_size(e)) > kMaxManifestBytes) {
        return ResourceExhausted("manifest.yaml is larger than " +
                                 std::to_string(kMaxManifestBytes) + " bytes");
      }
      std::string text;
      uint64_t size = 0;
      MLOS_RETURN_IF_ERROR(sink->BeginFile(rel));
      MLOS_RETURN_IF_ERROR(StreamData(a, rel, kMaxManifestBytes, "manifest.yaml is too large",
                                      &total, kMaxManifestBytes, sink, nullptr, &size, &text));
      MLOS_RETURN_IF_ERROR(sink->EndFile(false));
      auto parsed = ParseManifest(text, options.parse);
      if (!parsed.ok()) return parsed.status().WithPrefix("manifest.yaml");
      manifest = std::move(parsed).value();
      uint64_t declared_total = 0;
      for (const FileEntry& f : manifest->format.files) {
        if (!IsSafeRelativePath(f.path)) {
          return InvalidArgument("manifest.yaml: spec.format.files: unsafe path " + Quote(f.path));
        }
        if (f.path == kManifestFileName || f.path == kSignatureFileName) {
          return InvalidArgument("manifest.yaml: spec.format.files must not list " + f.path);
        }
        if (!declared.emplace(f.path, &f).second) {
          return InvalidArgument("manifest.yaml: spec.format.files lists " + Quote(f.path) +
                                 " twice");
        }
        declared_total += f.size;
      }
      if (options.max_total_bytes != 0) {
        total_limit = std::min(options.max_total_bytes, options.max_bytes);
      } else {
        total_limit = std::min(options.max_bytes, declared_total + size + kSlackBytes);
      }
      nodes[rel] = Node{Kind::kManifest, size, "", ""};
      if (manifest_yaml) *manifest_yaml = std::move(text);
      continue;
    }

    // Duplicates and conflicts with earlier entries.
    auto existing = nodes.find(rel);
    if (existing != nodes.end()) {
      bool ok = is_dir && existing->second.kind == Kind::kImplicitDir;
      if (!ok) return EntryError(StatusCode::kInvalidArgument, raw, "duplicate entry");
    }
    std::vector<std::string> parts = SplitPath(rel);
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string anc = JoinPath(parts, i);
      auto it = nodes.find(anc);
      if (it == nodes.end()) {
        nodes[anc] = Node{Kind::kImplicitDir, 0, "", ""};
      } else if (!IsDirKind(it->second.kind)) {
        return EntryError(StatusCode::kInvalidArgument, raw,
                          "parent " + Quote(anc) + " is not a directory");
      }
    }

    if (is_dir) {
      MLOS_RETURN_IF_ERROR(sink->MakeDir(rel));
      nodes[rel] = Node{Kind::kDir, 0, "", ""};
      continue;
    }

    auto decl = declared.find(rel);
    const bool is_sig = rel == kSignatureFileName;
    if (hardlink || type == AE_IFREG || type == AE_IFLNK) {
      if (decl == declared.end() && !(is_sig && !hardlink && type == AE_IFREG)) {
        return EntryError(StatusCode::kInvalidArgument, raw, "not declared in the manifest");
      }
    }

    if (hardlink) {
      std::optional<std::string> target = NormalizeName(hardlink);
      if (!target || target->empty()) {
        return EntryError(StatusCode::kInvalidArgument, raw,
                          "hard link to unsafe path " + Quote(hardlink));
      }
      auto t = nodes.find(*target);
      if (t == nodes.end() || t->second.kind != Kind::kFile) {
        return EntryError(StatusCode::kInvalidArgument, raw,
                          "hard link target " + Quote(hardlink) +
                              " is not an earlier regular file of the package");
      }
      MLOS_RETURN_IF_ERROR(sink->MakeHardlink(rel, *target));
      nodes[rel] = Node{Kind::kHardlink, 0, "", *target};
      continue;
    }

    if (type == AE_IFLNK) {
      const char* t = archive_entry_symlink(e);
      std::string target = t ? t : "";
      if (target.empty()) return EntryError(StatusCode::kInvalidArgument, raw, "empty symlink");
      if (target.front() == '/') {
        return EntryError(StatusCode::kInvalidArgument, raw,
                          "symlink target " + Quote(target) + " is absolute");
      }
      if (!LexicalJoin(DirName(rel), target)) {
        return EntryError(StatusCode::kInvalidArgument, raw,
                          "symlink target " + Quote(target) + " escapes the package");
      }
      MLOS_RETURN_IF_ERROR(sink->MakeSymlink(rel, target));
      nodes[rel] = Node{Kind::kSymlink, 0, "", target};
      continue;
    }

    if (type != AE_IFREG) {
      return EntryError(StatusCode::kInvalidArgument, raw,
                        std::string(TypeName(type)) + " entries are not allowed");
    }

    // A regular file.
    uint64_t limit = is_sig ? kMaxSignatureBytes : decl->second->size;
    std::string over = is_sig ? "signature file is too large"
                              : "size mismatch (expected " + std::to_string(limit) +
                                    ", archive entry is larger)";
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > limit) {
      if (!is_sig) {
        over = "size mismatch (expected " + std::to_string(limit) + ", got " +
               std::to_string(archive_entry_size(e)) + ")";
      }
      return EntryError(StatusCode::kDataLoss, raw, over);
    }
    Sha256 hasher;
    uint64_t size = 0;
    MLOS_RETURN_IF_ERROR(sink->BeginFile(rel));
    MLOS_RETURN_IF_ERROR(
        StreamData(a, rel, limit, over, &total, total_limit, sink, &hasher, &size));
    MLOS_RETURN_IF_ERROR(sink->EndFile((archive_entry_perm(e) & 0111) != 0));
    nodes[rel] = Node{is_sig ? Kind::kSignature : Kind::kFile, size, hasher.HexDigest(), ""};
  }

  if (!manifest) return DataLoss(path.string() + ": empty archive (no manifest.yaml)");

  // Every declared file: present, of the right size and hash.
  for (const FileEntry& f : manifest->format.files) {
    auto it = nodes.find(f.path);
    if (it == nodes.end()) {
      problems.push_back(f.path + ": missing from the archive");
      continue;
    }
    const Node* file = nullptr;
    switch (it->second.kind) {
      case Kind::kFile: file = &it->second; break;
      case Kind::kHardlink: file = &nodes.at(it->second.target); break;
      case Kind::kSymlink: {
        auto resolved = ResolveSymlink(nodes, f.path);
        if (!resolved.ok()) return resolved.status();
        file = &nodes.at(*resolved);
        break;
      }
      default:
        problems.push_back(f.path + ": is a directory in the archive, declared as a file");
        continue;
    }
    if (file->size != f.size) {
      problems.push_back(f.path + ": size mismatch (expected " + std::to_string(f.size) +
                         ", got " + std::to_string(file->size) + ")");
    } else if (!f.sha256.empty() && file->sha256 != f.sha256) {
      problems.push_back(f.path + ": sha256 mismatch (expected " + f.sha256 + ", got " +
                         file->sha256 + ")");
    }
  }
  if (!problems.empty()) return DataLoss(JoinProblems(problems));
  return std::move(*manifest);
}

// ---------------------------------------------------------------------------------------------
// Writing archives.

struct WriterDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
using Writer = std::unique_ptr<struct archive, WriterDeleter>;

struct PackItem {
  std::string rel;
  Kind kind = Kind::kFile;  // kFile, kDir or kSymlink
  std::string link;         // kSymlink
  uint64_t size = 0;
  std::string sha256;
  bool exec = false;
};

Status WriteHeader(struct archive* a, const PackItem& item) {
  std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> e(archive_entry_new(),
                                                                           archive_entry_free);
  archive_entry_copy_pathname(e.get(), item.rel.c_str());
  archive_entry_set_mtime(e.get(), 0, 0);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  switch (item.kind) {
    case Kind::kDir:
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
      archive_entry_set_size(e.get(), 0);
      break;
    case Kind::kSymlink:
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_copy_symlink(e.get(), item.link.c_str());
      archive_entry_set_size(e.get(), 0);
      break;
    default:
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), item.exec ? 0755 : 0644);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(item.size));
      break;
  }
  if (archive_write_header(a, e.get()) < ARCHIVE_WARN) {
    return Internal(item.rel + ": writing archive header: " + ArchiveError(a));
  }
  return Status::Ok();
}

Status WriteData(struct archive* a, const std::string& rel, const void* data, size_t n) {
  if (n == 0) return Status::Ok();
  la_ssize_t w = archive_write_data(a, data, n);
  if (w < 0 || static_cast<size_t>(w) != n) {
    return Internal(rel + ": writing archive data: " + ArchiveError(a));
  }
  return Status::Ok();
}

// Streams a regular file into the archive, checking it still has the size and hash computed
// while building the manifest.
Status WriteFileData(struct archive* a, const fs::path& full, const PackItem& item) {
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal(item.rel + ": open: " + Errno(errno));
  Fd f(fd);
  std::vector<char> buf(kBufSize);
  Sha256 hasher;
  uint64_t size = 0;
  for (;;) {
    ssize_t n = ::read(f.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal(item.rel + ": read: " + Errno(errno));
    }
    if (n == 0) break;
    size += static_cast<uint64_t>(n);
    if (size > item.size) break;
    hasher.Update(buf.data(), static_cast<size_t>(n));
    MLOS_RETURN_IF_ERROR(WriteData(a, item.rel, buf.data(), static_cast<size_t>(n)));
  }
  if (size != item.size || hasher.HexDigest() != item.sha256) {
    return FailedPrecondition(item.rel + ": file changed while packing");
  }
  return Status::Ok();
}

// The node map Pack builds to apply Unpack's symlink rules before writing anything.
Status CheckPackSymlinks(const std::vector<PackItem>& items) {
  std::map<std::string, Node> nodes;
  for (const PackItem& it : items) {
    std::vector<std::string> parts = SplitPath(it.rel);
    for (size_t i = 1; i < parts.size(); ++i) {
      nodes.emplace(JoinPath(parts, i), Node{Kind::kDir, 0, "", ""});
    }
    nodes[it.rel] = Node{it.kind, it.size, it.sha256, it.link};
  }
  for (const PackItem& it : items) {
    if (it.kind != Kind::kSymlink) continue;
    if (!it.link.empty() && it.link.front() == '/') {
      return InvalidArgument(it.rel + ": symlink target " + Quote(it.link) +
                             " is absolute (only relative links inside the package are packed)");
    }
    if (!LexicalJoin(DirName(it.rel), it.link)) {
      return InvalidArgument(it.rel + ": symlink target " + Quote(it.link) +
                             " escapes the package");
    }
    auto r = ResolveSymlink(nodes, it.rel);
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

}  // namespace

Result<Manifest> Pack(const fs::path& dir, const fs::path& out_file, const PackOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(dir.string() + ": not a directory");
  fs::path manifest_path = dir / kManifestFileName;
  if (fs::file_size(manifest_path, ec) > kMaxManifestBytes && !ec) {
    return ResourceExhausted(manifest_path.string() + ": too large");
  }
  auto text = ReadFile(manifest_path);
  if (!text.ok()) return NotFound(manifest_path.string() + ": cannot read manifest");

  YAML::Node doc;
  try {
    doc = YAML::Load(*text);
  } catch (const std::exception& ex) {
    return InvalidArgument("manifest.yaml: invalid YAML: " + std::string(ex.what()));
  }
  if (!doc.IsMap()) return InvalidArgument("manifest.yaml: not a YAML mapping");

  // The files, with out_file itself left out when it lies inside dir.
  MLOS_ASSIGN_OR_RETURN(std::vector<std::string> listed, ListPackageFiles(dir));
  fs::path canon_dir = fs::weakly_canonical(dir, ec);
  fs::path canon_out = fs::weakly_canonical(out_file, ec);
  std::string out_rel;
  {
    fs::path rel = canon_out.lexically_relative(canon_dir);
    if (!rel.empty() && IsSafeRelativePath(rel.generic_string())) out_rel = rel.generic_string();
  }

  std::vector<PackItem> items;
  for (const std::string& rel : listed) {
    if (rel == out_rel) continue;
    fs::path full = dir / rel;
    struct stat lst;
    if (::lstat(full.c_str(), &lst) != 0) return Internal(rel + ": lstat: " + Errno(errno));
    PackItem item;
    item.rel = rel;
    if (S_ISLNK(lst.st_mode)) {
      item.kind = Kind::kSymlink;
      std::error_code lec;
      item.link = fs::read_symlink(full, lec).string();
      if (lec) return Internal(rel + ": readlink: " + lec.message());
    } else {
      auto sha = Sha256File(full, &item.size);
      if (!sha.ok()) return sha.status();
      item.sha256 = *sha;
      item.exec = (lst.st_mode & 0111) != 0;
    }
    items.push_back(std::move(item));
  }
  MLOS_RETURN_IF_ERROR(CheckPackSymlinks(items));
  // A symlink's declared size and hash are those of the file it resolves to.
  {
    std::map<std::string, Node> nodes;
    for (const PackItem& it : items) {
      std::vector<std::string> parts = SplitPath(it.rel);
      for (size_t i = 1; i < parts.size(); ++i) {
        nodes.emplace(JoinPath(parts, i), Node{Kind::kDir, 0, "", ""});
      }
      nodes[it.rel] = Node{it.kind, it.size, it.sha256, it.link};
    }
    for (PackItem& it : items) {
      if (it.kind != Kind::kSymlink) continue;
      MLOS_ASSIGN_OR_RETURN(std::string target, ResolveSymlink(nodes, it.rel));
      it.size = nodes.at(target).size;
      it.sha256 = nodes.at(target).sha256;
    }
  }

  // Rewrite spec.format.files, keeping any extra per-file fields of existing entries.
  std::vector<FileEntry> files;
  try {
    std::map<std::string, YAML::Node> old_entries;
    YAML::Node old = doc["spec"] && doc["spec"]["format"] ? doc["spec"]["format"]["files"]
                                                          : YAML::Node();
    if (old && old.IsSequence()) {
      for (const YAML::Node& n : old) {
        if (n.IsMap() && n["path"] && n["path"].IsScalar()) {
          old_entries[n["path"].as<std::string>()] = YAML::Clone(n);
        }
      }
    }
    YAML::Node seq(YAML::NodeType::Sequence);
    for (const PackItem& it : items) {
      YAML::Node n;
      auto o = old_entries.find(it.rel);
      n = o != old_entries.end() ? o->second : YAML::Node(YAML::NodeType::Map);
      n["path"] = it.rel;
      n["size"] = it.size;
      n["sha256"] = it.sha256;
      seq.push_back(n);
      files.push_back(FileEntry{it.rel, it.size, it.sha256});
    }
    doc["spec"]["format"]["files"] = seq;
  } catch (const std::exception& ex) {
    return InvalidArgument("manifest.yaml: cannot rewrite spec.format.files: " +
                           std::string(ex.what()));
  }
  std::string rewritten;
  try {
    YAML::Emitter em;
    em << doc;
    rewritten = em.c_str();
  } catch (const std::exception& ex) {
    return Internal("manifest.yaml: cannot emit: " + std::string(ex.what()));
  }
  auto parsed = ParseManifest(rewritten, options.parse);
  if (!parsed.ok()) return parsed.status().WithPrefix("manifest.yaml");
  Manifest m = std::move(parsed).value();
  m.format.files = files;
  auto valid = ValidateManifest(m, options.parse);
  if (!valid.ok()) return valid.WithPrefix("manifest.yaml");
  const std::string manifest_text = EmitManifest(m);
  if (manifest_text.size() > kMaxManifestBytes) {
    return ResourceExhausted("manifest.yaml: too large once files are listed");
  }
  {
    auto again = ParseManifest(manifest_text, options.parse);
    if (!again.ok()) return again.status().WithPrefix("manifest.yaml (as written)");
    bool same = again->format.files.size() == files.size();
    for (size_t i = 0; same && i < files.size(); ++i) {
      const FileEntry& x = again->format.files[i];
      same = x.path == files[i].path && x.size == files[i].size && x.sha256 == files[i].sha256;
    }
    if (!same) return Internal("manifest.yaml: spec.format.files does not survive emit + parse");
    m = std::move(again).value();
  }

  // Every entry, directories included, sorted by path (a directory precedes its contents).
  std::vector<PackItem> entries;
  {
    std::set<std::string> dirs;
    for (const PackItem& it : items) {
      std::vector<std::string> parts = SplitPath(it.rel);
      for (size_t i = 1; i < parts.size(); ++i) dirs.insert(JoinPath(parts, i));
    }
    for (const std::string& d : dirs) entries.push_back(PackItem{d, Kind::kDir, "", 0, "", false});
    for (const PackItem& it : items) entries.push_back(it);
    std::sort(entries.begin(), entries.end(),
              [](const PackItem& x, const PackItem& y) { return x.rel < y.rel; });
  }

  // Write to a temp file beside out_file, then rename over it.
  fs::path out_dir = out_file.parent_path().empty() ? fs::path(".") : out_file.parent_path();
  fs::create_directories(out_dir, ec);
  std::string tmpl = (out_dir / ("." + out_file.filename().string() + ".tmpXXXXXX")).string();
  int tfd = ::mkstemp(tmpl.data());
  if (tfd < 0) return Internal(tmpl + ": mkstemp: " + Errno(errno));
  Fd out(tfd);
  struct TempGuard {
    std::string path;
    bool keep = false;
    ~TempGuard() {
      if (!keep) ::unlink(path.c_str());
    }
  } guard{tmpl};

  Writer w(archive_write_new());
  if (!w) return Internal("archive_write_new failed");
  struct archive* a = w.get();
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
    return Internal("libarchive: cannot set up tar + zstd: " + ArchiveError(a));
  }
  std::string level = std::to_string(options.zstd_level);
  if (archive_write_set_filter_option(a, "zstd", "compression-level", level.c_str()) !=
      ARCHIVE_OK) {
    return InvalidArgument("zstd level " + level + ": " + ArchiveError(a));
  }
  if (archive_write_open_fd(a, out.get()) != ARCHIVE_OK) {
    return Internal(tmpl + ": cannot open archive for writing: " + ArchiveError(a));
  }
  PackItem manifest_item{kManifestFileName, Kind::kFile, "", manifest_text.size(), "", false};
  MLOS_RETURN_IF_ERROR(WriteHeader(a, manifest_item));
  MLOS_RETURN_IF_ERROR(WriteData(a, kManifestFileName, manifest_text.data(), manifest_text.size()));
  for (const PackItem& it : entries) {
    MLOS_RETURN_IF_ERROR(WriteHeader(a, it));
    if (it.kind == Kind::kFile) MLOS_RETURN_IF_ERROR(WriteFileData(a, dir / it.rel, it));
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    return Internal(tmpl + ": finishing archive: " + ArchiveError(a));
  }
  w.reset();
  if (::fchmod(out.get(), 0644) != 0 || ::fsync(out.get()) != 0) {
    return Internal(tmpl + ": fsync: " + Errno(errno));
  }
  out.Reset();
  if (::rename(tmpl.c_str(), out_file.c_str()) != 0) {
    return Internal(out_file.string() + ": rename: " + Errno(errno));
  }
  guard.keep = true;
  MLOS_RETURN_IF_ERROR(FsyncDir(out_dir));
  return m;
}

Result<Manifest> Unpack(const fs::path& archive, const fs::path& dest_dir,
                        const UnpackOptions& options) {
  fs::path dest = dest_dir;
  while (!dest.has_filename() && dest.has_parent_path() && dest != dest.root_path()) {
    dest = dest.parent_path();
  }
  if (!dest.has_filename()) return InvalidArgument(dest_dir.string() + ": invalid destination");
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) {
    return AlreadyExists(dest.string() + ": already exists");
  }
  fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  std::error_code ec;
  if (!fs::is_regular_file(archive, ec)) return NotFound(archive.string() + ": no such archive file");

  MLOS_ASSIGN_OR_RETURN(fs::path tmp, MakeTempDir(parent, ".unpack-"));
  struct TempDirGuard {
    fs::path path;
    bool keep = false;
    ~TempDirGuard() {
      if (!keep) {
        std::error_code e;
        fs::remove_all(path, e);
      }
    }
  } guard{tmp};

  int rfd = ::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rfd < 0) return Internal(tmp.string() + ": open: " + Errno(errno));
  ::fchmod(rfd, 0755);
  DiskSink sink(Fd(rfd), options.fsync);
  auto m = Scan(archive, options, &sink, nullptr);
  if (!m.ok()) return m.status();
  MLOS_RETURN_IF_ERROR(sink.SyncDirs());

  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    int e = errno;
    if (e == EEXIST || e == ENOTEMPTY) return AlreadyExists(dest.string() + ": already exists");
    return Internal(dest.string() + ": rename: " + Errno(e));
  }
  guard.keep = true;
  if (options.fsync) MLOS_RETURN_IF_ERROR(FsyncDir(parent));
  return m;
}

Result<Manifest> VerifyArchive(const fs::path& archive, const UnpackOptions& options,
                               std::string* manifest_yaml) {
  NullSink sink;
  return Scan(archive, options, &sink, manifest_yaml);
}

Result<std::string> ReadManifestFromArchive(const fs::path& archive) {
  MLOS_ASSIGN_OR_RETURN(Reader reader, OpenReader(archive));
  struct archive* a = reader.get();
  for (;;) {
    MLOS_ASSIGN_OR_RETURN(std::optional<struct archive_entry*> next, NextHeader(a, archive));
    if (!next) return DataLoss(archive.string() + ": empty archive (no manifest.yaml)");
    struct archive_entry* e = *next;
    const std::string raw = RawName(e);
    std::optional<std::string> rel = NormalizeName(raw);
    const bool is_dir = !archive_entry_hardlink(e) && archive_entry_filetype(e) == AE_IFDIR;
    if (rel && rel->empty() && is_dir) continue;  // "./"
    if (!rel || *rel != kManifestFileName || archive_entry_hardlink(e) ||
        archive_entry_filetype(e) != AE_IFREG) {
      return DataLoss(archive.string() + ": manifest.yaml must be the first entry of the archive "
                      "(found " + Quote(raw) + ")");
    }
    NullSink sink;
    std::string text;
    uint64_t total = 0, size = 0;
    MLOS_RETURN_IF_ERROR(StreamData(a, kManifestFileName, kMaxManifestBytes,
                                    "manifest.yaml is too large", &total, kMaxManifestBytes,
                                    &sink, nullptr, &size, &text));
    return text;
  }
}

}  // namespace mlos::mpf
