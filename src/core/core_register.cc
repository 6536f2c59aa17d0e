// Register and Unregister: validate everything first, then persist, then publish in memory.
// A bad request changes nothing. Store writes run under mutation_mu_ but outside mu_ (see
// core_impl.h), so requests on other models never wait for the disk.
#include <chrono>
#include <spdlog/spdlog.h>

#include "core/core_impl.h"
#include "common/fs.h"
#include "core/manifest_json.h"
#include "mpf/package_verify.h"

namespace mlos::core {
namespace {

namespace fs = std::filesystem;

std::string Q(const std::string& s) { return "\"" + s + "\""; }

bool Inside(const fs::path& dir, const fs::path& p) {
  auto d = dir.begin(), e = dir.end();
  auto i = p.begin();
  for (; d != e; ++d, ++i) {
    if (i == p.end() || *d != *i) return false;
  }
  return true;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The execution file for `format`: the execution_files entry of that format, else the first
// one, else the first file, else the directory itself.
std::string ExecutionFile(const mpf::Manifest& m, const std::string& format) {
  for (const mpf::ExecutionFile& f : m.format.execution_files) {
    if (f.format == format) return f.path;
  }
  if (!m.format.execution_files.empty()) return m.format.execution_files[0].path;
  if (!m.format.files.empty()) return m.format.files[0].path;
  return "";
}

}  // namespace

Result<ModelEntry> CoreImpl::PrepareEntry(const store::ModelRecord& rec,
                                          bool verify_checksums) const {
  std::error_code ec;
  if (!fs::is_directory(rec.path, ec)) {
    return InvalidArgument("path: " + Q(rec.path) + " is not an existing directory");
  }
  if (!fs::is_regular_file(rec.manifest_path, ec)) {
    return InvalidArgument("manifest_path: " + Q(rec.manifest_path) + " does not exist");
  }
  std::vector<std::string> warnings;
  auto m = mpf::LoadManifestFile(rec.manifest_path, {}, &warnings);
  if (!m.ok()) {
    return Status(m.status().code() == StatusCode::kNotFound ? StatusCode::kInvalidArgument
                                                             : m.status().code(),
                  "manifest " + rec.manifest_path + ": " + m.status().message());
  }
  for (const std::string& w : warnings) spdlog::warn("model {}: manifest: {}", rec.id, w);
  if (m->Id() != rec.id) {
    return InvalidArgument("model_id: " + Q(rec.id) + " does not match the manifest's " +
                           Q(m->Id()));
  }
  ModelEntry e;
  e.rec = rec;
  if (options_.isolation.unsigned_process) e.signed_trusted = SignedByTrustedKey(rec);
  if (e.rec.execution_format.empty()) e.rec.execution_format = m->format.execution_format;
  if (e.rec.execution_format.empty()) {
    return InvalidArgument("spec.format.execution_format: required (the format a plugin runs)");
  }
  if (!m->format.execution_format.empty() && m->format.execution_format != e.rec.execution_format) {
    return InvalidArgument("execution_format: the request says " + Q(e.rec.execution_format) +
                           " but the manifest says " + Q(m->format.execution_format));
  }
  if (e.rec.execution_format == "none") {
    return InvalidArgument("model " + rec.id + " has execution format \"none\": it needs "
                           "conversion to a runnable format (e.g. onnx) before it can be served");
  }
  e.plugin = plugins_->ForFormat(e.rec.execution_format);
  if (!e.plugin) {
    return InvalidArgument("no plugin serves execution format " + Q(e.rec.execution_format) +
                           " (plugins: " + plugins_->Names() + ")");
  }
  std::string exec = ExecutionFile(*m, e.rec.execution_format);
  if (!exec.empty()) {
    if (!IsSafeRelativePath(exec)) {
      return InvalidArgument("spec.format.execution_files: unsafe path " + Q(exec));
    }
    e.model_path = (fs::path(rec.path) / exec).string();
    if (!fs::exists(e.model_path, ec)) {
      return InvalidArgument("spec.format.execution_files: " + Q(exec) + " does not exist in " +
                             rec.path);
    }
  } else {
    e.model_path = rec.path;
  }
  if (verify_checksums) {
    Status st = mpf::VerifyPackageDir(rec.path, *m);
    if (!st.ok()) return Status(st.code(), "model " + rec.id + ": " + st.message());
  }
  if (e.rec.framework.empty()) e.rec.framework = m->framework.name;
  if (e.rec.description.empty()) e.rec.description = m->metadata.description;
  e.manifest_json = ManifestJson(*m);
  e.manifest = std::make_shared<const mpf::Manifest>(std::move(m).value());
  auto policy = std::make_shared<ModelPolicy>();
  policy->principals = e.manifest->security.allowed_principals;
  policy->roles = e.manifest->security.allowed_roles;
  policy->max_concurrency = e.manifest->security.max_concurrency;
  policy->rate_limit = e.manifest->security.rate_limit;
  e.policy = std::move(policy);
  return e;
}

Status CoreImpl::ResolveDepsLocked(const std::string& id, const mpf::Manifest& m,
                                   std::vector<std::string>* deps) const {
  deps->clear();
  const std::string self_name = id.substr(0, id.find('@'));
  const std::string self_version = id.substr(id.find('@') + 1);
  for (const mpf::ModelDependency& d : m.dependencies.models) {
    auto ref = policy::ParseModelRef(d.id);
    if (!ref.ok()) return ref.status().WithPrefix("spec.dependencies.models");
    policy::NameSnapshot snap = SnapshotLocked(ref->name);
    if (ref->name == self_name) {
      // The model being registered counts: a dependency on itself is a cycle.
      bool listed = false;
      for (const auto& v : snap.versions) listed = listed || v.version == self_version;
      if (!listed) snap.versions.push_back({self_version, INT64_MAX});
    }
    std::string constraint = d.constraint;
    if (!ref->requested.empty()) constraint = "=" + ref->requested;
    std::string version;
    if (!ref->requested.empty() && !mpf::IsSemver(ref->requested)) {
      auto v = policy::ResolveVersion(ref->name, snap, ref->requested);
      if (!v.ok()) {
        return FailedPrecondition("dependency " + d.id + " of " + id + " is not registered");
      }
      version = *v;
    } else {
      auto v = policy::ResolveDependency(ref->name, snap.versions.empty() ? nullptr : &snap,
                                         constraint);
      if (!v.ok()) return Status(v.status().code(), v.status().message() + " (needed by " + id + ")");
      version = *v;
    }
    std::string dep_id = ref->name + "@" + version;
    if (auto it = models_.find(dep_id); it != models_.end() && it->second.removing) {
      return FailedPrecondition("dependency " + dep_id + " of " + id + " is being unregistered");
    }
    deps->push_back(std::move(dep_id));
  }
  policy::DepGraph g = GraphLocked();
  g[id] = *deps;
  return policy::LoadOrder(g, id).status();
}

Result<ModelStatus> CoreImpl::Register(const RegisterRequest& request) {
  MLOS_RETURN_IF_ERROR(policy::ValidateRegistrationId(request.model_id, "model_id"));
  if (request.path.empty()) return InvalidArgument("path: required");
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::absolute(request.path, ec), ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return InvalidArgument("path: " + Q(request.path) + " is not an existing directory");
  }
  fs::path manifest = request.manifest_path.empty() ? dir / "manifest.yaml"
                                                    : fs::path(request.manifest_path);
  if (manifest.is_relative()) manifest = dir / manifest;
  manifest = fs::weakly_canonical(manifest, ec);
  if (ec || !Inside(dir, manifest) || manifest == dir) {
    return InvalidArgument("manifest_path: " + Q(request.manifest_path) +
                           " is outside the package directory " + Q(dir.string()));
  }
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(request.model_id);
    if (it != models_.end()) {
      if (it->second.rec.path == dir.string()) return StatusLocked(it->second);
      return AlreadyExists("model " + request.model_id + " is already registered from " +
                           it->second.rec.path);
    }
  }
  store::ModelRecord rec;
  rec.id = request.model_id;
  rec.name = request.model_id.substr(0, request.model_id.find('@'));
  rec.version = request.model_id.substr(request.model_id.find('@') + 1);
  rec.path = dir.string();
  rec.manifest_path = manifest.string();
  rec.execution_format = request.execution_format;
  rec.framework = request.framework;
  rec.description = request.description;
  rec.registered_at = NowUnixMs();
  // Reads and hashes files: outside the lock.
  MLOS_ASSIGN_OR_RETURN(ModelEntry e, PrepareEntry(rec, options_.verify_checksums));

