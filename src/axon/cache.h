// The axon model cache.
//
// Layout under the cache root (`$AXON_HOME/cache`, default `~/.axon/cache`):
//   models/{ns}/{name...}/{version}/        an installed version: immutable once renamed in
//       manifest.yaml                       (what "installed" means, as in the original Axon)
//       .axon_metadata.json                 installed_at, namespace, name, version, commit, source
//       <model files>                       hard links to blobs/ (identical files shared)
//   models/{ns}/{name...}/.refs/{alias}     text file naming a version dir ("latest" -> "main")
//   models/{ns}/{name...}/.staging-*        an install in progress (removed under the lock)
//   blobs/sha256/{hex}                      content-addressed file store (mode 0444)
//   partial/{key}.incomplete                resumable downloads; {key}.lock held while in use
//   locks/{ns}/{name...}.lock               one writer per model (install/update/uninstall)
//
// A blob with a link count of 1 is referenced by no version: `cache gc` removes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "axon/ref.h"
#include "common/fs.h"
#include "common/status.h"

namespace mlos::axon {

struct InstalledVersion {
  std::string ns, name, version;
  std::filesystem::path dir;
  std::string installed_at;  // RFC 3339 UTC
  std::string commit;
  std::string source;
  std::string Id() const { return ns + "/" + name + "@" + version; }
};

struct GcReport {
  uint64_t blobs_removed = 0, blob_bytes_freed = 0;
  uint64_t partials_removed = 0, partial_bytes_freed = 0;
  uint64_t staging_removed = 0;
};

class Cache {
 public:
  // root = the cache directory (…/cache).
  explicit Cache(std::filesystem::path root);
  // $AXON_HOME/cache, or ~/.axon/cache.
  static Cache FromEnvironment();
  static std::filesystem::path AxonHome();

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path ModelDir(const std::string& ns, const std::string& name) const;
  std::filesystem::path VersionDir(const std::string& ns, const std::string& name,
                                   const std::string& version) const;
  std::filesystem::path BlobPath(const std::string& sha256) const;
  std::filesystem::path PartialPath(const std::string& key) const;
  std::filesystem::path LockPath(const std::string& ns, const std::string& name) const;

  // Exclusive per-model lock for writers.
  Result<FileLock> LockModel(const std::string& ns, const std::string& name) const;

  // Resolves a ref to an installed version: an exact version dir, else an alias in .refs/.
  // NotFound when neither exists.
  Result<InstalledVersion> Find(const ModelRef& ref) const;
  // Every installed version, sorted by id.
  Result<std::vector<InstalledVersion>> List() const;

  // Sets .refs/{alias} to `version` (atomic write).
  Status SetRef(const std::string& ns, const std::string& name, const std::string& alias,
                const std::string& version) const;
  // Removes refs pointing at `version`.
  Status DropRefsTo(const std::string& ns, const std::string& name,
                    const std::string& version) const;

  // Moves a file into the blob store under its sha256 (or drops it if the blob exists) and
  // hard-links the blob to `dest`. The source is consumed.
  Status AdoptIntoBlob(const std::filesystem::path& src, const std::string& sha256,
                       const std::filesystem::path& dest) const;
  // Hard-links an existing blob to dest; NotFound if the blob is absent.
  Status LinkBlob(const std::string& sha256, const std::filesystem::path& dest) const;
  bool HasBlob(const std::string& sha256, uint64_t size) const;

  // New staging dir for a version install (inside the model dir, same filesystem).
  Result<std::filesystem::path> MakeStaging(const std::string& ns, const std::string& name) const;
  // Removes leftover staging dirs of a model and repairs its refs after a killed writer
  // (RecoverRefs). Call with the model lock held.
  uint64_t CleanStaging(const std::string& ns, const std::string& name) const;
  // Rolls a pending ref forward (its version was published) or drops it; drops refs to
  // versions that are gone and temporary files. Call with the model lock held.
  void RecoverRefs(const std::string& ns, const std::string& name) const;
  // Atomically publishes a complete staging dir as the version dir. If the version dir exists
  // it is exchanged (renameat2 RENAME_EXCHANGE) and the old one removed. With `ref_alias`,
  // .refs/{ref_alias} names the version from the same moment on (a pending ref written before
  // the rename, Find and RecoverRefs take it once the version is there).
  Status Publish(const std::filesystem::path& staging, const std::filesystem::path& version_dir,
                 const std::string& ref_alias = "") const;
  // Removes a version dir (rename away, then delete) and the refs that point at it.
  Status Remove(const InstalledVersion& v) const;

  // Unreferenced blobs, partial downloads not in use and untouched for `partial_max_age_s`,
  // staging dirs of models nobody is installing.
  Result<GcReport> CollectGarbage(int64_t partial_max_age_s) const;

 private:
  Status PublishDir(const std::filesystem::path& staging,
                    const std::filesystem::path& version_dir) const;

  std::filesystem::path root_;
};

// Writes .axon_metadata.json for a version dir.
Status WriteInstallMetadata(const std::filesystem::path& dir, const InstalledVersion& v);
std::string NowRfc3339();

}  // namespace mlos::axon
