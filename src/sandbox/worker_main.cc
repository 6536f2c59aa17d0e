#include "sandbox/worker_main.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/smi_status.h"
#include "mlos/smi.h"
#include "sandbox/arena.h"
#include "sandbox/protocol.h"
#include "sandbox/sandbox.h"
#include "sandbox/sanitizer_report.h"
#include "wire/ipc_protocol.h"

namespace mlos::sandbox {
namespace {

using nlohmann::json;

struct Loaded {
  const smi_plugin_api* api = nullptr;
  smi_plugin* plugin = nullptr;
  smi_model* model = nullptr;
};
Loaded g;
std::string g_model_id = "?";

// The calls running on the channels. mlosd drains the model before it sends kShutdown, so the
// unload finds none; it still waits for the count to reach zero, which also orders each call's
// last touch of the model before the unload in this process (the order mlosd makes through the
// sockets is one ThreadSanitizer cannot see). A call costs one atomic increment and decrement;
// the mutex is taken only by the last call out and by the wait.
class InFlightCalls {
 public:
  void Enter() { calls_.fetch_add(1, std::memory_order_relaxed); }
  void Leave() {
    if (calls_.fetch_sub(1, std::memory_order_release) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.notify_all();
    }
  }
  void WaitUntilNone() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return calls_.load(std::memory_order_acquire) == 0; });
  }

 private:
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::condition_variable idle_;
} g_in_flight;

class InFlightCall {
 public:
  InFlightCall() { g_in_flight.Enter(); }
  ~InFlightCall() { g_in_flight.Leave(); }
  InFlightCall(const InFlightCall&) = delete;
  InFlightCall& operator=(const InFlightCall&) = delete;
};

uint64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

void Reply(int fd, const ipc::FrameHeader& req, StatusCode code, std::string_view payload) {
  ipc::FrameHeader h;
  h.op = req.op;
  h.request_id = req.request_id;
  h.status = static_cast<uint32_t>(code);
  if (!ipc::SendFrame(fd, h, payload).ok()) ::_exit(0);  // mlosd is gone
}

// Takes an smi_error: its code and message, freed.
std::pair<smi_error_code, std::string> Take(smi_error* e) {
  smi_error_code code = g.api->error_code(e);
  const char* m = g.api->error_message(e);
  std::string msg = m ? m : "unknown plugin error";
  g.api->error_free(e);
  return {code, msg};
}

void CloseStrayFds(const std::vector<int>& keep) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return;
  std::vector<int> doomed;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == self) continue;
    bool kept = false;
    for (int k : keep) kept = kept || k == fd;
    if (!kept) doomed.push_back(fd);
  }
  ::closedir(d);
  for (int fd : doomed) ::close(fd);
}

// ---- one channel ----------------------------------------------------------------------------

struct CallState {
  int fd = -1;
  Arena* first = nullptr;      // the arena the call started with (holds the inputs)
  std::vector<Arena> grown;    // arenas made for outputs during the call, sent to mlosd
  uint64_t cursor = 0;         // next free byte in the current arena
  InferResult result;
  struct StringOut {
    size_t index;
    uint8_t* block;
    uint64_t count;
  };
  std::vector<StringOut> strings;
  bool announce = false;          // big outputs are announced to mlosd (kAlloc)
  std::vector<size_t> pending;    // outputs placed since the last announcement
  struct View {
    void* base;
    size_t length;
  };
  std::vector<View> views;        // clients' regions outputs are written into in place

  ~CallState() {
    for (const View& v : views) ::munmap(v.base, v.length);
  }
  Arena& current() { return grown.empty() ? *first : grown.back(); }
};

constexpr uint64_t kInPlaceMin = 64 * 1024;  // as mlosd's (worker.cc)

