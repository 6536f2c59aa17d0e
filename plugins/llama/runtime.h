// Process-wide llama.cpp set-up shared by every plugin instance: the backend libraries and the
// log sink. llama.cpp keeps both per process, so they are initialised once and never torn down.
#pragma once

#include <string>

#include <ggml.h>

namespace mlos::llama_plugin {

// Loads the ggml CPU backend variants that sit beside libllama (ggml_backend_load_all_from_path,
// the best variant for this CPU wins), initialises llama.cpp and routes its log to stderr
// (warnings and errors only). Idempotent and thread-safe; the first call does the work.
void InitRuntime();

// The first error llama.cpp logged on the calling thread since ClearLastLlamaError (why a model
// file failed to load, e.g. "invalid magic characters"), trimmed; "" when none.
std::string LastLlamaError();
void ClearLastLlamaError();

// A persistent ggml CPU thread pool (the CPU backend's ggml_threadpool_new, found through its
// backend registry as llama-server does): its workers live as long as the pool and wait for the
// next graph (polling briefly, then sleeping), instead of ggml starting and joining threads for
// every llama_decode. Attach it to a context with llama_attach_threadpool; destroy it only after
// the context is freed (or detached). Empty when the CPU backend offers none (then ggml's
// per-graph threads are used).
class CpuThreadpool {
 public:
  CpuThreadpool() = default;
  explicit CpuThreadpool(int threads);
  ~CpuThreadpool();
  CpuThreadpool(const CpuThreadpool&) = delete;
  CpuThreadpool& operator=(const CpuThreadpool&) = delete;

  ggml_threadpool_t get() const { return pool_; }

 private:
  ggml_threadpool_t pool_ = nullptr;
  void (*free_)(ggml_threadpool_t) = nullptr;
};

}  // namespace mlos::llama_plugin
