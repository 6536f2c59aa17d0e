// The testing SMI plugin (execution format "testing"): a fake framework whose models copy,
// add, sleep, fail, hold memory, hang, crash or segfault on demand, or try an attack on the
// system (testing_attacks.h) and return its outcome, for tests of the host and its sandbox.
// What a model does comes from JSON (see testing_config.h). It counts live models and, when
// asked, writes the count to a file (plugin_init config {"live_models_file": path} or the
// environment variable MLOS_TESTING_LIVE_MODELS_FILE) after every load and unload.
//
// The exported table is mlos/smi_plugin.h's, built from TestingPlugin below: its entries check
// NULL arguments and catch everything, so no exception crosses the ABI.

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlos/smi.h"
#include "mlos/smi_plugin.h"
#include "testing_attacks.h"
#include "testing_config.h"

struct smi_plugin {
  std::string live_models_file;
  std::atomic<int64_t> live_models{0};
  std::mutex file_mu;  // serialises writes of live_models_file

  void ModelCountChanged(int64_t delta) {
    live_models.fetch_add(delta);
    if (live_models_file.empty()) return;
    std::lock_guard<std::mutex> lock(file_mu);
    const std::string tmp = live_models_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << live_models.load() << "\n";
    }
    std::rename(tmp.c_str(), live_models_file.c_str());
  }
};

struct smi_model {
  smi_plugin* plugin = nullptr;
  mlos::testing_plugin::ModelConfig config;
  std::vector<smi_tensor> inputs;   // name points into config.inputs[i].name
  std::vector<smi_tensor> outputs;  // name points into config.outputs[i].name
  void* held = nullptr;             // alloc behaviour: alloc_bytes mapped and touched
  uint64_t held_bytes = 0;

  std::mutex mu;                                                  // guards running
  std::unordered_multimap<uint64_t, std::atomic<bool>*> running;  // request_id -> cancelled

  ~smi_model() {
    if (held) munmap(held, held_bytes);
  }
};

namespace mlos::testing_plugin {
namespace {

// Makes `bytes` at `p` resident, not just reserved: one write per page. Not instrumented by
// ThreadSanitizer, whose shadow of every written page would otherwise become resident too and
// double what the resource tests measure for the model.
__attribute__((no_sanitize_thread)) void TouchPages(void* p, uint64_t bytes) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  for (uint64_t off = 0; off < bytes; off += page) static_cast<volatile char*>(p)[off] = 1;
}

using smi::MakeError;
using smi::Quoted;

smi_tensor MakeTensor(const TensorSpec& spec) {
  return smi::SchemaTensor(spec.name, spec.dtype, spec.shape);
}

std::string ReadFile(const char* path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool LooksLikeJson(const std::string& text) {
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    return c == '{';
  }
  return false;
}

// Validates the request's inputs against the schema; fills `by_schema` (schema index ->
// request tensor). Messages match the ONNX plugin's.
smi_error* MatchInputs(const smi_model& model, const smi_infer_request& request,
                       std::vector<const smi_tensor*>& by_schema) {
  by_schema.assign(model.inputs.size(), nullptr);
  if (request.input_count > 0 && request.inputs == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "inputs is NULL");
  }
  for (uint32_t i = 0; i < request.input_count; ++i) {
    const smi_tensor& t = request.inputs[i];
    size_t k = 0;
    while (k < model.inputs.size() &&
           (t.name == nullptr || std::strcmp(model.inputs[k].name, t.name) != 0)) {
      ++k;
    }
    if (k == model.inputs.size()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "unknown input " + Quoted(t.name));
    }
    if (by_schema[k]) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "duplicate input " + Quoted(t.name));
    }
    by_schema[k] = &t;
  }
  for (size_t k = 0; k < model.inputs.size(); ++k) {
    const smi_tensor& spec = model.inputs[k];
    const smi_tensor* t = by_schema[k];
    if (!t) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "missing input " + Quoted(spec.name));
    const std::string who = "input " + Quoted(spec.name);
    if (t->dtype != spec.dtype) {
      return MakeError(
          SMI_ERROR_INVALID_ARGUMENT,
          who + ": expected " + smi_dtype_name(spec.dtype) + ", got " + smi_dtype_name(t->dtype));
    }
    if (t->rank > SMI_MAX_RANK) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": rank above 16");
    }
    // A spec shape of exactly {-1} accepts any rank (the default "anything goes" schema).
    const bool any_rank = spec.rank == 1 && spec.dims[0] == -1;
    if (!any_rank && t->rank != spec.rank) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": expected rank " +
                                                       std::to_string(spec.rank) + ", got " +
                                                       std::to_string(t->rank));
    }
    uint64_t count = 1;
    for (uint32_t d = 0; d < t->rank; ++d) {
      if (t->dims[d] < 0) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                         who + ": dim " + std::to_string(d) + " is negative");
      }
      if (!any_rank && spec.dims[d] >= 0 && spec.dims[d] != t->dims[d]) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                         who + ": dim " + std::to_string(d) + " must be " +
                             std::to_string(spec.dims[d]) + ", got " + std::to_string(t->dims[d]));
      }
      count *= static_cast<uint64_t>(t->dims[d]);
    }
    if (smi_error* e = smi::CheckInputBytes(who, *t, count)) return e;
  }
  return nullptr;
}

