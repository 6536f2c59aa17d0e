#include "optimized_cache.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace mlos::onnx_plugin {
namespace {

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The CPU's model name and feature flags: a graph optimised at level "all" may hold kernels
// laid out for this CPU, so a cache directory shared between machines keeps one copy each.
const std::string& CpuIdentity() {
  static const std::string identity = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model, flags;
    while (std::getline(in, line) && (model.empty() || flags.empty())) {
      if (model.empty() && line.rfind("model name", 0) == 0) model = line;
      if (flags.empty() && (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0)) {
        flags = line;
      }
    }
    return model + "\n" + flags;
  }();
  return identity;
}

}  // namespace

OptimizedModelPaths OptimizedModelPathsFor(const std::string& cache_dir,
                                           const std::string& model_path,
                                           GraphOptimizationLevel level) {
  struct stat st {};
  if (::stat(model_path.c_str(), &st) != 0) return {};
  // The file's identity, not its path: versions whose packages hard-link one blob (axon's
  // cache does) share one cached copy, and so one mapping of its weights.
  const std::string key_source =
      "mlos-onnx-cache-v3\n" + std::to_string(static_cast<uint64_t>(st.st_dev)) + ":" +
      std::to_string(static_cast<uint64_t>(st.st_ino)) + "\n" + std::to_string(st.st_size) + "\n" +
      std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec) +
      "\n" + std::to_string(static_cast<int>(level)) + "\n" + Ort::GetVersionString() + "\n" +
      CpuIdentity();
  char key[17];
  std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(Fnv1a(key_source)));
  const std::filesystem::path base = std::filesystem::path(cache_dir) / key;
  return {base.string() + ".ort", base.string() + ".opt.onnx"};
}

}  // namespace mlos::onnx_plugin
