#include "axon/install.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "axon/describe.h"
#include "axon/hub/gguf_files.h"
#include "axon/hub/http.h"
#include "axon/inspect/torchscript_archive.h"
#include "common/sha256.h"
#include "mpf/archive.h"

namespace fs = std::filesystem;

namespace mlos::axon {

std::string FormatOfFile(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".onnx") return "onnx";
  if (ext == ".gguf") return "gguf";
  if (ext == ".pt" || ext == ".ptl" || ext == ".torchscript") return "torchscript";
  if (ext == ".tflite") return "tflite";
  return "";
}

namespace {

constexpr const char* kBuiltinNamespaces[] = {"hf", "huggingface", "modelscope", "ms", "pytorch",
                                             "torch", "tfhub", "tf", "kaggle", "local"};

bool IsBuiltinNamespace(const std::string& s) {
  return std::find(std::begin(kBuiltinNamespaces), std::end(kBuiltinNamespaces), s) !=
         std::end(kBuiltinNamespaces);
}

// Copies src to dst (a new file) while hashing; returns the sha256.
Result<std::string> CopyAndHash(const fs::path& src, const fs::path& dst, uint64_t* size_out) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return NotFound(src.string() + ": " + std::strerror(errno));
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    ::close(in);
    return Internal(dst.string() + ": " + std::strerror(errno));
  }
  Sha256 h;
  std::vector<char> buf(4 << 20);
  uint64_t total = 0;
  Status st;
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Internal(src.string() + ": read: " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        st = Internal(dst.string() + ": write: " + std::strerror(errno));
        break;
      }
      off += w;
    }
    if (!st.ok()) break;
    total += static_cast<uint64_t>(n);
  }
  ::fsync(out);
  ::close(in);
  ::close(out);
  if (!st.ok()) return st;
  if (size_out) *size_out = total;
  return h.HexDigest();
}

// The result of an install that found the version already in the cache: nothing was done.
InstallResult AlreadyInstalled(const InstalledVersion& v) {
  InstallResult r;
  r.installed = v;
  r.already_installed = true;
  r.changed = false;
  auto m = mpf::LoadManifestFile((v.dir / "manifest.yaml").string());
  if (m.ok()) r.manifest = std::move(m).value();
  return r;
}

std::string PartialKey(const RemoteFile& f, const ResolvedModel& m) {
  if (!f.sha256.empty()) return f.sha256;
  return Sha256Hex(m.source + "\n" + f.url + "\n" + f.path).substr(0, 40);
}

// Drives a staging dir to a published version dir.
class Transaction {
 public:
  Transaction(const Cache& cache, std::string ns, std::string name)
      : cache_(cache), ns_(std::move(ns)), name_(std::move(name)) {}
  ~Transaction() {
    if (!staging_.empty()) {
      std::error_code ec;
      fs::remove_all(staging_, ec);
    }
  }
  Status Begin() {
    auto s = cache_.MakeStaging(ns_, name_);
    if (!s.ok()) return s.status();
    staging_ = *s;
    return Status::Ok();
  }
  const fs::path& dir() const { return staging_; }
  // Publishes the staging dir as `version`, with .refs/{ref_alias} naming it when given.
  Status Commit(const std::string& version, const std::string& ref_alias) {
    MLOS_RETURN_IF_ERROR(
        cache_.Publish(staging_, cache_.VersionDir(ns_, name_, version), ref_alias));
    staging_.clear();
    return Status::Ok();
  }

 private:
  const Cache& cache_;
  std::string ns_, name_;
  fs::path staging_;
};

// Stores `src` (a verified local file) under `rel` in the staging dir via the blob store.
Status AddLocalFile(const Cache& cache, const fs::path& src, const fs::path& staging,
                    const std::string& rel, mpf::FileEntry* entry) {
  auto tmp = MakeTempDir(cache.root() / "partial", "copy-");
  if (!tmp.ok()) return tmp.status();
  fs::path t = *tmp / "f";
  uint64_t size = 0;
  auto sha = CopyAndHash(src, t, &size);
  Status st = sha.ok() ? cache.AdoptIntoBlob(t, *sha, staging / rel) : sha.status();
  std::error_code ec;
  fs::remove_all(*tmp, ec);
  if (!st.ok()) return st;
  entry->path = rel;
  entry->size = size;
  entry->sha256 = *sha;
  return Status::Ok();
}

