// Pack: a package directory written as a deterministic tar + zstd archive, manifest.yaml first.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"
#include "mpf/archive_internal.h"
#include "mpf/package_verify.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace internal {
namespace {

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

// ---------------------------------------------------------------------------------------------
// Steps of Pack, in order.

// Reads dir/manifest.yaml as a YAML mapping.
Result<YAML::Node> LoadManifestDoc(const fs::path& dir) {
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
  return doc;
}

// out_file's path relative to dir when it lies inside it, else "".
std::string RelativeOutputPath(const fs::path& dir, const fs::path& out_file) {
  std::error_code ec;
  fs::path canon_dir = fs::weakly_canonical(dir, ec);
  fs::path canon_out = fs::weakly_canonical(out_file, ec);
  fs::path rel = canon_out.lexically_relative(canon_dir);
  if (!rel.empty() && IsSafeRelativePath(rel.generic_string())) return rel.generic_string();
  return "";
}

// The package's files (out_file itself left out when it lies inside dir): symlinks with their
// link text, regular files with their size, sha256 and exec bit.
Result<std::vector<PackItem>> CollectItems(const fs::path& dir, const fs::path& out_file) {
  MLOS_ASSIGN_OR_RETURN(std::vector<std::string> listed, ListPackageFiles(dir));
  const std::string out_rel = RelativeOutputPath(dir, out_file);
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
  return items;
}

// The items as the scanner's node map: each item plus its parent directories.
std::map<std::string, Node> PackNodes(const std::vector<PackItem>& items) {
  std::map<std::string, Node> nodes;
  for (const PackItem& it : items) {
    std::vector<std::string> parts = SplitPath(it.rel);
    for (size_t i = 1; i < parts.size(); ++i) {
      nodes.emplace(JoinPath(parts, i), Node{Kind::kDir, 0, "", ""});
    }
    nodes[it.rel] = Node{it.kind, it.size, it.sha256, it.link};
  }
  return nodes;
}

// Applies Unpack's symlink rules before anything is written, then gives each symlink the
// declared size and hash of the file it resolves to.
Status ResolvePackSymlinks(std::vector<PackItem>* items) {
  const std::map<std::string, Node> nodes = PackNodes(*items);
  for (PackItem& it : *items) {
    if (it.kind != Kind::kSymlink) continue;
    if (!it.link.empty() && it.link.front() == '/') {
      return InvalidArgument(it.rel + ": symlink target " + Quote(it.link) +
                             " is absolute (only relative links inside the package are packed)");
    }
    if (!LexicalJoin(DirName(it.rel), it.link)) {
      return InvalidArgument(it.rel + ": symlink target " + Quote(it.link) +
                             " escapes the package");
    }
    MLOS_ASSIGN_OR_RETURN(std::string target, ResolveSymlink(nodes, it.rel));
    it.size = nodes.at(target).size;
    it.sha256 = nodes.at(target).sha256;
  }
  return Status::Ok();
}

// Rewrites spec.format.files in `doc` from the items, keeping any extra per-file fields of
// existing entries. Returns the files as written.
Result<std::vector<FileEntry>> RewriteFilesList(YAML::Node* doc,
                                                const std::vector<PackItem>& items) {
  std::vector<FileEntry> files;
  try {
    std::map<std::string, YAML::Node> old_entries;
    YAML::Node old = (*doc)["spec"] && (*doc)["spec"]["format"] ? (*doc)["spec"]["format"]["files"]
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
    (*doc)["spec"]["format"]["files"] = seq;
  } catch (const std::exception& ex) {
    return InvalidArgument("manifest.yaml: cannot rewrite spec.format.files: " +
                           std::string(ex.what()));
  }
  return files;
}

Result<std::string> EmitYaml(const YAML::Node& doc) {
  try {
    YAML::Emitter em;
    em << doc;
    return std::string(em.c_str());
  } catch (const std::exception& ex) {
    return Internal("manifest.yaml: cannot emit: " + std::string(ex.what()));
  }
}

struct PackedManifest {
  Manifest manifest;  // as parsed back from text
  std::string text;   // the bytes of the archive's manifest.yaml
};

// Parses and validates the rewritten manifest, emits it in canonical form, and checks that the
// emitted text parses back with the same files.
Result<PackedManifest> FinishManifest(const std::string& rewritten,
                                      const std::vector<FileEntry>& files,
                                      const ParseOptions& parse) {
  auto parsed = ParseManifest(rewritten, parse);
  if (!parsed.ok()) return parsed.status().WithPrefix("manifest.yaml");
  Manifest m = std::move(parsed).value();
  m.format.files = files;
  auto valid = ValidateManifest(m, parse);
  if (!valid.ok()) return valid.WithPrefix("manifest.yaml");
  PackedManifest out;
  out.text = EmitManifest(m);
  if (out.text.size() > kMaxManifestBytes) {
    return ResourceExhausted("manifest.yaml: too large once files are listed");
  }
  auto again = ParseManifest(out.text, parse);
  if (!again.ok()) return again.status().WithPrefix("manifest.yaml (as written)");
  bool same = again->format.files.size() == files.size();
  for (size_t i = 0; same && i < files.size(); ++i) {
    const FileEntry& x = again->format.files[i];
    same = x.path == files[i].path && x.size == files[i].size && x.sha256 == files[i].sha256;
  }
  if (!same) return Internal("manifest.yaml: spec.format.files does not survive emit + parse");
  out.manifest = std::move(again).value();
  return out;
}

// Every entry, directories included, sorted by path (a directory precedes its contents).
std::vector<PackItem> ArchiveEntries(const std::vector<PackItem>& items) {
  std::vector<PackItem> entries;
  std::set<std::string> dirs;
  for (const PackItem& it : items) {
    std::vector<std::string> parts = SplitPath(it.rel);
    for (size_t i = 1; i < parts.size(); ++i) dirs.insert(JoinPath(parts, i));
  }
  for (const std::string& d : dirs) entries.push_back(PackItem{d, Kind::kDir, "", 0, "", false});
  for (const PackItem& it : items) entries.push_back(it);
  std::sort(entries.begin(), entries.end(),
            [](const PackItem& x, const PackItem& y) { return x.rel < y.rel; });
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Writing the archive.

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

// A pax (restricted) tar writer with the zstd filter at `zstd_level`, writing to `fd`; `name`
// (the temp file) is for errors.
Result<Writer> OpenTarZstdWriter(int fd, int zstd_level, const std::string& name) {
  Writer w(archive_write_new());
  if (!w) return Internal("archive_write_new failed");
  struct archive* a = w.get();
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
    return Internal("libarchive: cannot set up tar + zstd: " + ArchiveError(a));
  }
  std::string level = std::to_string(zstd_level);
  if (archive_write_set_filter_option(a, "zstd", "compression-level", level.c_str()) !=
      ARCHIVE_OK) {
    return InvalidArgument("zstd level " + level + ": " + ArchiveError(a));
  }
  if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
    return Internal(name + ": cannot open archive for writing: " + ArchiveError(a));
  }
  return w;
}