uint64_t ElementCount(const smi_tensor& t) {
  uint64_t n = 1;
  for (uint32_t d = 0; d < t.rank; ++d) n *= static_cast<uint64_t>(t.dims[d]);
  return n;
}

// Asks the host for the output's buffer and copies `src` (same dtype and dims) into it.
smi_error* CopyOut(const smi_infer_request& request, const char* name, const smi_tensor& src) {
  const uint64_t count = ElementCount(src);
  uint64_t byte_size = src.byte_size;
  const smi_string* strings = static_cast<const smi_string*>(src.data);
  if (src.dtype == SMI_DTYPE_STRING) {
    byte_size = 0;
    for (uint64_t i = 0; i < count; ++i) byte_size += strings[i].length;
  }
  void* buffer = nullptr;
  if (request.alloc(request.alloc_user_data, name, src.dtype, src.rank, src.dims, byte_size,
                    &buffer) != 0 ||
      (buffer == nullptr && (byte_size > 0 || (src.dtype == SMI_DTYPE_STRING && count > 0)))) {
    return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                     "output " + Quoted(name) + ": the host refused to allocate it");
  }
  if (src.dtype == SMI_DTYPE_STRING) {
    smi_string* entries = static_cast<smi_string*>(buffer);
    char* storage = reinterpret_cast<char*>(entries + count);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < count; ++i) {
      if (strings[i].length) std::memcpy(storage + offset, strings[i].data, strings[i].length);
      entries[i].data = storage + offset;
      entries[i].length = strings[i].length;
      offset += strings[i].length;
    }
  } else if (byte_size > 0) {
    std::memcpy(buffer, src.data, byte_size);
  }
  return nullptr;
}

// Wanted outputs as indices into model.outputs, in request order.
smi_error* WantedOutputs(const smi_model& model, const smi_infer_request& request,
                         std::vector<size_t>& wanted) {
  if (request.output_count == 0) {
    for (size_t i = 0; i < model.outputs.size(); ++i) wanted.push_back(i);
    return nullptr;
  }
  if (request.output_names == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "output_names is NULL");
  }
  for (uint32_t i = 0; i < request.output_count; ++i) {
    const char* name = request.output_names[i];
    size_t k = 0;
    while (k < model.outputs.size() &&
           (name == nullptr || std::strcmp(model.outputs[k].name, name) != 0)) {
      ++k;
    }
    if (k == model.outputs.size()) {
      return MakeError(SMI_ERROR_NOT_FOUND, "unknown output " + Quoted(name));
    }
    wanted.push_back(k);
  }
  return nullptr;
}