Status WriteManifestAndMetadata(const fs::path& dir, const mpf::Manifest& m,
                                const InstalledVersion& v) {
  MLOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "manifest.yaml", mpf::EmitManifest(m)));
  return WriteInstallMetadata(dir, v);
}

bool HasIo(const IoOverride& io) { return !io.inputs.empty() || !io.outputs.empty(); }

// The one line a TorchScript install without an IO schema fails with.
Status TorchScriptIoMissing(const std::string& exec, bool have_inputs, bool have_outputs) {
  std::string missing;
  if (have_inputs != have_outputs)
    missing = have_inputs ? " (no outputs given)" : " (no inputs given)";
  return InvalidArgument(exec + ": TorchScript files carry no typed signature; give --input and "
                         "--output name:dtype:shape (e.g. --input x:float32:-1,3,224,224) or an "
                         "io.yaml sidecar beside the model" + missing);
}

// The IO sidecar of `exec` among `files` (the most specific, see IoSidecarPaths), or "".
template <typename Files, typename PathOf>
std::string SidecarAmong(const std::string& exec, const Files& files, PathOf path_of) {
  for (const std::string& candidate : IoSidecarPaths(exec))
    for (const auto& f : files)
      if (path_of(f) == candidate) return candidate;
  return "";
}

// Before anything is fetched: a TorchScript selection needs inputs and outputs from the flags
// or a sidecar that comes with it (its contents are checked once it is staged).
Status CheckTorchScriptIoSource(const Selection& sel, const IoOverride& flags) {
  if (sel.execution_format != "torchscript" || sel.execution_files.empty()) return Status::Ok();
  if (!flags.inputs.empty() && !flags.outputs.empty()) return Status::Ok();
  const std::string& exec = sel.execution_files.front();
  if (!SidecarAmong(exec, sel.files, [](const RemoteFile& f) { return f.path; }).empty())
    return Status::Ok();
  return TorchScriptIoMissing(exec, !flags.inputs.empty(), !flags.outputs.empty());
}

// Sets m->io from the flags and, for TorchScript, the staged sidecar in `dir`; runs after
// DescribeModel, whose ONNX/TFLite IO the flags may only refine (see InstallRequest::io).
Status ApplyGivenIo(const fs::path& dir, const IoOverride& flags, mpf::Manifest* m) {
  const std::string& format = m->format.execution_format;
  const std::string exec =
      m->format.execution_files.empty() ? "" : m->format.execution_files.front().path;
  IoOverride given = flags;
  if (format == "torchscript" && !exec.empty()) {
    const std::string sidecar =
        SidecarAmong(exec, m->format.files, [](const mpf::FileEntry& f) { return f.path; });
    if (!sidecar.empty()) {
      MLOS_ASSIGN_OR_RETURN(IoOverride from_file, LoadIoSidecar(dir / sidecar, sidecar));
      if (given.inputs.empty()) given.inputs = std::move(from_file.inputs);
      if (given.outputs.empty()) given.outputs = std::move(from_file.outputs);
    }
    if (given.inputs.empty() || given.outputs.empty())
      return TorchScriptIoMissing(exec, !given.inputs.empty(), !given.outputs.empty());
  }
  if (!HasIo(given)) return Status::Ok();
  const bool read_from_model = (format == "onnx" || format == "tflite") &&
                               (!m->io.inputs.empty() || !m->io.outputs.empty());
  return ApplyIoOverride(given, read_from_model, exec, &m->io);
}

// A local .pt/.pth that is a TorchScript archive inside counts as TorchScript (its name alone
// cannot tell it from a torch.save'd state dict).
void MarkTorchScriptArchives(const fs::path& dir, std::vector<RemoteFile>* listing) {
  for (RemoteFile& f : *listing) {
    std::string lower = f.path;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.ends_with(".pt") || lower.ends_with(".pth"))
      f.torchscript = IsTorchScriptArchive(dir / f.path);
  }
}