// Announces a big output (and those placed before it) to mlosd. Returns false when mlosd
// refused its allocation; *in_place is where to write it when that is a client's region.
bool Announce(CallState* c, TensorRef wanted, void** in_place) {
  AllocAnnounce a;
  for (size_t i : c->pending) a.placed.push_back(c->result.outputs[i]);
  c->pending.clear();
  a.wanted = std::move(wanted);
  std::string payload;
  EncodeAllocAnnounce(a, payload);
  ipc::FrameHeader h;
  h.op = static_cast<uint16_t>(WorkerOp::kAlloc);
  if (!ipc::SendFrame(c->fd, h, payload).ok()) ::_exit(0);
  std::string reply;
  int fd = -1;
  if (!ipc::RecvFrame(c->fd, h, reply, &fd).ok()) ::_exit(0);
  *in_place = nullptr;
  if (h.status != 0 || h.op != static_cast<uint16_t>(WorkerOp::kAlloc)) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (!reply.empty() && reply[0] == 1 && reply.size() == 9 && fd >= 0) {
    uint64_t offset = 0;
    std::memcpy(&offset, reply.data() + 1, 8);
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t start = offset / page * page;
    const size_t length = static_cast<size_t>(offset - start + a.wanted.byte_size);
    void* m = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                     static_cast<off_t>(start));
    if (m != MAP_FAILED) {
      c->views.push_back({m, length});
      *in_place = static_cast<uint8_t*>(m) + (offset - start);
    }
  }
  if (fd >= 0) ::close(fd);
  return true;
}

int AllocOutput(void* user, const char* name, smi_dtype dtype, uint32_t rank, const int64_t* dims,
                uint64_t byte_size, void** buffer) noexcept {
  auto* c = static_cast<CallState*>(user);
  try {
    if (!buffer || rank > SMI_MAX_RANK) return 1;
    uint64_t count = 1;
    for (uint32_t i = 0; i < rank; ++i) count *= static_cast<uint64_t>(dims[i] < 0 ? 0 : dims[i]);
    const uint64_t need = dtype == SMI_DTYPE_STRING ? 16 * count + byte_size : byte_size;
    TensorRef ref;
    ref.name = name ? name : "";
    ref.dtype = static_cast<uint8_t>(dtype);
    ref.dims.assign(dims, dims + rank);
    ref.byte_size = need;
    bool announced = false;
    if (c->announce && dtype != SMI_DTYPE_STRING && need >= kInPlaceMin) {
      void* in_place = nullptr;
      if (!Announce(c, ref, &in_place)) return 1;  // mlosd refused it: the plugin fails the call
      announced = true;
      if (in_place) {
        ref.arena = kInPlace;
        c->result.outputs.push_back(std::move(ref));
        *buffer = in_place;
        return 0;
      }
    }
    uint64_t at = Align64(c->cursor);
    if (!c->current().Span(at, need)) {
      const uint64_t used = c->current().size();
      auto fresh = Arena::Create(std::max<uint64_t>(need, used * 2), "mlos-arena-out");
      if (!fresh.ok()) return 1;
      std::string size(8, '\0');
      const uint64_t s = fresh->size();
      std::memcpy(size.data(), &s, 8);
      ipc::FrameHeader h;
      h.op = static_cast<uint16_t>(WorkerOp::kArena);
      if (!ipc::SendFrame(c->fd, h, size, fresh->fd()).ok()) ::_exit(0);
      c->grown.push_back(std::move(fresh).value());
      at = 0;
    }
    ref.arena = static_cast<uint32_t>(c->grown.size());
    ref.offset = at;
    uint8_t* p = c->current().base() + at;
    c->cursor = at + need;
    if (dtype == SMI_DTYPE_STRING) c->strings.push_back({c->result.outputs.size(), p, count});
    if (!announced) c->pending.push_back(c->result.outputs.size());
    c->result.outputs.push_back(std::move(ref));
    *buffer = p;
    return 0;
  } catch (...) {
    return 1;
  }
}