// manifest.yaml first, then every entry; file data is read from dir.
Status WriteEntries(struct archive* a, const fs::path& dir, const std::string& manifest_text,
                    const std::vector<PackItem>& entries) {
  PackItem manifest_item{kManifestFileName, Kind::kFile, "", manifest_text.size(), "", false};
  MLOS_RETURN_IF_ERROR(WriteHeader(a, manifest_item));
  MLOS_RETURN_IF_ERROR(WriteData(a, kManifestFileName, manifest_text.data(), manifest_text.size()));
  for (const PackItem& it : entries) {
    MLOS_RETURN_IF_ERROR(WriteHeader(a, it));
    if (it.kind == Kind::kFile) MLOS_RETURN_IF_ERROR(WriteFileData(a, dir / it.rel, it));
  }
  return Status::Ok();
}

// Unlinks the temp file on destruction unless keep is set.
struct TempFileGuard {
  std::string path;
  bool keep = false;
  ~TempFileGuard() {
    if (!keep) ::unlink(path.c_str());
  }
};

// Writes the archive to a temp file beside out_file, fsyncs it, then renames it over out_file.
Status WriteArchiveFile(const fs::path& dir, const fs::path& out_file, int zstd_level,
                        const std::string& manifest_text, const std::vector<PackItem>& entries) {
  std::error_code ec;
  fs::path out_dir = out_file.parent_path().empty() ? fs::path(".") : out_file.parent_path();
  fs::create_directories(out_dir, ec);
  std::string tmpl = (out_dir / ("." + out_file.filename().string() + ".tmpXXXXXX")).string();
  int tfd = ::mkstemp(tmpl.data());
  if (tfd < 0) return Internal(tmpl + ": mkstemp: " + Errno(errno));
  Fd out(tfd);
  TempFileGuard guard{tmpl};

  MLOS_ASSIGN_OR_RETURN(Writer w, OpenTarZstdWriter(out.get(), zstd_level, tmpl));
  MLOS_RETURN_IF_ERROR(WriteEntries(w.get(), dir, manifest_text, entries));
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    return Internal(tmpl + ": finishing archive: " + ArchiveError(w.get()));
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
  return FsyncDir(out_dir);
}

}  // namespace
}  // namespace internal

Result<Manifest> Pack(const fs::path& dir, const fs::path& out_file, const PackOptions& options) {
  using internal::PackItem;
  MLOS_ASSIGN_OR_RETURN(YAML::Node doc, internal::LoadManifestDoc(dir));
  MLOS_ASSIGN_OR_RETURN(std::vector<PackItem> items, internal::CollectItems(dir, out_file));
  MLOS_RETURN_IF_ERROR(internal::ResolvePackSymlinks(&items));
  MLOS_ASSIGN_OR_RETURN(std::vector<FileEntry> files, internal::RewriteFilesList(&doc, items));
  MLOS_ASSIGN_OR_RETURN(std::string rewritten, internal::EmitYaml(doc));
  MLOS_ASSIGN_OR_RETURN(internal::PackedManifest packed,
                        internal::FinishManifest(rewritten, files, options.parse));
  MLOS_RETURN_IF_ERROR(internal::WriteArchiveFile(dir, out_file, options.zstd_level, packed.text,
                                                  internal::ArchiveEntries(items)));
  return std::move(packed.manifest);
}

}  // namespace mlos::mpf
