#include "axon/cache.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace mlos::axon {
namespace {

constexpr const char* kMetadataFile = ".axon_metadata.json";
constexpr const char* kManifestFile = "manifest.yaml";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<InstalledVersion> ReadInstalled(const fs::path& dir) {
  auto text = ReadFile(dir / kMetadataFile);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLoss((dir / kMetadataFile).string() + ": not valid JSON");
  InstalledVersion v;
  v.ns = j.value("namespace", "");
  v.name = j.value("name", "");
  v.version = j.value("version", "");
  v.installed_at = j.value("installed_at", "");
  v.commit = j.value("commit", "");
  v.source = j.value("source", "");
  v.dir = dir;
  if (v.ns.empty() || v.name.empty() || v.version.empty())
    return DataLoss((dir / kMetadataFile).string() + ": missing namespace/name/version");
  return v;
}

// renameat2 with RENAME_EXCHANGE (glibc 2.36 has the wrapper, but use the syscall for clarity).
int RenameExchange(const fs::path& a, const fs::path& b) {
  return static_cast<int>(
      ::syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE));
}

// A ref an install sets is written first as .refs/.pending-{alias}, then the version is
// published (its rename is the one commit point), then the pending ref is renamed over
// .refs/{alias}. Find takes a pending ref whose version is published, and the next writer
// (under the model lock) rolls it forward or drops it, so a kill -9 at any moment shows the
// new version together with its ref, or neither.
constexpr const char* kPendingRef = ".pending-";

bool Published(const fs::path& model_dir, const std::string& version) {
  std::error_code ec;
  return !version.empty() && version.find('/') == std::string::npos && version[0] != '.' &&
         fs::is_regular_file(model_dir / version / kManifestFile, ec);
}

}  // namespace

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status WriteInstallMetadata(const fs::path& dir, const InstalledVersion& v) {
  nlohmann::json j = {{"installed_at", v.installed_at.empty() ? NowRfc3339() : v.installed_at},
                      {"namespace", v.ns},
                      {"name", v.name},
                      {"version", v.version}};
  if (!v.commit.empty()) j["commit"] = v.commit;
  if (!v.source.empty()) j["source"] = v.source;
  return WriteFileAtomic(dir / kMetadataFile, j.dump(2) + "\n");
}

Cache::Cache(fs::path root) : root_(std::move(root)) {}

fs::path Cache::AxonHome() {
  if (const char* h = std::getenv("AXON_HOME"); h && *h) return fs::path(h);
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/tmp") / ".axon";
}

Cache Cache::FromEnvironment() { return Cache(AxonHome() / "cache"); }

fs::path Cache::ModelDir(const std::string& ns, const std::string& name) const {
  return root_ / "models" / ns / name;
}
fs::path Cache::VersionDir(const std::string& ns, const std::string& name,
                           const std::string& version) const {
  return ModelDir(ns, name) / version;
}
fs::path Cache::BlobPath(const std::string& sha256) const { return root_ / "blobs" / "sha256" / sha256; }
fs::path Cache::PartialPath(const std::string& key) const {
  return root_ / "partial" / (key + ".incomplete");
}
fs::path Cache::LockPath(const std::string& ns, const std::string& name) const {
  return root_ / "locks" / ns / (name + ".lock");
}

Result<FileLock> Cache::LockModel(const std::string& ns, const std::string& name) const {
  return FileLock::Acquire(LockPath(ns, name));
}

Result<InstalledVersion> Cache::Find(const ModelRef& ref) const {
  fs::path dir = VersionDir(ref.ns, ref.name, ref.version);
  std::error_code ec;
  if (fs::is_regular_file(dir / kManifestFile, ec) && fs::is_regular_file(dir / kMetadataFile, ec))
    return ReadInstalled(dir);
  // A pending ref whose version is published is the ref (an install killed between the two).
  for (const std::string& file : {kPendingRef + ref.version, ref.version}) {
    fs::path refp = ModelDir(ref.ns, ref.name) / ".refs" / file;
    if (!fs::is_regular_file(refp, ec)) continue;
    auto target = ReadFile(refp);
    if (!target.ok()) continue;
    std::string v = Trim(*target);
    if (Published(ModelDir(ref.ns, ref.name), v))
      return ReadInstalled(VersionDir(ref.ns, ref.name, v));
  }
  return NotFound(ref.Id() + ": not installed");
}