// Builds the manifest of a fresh install from what was selected and what the hub said.
mpf::Manifest BuildManifest(const ModelRef& ref, const std::string& version,
                            const Selection& sel, const HubMetadata& meta,
                            const std::string& source, std::vector<mpf::FileEntry> files) {
  mpf::Manifest m;
  m.metadata.name = ref.name;
  m.metadata.namespace_ = ref.ns;
  m.metadata.version = version;
  m.metadata.description = meta.description;
  m.metadata.license = meta.license;
  m.metadata.homepage = meta.homepage;
  m.metadata.tags = meta.tags;
  m.metadata.pipeline_tag = meta.pipeline_tag;
  m.metadata.source = source;
  m.metadata.created = NowRfc3339();
  for (const auto& a : meta.authors) m.metadata.authors.push_back({a, "", ""});
  m.framework.name = sel.framework.empty() ? sel.execution_format : sel.framework;
  m.format.type = m.framework.name;
  m.format.execution_format = sel.execution_format.empty() ? "none" : sel.execution_format;
  std::sort(files.begin(), files.end(),
            [](const mpf::FileEntry& a, const mpf::FileEntry& b) { return a.path < b.path; });
  m.format.files = std::move(files);
  for (const auto& p : sel.execution_files)
    m.format.execution_files.push_back({p, FormatOfFile(p).empty() ? m.format.execution_format
                                                                   : FormatOfFile(p),
                                        "single"});
  m.format.multi_encoder = m.format.execution_files.size() > 1;
  return m;
}

Result<InstallResult> FinishInstall(const Cache& cache, Transaction& tx, const ModelRef& ref,
                                    const std::string& version, mpf::Manifest m,
                                    const std::string& commit, const std::string& source,
                                    bool set_latest, std::vector<std::string> notes,
                                    const InstallRequest& req) {
  if (m.format.execution_format != "none") DescribeModel(tx.dir(), &m, &notes);
  MLOS_RETURN_IF_ERROR(ApplyGivenIo(tx.dir(), req.io, &m));
  const bool strict = req.strict;
  InstallResult res;
  // The manifest must validate as written (strict: axon writes no legacy forms).
  std::string yaml = mpf::EmitManifest(m);
  std::vector<std::string> warnings;
  auto parsed = mpf::ParseManifest(yaml, {.strict = strict}, &warnings);
  if (!parsed.ok()) return parsed.status().WithPrefix("generated manifest is invalid");
  InstalledVersion iv;
  iv.ns = ref.ns;
  iv.name = ref.name;
  iv.version = version;
  iv.commit = commit;
  iv.source = source;
  iv.installed_at = NowRfc3339();
  MLOS_RETURN_IF_ERROR(WriteFileAtomic(tx.dir() / "manifest.yaml", yaml));
  MLOS_RETURN_IF_ERROR(WriteInstallMetadata(tx.dir(), iv));
  MLOS_RETURN_IF_ERROR(tx.Commit(version, set_latest ? "latest" : ""));
  iv.dir = cache.VersionDir(ref.ns, ref.name, version);
  res.installed = iv;
  res.manifest = std::move(parsed).value();
  res.notes = std::move(notes);
  res.warnings = std::move(warnings);
  return res;
}

// Downloads the selected files of a resolved hub model into the staging dir.
Status FetchFiles(const Cache& cache, HubAdapter& hub, const ResolvedModel& rm,
                  const std::vector<RemoteFile>& files, const fs::path& staging,
                  InstallObserver* obs, std::vector<mpf::FileEntry>* out) {
  for (const auto& f : files) {
    if (!IsSafeRelativePath(f.path))
      return InvalidArgument("hub listed an unsafe file path \"" + f.path + "\"");
    mpf::FileEntry e{f.path, f.size, f.sha256};
    if (obs) obs->OnFileStart(f.path, f.size);
    if (!f.sha256.empty() && cache.HasBlob(f.sha256, f.size)) {
      MLOS_RETURN_IF_ERROR(cache.LinkBlob(f.sha256, staging / f.path));
      if (obs) obs->OnFileDone(f.path, f.size, true);
      out->push_back(e);
      continue;
    }
    fs::path partial = cache.PartialPath(PartialKey(f, rm));
    fs::path lockp = partial;
    lockp.replace_extension(".lock");
    auto lock = FileLock::Acquire(lockp);
    if (!lock.ok()) return lock.status();
    // Another install may have completed the same blob while we waited.
    if (!f.sha256.empty() && cache.HasBlob(f.sha256, f.size)) {
      MLOS_RETURN_IF_ERROR(cache.LinkBlob(f.sha256, staging / f.path));
      if (obs) obs->OnFileDone(f.path, f.size, true);
      out->push_back(e);
      continue;
    }
    std::error_code ec;
    if (uint64_t have = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0; have > 0 && obs)
      obs->OnFileResume(f.path, have);
    ProgressFn progress = [&](uint64_t done, uint64_t total) {
      if (obs) obs->OnFileProgress(f.path, done, total);
    };
    MLOS_RETURN_IF_ERROR(hub.Download(rm, f, partial, progress));
    if (e.sha256.empty() || !f.size_known) {
      uint64_t size = 0;
      auto sha = Sha256File(partial, &size);
      if (!sha.ok()) return sha.status();
      e.sha256 = *sha;
      e.size = size;
    }
    MLOS_RETURN_IF_ERROR(cache.AdoptIntoBlob(partial, e.sha256, staging / f.path));
    if (obs) obs->OnFileDone(f.path, e.size, false);
    out->push_back(e);
  }
  return Status::Ok();
}