// One generation on a channel: chunks go back as kToken frames from this thread (the plugin
// calls on_token on the thread that called model_generate), then the end frame.
void ServeGenerate(int fd, const ipc::FrameHeader& h, const std::string& payload) {
  std::string prompt, params;
  try {
    const nlohmann::json j = nlohmann::json::parse(payload);
    prompt = j.value("prompt", "");
    params = j.value("params", "");
  } catch (const std::exception& e) {
    Reply(fd, h, StatusCode::kInvalidArgument,
          nlohmann::json{{"done", nullptr}, {"error", std::string("worker: ") + e.what()}}.dump());
    return;
  }
  if (!g.api->model_generate) {
    Reply(fd, h, StatusCode::kUnimplemented,
          nlohmann::json{{"done", nullptr}, {"error", "the plugin does not generate text"}}.dump());
    return;
  }
  struct Stream {
    int fd;
    uint64_t request_id;
    std::string done;
  } stream{fd, h.request_id, {}};
  smi_generate_request r{};
  r.size = sizeof(r);
  r.prompt = prompt.c_str();
  r.params_json = params.empty() ? nullptr : params.c_str();
  r.user_data = &stream;
  r.request_id = h.request_id;
  r.on_token = [](void* user, const char* text, uint64_t length) -> int {
    auto* st = static_cast<Stream*>(user);
    ipc::FrameHeader th;
    th.op = static_cast<uint16_t>(WorkerOp::kToken);
    th.request_id = st->request_id;
    if (!ipc::SendFrame(st->fd, th, std::string_view(text ? text : "", text ? length : 0)).ok()) {
      ::_exit(0);  // mlosd is gone
    }
    return 0;  // mlosd stops a generation with kCancel
  };
  r.on_done = [](void* user, const char* json) {
    if (json) static_cast<Stream*>(user)->done = json;
  };
  smi_error* e = g.api->model_generate(g.model, &r);
  nlohmann::json end{{"done", nullptr}, {"error", ""}};
  if (!stream.done.empty()) end["done"] = nlohmann::json::parse(stream.done, nullptr, false);
  if (end["done"].is_discarded()) end["done"] = nullptr;
  StatusCode code = StatusCode::kOk;
  if (e) {
    auto [c, msg] = Take(e);
    code = StatusCodeFromSmi(c);
    end["error"] = msg;
  }
  Reply(fd, h, code, end.dump());
}