Result<std::vector<InstalledVersion>> Cache::List() const {
  std::vector<InstalledVersion> out;
  fs::path models = root_ / "models";
  std::error_code ec;
  if (!fs::is_directory(models, ec)) return out;
  // Depth-first walk that stops at version dirs (which hold .axon_metadata.json) and skips
  // dot-dirs (.refs, .staging-*), so the cost is one stat per directory, not per model file.
  std::vector<fs::path> stack{models};
  while (!stack.empty()) {
    fs::path d = stack.back();
    stack.pop_back();
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      const auto& e = *it;
      std::string fname = e.path().filename().string();
      if (fname.empty() || fname[0] == '.') continue;
      if (!e.is_directory(ec) || e.is_symlink(ec)) continue;
      if (fs::exists(e.path() / kMetadataFile, ec)) {
        auto v = ReadInstalled(e.path());
        if (v.ok()) out.push_back(std::move(v).value());
      } else {
        stack.push_back(e.path());
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const InstalledVersion& a, const InstalledVersion& b) { return a.Id() < b.Id(); });
  return out;
}

Status Cache::SetRef(const std::string& ns, const std::string& name, const std::string& alias,
                     const std::string& version) const {
  return WriteFileAtomic(ModelDir(ns, name) / ".refs" / alias, version + "\n");
}

Status Cache::DropRefsTo(const std::string& ns, const std::string& name,
                         const std::string& version) const {
  fs::path refs = ModelDir(ns, name) / ".refs";
  std::error_code ec;
  for (fs::directory_iterator it(refs, ec), end; !ec && it != end; it.increment(ec)) {
    auto t = ReadFile(it->path());
    if (t.ok() && Trim(*t) == version) fs::remove(it->path(), ec);
  }
  return Status::Ok();
}

bool Cache::HasBlob(const std::string& sha256, uint64_t size) const {
  std::error_code ec;
  auto s = fs::file_size(BlobPath(sha256), ec);
  return !ec && s == size;
}

Status Cache::LinkBlob(const std::string& sha256, const fs::path& dest) const {
  fs::path blob = BlobPath(sha256);
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (::link(blob.c_str(), dest.c_str()) != 0) {
    if (errno == ENOENT) return NotFound("blob " + sha256 + " not in cache");
    if (errno == EXDEV || errno == EPERM || errno == EMLINK) {
      // Another filesystem (or too many links): fall back to a copy.
      fs::copy_file(blob, dest, fs::copy_options::overwrite_existing, ec);
      if (ec) return Internal(dest.string() + ": copy: " + ec.message());
      return Status::Ok();
    }
    return Internal(dest.string() + ": link: " + std::strerror(errno));
  }
  return Status::Ok();
}

Status Cache::AdoptIntoBlob(const fs::path& src, const std::string& sha256,
                            const fs::path& dest) const {
  fs::path blob = BlobPath(sha256);
  std::error_code ec;
  fs::create_directories(blob.parent_path(), ec);
  if (fs::exists(blob, ec)) {
    fs::remove(src, ec);
  } else {
    ::chmod(src.c_str(), 0444);
    if (::rename(src.c_str(), blob.c_str()) != 0) {
      if (errno != EXDEV) return Internal(blob.string() + ": rename: " + std::strerror(errno));
      fs::copy_file(src, blob, ec);
      if (ec) return Internal(blob.string() + ": copy: " + ec.message());
      fs::remove(src, ec);
    }
  }
  return LinkBlob(sha256, dest);
}