// Installs an unpacked package dir (from a .axon) as a version: files go to the blob store.
Status AdoptUnpacked(const Cache& cache, const fs::path& dir, const mpf::Manifest& m) {
  for (const auto& f : m.format.files) {
    fs::path p = dir / f.path;
    std::error_code ec;
    if (fs::is_symlink(p, ec)) continue;  // links stay links
    MLOS_RETURN_IF_ERROR(cache.AdoptIntoBlob(p, f.sha256, p));
  }
  return Status::Ok();
}

Result<InstallResult> InstallPackageFile(const Cache& cache, const fs::path& package,
                                         const ModelRef* forced, const std::string& source,
                                         bool set_latest, bool strict, const IoOverride& io_flags,
                                         InstallObserver* obs) {
  if (HasIo(io_flags))
    return InvalidArgument("--input/--output apply to model files, not to " + package.string() +
                           ", a package with its own manifest (its spec.io says the IO)");
  auto yaml = mpf::ReadManifestFromArchive(package);
  if (!yaml.ok()) return yaml.status();
  std::vector<std::string> warnings;
  auto head = mpf::ParseManifest(*yaml, {.strict = strict}, &warnings);
  if (!head.ok()) return head.status().WithPrefix(package.string() + ": manifest.yaml");
  ModelRef ref;
  if (forced) {
    ref = *forced;
  } else {
    ref.ns = head->metadata.namespace_;
    ref.name = head->metadata.name;
    ref.version = head->metadata.version;
  }
  auto lock = cache.LockModel(ref.ns, ref.name);
  if (!lock.ok()) return lock.status();
  cache.CleanStaging(ref.ns, ref.name);
  if (auto found = cache.Find(ref); found.ok() && !(ref.version == "latest")) {
    return AlreadyInstalled(*found);
  }
  Transaction tx(cache, ref.ns, ref.name);
  MLOS_RETURN_IF_ERROR(tx.Begin());
  fs::path unpacked = tx.dir() / "pkg";
  auto m = mpf::Unpack(package, unpacked, {});
  if (!m.ok()) return m.status();
  if (obs) obs->OnResolved(ref.Id(), "", m->format.files.size(), 0);
  MLOS_RETURN_IF_ERROR(AdoptUnpacked(cache, unpacked, *m));
  mpf::Manifest manifest = std::move(m).value();
  manifest.metadata.namespace_ = ref.ns;
  manifest.metadata.name = ref.name;
  manifest.metadata.version = ref.version;
  if (manifest.metadata.source.empty()) manifest.metadata.source = source;
  // Re-home: the version dir is `unpacked`; move it up as the staging root.
  std::error_code ec;
  fs::remove(unpacked / "manifest.sig", ec);
  InstalledVersion iv;
  iv.ns = ref.ns;
  iv.name = ref.name;
  iv.version = ref.version;
  iv.source = source;
  iv.installed_at = NowRfc3339();
  std::string out_yaml = mpf::EmitManifest(manifest);
  MLOS_RETURN_IF_ERROR(WriteFileAtomic(unpacked / "manifest.yaml", out_yaml));
  MLOS_RETURN_IF_ERROR(WriteInstallMetadata(unpacked, iv));
  MLOS_RETURN_IF_ERROR(cache.Publish(unpacked, cache.VersionDir(ref.ns, ref.name, ref.version),
                                     set_latest ? "latest" : ""));
  InstallResult r;
  iv.dir = cache.VersionDir(ref.ns, ref.name, ref.version);
  r.installed = iv;
  r.manifest = std::move(manifest);
  r.warnings = std::move(warnings);
  return r;
}

