// The optimised-model cache: ONNX Runtime saves the graph it optimised at the first load of a
// model file; later loads of the same file read that copy with optimisation off.
#pragma once

#include <string>

#include <onnxruntime_cxx_api.h>

namespace mlos::onnx_plugin {

// `<cache_dir>/<key>.opt.onnx`, the key a 64-bit FNV-1a hash (16 hex digits) of the model
// file's canonical path, size and mtime (ns), the optimisation level, the ONNX Runtime version
// and the CPU (model name and flags): a changed file, level, runtime or CPU gives a new key
// (stale copies are left in place).
// "" when the model file cannot be stat'ed. Thread-safe.
std::string OptimizedModelPath(const std::string& cache_dir, const std::string& model_path,
                               GraphOptimizationLevel level);

}  // namespace mlos::onnx_plugin
