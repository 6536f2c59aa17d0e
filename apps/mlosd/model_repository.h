// The declarative model repository (--model-repository DIR, model_repository.paths): the models
// a directory holds are installed into mlosd's own package cache (axon's local install: the
// same checks, hashes and generated manifests as `axon install DIR`), registered in dependency
// order and loaded, at start, on SIGHUP and every --poll-repository seconds. Readiness waits for
// the first pass. Models whose files left the repository are unloaded and unregistered.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "service/service.h"

namespace mlos::mlosd {

// One model a repository directory holds.
struct RepositoryItem {
  std::filesystem::path source;  // a package directory, .axon file, model directory or file
  std::string name;              // "local/name@version" to install it as; "" = its manifest's
};

// What a repository holds, sorted by source. `spec` is a directory, or NAME=DIRECTORY for a
// directory that is one model NAME ("name", "ns/name" or "ns/name@version"; version 1.0.0 and
// namespace "local" when left out): KServe's storage initializer puts the model's files straight
// into /mnt/models, and its runtime passes the InferenceService's name ({{.Name}}=/mnt/models).
// A directory with a manifest.yaml is one package. Otherwise each entry:
//   - NAME.axon (or .tar.gz, .tgz): a package, named by its manifest;
//   - NAME/ with a manifest.yaml: a package directory, named by its manifest;
//   - NAME/ with numeric subdirectories (Triton's NAME/VERSION/ layout): one model per version,
//     local/NAME@VERSION.0.0;
//   - NAME/ with model files (.onnx, .gguf, .pt/.ptl/.torchscript, .tflite): local/NAME@1.0.0;
//   - NAME.onnx (any model file): local/NAME@1.0.0.
// Hidden entries and other files are ignored; directories that match none of these, and a spec
// that is not a directory, are named in *skipped.
std::vector<RepositoryItem> ScanRepository(const std::string& spec,
                                           std::vector<std::string>* skipped);

class ModelRepository {
 public:
  // `cache_root`: the package cache the repository installs into (under a model root).
  // `specs`: as ScanRepository takes them.
  ModelRepository(service::Service& service, std::vector<std::string> specs,
                  std::filesystem::path cache_root, double poll_seconds);
  ~ModelRepository();  // Stop()
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // Starts the thread: it holds the service's readiness, waits for the core to restore the
  // registry, runs the first pass, releases readiness, then runs a pass on each Rescan() and
  // every poll_seconds (when > 0).
  void Start();
  // Asks for a pass (SIGHUP). Any thread.
  void Rescan();
  void Stop();

  // One pass, on the calling thread: installs what is new, registers it in dependency order and
  // loads it (the first pass also loads every repository model that is not READY; later passes
  // leave models the server or an operator unloaded as they are), withdraws models whose item
  // is gone.
  // Problems are logged per model and the pass goes on; returns the number of models that
  // failed.
  int Sync();

 private:
  service::Service& service_;
  const std::vector<std::string> specs_;
  const std::filesystem::path cache_root_;
  const double poll_seconds_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool rescan_ = false, stopping_ = false;  // guarded by mu_
  std::thread thread_;

  // Model id and item source of what the last pass served, in registration order (Sync only).
  std::vector<std::pair<std::string, std::filesystem::path>> served_;
  int passes_ = 0;  // Sync only
};

}  // namespace mlos::mlosd
