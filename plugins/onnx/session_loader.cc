#include "session_loader.h"

#include <unistd.h>

#if defined(__GLIBC__)
#endif

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <onnxruntime_session_options_config_keys.h>

#include "optimized_cache.h"

namespace mlos::onnx_plugin {
namespace {

namespace fs = std::filesystem;

std::atomic<uint64_t> g_tmp_counter{0};

// A unique name beside `path`: files are written there, then renamed, so concurrent loads (in
// this process or another) never see a partial file.
std::string TempNameFor(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(g_tmp_counter.fetch_add(1));
}

// Step 1 (and the end of step 3): a session from the shared mapping of `ort_path`. nullopt when
// there is no such file; an unusable file is deleted.
std::optional<LoadedSession> FromOrtFormatMapping(Ort::Env& env, const SessionConfig& config,
                                                  const std::string& ort_path,
                                                  MappedOrtModelCache& mappings) {
  std::error_code ec;
  if (!fs::exists(ort_path, ec)) return std::nullopt;
  if (std::shared_ptr<MappedOrtModel> mapping = mappings.Acquire(ort_path)) {
    try {
      Ort::SessionOptions options = MakeSessionOptions(config, ORT_DISABLE_ALL);
      options.AddConfigEntry(kOrtSessionOptionsConfigLoadModelFormat, "ORT");
      // The session reads the graph and the initializers from the mapping, which must outlive it
      // (LoadedSession::mapping).
      options.AddConfigEntry(kOrtSessionOptionsConfigUseORTModelBytesDirectly, "1");
      options.AddConfigEntry(kOrtSessionOptionsConfigUseORTModelBytesForInitializers, "1");
      mapping->AddSharedInitializers(options);
      LoadedSession loaded;
      loaded.session = std::make_unique<Ort::Session>(env, mapping->data(), mapping->size(),
                                                      options, mapping->prepacked());
      loaded.source = SessionSource::kOrtFormatMapping;
      mapping->ReleaseResidentPages();
      loaded.mapping = std::move(mapping);
      return loaded;
    } catch (const Ort::Exception&) {
      // Unusable: deleted below, rebuilt by the caller.
    }
  }
  fs::remove(ort_path, ec);
  return std::nullopt;
}

// Step 2: a session from `onnx_path` with optimisation off. nullopt when there is no such file;
// an unusable file is deleted.
std::optional<LoadedSession> FromOptimizedOnnx(Ort::Env& env, const SessionConfig& config,
                                               const std::string& onnx_path) {
  std::error_code ec;
  if (!fs::exists(onnx_path, ec)) return std::nullopt;
  try {
    LoadedSession loaded;
    loaded.session = std::make_unique<Ort::Session>(env, onnx_path.c_str(),
                                                    MakeSessionOptions(config, ORT_DISABLE_ALL));
    loaded.source = SessionSource::kOptimizedOnnxFile;
    return loaded;
  } catch (const Ort::Exception&) {
    fs::remove(onnx_path, ec);
    return std::nullopt;
  }
}

// Optimises the model file at config's level with ONNX Runtime saving the result to `path`
// (under a temporary name, then renamed). Returns the session that optimised, or null when ONNX
// Runtime failed (nothing is left at `path` then).
std::unique_ptr<Ort::Session> SaveOptimizedCopy(Ort::Env& env, const std::string& model_path,
                                                const std::string& path,
                                                Ort::SessionOptions options) {
  const std::string tmp = TempNameFor(path);
  std::error_code ec;
  std::unique_ptr<Ort::Session> session;
  try {
    options.SetOptimizedModelFilePath(tmp.c_str());
    session = std::make_unique<Ort::Session>(env, model_path.c_str(), options);
    fs::rename(tmp, path, ec);
  } catch (const Ort::Exception&) {
    session.reset();
  }
  fs::remove(tmp, ec);
  return session;
}

// Step 3's first half: saves the optimised graph in ORT format to `ort_path`. The session that
// optimises only writes the file, so it skips prepacking (the graph saved is the same).
bool SaveOrtFormatCopy(Ort::Env& env, const SessionConfig& config, const std::string& model_path,
                       const std::string& ort_path) {
  Ort::SessionOptions options = MakeSessionOptions(config, config.optimization_level);
  options.AddConfigEntry(kOrtSessionOptionsConfigSaveModelFormat, "ORT");
  options.AddConfigEntry(kOrtSessionOptionsConfigDisablePrepacking, "1");
  return SaveOptimizedCopy(env, model_path, ort_path, std::move(options)) != nullptr;
}

LoadedSession FromModelFileOnly(Ort::Env& env, const SessionConfig& config,
                                const std::string& model_path) {
  LoadedSession loaded;
  loaded.session = std::make_unique<Ort::Session>(
      env, model_path.c_str(), MakeSessionOptions(config, config.optimization_level));
  return loaded;
}

// Steps 1 to 4 for one cache key; nullopt when all of them failed.
std::optional<LoadedSession> ThroughCache(Ort::Env& env, const SessionConfig& config,
                                          const std::string& model_path,
                                          const std::string& cache_dir,
                                          const OptimizedModelPaths& paths,
                                          MappedOrtModelCache& mappings) {
  if (auto loaded = FromOrtFormatMapping(env, config, paths.ort, mappings)) return loaded;
  if (auto loaded = FromOptimizedOnnx(env, config, paths.onnx)) return loaded;

  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (SaveOrtFormatCopy(env, config, model_path, paths.ort)) {
    return FromOrtFormatMapping(env, config, paths.ort, mappings);  // nullopt: step 5
  }
  if (std::unique_ptr<Ort::Session> built =
          SaveOptimizedCopy(env, model_path, paths.onnx,
                            MakeSessionOptions(config, config.optimization_level))) {
    LoadedSession loaded;
    loaded.session = std::move(built);
    return loaded;
  }
  return std::nullopt;
}

}  // namespace

LoadedSession LoadSession(Ort::Env& env, const SessionConfig& config,
                          const smi_model_load_params& params, MappedOrtModelCache& mappings) {
  const std::string model_path = params.model_path;
  const bool use_cache = config.optimized_model_cache && params.cache_dir != nullptr &&
                         *params.cache_dir != '\0' && config.optimization_level != ORT_DISABLE_ALL;
  if (use_cache) {
    const OptimizedModelPaths paths =
        OptimizedModelPathsFor(params.cache_dir, model_path, config.optimization_level);
    if (!paths.ort.empty()) {
      std::shared_ptr<std::mutex> path_lock = mappings.PathLock(paths.ort);
      std::lock_guard<std::mutex> lock(*path_lock);
      if (auto loaded =
              ThroughCache(env, config, model_path, params.cache_dir, paths, mappings)) {
        return std::move(*loaded);
      }
    }
  }
  return FromModelFileOnly(env, config, model_path);
}

}  // namespace mlos::onnx_plugin