  std::lock_guard<std::mutex> mutations(mutation_mu_);
  store::DefaultRecord defaults;
  {
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    if (auto it = models_.find(rec.id); it != models_.end()) {
      if (it->second.rec.path == rec.path) return StatusLocked(it->second);
      return AlreadyExists("model " + rec.id + " is already registered from " +
                           it->second.rec.path);
    }
    MLOS_RETURN_IF_ERROR(ResolveDepsLocked(rec.id, *e.manifest, &e.deps));
    defaults = policy::DefaultsAfterRegister(SnapshotLocked(rec.name).defaults, rec.version);
  }
  // Outside mu_; under mutation_mu_ the id stays free and the dependencies and defaults stay
  // as computed (every change to them is a mutation).
  MLOS_RETURN_IF_ERROR(store_->PutModel(e.rec, &defaults));

  Lock lock(mu_);
  int64_t seq = 0;
  for (const auto& [id, other] : models_) seq = std::max(seq, other.rec.seq);
  e.rec.seq = seq + 1;  // registration order in memory (the store keeps its own)
  NameEntry& n = names_[rec.name];
  n.versions.push_back({rec.version, e.rec.seq});
  n.defaults = defaults;
  auto [it, inserted] = models_.emplace(rec.id, std::move(e));
  spdlog::info("registered {} ({}, plugin {}) from {}", rec.id, it->second.rec.execution_format,
               it->second.plugin->name, rec.path);
  NotifyState(rec.id, ModelState::kRegistered);
  return StatusLocked(it->second);
}

