// Reading archives: the scanner behind Unpack and VerifyArchive, where every check happens, and
// ReadManifestFromArchive.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"
#include "mpf/archive_internal.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace internal {
namespace {

constexpr uint64_t kSlackBytes = 1ull << 20;
constexpr uint64_t kMaxSignatureBytes = 64ull << 10;

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
    return DataLoss(path.string() + ": cannot open archive: " + ArchiveError(a.get()));
  }
  return a;
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

// manifest.yaml as it must be: a regular file (not a hard link) of that name.
bool IsManifestEntry(const std::string& rel, struct archive_entry* e) {
  return rel == kManifestFileName && !archive_entry_hardlink(e) &&
         archive_entry_filetype(e) == AE_IFREG;
}

Status ManifestNotFirst(const fs::path& path, const std::string& raw) {
  return DataLoss(path.string() + ": manifest.yaml must be the first entry of the archive "
                  "(found " + Quote(raw) + ")");
}

Status NoManifest(const fs::path& path) {
  return DataLoss(path.string() + ": empty archive (no manifest.yaml)");
}

class NullSink : public Sink {
 public:
  Status BeginFile(const std::string&) override { return Status::Ok(); }
  Status Write(const void*, size_t) override { return Status::Ok(); }
  Status EndFile(bool) override { return Status::Ok(); }
  Status MakeDir(const std::string&) override { return Status::Ok(); }
  Status MakeSymlink(const std::string&, const std::string&) override { return Status::Ok(); }
  Status MakeHardlink(const std::string&, const std::string&) override { return Status::Ok(); }
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

// One archive header, its name checked and normalised.
struct EntryHeader {
  struct archive_entry* e = nullptr;
  std::string raw;                 // the name as the archive spells it (for errors)
  std::string rel;                 // normalised; "" for the package root
  const char* hardlink = nullptr;  // the hard link's target as the archive spells it
  mode_t type = 0;
  bool is_dir = false;
};

// One pass over an archive. Entries are checked as they stream (manifest.yaml first, then each
// entry against it and against the entries before it); the declared files are checked at the end.
class Scanner {
 public:
  Scanner(struct archive* a, const fs::path& path, const UnpackOptions& options, Sink* sink,
          std::string* manifest_yaml)
      : a_(a), path_(path), options_(options), sink_(sink), manifest_yaml_(manifest_yaml) {}

  Result<Manifest> Run() {
    for (;;) {
      MLOS_ASSIGN_OR_RETURN(std::optional<EntryHeader> header, NextEntry());
      if (!header) break;
      MLOS_RETURN_IF_ERROR(ScanEntry(*header));
    }
    if (!manifest_) return NoManifest(path_);
    MLOS_RETURN_IF_ERROR(CheckDeclaredFiles());
    return std::move(*manifest_);
  }

 private:
  // Reads the next header, counts it against max_entries and normalises its name. nullopt at
  // the end of the archive.
  Result<std::optional<EntryHeader>> NextEntry() {
    MLOS_ASSIGN_OR_RETURN(std::optional<struct archive_entry*> next, NextHeader(a_, path_));
    if (!next) return std::optional<EntryHeader>();
    EntryHeader h;
    h.e = *next;
    if (++entries_ > options_.max_entries) {
      return ResourceExhausted(path_.string() + ": archive has more than " +
                               std::to_string(options_.max_entries) + " entries (limit)");
    }
    h.raw = RawName(h.e);
    std::optional<std::string> norm = NormalizeName(h.raw);
    if (!norm) {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        "unsafe path (absolute, \"..\" or empty component)");
    }
    h.rel = *norm;
    h.hardlink = archive_entry_hardlink(h.e);
    h.type = archive_entry_filetype(h.e);
    h.is_dir = !h.hardlink && h.type == AE_IFDIR;
    return std::optional<EntryHeader>(std::move(h));
  }