void ServeChannel(int fd) {
  Arena arena;
  ipc::FrameHeader h;
  std::string payload, reply;
  std::vector<smi_tensor> inputs;
  std::vector<std::vector<smi_string>> strings;
  std::vector<const char*> names;
  // Client regions for the next call (kMap), mapped read-only where its inputs lie.
  std::vector<int> region_fds;
  struct View {
    void* base;
    size_t length;
  };
  std::vector<View> views;
  const auto drop_regions = [&] {
    for (const View& v : views) ::munmap(v.base, v.length);
    for (int f : region_fds) ::close(f);
    views.clear();
    region_fds.clear();
  };
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  while (true) {
    drop_regions();
    int rfd = -1;
    if (!ipc::RecvFrame(fd, h, payload, &rfd).ok()) ::_exit(0);  // mlosd closed the channel
    while (h.op == static_cast<uint16_t>(WorkerOp::kMap)) {
      if (rfd >= 0) region_fds.push_back(rfd);
      rfd = -1;
      if (!ipc::RecvFrame(fd, h, payload, &rfd).ok()) ::_exit(0);
    }
    const InFlightCall in_flight;  // until this request's answer has gone out
    if (h.op == static_cast<uint16_t>(WorkerOp::kGenerate)) {
      if (rfd >= 0) ::close(rfd);
      ServeGenerate(fd, h, payload);
      continue;
    }
    if (h.op != static_cast<uint16_t>(WorkerOp::kInfer)) {
      if (rfd >= 0) ::close(rfd);
      Reply(fd, h, StatusCode::kInvalidArgument, "worker: unexpected operation on a channel");
      continue;
    }
    auto call = DecodeInferCall(payload);
    if (!call.ok()) {
      if (rfd >= 0) ::close(rfd);
      Reply(fd, h, StatusCode::kInvalidArgument, call.status().message());
      continue;
    }
    if (call->arena_size) {
      if (rfd < 0) {
        Reply(fd, h, StatusCode::kInvalidArgument, "worker: arena announced without a descriptor");
        continue;
      }
      auto a = Arena::Adopt(rfd, call->arena_size);
      if (!a.ok()) {
        Reply(fd, h, StatusCode::kInvalidArgument, a.status().message());
        continue;
      }
      arena = std::move(a).value();
    } else if (rfd >= 0) {
      ::close(rfd);
    }
    inputs.assign(call->inputs.size(), smi_tensor{});
    strings.assign(call->inputs.size(), {});
    uint64_t end = 0;
    std::string bad;
    for (size_t i = 0; i < call->inputs.size() && bad.empty(); ++i) {
      const TensorRef& r = call->inputs[i];
      smi_tensor& t = inputs[i];
      t.size = sizeof(smi_tensor);
      t.name = r.name.c_str();
      t.dtype = static_cast<smi_dtype>(r.dtype);
      t.rank = static_cast<uint32_t>(std::min<size_t>(r.dims.size(), SMI_MAX_RANK));
      for (uint32_t d = 0; d < t.rank; ++d) t.dims[d] = r.dims[d];
      uint8_t* p = nullptr;
      if (r.arena == 0) {
        p = arena.Span(r.offset, r.byte_size);
      } else if (r.arena <= region_fds.size() && t.dtype != SMI_DTYPE_STRING) {
        // In place, read-only: a page-aligned window of the client's region.
        const uint64_t start = r.offset / page * page;
        const size_t length = static_cast<size_t>(r.offset - start + r.byte_size);
        void* m = ::mmap(nullptr, std::max<size_t>(length, 1), PROT_READ, MAP_SHARED,
                         region_fds[r.arena - 1], static_cast<off_t>(start));
        if (m != MAP_FAILED) {
          views.push_back({m, std::max<size_t>(length, 1)});
          p = static_cast<uint8_t*>(m) + (r.offset - start);
        }
      }
      if (!p) {
        bad = "input \"" + r.name + "\" lies outside shared memory";
        break;
      }
      if (r.arena == 0) end = std::max(end, r.offset + r.byte_size);
      if (t.dtype == SMI_DTYPE_STRING) {
        uint64_t count = 1;
        for (int64_t d : r.dims) count *= static_cast<uint64_t>(d < 0 ? 0 : d);
        if (count > r.byte_size / 8) {
          bad = "string input \"" + r.name + "\" is malformed";
          break;
        }
        uint64_t off = 8 * count;
        auto& v = strings[i];
        v.resize(count);
        for (uint64_t k = 0; k < count; ++k) {
          uint64_t len = 0;
          std::memcpy(&len, p + 8 * k, 8);
          if (len > r.byte_size - off) {
            bad = "string input \"" + r.name + "\" is malformed";
            break;
          }
          v[k] = {reinterpret_cast<const char*>(p + off), len};
          off += len;
        }
        t.data = v.data();
        t.byte_size = count * sizeof(smi_string);
      } else {
        t.data = p;
        t.byte_size = r.byte_size;
      }
    }
    if (!bad.empty()) {
      Reply(fd, h, StatusCode::kInvalidArgument, "worker: " + bad);
      continue;
    }
    names.clear();
    for (const std::string& n : call->outputs) names.push_back(n.c_str());
    CallState state;
    state.fd = fd;
    state.first = &arena;
    state.cursor = end;
    state.announce = call->announce_outputs;
    smi_infer_request req{};
    req.size = sizeof(req);
    req.inputs = inputs.data();
    req.input_count = static_cast<uint32_t>(inputs.size());
    req.output_names = names.empty() ? nullptr : names.data();
    req.output_count = static_cast<uint32_t>(names.size());
    req.alloc = &AllocOutput;
    req.alloc_user_data = &state;
    req.request_id = h.request_id;
    smi_error* e = g.api->model_infer(g.model, &req);
    if (!state.grown.empty()) {
      arena = std::move(state.grown.back());  // mlosd switches to it too
      state.grown.pop_back();
      // Output refs into the old channel arena (index 0) stay valid on mlosd's side: it keeps
      // that mapping until it has copied them.
    }
    if (e) {
      auto [code, msg] = Take(e);
      ipc::FrameHeader r;
      r.op = h.op;
      r.request_id = h.request_id;
      r.status = static_cast<uint32_t>(code);
      if (!ipc::SendFrame(fd, r, msg).ok()) ::_exit(0);
      continue;
    }
    // String outputs: pointers -> offsets from the block's start.
    for (const CallState::StringOut& s : state.strings) {
      const TensorRef& ref = state.result.outputs[s.index];
      auto* entries = reinterpret_cast<smi_string*>(s.block);
      for (uint64_t k = 0; k < s.count; ++k) {
        const auto* d = reinterpret_cast<const uint8_t*>(entries[k].data);
        uint64_t off = 16 * s.count, len = entries[k].length;
        if (len > 0) {
          if (d < s.block + 16 * s.count || d > s.block + ref.byte_size ||
              len > static_cast<uint64_t>(s.block + ref.byte_size - d)) {
            bad = "plugin wrote string output \"" + ref.name + "\" outside its buffer";
            break;
          }
          off = static_cast<uint64_t>(d - s.block);
        }
        std::memcpy(s.block + 16 * k, &off, 8);
        std::memcpy(s.block + 16 * k + 8, &len, 8);
      }
    }
    if (!bad.empty()) {
      ipc::FrameHeader r;
      r.op = h.op;
      r.request_id = h.request_id;
      r.status = SMI_ERROR_INTERNAL;
      if (!ipc::SendFrame(fd, r, bad).ok()) ::_exit(0);
      continue;
    }
    reply.clear();
    EncodeInferResult(state.result, reply);
    ipc::FrameHeader r;
    r.op = h.op;
    r.request_id = h.request_id;
    if (!ipc::SendFrame(fd, r, reply).ok()) ::_exit(0);
  }
}

