// Shared weights: one read-only memory mapping per ORT-format cache file, shared by every
// session created from that file. The sessions' initializers point into the mapping
// (session.use_ort_model_bytes_for_initializers) and are added to each session as shared
// initializers, so the prepacked forms ONNX Runtime computes from them (e.g. MatMul weights
// re-laid out for the CPU) live once, in the mapping's PrepackedWeightsContainer.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <onnxruntime_cxx_api.h>

namespace mlos::onnx_plugin {

// One mapped ORT-format file. Immutable once made, so any thread may use it. Every session
// created from it must be destroyed before it (holders keep a shared_ptr next to the session).
class MappedOrtModel {
 public:
  MappedOrtModel(const MappedOrtModel&) = delete;
  MappedOrtModel& operator=(const MappedOrtModel&) = delete;

  const void* data() const { return region_.data; }
  size_t size() const { return region_.size; }
  // A non-zero 64-bit hash of the file's (st_dev, st_ino, size, mtime): equal for every
  // session of this mapping, the SMI shared_key.
  uint64_t key() const { return key_; }
  size_t shared_initializer_count() const { return names_.size(); }

  // Adds this file's initializers to `options` as shared initializers (OrtApi::AddInitializer);
  // their data stays in the mapping, which outlives the session.
  void AddSharedInitializers(Ort::SessionOptions& options) const;
  // Where the prepacked forms of the shared initializers are kept, for every session of this
  // mapping (ONNX Runtime serialises use of it with its own mutex). Its buffers are freed with
  // the mapping, so an evicted model's prepacked weights go with its last session.
  Ort::PrepackedWeightsContainer& prepacked() const { return prepacked_; }
  // Drops this process's page-table entries for the mapping (madvise MADV_DONTNEED). The bytes
  // stay in the page cache and fault back in when a session reads them; pages read only while
  // prepacking (the prepacked copy is what runs) then stop counting in the resident set. Safe
  // while other sessions run.
  void ReleaseResidentPages() const;

 private:
  friend class MappedOrtModelCache;
  struct Region {  // the mapping itself; unmapped last, after the values pointing into it
    void* data = nullptr;
    size_t size = 0;
    ~Region();
  };
  MappedOrtModel(void* data, size_t size, uint64_t key);
  // Reads the initializers out of the mapping; false when it is not an ORT-format model.
  bool ReadInitializers();

  Region region_;
  uint64_t key_;
  std::vector<std::string> names_;
  std::vector<Ort::Value> values_;  // tensors over the mapping, one per name
  mutable Ort::PrepackedWeightsContainer prepacked_;
};

// The mappings of one plugin instance. Thread-safe.
class MappedOrtModelCache {
 public:
  // The mapping of the ORT-format file at `path`: the one live sessions already share when the
  // file is the same (st_dev, st_ino, size, mtime), else a new one. Null when the file cannot be
  // opened or mapped, or is not an ORT-format model.
  std::shared_ptr<MappedOrtModel> Acquire(const std::string& path);

  // A mutex for one cache path. Loads of one model file hold it while they read or build its
  // cached copies, so concurrent first loads build once and then map the same file.
  std::shared_ptr<std::mutex> PathLock(const std::string& path);

 private:
  using FileIdentity = std::tuple<dev_t, ino_t, int64_t, int64_t>;  // dev, inode, size, mtime ns

  std::mutex mu_;
  std::map<FileIdentity, std::weak_ptr<MappedOrtModel>> mappings_;  // guarded by mu_
  std::map<std::string, std::weak_ptr<std::mutex>> path_locks_;     // guarded by mu_
};

}  // namespace mlos::onnx_plugin
