// Hub adapters: resolve a model reference to a pinned file list, download files, search.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "axon/ref.h"
#include "common/status.h"

namespace mlos::axon {

struct RemoteFile {
  std::string path;     // path inside the repo, relative (validated with IsSafeRelativePath)
  uint64_t size = 0;    // 0 with size_known=false when the hub does not say
  bool size_known = true;
  std::string sha256;   // expected sha256 when the hub publishes it (LFS, ModelScope), else ""
  std::string git_oid;  // git blob sha1 when that is all the hub gives (HF non-LFS files)
  std::string url;      // absolute download URL
  // The file is known to be a TorchScript archive by its contents (local sources look inside
  // .pt/.pth files, see IsTorchScriptArchive); SelectFiles then takes it for TorchScript
  // whatever its name says.
  bool torchscript = false;
};

struct HubMetadata {
  std::string description, license, pipeline_tag, library_name, homepage;
  std::vector<std::string> tags;
  std::vector<std::string> authors;
};

struct ResolvedModel {
  ModelRef ref;                 // as requested (namespace canonical)
  std::string version;          // the cache version directory name: the requested revision or
                                // version as the user named it ("main", "1.0.0", "latest"...)
  std::string commit;           // the pinned immutable revision (HF sha, ModelScope commit), or ""
  std::vector<RemoteFile> files;  // every file in the repo at that revision (before selection)
  HubMetadata meta;
  // Set when the hub serves a ready .axon package (Axon registry): the install unpacks it
  // instead of downloading `files`.
  std::optional<RemoteFile> package;
  std::string source;           // e.g. "hf://org/name@<commit>"
  std::vector<std::string> notes;  // things to tell the user (e.g. "needs conversion")
};

// Progress of one file download: bytes done (including resumed bytes) and total (0 = unknown).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct InstallOptions {
  std::string revision;                 // --revision; overrides the ref's @version for the hub
  std::vector<std::string> include;     // --include globs (fnmatch, '*' crosses '/')
  std::string format = "auto";          // auto | onnx | gguf | torchscript | tflite | safetensors |
                                        // pytorch | tensorflow
  std::string quant;                    // GGUF variant, e.g. "Q4_K_M"; ONNX/TFLite: "fp16"...
  bool offline = false;                 // HF_HUB_OFFLINE
};

struct SearchHit {
  std::string id;  // ns/name
  std::string description;
  std::string pipeline_tag;
  uint64_t downloads = 0;
  std::string source;  // which hub answered
};

class HubAdapter {
 public:
  virtual ~HubAdapter() = default;
  virtual std::string Name() const = 0;
  // Contacts the hub and pins the revision. Errors are one clear line (gated, not found...).
  virtual Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) = 0;
  // Downloads `file` into `partial` (appending/resuming if it exists), verifying size and sha256
  // (when known) while downloading. On success `partial` holds exactly the file.
  virtual Status Download(const ResolvedModel& model, const RemoteFile& file,
                          const std::filesystem::path& partial, const ProgressFn& progress) = 0;
  virtual Result<std::vector<SearchHit>> Search(const std::string& query, int limit) = 0;
};

struct HubConfig {
  std::string hf_endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string hf_token;                                // HF_TOKEN / HUGGING_FACE_HUB_TOKEN
  bool hf_offline = false;                             // HF_HUB_OFFLINE
  std::string modelscope_endpoint = "https://www.modelscope.cn";  // MODELSCOPE_DOMAIN
  std::string modelscope_token;                        // MODELSCOPE_API_TOKEN
  std::string github_api = "https://api.github.com";   // PyTorch Hub (AXON_GITHUB_API)
  std::string github_web = "https://github.com";       // (AXON_GITHUB_URL)
  std::string kaggle_endpoint = "https://www.kaggle.com";  // (KAGGLE_ENDPOINT)
  std::string kaggle_username, kaggle_key;             // KAGGLE_USERNAME / KAGGLE_KEY
  std::string registry_url;                            // Axon registry (config or AXON_REGISTRY_URL)
  int timeout_s = 300;
  int max_retries = 5;
  // Reads the environment variables named above over the defaults.
  static HubConfig FromEnvironment();
};

// Returns the adapter serving ref.ns ("hf", "modelscope", "pytorch", "tfhub", or a registry
// namespace when registry_url is set), or NotFound naming the namespace.
Result<std::unique_ptr<HubAdapter>> MakeHubAdapter(const std::string& ns, const HubConfig& config);

// Picks the files to install from a resolved file list: --include globs when given; otherwise by
// format preference (auto: gguf (one quantisation, see ChooseGgufVariant in gguf_files.h: --quant,
// else Q4_K_M, Q4_K_S, Q5_K_M, Q8_0, else the smallest; a split set whole) > onnx (one variant:
// --quant, else base, fp32, fp16, quantized...; external data along) > torchscript (.ptl,
// .torchscript, a .pt/.pth named *torchscript*/*traced*/*scripted*/*jit*, or any file with
// RemoteFile::torchscript) > tflite (one variant, as ONNX) > safetensors > pytorch .bin/.pt/.pth >
// tensorflow (SavedModel, .h5, .keras)) plus the small companion files (json, txt, tokenizer*,
// vocab*, merges*, *.model, README.md, PyTorch Hub's hubconf.py) and, for TorchScript, the IO
// sidecar of each execution file ("<stem>.io.yaml", else "io.yaml" beside it; see
// sidecar_io.h). Returns the selected files and sets execution_format (onnx | gguf |
// torchscript | tflite | none) and the execution file paths.
struct Selection {
  std::vector<RemoteFile> files;
  std::string execution_format;             // "none" when nothing is directly executable
  std::vector<std::string> execution_files; // paths within files
  std::string framework;                    // onnx | gguf | pytorch | tflite | safetensors |
                                            // tensorflow ...
};
Result<Selection> SelectFiles(const std::vector<RemoteFile>& files, const InstallOptions& opts);

}  // namespace mlos::axon