// ---- setup ----------------------------------------------------------------------------------

Status LoadModel(const json& setup, json* out) {
  const json& pj = setup.at("plugin");
  const std::string path = pj.at("path").get<std::string>();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return FailedPrecondition(std::string("worker: cannot load plugin: ") + ::dlerror());
  auto get = reinterpret_cast<smi_plugin_get_api_fn>(::dlsym(handle, SMI_PLUGIN_GET_API_SYMBOL));
  const smi_plugin_api* api = get ? get(SMI_VERSION_MAJOR, SMI_VERSION_MINOR) : nullptr;
  if (!api || api->abi_major != SMI_VERSION_MAJOR) {
    return FailedPrecondition("worker: " + path + " is not an SMI plugin this worker speaks");
  }
  g.api = api;
  const std::string config = pj.value("config", std::string("{}"));
  if (smi_error* e = api->plugin_init(config.c_str(), &g.plugin)) {
    auto [code, msg] = Take(e);
    return Status(StatusCodeFromSmi(code), msg);
  }
  const json& mj = setup.at("model");
  const std::string dir = mj.at("dir").get<std::string>(), mpath = mj.at("path").get<std::string>();
  const std::string id = mj.at("id").get<std::string>();
  const std::string manifest = mj.value("manifest_json", std::string());
  const std::string options = mj.value("options_json", std::string());
  const std::string cache = mj.value("cache_dir", std::string());
  smi_model_load_params p{};
  p.size = sizeof(p);
  p.model_dir = dir.c_str();
  p.model_path = mpath.c_str();
  p.model_id = id.c_str();
  p.manifest_json = manifest.empty() ? nullptr : manifest.c_str();
  p.options_json = options.empty() ? nullptr : options.c_str();
  p.cache_dir = cache.empty() ? nullptr : cache.c_str();
  if (smi_error* e = api->model_load(g.plugin, &p, &g.model)) {
    auto [code, msg] = Take(e);
    return Status(StatusCodeFromSmi(code), msg);
  }
  const auto tensors = [&](bool in) {
    json arr = json::array();
    const uint32_t n = in ? api->model_input_count(g.model) : api->model_output_count(g.model);
    for (uint32_t i = 0; i < n; ++i) {
      const smi_tensor* t = nullptr;
      smi_error* e = in ? api->model_input(g.model, i, &t) : api->model_output(g.model, i, &t);
      if (e) {
        api->error_free(e);
        continue;
      }
      if (!t) continue;
      std::vector<int64_t> dims(t->dims, t->dims + std::min<uint32_t>(t->rank, SMI_MAX_RANK));
      arr.push_back({{"name", t->name ? t->name : ""}, {"dtype", static_cast<int>(t->dtype)},
                     {"dims", dims}});
    }
    return arr;
  };
  (*out)["inputs"] = tensors(true);
  (*out)["outputs"] = tensors(false);
  uint64_t host = 0, device = 0;
  if (api->model_memory) {
    smi_memory_info mem{};
    mem.size = sizeof(mem);
    if (smi_error* e = api->model_memory(g.model, &mem)) {
      api->error_free(e);
    } else {
      host = mem.host_bytes;
      device = mem.device_bytes;
    }
  }
  // The whole worker is the model's cost: its own resident memory counts.
  (*out)["host_bytes"] = std::max(host, ResidentBytes());
  (*out)["device_bytes"] = device;
  return Status::Ok();
}