Result<fs::path> Cache::MakeStaging(const std::string& ns, const std::string& name) const {
  MLOS_ASSIGN_OR_RETURN(fs::path dir, MakeTempDir(ModelDir(ns, name), ".staging-"));
  // mkdtemp makes it 0700; a published version is readable like its blobs (0444), so that a
  // sandboxed worker, which runs as another user, can read the model (docs/isolation.md).
  std::error_code ec;
  fs::permissions(dir, fs::perms(0755), ec);
  return dir;
}

void Cache::RecoverRefs(const std::string& ns, const std::string& name) const {
  const fs::path model = ModelDir(ns, name), refs = model / ".refs";
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(refs, ec), end; !ec && it != end; it.increment(ec))
    files.push_back(it->path());
  for (const fs::path& p : files) {
    const std::string f = p.filename().string();
    std::error_code ec2;
    if (f.rfind(kPendingRef, 0) == 0) {
      // An install killed after writing its pending ref: forward if its version was
      // published, else dropped.
      auto target = ReadFile(p);
      if (target.ok() && Published(model, Trim(*target))) {
        if (::rename(p.c_str(), (refs / f.substr(std::strlen(kPendingRef))).c_str()) == 0) continue;
      }
      fs::remove(p, ec2);
    } else if (f.empty() || f[0] == '.') {
      fs::remove(p, ec2);  // a temporary file of a killed WriteFileAtomic
    } else if (auto target = ReadFile(p); !target.ok() || !Published(model, Trim(*target))) {
      fs::remove(p, ec2);  // to a version an uninstall killed half-way removed
    }
  }
  fs::remove(refs, ec);  // only if empty
}

uint64_t Cache::CleanStaging(const std::string& ns, const std::string& name) const {
  RecoverRefs(ns, name);
  uint64_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(ModelDir(ns, name), ec), end; !ec && it != end; it.increment(ec)) {
    std::string f = it->path().filename().string();
    if (f.rfind(".staging-", 0) == 0 || f.rfind(".removing-", 0) == 0) {
      fs::remove_all(it->path(), ec);
      ++n;
    }
  }
  return n;
}

Status Cache::Publish(const fs::path& staging, const fs::path& version_dir,
                      const std::string& ref_alias) const {
  std::error_code ec;
  fs::create_directories(version_dir.parent_path(), ec);
  const fs::path refs = version_dir.parent_path() / ".refs";
  const fs::path pending = refs / (kPendingRef + ref_alias);
  if (!ref_alias.empty()) {
    MLOS_RETURN_IF_ERROR(WriteFileAtomic(pending, version_dir.filename().string() + "\n"));
  }
  Status st = PublishDir(staging, version_dir);
  if (ref_alias.empty()) return st;
  if (!st.ok()) {
    fs::remove(pending, ec);
    return st;
  }
  if (::rename(pending.c_str(), (refs / ref_alias).c_str()) != 0)
    return Internal((refs / ref_alias).string() + ": rename: " + std::strerror(errno));
  return FsyncDir(refs);
}

Status Cache::PublishDir(const fs::path& staging, const fs::path& version_dir) const {
  std::error_code ec;
  if (::rename(staging.c_str(), version_dir.c_str()) == 0) return FsyncDir(version_dir.parent_path());
  if (errno != EEXIST && errno != ENOTEMPTY)
    return Internal(version_dir.string() + ": rename: " + std::strerror(errno));
  // Replace an existing version atomically: swap, then delete the old tree (now at `staging`).
  if (RenameExchange(staging, version_dir) != 0)
    return Internal(version_dir.string() + ": exchange: " + std::strerror(errno));
  fs::remove_all(staging, ec);
  return FsyncDir(version_dir.parent_path());
}