smi_error* RunBehavior(smi_model& model, const smi_infer_request& request,
                       const std::vector<const smi_tensor*>& by_schema,
                       const std::vector<size_t>& wanted, const std::atomic<bool>& cancelled) {
  const ModelConfig& config = model.config;
  switch (config.behavior) {
    case Behavior::kFail:
      return MakeError(config.error_code, config.error_message);
    case Behavior::kCrash:
      std::fprintf(stderr, "testing plugin: crashing on demand\n");
      std::abort();
    case Behavior::kSegv:
      Segfault();
    case Behavior::kAttack: {
      // The outcome, one line, as the single string element of each wanted output ("result").
      const std::string outcome = RunAttack(config);
      const smi_string element{outcome.data(), outcome.size()};
      smi_tensor out{};
      out.size = sizeof out;
      out.dtype = SMI_DTYPE_STRING;
      out.rank = 1;
      out.dims[0] = 1;
      out.data = const_cast<smi_string*>(&element);
      out.byte_size = sizeof element;
      for (size_t k : wanted) {
        if (smi_error* e = CopyOut(request, model.outputs[k].name, out)) return e;
      }
      return nullptr;
    }
    case Behavior::kHang: {
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(config.sleep_ms);
      while (config.sleep_ms == 0 || std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      break;
    }
    case Behavior::kAlloc:
      if (config.sleep_ms == 0) break;
      [[fallthrough]];  // alloc with sleep_ms: a big model that is also slow
    case Behavior::kSleep: {
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(config.sleep_ms);
      while (std::chrono::steady_clock::now() < until) {
        if (cancelled.load()) {
          return MakeError(SMI_ERROR_CANCELLED,
                           "request " + std::to_string(request.request_id) + " cancelled");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      break;
    }
    case Behavior::kAdd: {
      const smi_tensor& a = *by_schema[0];
      const smi_tensor& b = *by_schema[1];
      if (ElementCount(a) != ElementCount(b)) {
        return MakeError(
            SMI_ERROR_INVALID_ARGUMENT,
            "inputs " + Quoted(a.name) + " and " + Quoted(b.name) + " differ in element count");
      }
      const uint64_t n = ElementCount(a);
      std::vector<float> sum(n);
      const float* pa = static_cast<const float*>(a.data);
      const float* pb = static_cast<const float*>(b.data);
      for (uint64_t i = 0; i < n; ++i) sum[i] = pa[i] + pb[i];
      smi_tensor out = a;
      out.data = sum.data();
      for (size_t k : wanted) {
        if (smi_error* e = CopyOut(request, model.outputs[k].name, out)) return e;
      }
      return nullptr;
    }
    case Behavior::kIdentity:
      break;
  }
  if (cancelled.load()) {
    return MakeError(SMI_ERROR_CANCELLED,
                     "request " + std::to_string(request.request_id) + " cancelled");
  }
  for (size_t k : wanted) {
    if (smi_error* e = CopyOut(request, model.outputs[k].name, *by_schema[k])) return e;
  }
  return nullptr;
}

// ---- the exported table ---------------------------------------------------------------------

const char* const kFormats[] = {"testing", nullptr};
const smi_plugin_info kInfo = {
    sizeof(smi_plugin_info),
    "testing",
    "1.0.0",
    "mlos-testing 1.0.0",
    kFormats,
    SMI_CAP_THREAD_SAFE_INFER | SMI_CAP_CANCEL | SMI_CAP_DEVICE_CPU | SMI_CAP_STREAMING,
};

// The smi::PluginImpl of the testing plugin; contracts are smi.h's for the matching table
// function (NULL arguments are answered by the table's entries).
struct TestingPlugin {
  // Every exception becomes INTERNAL "testing plugin: ..." (RESOURCE_EXHAUSTED for bad_alloc).
  static constexpr smi::GuardOptions kGuard{"testing plugin"};

  static const smi_plugin_info* GetInfo() { return &kInfo; }

  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
    auto plugin = std::make_unique<smi_plugin>();
    if (const char* env = std::getenv("MLOS_TESTING_LIVE_MODELS_FILE")) {
      plugin->live_models_file = env;
    }
    if (config_json && *config_json) {
      nlohmann::json config = nlohmann::json::parse(config_json, nullptr, false);
      if (config.is_discarded() || !config.is_object()) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "testing plugin: config is not a JSON object");
      }
      if (config.contains("testing") && config["testing"].is_object()) {
        config = nlohmann::json(config["testing"]);
      }
      if (config.contains("init_fail")) {
        return MakeError(SMI_ERROR_INTERNAL, config["init_fail"].is_string()
                                                 ? config["init_fail"].get<std::string>()
                                                 : "testing plugin: init failure on demand");
      }
      if (config.contains("live_models_file")) {
        if (!config["live_models_file"].is_string()) {
          return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                           "testing plugin: live_models_file must be a string");
        }
        plugin->live_models_file = config["live_models_file"].get<std::string>();
      }
    }
    plugin->ModelCountChanged(0);
    *out = plugin.release();
    return nullptr;
  }

  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }

  static smi_error* ModelLoad(smi_plugin& plugin, const smi_model_load_params& params,
                              smi_model** out) {
    if (params.model_path == nullptr) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model_path is NULL");
    }
    bool ok = false;
    std::string file = ReadFile(params.model_path, &ok);
    if (!ok) {
      return MakeError(SMI_ERROR_NOT_FOUND,
                       std::string("model file not found: ") + params.model_path);
    }
    const std::string path = params.model_path;
    const bool json_file = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
    if (!json_file && !LooksLikeJson(file)) file.clear();
    ParseResult parsed = ParseModelConfig(params.manifest_json ? params.manifest_json : "", file,
                                          params.options_json ? params.options_json : "");
    if (!parsed.config) return MakeError(parsed.code, parsed.error);
    auto model = std::make_unique<smi_model>();
    model->plugin = &plugin;
    model->config = std::move(*parsed.config);
    const ModelConfig& config = model->config;
    if (config.load_sleep_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(config.load_sleep_ms));
    }
    if (config.load_fail) return MakeError(config.error_code, *config.load_fail);
    for (const TensorSpec& s : config.inputs) model->inputs.push_back(MakeTensor(s));
    for (const TensorSpec& s : config.outputs) model->outputs.push_back(MakeTensor(s));
    if (config.behavior == Behavior::kAlloc && config.alloc_bytes > 0) {
      void* p = mmap(nullptr, config.alloc_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        return MakeError(
            SMI_ERROR_RESOURCE_EXHAUSTED,
            "testing plugin: cannot allocate " + std::to_string(config.alloc_bytes) + " bytes");
      }
      model->held = p;
      model->held_bytes = config.alloc_bytes;
      TouchPages(p, config.alloc_bytes);
    }
    plugin.ModelCountChanged(1);
    *out = model.release();
    return nullptr;
  }

  static void ModelUnload(smi_model* model) {
    smi_plugin* plugin = model->plugin;
    delete model;
    plugin->ModelCountChanged(-1);
  }

  static const std::vector<smi_tensor>& ModelInputs(const smi_model& model) { return model.inputs; }
  static const std::vector<smi_tensor>& ModelOutputs(const smi_model& model) {
    return model.outputs;
  }

  static smi_memory_info ModelMemory(const smi_model& model) {
    smi_memory_info m{};
    m.host_bytes = model.held_bytes + sizeof(smi_model);
    return m;
  }

  static smi_error* ModelInfer(smi_model& model, const smi_infer_request& request) {
    if (request.size < sizeof(smi_infer_request) || request.alloc == nullptr) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "request: size too small or alloc is NULL");
    }
    std::vector<const smi_tensor*> by_schema;
    if (smi_error* e = MatchInputs(model, request, by_schema)) return e;
    std::vector<size_t> wanted;
    if (smi_error* e = WantedOutputs(model, request, wanted)) return e;

    std::atomic<bool> cancelled{false};
    std::unordered_multimap<uint64_t, std::atomic<bool>*>::iterator it;
    {
      std::lock_guard<std::mutex> lock(model.mu);
      it = model.running.emplace(request.request_id, &cancelled);
    }
    smi_error* result = smi::Guard(
        kGuard, [&] { return RunBehavior(model, request, by_schema, wanted, cancelled); });
    {
      std::lock_guard<std::mutex> lock(model.mu);
      model.running.erase(it);
    }
    return result;
  }

  static void ModelCancel(smi_model& model, uint64_t request_id) {
    std::lock_guard<std::mutex> lock(model.mu);
    auto [begin, end] = model.running.equal_range(request_id);
    for (auto i = begin; i != end; ++i) i->second->store(true);
  }
  // An echo "LLM" for the host's generation path: the prompt's words (or the last message's
  // content), one word + its space per chunk, up to max_tokens; "delay_ms" waits before each
  // chunk (cancellation tests); a prompt "fail" fails with INVALID_ARGUMENT.
  static smi_error* ModelGenerate(smi_model& model, const smi_generate_request& request) {
    if (!request.on_token) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "on_token is NULL");
    std::string prompt = request.prompt ? request.prompt : "";
    int64_t max_tokens = -1, delay_ms = 0;
    if (request.params_json && *request.params_json) {
      const nlohmann::json p = nlohmann::json::parse(request.params_json, nullptr, false);
      if (!p.is_object()) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "params: not a JSON object");
      if (p.contains("max_tokens")) {
        if (!p["max_tokens"].is_number_integer() || p["max_tokens"].get<int64_t>() < -1) {
          return MakeError(SMI_ERROR_INVALID_ARGUMENT, "max_tokens: must be an integer >= -1");
        }
        max_tokens = p["max_tokens"].get<int64_t>();
      }
      delay_ms = p.value("delay_ms", int64_t{0});
      if (p.contains("messages") && p["messages"].is_array() && !p["messages"].empty()) {
        prompt = p["messages"].back().value("content", "");
      }
    }
    if (prompt == "fail") return MakeError(SMI_ERROR_INVALID_ARGUMENT, "prompt: told to fail");
    std::vector<std::string> words;
    for (size_t at = 0; at < prompt.size();) {
      size_t end = prompt.find(' ', at);
      if (end == std::string::npos) end = prompt.size();
      if (end > at) words.push_back(prompt.substr(at, end - at) + " ");
      at = end + 1;
    }
    std::atomic<bool> cancelled{false};
    std::unordered_multimap<uint64_t, std::atomic<bool>*>::iterator it;
    {
      std::lock_guard<std::mutex> lock(model.mu);
      it = model.running.emplace(request.request_id, &cancelled);
    }
    uint64_t produced = 0;
    std::string finish = "stop";
    for (const std::string& w : words) {
      if (max_tokens >= 0 && produced == static_cast<uint64_t>(max_tokens)) {
        finish = "length";
        break;
      }
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      if (cancelled.load() || request.on_token(request.user_data, w.data(), w.size()) != 0) {
        finish = "cancelled";
        break;
      }
      ++produced;
    }
    {
      std::lock_guard<std::mutex> lock(model.mu);
      model.running.erase(it);
    }
    if (request.size >= offsetof(smi_generate_request, on_done) + sizeof(request.on_done) &&
        request.on_done) {
      const std::string done = nlohmann::json{{"prompt_tokens", words.size()},
                                              {"completion_tokens", produced},
                                              {"cached_tokens", 0},
                                              {"finish_reason", finish}}
                                   .dump();
      request.on_done(request.user_data, done.c_str());
    }
    if (finish == "cancelled") return MakeError(SMI_ERROR_CANCELLED, "generation cancelled");
    return nullptr;
  }
};

}  // namespace
}  // namespace mlos::testing_plugin

extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
                                                               uint32_t host_minor) {
  return mlos::smi::GetApi<mlos::testing_plugin::TestingPlugin>(host_major, host_minor);
}