Status CoreImpl::Unregister(const std::string& id) {
  {
    std::lock_guard<std::mutex> mutations(mutation_mu_);  // no dependent is being registered
    Lock lock(mu_);
    if (shutting_down_) return Unavailable("core is shutting down");
    auto it = models_.find(id);
    if (it == models_.end() || it->second.removing) {
      return NotFound("model " + id + " is not registered");
    }
    std::vector<std::string> dependents = DependentsLocked(id);
    if (!dependents.empty()) {
      std::string list;
      for (const std::string& d : dependents) list += (list.empty() ? "" : ", ") + d;
      return FailedPrecondition("model " + id + " is needed by " + list +
                                "; unregister those first");
    }
    it->second.removing = true;  // reserved: no new loads, requests or dependents
    cv_.notify_all();
  }
  // Drains requests in flight: holds neither lock.
  Status st = UnloadOne(id, /*persist=*/false);

  std::lock_guard<std::mutex> mutations(mutation_mu_);
  store::DefaultRecord defaults;
  std::vector<policy::VersionEntry> remaining;
  {
    Lock lock(mu_);
    auto it = models_.find(id);
    if (it == models_.end()) return NotFound("model " + id + " is not registered");
    if (!st.ok()) {
      it->second.removing = false;
      cv_.notify_all();
      return st;
    }
    const NameEntry& n = names_.at(it->second.rec.name);
    for (const auto& v : n.versions) {
      if (v.version != it->second.rec.version) remaining.push_back(v);
    }
    defaults = policy::DefaultsAfterUnregister(n.defaults, it->second.rec.version, remaining);
  }
  // Outside mu_: the entry stays reserved (removing) while the store forgets it.
  st = store_->DeleteModel(id, defaults);

  Lock lock(mu_);
  auto it = models_.find(id);
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    it->second.removing = false;
    cv_.notify_all();
    return st;
  }
  const std::string name = it->second.rec.name, version = it->second.rec.version;
  models_.erase(it);
  if (scheduler_) scheduler_->Forget(id);
  NameEntry& n = names_.at(name);
  n.versions = remaining;
  n.defaults = defaults;
  for (auto a = n.aliases.begin(); a != n.aliases.end();) {
    a = a->second == version ? n.aliases.erase(a) : std::next(a);
  }
  if (n.versions.empty()) names_.erase(name);
  cv_.notify_all();
  spdlog::info("unregistered {}", id);
  return Status::Ok();
}

}  // namespace mlos::core