Status Cache::Remove(const InstalledVersion& v) const {
  auto tmp = MakeTempDir(ModelDir(v.ns, v.name), ".removing-");
  if (!tmp.ok()) return tmp.status();
  fs::path away = *tmp / "v";
  if (::rename(v.dir.c_str(), away.c_str()) != 0)
    return Internal(v.dir.string() + ": rename: " + std::strerror(errno));
  std::error_code ec;
  fs::remove_all(*tmp, ec);
  MLOS_RETURN_IF_ERROR(DropRefsTo(v.ns, v.name, v.version));
  // Remove now-empty parent dirs up to models/.
  fs::path p = ModelDir(v.ns, v.name);
  fs::remove(p / ".refs", ec);  // only if empty
  fs::remove(LockPath(v.ns, v.name), ec);
  while (p != root_ / "models" && p.has_parent_path()) {
    if (!fs::remove(p, ec)) break;  // not empty (or error): stop
    p = p.parent_path();
  }
  return Status::Ok();
}

Result<GcReport> Cache::CollectGarbage(int64_t partial_max_age_s) const {
  GcReport r;
  std::error_code ec;
  // Blobs referenced by no version dir: link count 1.
  for (fs::directory_iterator it(root_ / "blobs" / "sha256", ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_nlink == 1) {
      if (::unlink(it->path().c_str()) == 0) {
        ++r.blobs_removed;
        r.blob_bytes_freed += static_cast<uint64_t>(st.st_size);
      }
    }
  }
  // Partial downloads nobody holds and nobody touched for a while.
  auto now = std::chrono::system_clock::now();
  ec.clear();
  for (fs::directory_iterator it(root_ / "partial", ec), end; !ec && it != end; it.increment(ec)) {
    fs::path p = it->path();
    std::error_code ec2;
    if (p.filename().string().rfind("copy-", 0) == 0 && it->is_directory(ec2)) {
      // A local file's copy that an install killed before the blob store left behind.
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) continue;
      auto mtime = std::chrono::system_clock::from_time_t(st.st_mtime);
      if (std::chrono::duration_cast<std::chrono::seconds>(now - mtime).count() < partial_max_age_s)
        continue;
      uint64_t bytes = 0;
      for (fs::recursive_directory_iterator f(p, ec2), fend; !ec2 && f != fend; f.increment(ec2))
        if (f->is_regular_file(ec2)) bytes += f->file_size(ec2);
      if (fs::remove_all(p, ec2) > 0) {
        ++r.partials_removed;
        r.partial_bytes_freed += bytes;
      }
      continue;
    }
    if (p.extension() != ".incomplete") continue;
    fs::path lockp = p;
    lockp.replace_extension(".lock");
    auto lock = FileLock::TryAcquire(lockp);
    if (!lock.ok()) continue;  // in use by a running install
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    auto mtime = std::chrono::system_clock::from_time_t(st.st_mtime);
    if (std::chrono::duration_cast<std::chrono::seconds>(now - mtime).count() < partial_max_age_s)
      continue;
    if (::unlink(p.c_str()) == 0) {
      ++r.partials_removed;
      r.partial_bytes_freed += static_cast<uint64_t>(st.st_size);
    }
    fs::remove(lockp, ec2);
  }
  // Staging dirs of models no one is writing.
  auto versions = List();
  ec.clear();
  std::vector<fs::path> stack{root_ / "models"};
  while (!stack.empty()) {
    fs::path d = stack.back();
    stack.pop_back();
    bool has_staging = false;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      std::string f = it->path().filename().string();
      // .refs too: a writer killed mid-way may have left a pending ref (RecoverRefs).
      if (f.rfind(".staging-", 0) == 0 || f.rfind(".removing-", 0) == 0 || f == ".refs")
        has_staging = true;
      else if (!f.empty() && f[0] != '.' && it->is_directory() &&
               !fs::exists(it->path() / kMetadataFile))
        stack.push_back(it->path());
    }
    ec.clear();
    if (!has_staging) continue;
    fs::path rel = fs::relative(d, root_ / "models");
    auto first = rel.begin();
    if (first == rel.end()) continue;
    std::string ns = first->string();
    std::string name = fs::relative(d, root_ / "models" / ns).string();
    auto lock = FileLock::TryAcquire(LockPath(ns, name));
    if (!lock.ok()) continue;
    r.staging_removed += CleanStaging(ns, name);
  }
  return r;
}

}  // namespace mlos::axon
