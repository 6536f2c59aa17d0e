#include "runtime.h"

#include <dlfcn.h>

#include <cstdio>
#include <filesystem>
#include <mutex>

#include <ggml-backend.h>
#include <llama.h>

namespace mlos::llama_plugin {
namespace {

// llama.cpp logs from the thread doing the work, so a thread-local keeps errors of concurrent
// loads apart.
thread_local std::string t_last_error;

void LogSink(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (text == nullptr) return;
  if (level == GGML_LOG_LEVEL_ERROR) {
    std::string line(text);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && t_last_error.empty()) t_last_error = line;  // the first is the cause
  }
  if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
    std::fprintf(stderr, "llama.cpp: %s", text);
  }
}

}  // namespace

void InitRuntime() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(&LogSink, nullptr);
    // The CPU backends (libggml-cpu-<variant>.so) are loaded at run time from libllama's
    // directory, wherever the plugin's RPATH found it.
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&llama_backend_init), &info) != 0 &&
        info.dli_fname != nullptr) {
      const std::string dir = std::filesystem::path(info.dli_fname).parent_path().string();
      ggml_backend_load_all_from_path(dir.c_str());
    } else {
      ggml_backend_load_all();
    }
    llama_backend_init();
  });
}

CpuThreadpool::CpuThreadpool(int threads) {
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (cpu == nullptr || threads < 1) return;
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
  using NewFn = ggml_threadpool_t (*)(ggml_threadpool_params*);
  using FreeFn = void (*)(ggml_threadpool_t);
  auto make = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
  auto destroy =
      reinterpret_cast<FreeFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
  if (make == nullptr || destroy == nullptr) return;
  // ggml's defaults, as llama-server's: normal priority, no CPU mask, poll level 50.
  ggml_threadpool_params params = ggml_threadpool_params_default(threads);
  pool_ = make(&params);
  if (pool_ != nullptr) free_ = destroy;
}

CpuThreadpool::~CpuThreadpool() {
  if (pool_ != nullptr) free_(pool_);
}

std::string LastLlamaError() { return t_last_error; }
void ClearLastLlamaError() { t_last_error.clear(); }

}  // namespace mlos::llama_plugin