// Local directory or model file.
Result<InstallResult> InstallLocal(const Cache& cache, const fs::path& src,
                                   const InstallRequest& req, InstallObserver* obs) {
  std::error_code ec;
  fs::path abs = fs::absolute(src, ec).lexically_normal();
  if (abs.has_parent_path() && abs.filename().empty()) abs = abs.parent_path();  // "dir/"
  ModelRef forced;
  bool have_forced = false;
  if (!req.name.empty()) {
    auto r = ParseModelRef(req.name, {req.name.substr(0, req.name.find('/'))});
    if (!r.ok()) return r.status().WithPrefix("--name");
    if (req.name.find('/') == std::string::npos)
      return InvalidArgument("--name: expected ns/name[@version], got \"" + req.name + "\"");
    forced = *r;
    if (!forced.version_given) forced.version = "1.0.0";
    have_forced = true;
  }
  if (fs::is_regular_file(abs, ec) &&
      (abs.extension() == ".axon" || abs.string().ends_with(".tar.gz") || abs.extension() == ".tgz"))
    return InstallPackageFile(cache, abs, have_forced ? &forced : nullptr, "file://" + abs.string(),
                              !have_forced || !forced.version_given, req.strict, req.io, obs);

  // A directory with a manifest, a directory of model files, or one model file.
  fs::path dir = fs::is_directory(abs, ec) ? abs : abs.parent_path();
  std::vector<std::string> warnings;
  std::optional<mpf::Manifest> given;
  if (fs::is_directory(abs, ec) && fs::exists(abs / "manifest.yaml", ec)) {
    auto m = mpf::LoadManifestFile((abs / "manifest.yaml").string(), {.strict = req.strict},
                                   &warnings);
    if (!m.ok()) return m.status();  // LoadManifestFile names the file
    given = std::move(m).value();
    if (HasIo(req.io))
      return InvalidArgument("--input/--output apply to model files, not to " + abs.string() +
                             ", which has its own manifest.yaml (its spec.io says the IO)");
  }
  ModelRef ref;
  if (have_forced) {
    ref = forced;
  } else if (given) {
    ref.ns = given->metadata.namespace_;
    ref.name = given->metadata.name;
    ref.version = given->metadata.version;
  } else {
    ref.ns = "local";
    ref.name = abs.filename().string();
    if (fs::is_regular_file(abs, ec)) ref.name = abs.stem().string();
    ref.version = "1.0.0";
    auto check = ParseModelRef("local/" + ref.name);
    if (!check.ok())
      return InvalidArgument(abs.string() + ": cannot derive a model name; pass --name ns/name@version");
  }
  if (ref.version == "latest") ref.version = "1.0.0";

  auto lock = cache.LockModel(ref.ns, ref.name);
  if (!lock.ok()) return lock.status();
  cache.CleanStaging(ref.ns, ref.name);
  if (auto found = cache.Find(ref); found.ok()) {
    return AlreadyInstalled(*found);
  }

  // The file list: the manifest's, else every file (one file: just it, and its IO sidecar).
  std::vector<RemoteFile> listing;
  auto add = [&listing](const std::string& rel, uint64_t size) {
    RemoteFile f;
    f.path = rel;
    f.size = size;
    listing.push_back(std::move(f));
  };
  if (fs::is_regular_file(abs, ec)) {
    add(abs.filename().string(), fs::file_size(abs, ec));
    for (const std::string& sidecar : IoSidecarPaths(abs.filename().string()))
      if (fs::is_regular_file(dir / sidecar, ec)) add(sidecar, fs::file_size(dir / sidecar, ec));
  } else {
    for (fs::recursive_directory_iterator it(abs, ec), end; !ec && it != end; it.increment(ec)) {
      std::string rel = fs::relative(it->path(), abs).string();
      if (rel.rfind(".", 0) == 0) {  // hidden files and dirs stay out
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file() || rel == "manifest.yaml" || rel == "manifest.sig") continue;
      add(rel, it->file_size());
    }
  }
  std::sort(listing.begin(), listing.end(),
            [](const RemoteFile& a, const RemoteFile& b) { return a.path < b.path; });
  if (!given) MarkTorchScriptArchives(dir, &listing);

  Transaction tx(cache, ref.ns, ref.name);
  MLOS_RETURN_IF_ERROR(tx.Begin());
  std::vector<mpf::FileEntry> entries;
  mpf::Manifest m;
  std::vector<std::string> notes;
  if (given) {
    m = *given;
    // Copy what the manifest declares (and check the declared hashes); if it declares nothing,
    // take every file in the directory.
    std::vector<mpf::FileEntry> declared = m.format.files;
    if (declared.empty())
      for (const auto& f : listing) declared.push_back({f.path, f.size, ""});
    for (const auto& d : declared) {
      if (obs) obs->OnFileStart(d.path, d.size);
      mpf::FileEntry e;
      Status st = AddLocalFile(cache, abs / d.path, tx.dir(), d.path, &e);
      if (!st.ok()) return st;
      if (!d.sha256.empty() && d.sha256 != e.sha256)
        return DataLoss(d.path + ": sha256 mismatch (manifest says " + d.sha256 + ", file has " +
                        e.sha256 + ")");
      if (d.size != 0 && d.size != e.size)
        return DataLoss(d.path + ": size mismatch (manifest says " + std::to_string(d.size) +
                        ", file has " + std::to_string(e.size) + ")");
      if (obs) obs->OnFileDone(d.path, e.size, false);
      entries.push_back(e);
    }
    m.format.files = entries;
    m.metadata.namespace_ = ref.ns;
    m.metadata.name = ref.name;
    m.metadata.version = ref.version;
    if (m.metadata.source.empty()) m.metadata.source = "file://" + abs.string();
    if (m.format.execution_format.empty()) m.format.execution_format = "none";
    std::string yaml = mpf::EmitManifest(m);
    auto parsed = mpf::ParseManifest(yaml, {.strict = req.strict});  // warned above already
    if (!parsed.ok()) return parsed.status().WithPrefix("manifest");
    InstalledVersion iv{ref.ns, ref.name, ref.version, {}, NowRfc3339(), "", m.metadata.source};
    MLOS_RETURN_IF_ERROR(WriteManifestAndMetadata(tx.dir(), m, iv));
    MLOS_RETURN_IF_ERROR(
        tx.Commit(ref.version, !have_forced || !forced.version_given ? "latest" : ""));
    InstallResult r;
    iv.dir = cache.VersionDir(ref.ns, ref.name, ref.version);
    r.installed = iv;
    r.manifest = std::move(parsed).value();
    r.warnings = std::move(warnings);
    return r;
  }

  auto sel = SelectFiles(listing, req.options);
  if (!sel.ok()) return sel.status();
  MLOS_RETURN_IF_ERROR(CheckTorchScriptIoSource(*sel, req.io));
  for (const auto& f : sel->files) {
    if (obs) obs->OnFileStart(f.path, f.size);
    mpf::FileEntry e;
    fs::path from = dir / f.path;
    MLOS_RETURN_IF_ERROR(AddLocalFile(cache, from, tx.dir(), f.path, &e));
    if (obs) obs->OnFileDone(f.path, e.size, false);
    entries.push_back(e);
  }
  if (sel->execution_format == "none")
    notes.push_back("no directly executable model file (onnx, gguf, torchscript, tflite) found: "
                    "installed with execution_format none; it needs conversion before mlosd can "
                    "serve it");
  m = BuildManifest(ref, ref.version, *sel, {}, "file://" + abs.string(), entries);
  return FinishInstall(cache, tx, ref, ref.version, std::move(m), "", "file://" + abs.string(),
                       !have_forced || !forced.version_given, std::move(notes), req);
}

