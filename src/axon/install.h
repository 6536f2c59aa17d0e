// Install, update and uninstall: the transactions over the cache.
//
// An install resolves a ref (hub) or reads a local source, downloads or copies every selected
// file into the blob store (resumable, verified), builds the version directory in a staging
// dir beside it (hard links to blobs + manifest.yaml + .axon_metadata.json) and publishes it
// with one rename. Holding the per-model lock, it first removes staging dirs left by an
// install that died, so an interrupted install leaves no half-installed version and the next
// one resumes its partial downloads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "axon/cache.h"
#include "axon/hub/hub.h"
#include "axon/inspect/sidecar_io.h"
#include "mpf/manifest.h"

namespace mlos::axon {

// Receives progress; the CLI renders it (bar on a terminal, lines, or JSON events).
class InstallObserver {
 public:
  virtual ~InstallObserver() = default;
  virtual void OnResolved(const std::string& /*id*/, const std::string& /*commit*/,
                          size_t /*files*/, uint64_t /*total_bytes*/) {}
  virtual void OnFileStart(const std::string& /*path*/, uint64_t /*size*/) {}
  // A partial download from an earlier, interrupted install is continued at `offset`.
  virtual void OnFileResume(const std::string& /*path*/, uint64_t /*offset*/) {}
  virtual void OnFileProgress(const std::string& /*path*/, uint64_t /*done*/, uint64_t /*total*/) {}
  virtual void OnFileDone(const std::string& /*path*/, uint64_t /*size*/, bool /*cached*/) {}
  virtual void OnNote(const std::string& /*note*/) {}
};

struct InstallRequest {
  std::string ref;         // "[ns/]name[@version]" or a local path
  InstallOptions options;  // revision, include, format, quant
  std::string name;        // --name ns/name@version for local sources ("" = derive)
  bool strict = false;     // legacy manifests are errors
  bool force_resolve = false;  // update: contact the hub even if installed
  // --input / --output (ParseTensorFlags). For ONNX and TFLite each replaces the model's tensor
  // of that name (naming a tensor the model lacks is an error); for other formats they are
  // added. A TorchScript install needs inputs and outputs, from here or from the IO sidecar
  // beside the model (<stem>.io.yaml or io.yaml; these flags win over it, list by list);
  // without either it fails before anything is downloaded or copied. Refused for sources that
  // bring their own manifest (a directory with manifest.yaml, .axon packages, registries).
  IoOverride io;
};

struct InstallResult {
  InstalledVersion installed;
  bool already_installed = false;  // nothing was done
  bool changed = true;             // update: false when already at the hub's commit
  mpf::Manifest manifest;
  std::vector<std::string> notes;  // e.g. "needs conversion"
  std::vector<std::string> warnings;
};

// The execution format a model file's extension names ("onnx", "gguf", "torchscript" for .pt,
// .ptl and .torchscript, "tflite"), or "" for any other file.
std::string FormatOfFile(const std::string& path);

Result<InstallResult> Install(const Cache& cache, const HubConfig& hubs, const InstallRequest& req,
                              InstallObserver* observer);

// Re-resolves an installed ref against its hub; installs the new revision in place (atomic
// exchange of the version dir) when it changed.
Result<InstallResult> Update(const Cache& cache, const HubConfig& hubs, const std::string& ref,
                             InstallObserver* observer);

Status Uninstall(const Cache& cache, const std::string& ref, const HubConfig& hubs,
                 InstalledVersion* removed);

// Parses a ref for the cache: like ParseModelRef, but with a registry configured any
// non-built-in first segment is a registry namespace.
Result<ModelRef> ParseRefForHubs(const std::string& text, const HubConfig& hubs);

// Parses a ref naming an installed model: a first segment that is a namespace present in the
// cache (e.g. "demo" for a local install named demo/celsius) counts as the namespace.
Result<ModelRef> ParseInstalledRef(const std::string& text, const HubConfig& hubs,
                                   const Cache& cache);

}  // namespace mlos::axon