  Status ScanEntry(const EntryHeader& h) {
    if (h.rel.empty()) {  // "./": the package root
      if (!h.is_dir) return EntryError(StatusCode::kInvalidArgument, h.raw, "unsafe path");
      return Status::Ok();
    }
    if (!manifest_) return ReadManifestEntry(h);
    MLOS_RETURN_IF_ERROR(CheckPlace(h));
    if (h.is_dir) return AddDir(h);
    MLOS_RETURN_IF_ERROR(CheckDeclared(h));
    if (h.hardlink) return AddHardlink(h);
    if (h.type == AE_IFLNK) return AddSymlink(h);
    if (h.type != AE_IFREG) {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        std::string(TypeName(h.type)) + " entries are not allowed");
    }
    return AddRegularFile(h);
  }

  // The first entry: manifest.yaml, parsed; it sets the declared files and the total limit.
  Status ReadManifestEntry(const EntryHeader& h) {
    if (!IsManifestEntry(h.rel, h.e)) return ManifestNotFirst(path_, h.raw);
    if (archive_entry_size_is_set(h.e) &&
        static_cast<uint64_t>(archive_entry_size(h.e)) > kMaxManifestBytes) {
      return ResourceExhausted("manifest.yaml is larger than " +
                               std::to_string(kMaxManifestBytes) + " bytes");
    }
    std::string text;
    uint64_t size = 0;
    MLOS_RETURN_IF_ERROR(sink_->BeginFile(h.rel));
    MLOS_RETURN_IF_ERROR(StreamData(a_, h.rel, kMaxManifestBytes, "manifest.yaml is too large",
                                    &total_, kMaxManifestBytes, sink_, nullptr, &size, &text));
    MLOS_RETURN_IF_ERROR(sink_->EndFile(false));
    auto parsed = ParseManifest(text, options_.parse);
    if (!parsed.ok()) return parsed.status().WithPrefix("manifest.yaml");
    manifest_ = std::move(parsed).value();
    MLOS_ASSIGN_OR_RETURN(uint64_t declared_total, IndexDeclaredFiles());
    SetTotalLimit(declared_total, size);
    nodes_[h.rel] = Node{Kind::kManifest, size, "", ""};
    if (manifest_yaml_) *manifest_yaml_ = std::move(text);
    return Status::Ok();
  }

  // Fills declared_ from spec.format.files, refusing unsafe, reserved and repeated paths.
  // Returns the sum of the declared sizes.
  Result<uint64_t> IndexDeclaredFiles() {
    uint64_t declared_total = 0;
    for (const FileEntry& f : manifest_->format.files) {
      if (!IsSafeRelativePath(f.path)) {
        return InvalidArgument("manifest.yaml: spec.format.files: unsafe path " + Quote(f.path));
      }
      if (f.path == kManifestFileName || f.path == kSignatureFileName) {
        return InvalidArgument("manifest.yaml: spec.format.files must not list " + f.path);
      }
      if (!declared_.emplace(f.path, &f).second) {
        return InvalidArgument("manifest.yaml: spec.format.files lists " + Quote(f.path) +
                               " twice");
      }
      declared_total += f.size;
    }
    return declared_total;
  }

  // The expansion limit once the manifest is known: options.max_total_bytes when set, else what
  // the archive declares (files + manifest.yaml) plus slack; never above options.max_bytes.
  void SetTotalLimit(uint64_t declared_total, uint64_t manifest_size) {
    if (options_.max_total_bytes != 0) {
      total_limit_ = std::min(options_.max_total_bytes, options_.max_bytes);
    } else {
      total_limit_ =
          std::min(options_.max_bytes, declared_total + manifest_size + kSlackBytes);
    }
  }

  // Refuses duplicates and conflicts with earlier entries; records implicit parent directories.
  Status CheckPlace(const EntryHeader& h) {
    auto existing = nodes_.find(h.rel);
    if (existing != nodes_.end()) {
      bool ok = h.is_dir && existing->second.kind == Kind::kImplicitDir;
      if (!ok) return EntryError(StatusCode::kInvalidArgument, h.raw, "duplicate entry");
    }
    std::vector<std::string> parts = SplitPath(h.rel);
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string anc = JoinPath(parts, i);
      auto it = nodes_.find(anc);
      if (it == nodes_.end()) {
        nodes_[anc] = Node{Kind::kImplicitDir, 0, "", ""};
      } else if (!IsDirKind(it->second.kind)) {
        return EntryError(StatusCode::kInvalidArgument, h.raw,
                          "parent " + Quote(anc) + " is not a directory");
      }
    }
    return Status::Ok();
  }

  Status AddDir(const EntryHeader& h) {
    MLOS_RETURN_IF_ERROR(sink_->MakeDir(h.rel));
    nodes_[h.rel] = Node{Kind::kDir, 0, "", ""};
    return Status::Ok();
  }

  // Files and links must be declared in the manifest; manifest.sig, a regular file, need not be.
  Status CheckDeclared(const EntryHeader& h) const {
    if (!h.hardlink && h.type != AE_IFREG && h.type != AE_IFLNK) return Status::Ok();
    const bool is_sig = h.rel == kSignatureFileName;
    if (!declared_.contains(h.rel) && !(is_sig && !h.hardlink && h.type == AE_IFREG)) {
      return EntryError(StatusCode::kInvalidArgument, h.raw, "not declared in the manifest");
    }
    return Status::Ok();
  }

  // A hard link must name an earlier regular file of the package.
  Status AddHardlink(const EntryHeader& h) {
    std::optional<std::string> target = NormalizeName(h.hardlink);
    if (!target || target->empty()) {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        "hard link to unsafe path " + Quote(h.hardlink));
    }
    auto t = nodes_.find(*target);
    if (t == nodes_.end() || t->second.kind != Kind::kFile) {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        "hard link target " + Quote(h.hardlink) +
                            " is not an earlier regular file of the package");
    }
    MLOS_RETURN_IF_ERROR(sink_->MakeHardlink(h.rel, *target));
    nodes_[h.rel] = Node{Kind::kHardlink, 0, "", *target};
    return Status::Ok();
  }

  // A symlink must be relative and stay inside the package (lexically; what it resolves to is
  // checked at the end, when every entry is known).
  Status AddSymlink(const EntryHeader& h) {
    const char* t = archive_entry_symlink(h.e);
    std::string target = t ? t : "";
    if (target.empty()) return EntryError(StatusCode::kInvalidArgument, h.raw, "empty symlink");
    if (target.front() == '/') {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        "symlink target " + Quote(target) + " is absolute");
    }
    if (!LexicalJoin(DirName(h.rel), target)) {
      return EntryError(StatusCode::kInvalidArgument, h.raw,
                        "symlink target " + Quote(target) + " escapes the package");
    }
    MLOS_RETURN_IF_ERROR(sink_->MakeSymlink(h.rel, target));
    nodes_[h.rel] = Node{Kind::kSymlink, 0, "", target};
    return Status::Ok();
  }

  // A regular file (a declared one, or manifest.sig): streamed and hashed, never more than its
  // declared size (or the signature limit).
  Status AddRegularFile(const EntryHeader& h) {
    const bool is_sig = h.rel == kSignatureFileName;
    uint64_t limit = is_sig ? kMaxSignatureBytes : declared_.at(h.rel)->size;
    std::string over = is_sig ? "signature file is too large"
                              : "size mismatch (expected " + std::to_string(limit) +
                                    ", archive entry is larger)";
    if (archive_entry_size_is_set(h.e) &&
        static_cast<uint64_t>(archive_entry_size(h.e)) > limit) {
      if (!is_sig) {
        over = "size mismatch (expected " + std::to_string(limit) + ", got " +
               std::to_string(archive_entry_size(h.e)) + ")";
      }
      return EntryError(StatusCode::kDataLoss, h.raw, over);
    }
    Sha256 hasher;
    uint64_t size = 0;
    MLOS_RETURN_IF_ERROR(sink_->BeginFile(h.rel));
    MLOS_RETURN_IF_ERROR(
        StreamData(a_, h.rel, limit, over, &total_, total_limit_, sink_, &hasher, &size));
    MLOS_RETURN_IF_ERROR(sink_->EndFile((archive_entry_perm(h.e) & 0111) != 0));
    nodes_[h.rel] = Node{is_sig ? Kind::kSignature : Kind::kFile, size, hasher.HexDigest(), ""};
    return Status::Ok();
  }

  // The regular file a declared path stands for: itself, the file a hard link names, or the file
  // a symlink resolves to. nullptr when the path is a directory.
  Result<const Node*> FileNodeFor(const std::string& path, const Node& node) const {
    switch (node.kind) {
      case Kind::kFile: return &node;
      case Kind::kHardlink: return &nodes_.at(node.target);
      case Kind::kSymlink: {
        MLOS_ASSIGN_OR_RETURN(std::string resolved, ResolveSymlink(nodes_, path));
        return &nodes_.at(resolved);
      }
      default: return static_cast<const Node*>(nullptr);
    }
  }

  // Every declared file: present, of the right size and hash. Problems are collected and
  // reported together; a symlink that does not resolve ends the check at once.
  Status CheckDeclaredFiles() const {
    std::vector<std::string> problems;
    for (const FileEntry& f : manifest_->format.files) {
      auto it = nodes_.find(f.path);
      if (it == nodes_.end()) {
        problems.push_back(f.path + ": missing from the archive");
        continue;
      }
      MLOS_ASSIGN_OR_RETURN(const Node* file, FileNodeFor(f.path, it->second));
      if (!file) {
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
    return Status::Ok();
  }

  struct archive* a_;
  const fs::path& path_;
  const UnpackOptions& options_;
  Sink* sink_;
  std::string* manifest_yaml_;

  std::map<std::string, Node> nodes_;
  std::optional<Manifest> manifest_;
  std::map<std::string, const FileEntry*> declared_;  // into manifest_->format.files
  uint64_t entries_ = 0, total_ = 0;
  // Until manifest.yaml is read, the limit is that of manifest.yaml alone.
  uint64_t total_limit_ = std::min<uint64_t>(options_.max_bytes, kMaxManifestBytes);
};

// The bytes of manifest.yaml from the archive's first entry (a leading "./" is skipped).
Result<std::string> ReadLeadingManifest(const fs::path& archive) {
  MLOS_ASSIGN_OR_RETURN(Reader reader, OpenReader(archive));
  struct archive* a = reader.get();
  for (;;) {
    MLOS_ASSIGN_OR_RETURN(std::optional<struct archive_entry*> next, NextHeader(a, archive));
    if (!next) return NoManifest(archive);
    struct archive_entry* e = *next;
    const std::string raw = RawName(e);
    std::optional<std::string> rel = NormalizeName(raw);
    const bool is_dir = !archive_entry_hardlink(e) && archive_entry_filetype(e) == AE_IFDIR;
    if (rel && rel->empty() && is_dir) continue;  // "./"
    if (!rel || !IsManifestEntry(*rel, e)) return ManifestNotFirst(archive, raw);
    NullSink sink;
    std::string text;
    uint64_t total = 0, size = 0;
    MLOS_RETURN_IF_ERROR(StreamData(a, kManifestFileName, kMaxManifestBytes,
                                    "manifest.yaml is too large", &total, kMaxManifestBytes,
                                    &sink, nullptr, &size, &text));
    return text;
  }
}

}  // namespace

Result<Manifest> Scan(const fs::path& path, const UnpackOptions& options, Sink* sink,
                      std::string* manifest_yaml) {
  MLOS_ASSIGN_OR_RETURN(Reader reader, OpenReader(path));
  return Scanner(reader.get(), path, options, sink, manifest_yaml).Run();
}

}  // namespace internal

Result<Manifest> VerifyArchive(const fs::path& archive, const UnpackOptions& options,
                               std::string* manifest_yaml) {
  internal::NullSink sink;
  return internal::Scan(archive, options, &sink, manifest_yaml);
}

Result<std::string> ReadManifestFromArchive(const fs::path& archive) {
  return internal::ReadLeadingManifest(archive);
}

}  // namespace mlos::mpf