Result<InstallResult> InstallFromHub(const Cache& cache, const HubConfig& hubs,
                                     const InstallRequest& req, const ModelRef& ref,
                                     InstallObserver* obs) {
  auto lock = cache.LockModel(ref.ns, ref.name);
  if (!lock.ok()) return lock.status();
  cache.CleanStaging(ref.ns, ref.name);
  std::optional<InstalledVersion> existing;
  if (auto found = cache.Find(ref); found.ok()) existing = *found;
  if (existing && !req.force_resolve) {
    return AlreadyInstalled(*existing);
  }
  if (ref.ns == "hf" && hubs.hf_offline)
    return Unavailable(ref.Id() + ": not in the cache and HF_HUB_OFFLINE is set");
  auto hub = MakeHubAdapter(ref.ns, hubs);
  if (!hub.ok()) return hub.status();
  auto resolved = (*hub)->Resolve(ref, req.options);
  if (!resolved.ok()) return resolved.status();
  ResolvedModel& rm = *resolved;
  if (rm.version.empty()) rm.version = ref.version;
  if (existing && !existing->commit.empty() && existing->commit == rm.commit &&
      existing->version == rm.version) {
    return AlreadyInstalled(*existing);
  }
  bool set_latest = !ref.version_given || ref.version == "latest";

  if (rm.package) {
    if (HasIo(req.io))
      return InvalidArgument("--input/--output apply to model files, not to " + ref.Id() +
                             ", which its registry serves as a package with its own manifest");
    // A registry serves a ready .axon: download it (verified), then install it.
    const RemoteFile& pf = *rm.package;
    fs::path partial = cache.PartialPath(PartialKey(pf, rm));
    fs::path lockp = partial;
    lockp.replace_extension(".lock");
    auto plock = FileLock::Acquire(lockp);
    if (!plock.ok()) return plock.status();
    if (obs) obs->OnFileStart(pf.path.empty() ? "package.axon" : pf.path, pf.size);
    ProgressFn progress = [&](uint64_t d, uint64_t t) {
      if (obs) obs->OnFileProgress(pf.path, d, t);
    };
    MLOS_RETURN_IF_ERROR((*hub)->Download(rm, pf, partial, progress));
    if (obs) obs->OnFileDone(pf.path, pf.size, false);
    ModelRef target = ref;
    target.version = rm.version;
    { FileLock release = std::move(lock.value()); }  // InstallPackageFile takes it itself
    auto r = InstallPackageFile(cache, partial, &target, rm.source, set_latest, req.strict, req.io,
                                obs);
    std::error_code ec;
    fs::remove(partial, ec);
    return r;
  }

  auto sel = SelectFiles(rm.files, req.options);
  if (!sel.ok()) return sel.status().WithPrefix(ref.Repo());
  MLOS_RETURN_IF_ERROR(CheckTorchScriptIoSource(*sel, req.io));
  uint64_t total = 0;
  for (const auto& f : sel->files) total += f.size;
  if (obs) obs->OnResolved(ref.ns + "/" + ref.name + "@" + rm.version, rm.commit,
                           sel->files.size(), total);
  std::vector<std::string> notes = rm.notes;
  if (sel->execution_format == "none" && notes.empty())
    notes.push_back("no directly executable model file (onnx, gguf, torchscript, tflite) in " +
                    ref.Repo() + ": installed with execution_format none; it needs conversion "
                    "before mlosd can serve it");
  Transaction tx(cache, ref.ns, ref.name);
  MLOS_RETURN_IF_ERROR(tx.Begin());
  std::vector<mpf::FileEntry> entries;
  MLOS_RETURN_IF_ERROR(FetchFiles(cache, **hub, rm, sel->files, tx.dir(), obs, &entries));
  mpf::Manifest m = BuildManifest(ref, rm.version, *sel, rm.meta, rm.source, std::move(entries));
  auto r = FinishInstall(cache, tx, ref, rm.version, std::move(m), rm.commit, rm.source,
                         set_latest, std::move(notes), req);
  return r;
}

}  // namespace