SandboxSpec SpecFrom(const json& j) {
  SandboxSpec s;
  s.level = static_cast<Level>(j.value("level", 1));
  s.root_dir = j.value("root_dir", std::string());
  s.read_only = j.value("read_only", std::vector<std::string>{});
  s.tmp_bytes = j.value("tmp_bytes", s.tmp_bytes);
  s.drop_user = j.value("drop_user", false);
  s.uid = j.value("uid", s.uid);
  s.gid = j.value("gid", s.gid);
  s.nproc = j.value("nproc", s.nproc);
  s.file_size_max = j.value("file_size_max", s.file_size_max);
  s.nofile = j.value("nofile", s.nofile);
  return s;
}

}  // namespace

int WorkerMain(int argc, char** argv) {
  int control = -1;
  std::vector<int> channels;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--control") {
      control = std::atoi(argv[i + 1]);
    } else if (key == "--channels") {
      std::string list = argv[i + 1];
      size_t pos = 0;
      while (pos < list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        channels.push_back(std::atoi(list.substr(pos, comma - pos).c_str()));
        pos = comma + 1;
      }
    } else if (key == "--model") {
      g_model_id = argv[i + 1];
    }
  }
  if (control < 0 || channels.empty()) {
    std::fprintf(stderr,
                 "mlos-worker: started by mlosd only (--control FD --channels FD,...)\n");
    return 2;
  }
  std::vector<int> keep = channels;
  keep.push_back(control);
  CloseStrayFds(keep);

  ipc::FrameHeader h;
  std::string payload;
  if (!ipc::RecvFrame(control, h, payload).ok() || h.op != static_cast<uint16_t>(WorkerOp::kSetup)) {
    return 2;
  }
  json setup;
  try {
    setup = json::parse(payload);
  } catch (const std::exception& e) {
    Reply(control, h, StatusCode::kInvalidArgument, std::string("worker: bad setup: ") + e.what());
    return 2;
  }
  json loaded;
  Status st = Status::Ok();
  try {
    const SandboxSpec spec = SpecFrom(setup.at("sandbox"));
    PrepareSanitizerForSandbox(spec.level != Level::kNone);
    st = EnterSandbox(spec);
    if (st.ok() && spec.level != Level::kNone) {
      SplitReaper(keep);
      AdoptSanitizerReportFile();
      st = InstallSeccomp();
    }
    if (st.ok()) st = LoadModel(setup, &loaded);
  } catch (const std::exception& e) {
    st = InvalidArgument(std::string("worker: bad setup: ") + e.what());
  }
  if (!st.ok()) {
    Reply(control, h, st.code(), st.message());
    return 2;
  }
  try {
    for (int fd : channels) std::thread(ServeChannel, fd).detach();
  } catch (const std::exception& e) {
    Reply(control, h, StatusCode::kResourceExhausted,
          "worker: cannot start a thread per channel (" + std::to_string(channels.size()) +
              " channels; isolation.pids_max counts threads too): " + e.what());
    return 2;
  }
  Reply(control, h, StatusCode::kOk, loaded.dump());

  while (true) {
    if (!ipc::RecvFrame(control, h, payload).ok()) ::_exit(0);
    switch (static_cast<WorkerOp>(h.op)) {
      case WorkerOp::kCancel: {
        uint64_t id = 0;
        if (payload.size() == 8) std::memcpy(&id, payload.data(), 8);
        if (g.api->model_cancel) g.api->model_cancel(g.model, id);
        Reply(control, h, StatusCode::kOk, "");
        break;
      }
      case WorkerOp::kShutdown: {
        // mlosd drained the model before asking: at most a channel thread still returning.
        g_in_flight.WaitUntilNone();
        g.api->model_unload(g.model);
        g.api->plugin_shutdown(g.plugin);
        Reply(control, h, StatusCode::kOk, "");
        ::_exit(0);
      }
      default:
        Reply(control, h, StatusCode::kUnimplemented,
              "worker: unknown operation " + std::to_string(h.op));
    }
  }
}

}  // namespace mlos::sandbox
