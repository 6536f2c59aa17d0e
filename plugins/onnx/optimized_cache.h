// The optimised-model cache: ONNX Runtime saves the graph it optimised at the first load of a
// model file; later loads of the same file read that copy with optimisation off (see
// session_loader.h for which copy is used when).
#pragma once

#include <string>

#include <onnxruntime_cxx_api.h>

namespace mlos::onnx_plugin {

// The cached copies of one model file at one optimisation level.
struct OptimizedModelPaths {
  std::string ort;   // `<cache_dir>/<key>.ort`: the optimised graph in ORT format (memory-mapped)
  std::string onnx;  // `<cache_dir>/<key>.opt.onnx`: the same as ONNX, when ORT format failed
};

// The key is a 64-bit FNV-1a hash (16 hex digits) of a cache-layout version, the model file's
// identity (device and inode: hard links share a key), size and mtime (ns), the optimisation level, the ONNX Runtime version and the
// CPU (model name and flags): a changed file, level, runtime or CPU gives a new key (stale
// copies are left in place). Both paths are "" when the model file cannot be stat'ed.
// Thread-safe.
OptimizedModelPaths OptimizedModelPathsFor(const std::string& cache_dir,
                                           const std::string& model_path,
                                           GraphOptimizationLevel level);

}  // namespace mlos::onnx_plugin
