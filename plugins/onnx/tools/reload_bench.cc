// mlos-onnx-reload-bench: what the ORT-format cache and shared mappings buy, measured through the
// plugin's SMI table (dlopen, as mlosd loads it).
//
//   mlos-onnx-reload-bench [--plugin PATH] [--copies N] MODEL.onnx ...
//
// For each model, in a fresh cache directory, with intra_op_threads 1:
//   uncached  load without the cache (optimised from the .onnx each time, the plugin before it)
//   cold      the first load with the cache (optimise, save <key>.ort, map it)
//   warm      the median of 5 later loads (a reload after eviction: map <key>.ort)
// and the resident set of 1 and N copies of the model loaded at once, with and without the cache:
// VmRSS after one inference per session, in a child process per measurement, and its growth over
// the child after ONNX Runtime's start-up (a load and unload of the model without the cache).
// Inputs are zeros, dynamic dims 1. Prints one line per measurement. Not a test: timings depend
// on the machine.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mlos/smi.h"

#ifndef MLOS_ONNX_PLUGIN_PATH
#define MLOS_ONNX_PLUGIN_PATH "libmlos_onnx.so"
#endif

namespace {

namespace fs = std::filesystem;

const char* const kUsage =
    "usage: mlos-onnx-reload-bench [--plugin PATH] [--copies N] MODEL.onnx ...";

struct Plugin {
  const smi_plugin_api* api = nullptr;
  smi_plugin* instance = nullptr;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "mlos-onnx-reload-bench: %s\n", message.c_str());
  std::exit(1);
}

Plugin OpenPlugin(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) Die(std::string("dlopen: ") + dlerror());
  auto get_api = reinterpret_cast<smi_plugin_get_api_fn>(dlsym(handle, SMI_PLUGIN_GET_API_SYMBOL));
  if (!get_api) Die("no " SMI_PLUGIN_GET_API_SYMBOL " in " + path);
  Plugin p;
  p.api = get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR);
  if (!p.api) Die("the plugin refused the handshake");
  if (smi_error* e =
          p.api->plugin_init(R"({"intra_op_threads": 1, "log_level": "fatal"})", &p.instance)) {
    Die(std::string("plugin_init: ") + p.api->error_message(e));
  }
  return p;
}

smi_model* LoadModel(const Plugin& p, const std::string& model, const std::string& cache_dir,
                     const char* options) {
  const std::string dir = fs::path(model).parent_path().string();
  smi_model_load_params params{};
  params.size = sizeof params;
  params.model_dir = dir.c_str();
  params.model_path = model.c_str();
  params.model_id = "bench/model@1";
  params.options_json = options;
  params.cache_dir = cache_dir.empty() ? nullptr : cache_dir.c_str();
  smi_model* m = nullptr;
  if (smi_error* e = p.api->model_load(p.instance, &params, &m)) {
    Die("load " + model + ": " + p.api->error_message(e));
  }
  return m;
}

double LoadMs(const Plugin& p, const std::string& model, const std::string& cache_dir,
              const char* options) {
  const auto t0 = std::chrono::steady_clock::now();
  smi_model* m = LoadModel(p, model, cache_dir, options);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  p.api->model_unload(m);
  return ms;
}

int OutputAlloc(void* user_data, const char*, smi_dtype, uint32_t, const int64_t*,
                uint64_t byte_size, void** buffer) {
  auto* storage = static_cast<std::deque<std::vector<char>>*>(user_data);
  storage->emplace_back(byte_size + 1);
  *buffer = storage->back().data();
  return 0;
}

// One inference with zero inputs (dynamic dims 1), so the weights the run reads are resident.
void InferOnce(const Plugin& p, smi_model* m) {
  std::vector<smi_tensor> inputs;
  std::deque<std::vector<char>> data;
  for (uint32_t i = 0; i < p.api->model_input_count(m); ++i) {
    const smi_tensor* spec = nullptr;
    if (smi_error* e = p.api->model_input(m, i, &spec)) Die(p.api->error_message(e));
    if (spec->dtype == SMI_DTYPE_STRING) Die("string inputs are not supported");
    smi_tensor t = *spec;
    uint64_t count = 1;
    for (uint32_t d = 0; d < t.rank; ++d) {
      if (t.dims[d] < 0) t.dims[d] = 1;
      count *= static_cast<uint64_t>(t.dims[d]);
    }
    t.byte_size = count * smi_dtype_size(t.dtype);
    data.emplace_back(t.byte_size + 1, 0);
    t.data = data.back().data();
    inputs.push_back(t);
  }
  std::deque<std::vector<char>> outputs;
  smi_infer_request request{};
  request.size = sizeof request;
  request.inputs = inputs.data();
  request.input_count = static_cast<uint32_t>(inputs.size());
  request.alloc = &OutputAlloc;
  request.alloc_user_data = &outputs;
  request.request_id = 1;
  if (smi_error* e = p.api->model_infer(m, &request)) {
    Die(std::string("infer: ") + p.api->error_message(e));
  }
}