Result<ModelRef> ParseRefForHubs(const std::string& text, const HubConfig& hubs) {
  std::vector<std::string> extra;
  if (!hubs.registry_url.empty()) {
    std::string first = text.substr(0, text.find('/'));
    if (text.find('/') != std::string::npos && !IsBuiltinNamespace(first)) extra.push_back(first);
  }
  return ParseModelRef(text, extra);
}

Result<ModelRef> ParseInstalledRef(const std::string& text, const HubConfig& hubs,
                                   const Cache& cache) {
  size_t slash = text.find('/');
  if (slash != std::string::npos) {
    std::string first = text.substr(0, slash);
    std::error_code ec;
    if (!IsBuiltinNamespace(first) && !first.empty() && first[0] != '.' &&
        fs::is_directory(cache.root() / "models" / first, ec)) {
      auto ref = ParseModelRef(text, {first});
      if (ref.ok() && cache.Find(*ref).ok()) return ref;
    }
  }
  return ParseRefForHubs(text, hubs);
}

Result<InstallResult> Install(const Cache& cache, const HubConfig& hubs, const InstallRequest& req,
                              InstallObserver* observer) {
  std::error_code ec;
  // A local source: anything that exists on disk (./dir, /abs/file.axon, model.onnx).
  bool looks_like_path = req.ref.find("./") == 0 || req.ref.find("../") == 0 ||
                         req.ref.front() == '/' || req.ref.front() == '~';
  if (fs::exists(req.ref, ec) || looks_like_path) {
    if (!fs::exists(req.ref, ec)) return NotFound(req.ref + ": no such file or directory");
    return InstallLocal(cache, req.ref, req, observer);
  }
  if (!req.name.empty())
    return InvalidArgument("--name applies to local sources only (\"" + req.ref +
                           "\" is not a file or directory)");
  auto ref = ParseRefForHubs(req.ref, hubs);
  if (!ref.ok()) return ref.status();
  if (ref->ns == "local")
    return NotFound(req.ref + ": local models are installed from a path (axon install ./dir)");
  if (!req.options.revision.empty()) {
    ref->version = req.options.revision;
    ref->version_given = true;
  }
  return InstallFromHub(cache, hubs, req, *ref, observer);
}