uint64_t ResidentKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Child mode: loads `copies` sessions of `model` at once, one inference each, and prints
// "<rss growth kB> <process rss kB> <shared_key> <shared_bytes>".
int ResidentChild(const std::string& plugin_path, const std::string& model,
                  const std::string& cache_dir, int copies) {
  Plugin p = OpenPlugin(plugin_path);
  p.api->model_unload(LoadModel(p, model, "", R"({"optimized_model_cache": false})"));
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
  const uint64_t before = ResidentKb();
  std::vector<smi_model*> models;
  for (int i = 0; i < copies; ++i) {
    models.push_back(LoadModel(p, model, cache_dir, nullptr));
    InferOnce(p, models.back());
  }
  const uint64_t after = ResidentKb();
  smi_memory_info info{};
  info.size = sizeof info;
  if (smi_error* e = p.api->model_memory(models[0], &info)) Die(p.api->error_message(e));
  using ull = unsigned long long;
  std::printf("%llu %llu %016llx %llu\n", static_cast<ull>(after - before), static_cast<ull>(after),
              static_cast<ull>(info.shared_key), static_cast<ull>(info.shared_bytes));
  for (smi_model* m : models) p.api->model_unload(m);
  p.api->plugin_shutdown(p.instance);
  return 0;
}

// Runs this program in child mode and returns its output line.
std::string RunChild(const std::string& plugin_path, const std::string& model,
                     const std::string& cache_dir, int copies) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) Die("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::close(pipe_fds[0]);
    const std::string n = std::to_string(copies);
    const char* cache = cache_dir.empty() ? "-" : cache_dir.c_str();
    ::execl("/proc/self/exe", "mlos-onnx-reload-bench", "--resident-child", plugin_path.c_str(),
            model.c_str(), cache, n.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("child failed for " + model);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void Bench(const std::string& plugin_path, const std::string& model, int copies) {
  const std::string cache_dir =
      (fs::temp_directory_path() / ("mlos_reload_bench_" + std::to_string(::getpid()) + "_" +
                                    fs::path(model).stem().string()))
          .string();
  fs::remove_all(cache_dir);
  const std::string name = fs::path(model).parent_path().filename().string() + "/" +
                           fs::path(model).filename().string();
  const double mb = static_cast<double>(fs::file_size(model)) / (1 << 20);
  {
    Plugin p = OpenPlugin(plugin_path);
    const char* no_cache = R"({"optimized_model_cache": false})";
    LoadMs(p, model, "", no_cache);  // ONNX Runtime's one-time start-up and the page cache
    std::vector<double> uncached;
    for (int i = 0; i < 3; ++i) uncached.push_back(LoadMs(p, model, "", no_cache));
    std::sort(uncached.begin(), uncached.end());
    const double cold = LoadMs(p, model, cache_dir, nullptr);
    std::vector<double> warm;
    for (int i = 0; i < 5; ++i) warm.push_back(LoadMs(p, model, cache_dir, nullptr));
    std::sort(warm.begin(), warm.end());
    std::printf("%-28s %7.1f MB  uncached %8.1f ms  cold %8.1f ms  warm %7.2f ms  warm/cold %.2f\n",
                name.c_str(), mb, uncached[1], cold, warm[2], warm[2] / cold);
    p.api->plugin_shutdown(p.instance);
  }
  for (const std::string& cache : {cache_dir, std::string()}) {
    const std::string one = RunChild(plugin_path, model, cache, 1);
    const std::string many = RunChild(plugin_path, model, cache, copies);
    unsigned long long grow1 = 0, rss1 = 0, growN = 0, rssN = 0, shared = 0;
    char key[32] = {};
    std::sscanf(one.c_str(), "%llu %llu %31s %llu", &grow1, &rss1, key, &shared);
    std::sscanf(many.c_str(), "%llu %llu", &growN, &rssN);
    std::printf("%-28s %-9s rss growth: 1 copy %7.1f MB, %d copies %7.1f MB (x%.2f); process: "
                "%7.1f MB vs %7.1f MB (x%.2f); shared_key %s shared_bytes %.1f MB\n",
                name.c_str(), cache.empty() ? "no cache" : "cache", grow1 / 1024.0, copies,
                growN / 1024.0, grow1 ? static_cast<double>(growN) / grow1 : 0.0, rss1 / 1024.0,
                rssN / 1024.0, rss1 ? static_cast<double>(rssN) / rss1 : 0.0, key,
                shared / 1048576.0);
  }
  fs::remove_all(cache_dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::string plugin_path = MLOS_ONNX_PLUGIN_PATH;
  if (argc == 6 && std::strcmp(argv[1], "--resident-child") == 0) {
    return ResidentChild(argv[2], argv[3], std::strcmp(argv[4], "-") == 0 ? "" : argv[4],
                         std::atoi(argv[5]));
  }
  int copies = 4;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--plugin" && i + 1 < argc) {
      plugin_path = argv[++i];
    } else if (arg == "--copies" && i + 1 < argc) {
      copies = std::max(1, std::atoi(argv[++i]));
    } else if (!arg.empty() && arg[0] == '-') {
      Die(kUsage);
    } else {
      models.push_back(fs::absolute(arg).string());
    }
  }
  if (models.empty()) Die(kUsage);
  for (const std::string& m : models) Bench(plugin_path, m, copies);
  return 0;
}