Result<InstallResult> Update(const Cache& cache, const HubConfig& hubs, const std::string& text,
                             InstallObserver* observer) {
  auto ref = ParseInstalledRef(text, hubs, cache);
  if (!ref.ok()) return ref.status();
  auto found = cache.Find(*ref);
  if (!found.ok()) return found.status();
  if (found->source.rfind("file://", 0) == 0) {
    InstallResult r = AlreadyInstalled(*found);
    r.notes.push_back(found->Id() + " was installed from a local source: nothing to update");
    return r;
  }
  InstallRequest req;
  req.ref = text;
  req.force_resolve = true;
  auto installed = mpf::LoadManifestFile((found->dir / "manifest.yaml").string());
  if (installed.ok() && !installed->format.execution_files.empty()) {
    const mpf::Manifest& m = *installed;
    const std::string& exec = m.format.execution_files.front().path;
    // A GGUF install keeps its quantisation (the tag in the installed file's name).
    if (m.format.execution_format == "gguf") {
      req.options.format = "gguf";
      req.options.quant = GgufQuantTag(exec);
    }
    // A TorchScript install keeps the IO its --input/--output gave it; one that came from a
    // sidecar reads the new revision's sidecar instead.
    auto path_of = [](const mpf::FileEntry& f) { return f.path; };
    if (m.format.execution_format == "torchscript" &&
        SidecarAmong(exec, m.format.files, path_of).empty()) {
      req.io.inputs = m.io.inputs;
      req.io.outputs = m.io.outputs;
    }
  }
  ModelRef target = *ref;
  // Update the version the alias points at (latest -> main), keep the alias.
  if (!ref->version_given || ref->version == "latest") {
    target.version_given = false;
  } else {
    target.version = found->version;
  }
  auto r = InstallFromHub(cache, hubs, req, target, observer);
  if (r.ok() && r->already_installed) r->changed = false;
  return r;
}

Status Uninstall(const Cache& cache, const std::string& text, const HubConfig& hubs,
                 InstalledVersion* removed) {
  auto ref = ParseInstalledRef(text, hubs, cache);
  if (!ref.ok()) return ref.status();
  auto lock = cache.LockModel(ref->ns, ref->name);
  if (!lock.ok()) return lock.status();
  auto found = cache.Find(*ref);
  if (!found.ok()) return found.status();
  MLOS_RETURN_IF_ERROR(cache.Remove(*found));
  if (removed) *removed = *found;
  return Status::Ok();
}

}  // namespace mlos::axon
