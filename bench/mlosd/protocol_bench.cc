// mlos-bench-protocols: latency of mlosd over every protocol (HTTP binary, gRPC, IPC inline,
// IPC shared memory) through the C++ client SDK, against ONNX Runtime called directly on the
// same model in the same run ("raw"). Closed loop, one request in flight per path.
//
// Part 1 (overhead): a tiny model (mlp.onnx, batch 1). Part 2 (size sweep): Identity models on
// float32 [n] with a static n from 1 K to 16 M elements (4 KB .. 64 MB), registered as
// <sweep-model>_<n>@1.0.0 with files <sweep-dir>/ident_<n>.onnx; only the transport differs.
//
//   mlos-bench-protocols --http URL --grpc URL --unix URL --model local/mlp@1.0.0
//       --onnx mlp.onnx --sweep-model local/ident --sweep-dir DIR --iters 3000 [--no-sweep 1]
//       [--token TOKEN]
// Prints one JSON object (--no-sweep 1: part 1 only, an empty sweep).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "floor.h"
#include "mlos/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using mlos::client::Client;
using mlos::client::SharedMemory;
using mlos::client::Tensor;

struct Args {
  std::string http, grpc, unix_url, model, onnx, sweep_model, sweep_onnx;
  std::string token;  // --token: sent on every call (a daemon with security.auth: required)
  int iters = 3000;
  bool sweep = true;  // --no-sweep 1: part 1 only
};

double P50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double Measure(int warmup, int iters, F&& once) {
  for (int i = 0; i < warmup; ++i) once();
  std::vector<double> us;
  us.reserve(iters);
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    once();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return P50(std::move(us));
}

// Raw ONNX Runtime on one float32 input of shape `shape` (1 intra-op thread, as the daemon).
class Raw {
 public:
  Raw(Ort::Env& env, const std::string& path) {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    so.SetInterOpNumThreads(1);
    session_ = std::make_unique<Ort::Session>(env, path.c_str(), so);
    Ort::AllocatorWithDefaultOptions alloc;
    in_ = session_->GetInputNameAllocated(0, alloc).get();
    for (size_t i = 0; i < session_->GetOutputCount(); ++i)
      outs_.push_back(session_->GetOutputNameAllocated(i, alloc).get());
    for (auto& o : outs_) out_ptrs_.push_back(o.c_str());
  }
  void Run(std::vector<float>& x, const std::vector<int64_t>& shape) {
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value v = Ort::Value::CreateTensor<float>(mem, x.data(), x.size(), shape.data(),
                                                   shape.size());
    const char* in = in_.c_str();
    auto r = session_->Run(Ort::RunOptions{nullptr}, &in, &v, 1, out_ptrs_.data(),
                           out_ptrs_.size());
    (void)r;
  }
  const std::string& input() const { return in_; }

 private:
  std::unique_ptr<Ort::Session> session_;
  std::string in_;
  std::vector<std::string> outs_;
  std::vector<const char*> out_ptrs_;
};

std::string g_token;

std::unique_ptr<Client> Connect(const std::string& url) {
  mlos::client::ClientOptions options;
  options.bearer_token = g_token;
  auto c = Client::Connect(url, options);
  if (!c.ok()) {
    std::fprintf(stderr, "mlos-bench-protocols: %s: %s\n", url.c_str(),
                 c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

void Check(const mlos::Result<mlos::client::InferResult>& r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "mlos-bench-protocols: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
}

// One path's latency for input x of shape `shape` on `model` (shm: inputs and outputs in a
// registered memfd region).
double PathLatency(Client& c, const std::string& model, const std::string& input,
                   const std::string& output, std::vector<float>& x,
                   const std::vector<int64_t>& shape, uint64_t out_bytes, bool shm, int iters,
                   const char* label) {
  mlos::client::InferRequest req;
  req.model = model;
  std::unique_ptr<SharedMemory> mem;
  const uint64_t in_bytes = x.size() * sizeof(float);
  if (shm) {
    auto m = SharedMemory::CreateMemfd("bench", in_bytes + out_bytes);
    if (!m.ok()) {
      std::fprintf(stderr, "memfd: %s\n", m.status().ToString().c_str());
      std::exit(1);
    }
    mem = std::move(m).value();
    std::memcpy(mem->data(), x.data(), in_bytes);
    auto st = c.RegisterSharedMemory("bench", *mem, 0, in_bytes + out_bytes);
    if (!st.ok()) {
      std::fprintf(stderr, "register shm: %s\n", st.ToString().c_str());
      std::exit(1);
    }
    Tensor t;
    t.name = input;
    t.dtype = "float32";
    t.shape = shape;
    t.shm = {"bench", 0, in_bytes};
    req.inputs.push_back(std::move(t));
    req.outputs.push_back({output, {"bench", in_bytes, out_bytes}});
  } else {
    req.inputs.push_back(Tensor::From(input, "float32", shape, x));
    req.outputs.push_back({output, {}});
    // Outputs as views of the buffer the answer arrived in (no copy into fresh memory).
    req.options.view_outputs = true;
  }
  Check(c.Infer(req), label);
  double p50 = Measure(std::min(200, iters / 5 + 1), iters, [&] { Check(c.Infer(req), label); });
  if (shm) (void)c.UnregisterSharedMemory("bench");
  return p50;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--http") a.http = v;
    else if (k == "--grpc") a.grpc = v;
    else if (k == "--unix") a.unix_url = v;
    else if (k == "--model") a.model = v;
    else if (k == "--onnx") a.onnx = v;
    else if (k == "--sweep-model") a.sweep_model = v;
    else if (k == "--sweep-dir") a.sweep_onnx = v;
    else if (k == "--iters") a.iters = std::atoi(v.c_str());
    else if (k == "--no-sweep") a.sweep = v != "1";
    else if (k == "--token") a.token = v;
    else {
      std::fprintf(stderr, "mlos-bench-protocols: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "bench");
  g_token = a.token;
  auto http = Connect(a.http), grpc = Connect(a.grpc), ipc = Connect(a.unix_url);

  // Part 1: overhead on the tiny model.
  Raw raw(env, a.onnx);
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = 0.01f * static_cast<float>(i);
  std::vector<int64_t> shape = {1, 16};
  double raw_p50 = Measure(200, a.iters, [&] { raw.Run(x, shape); });
  std::map<std::string, double> small;
  small["raw"] = raw_p50;
  small["http_binary"] = PathLatency(*http, a.model, "input", "probs", x, shape, 16, false,
                                     a.iters, "http");
  small["grpc"] = PathLatency(*grpc, a.model, "input", "probs", x, shape, 16, false, a.iters, "grpc");
  small["ipc_inline"] = PathLatency(*ipc, a.model, "input", "probs", x, shape, 16, false, a.iters,
                                    "ipc");
  small["ipc_shm"] = PathLatency(*ipc, a.model, "input", "probs", x, shape, 16, true, a.iters,
                                 "ipc-shm");
  // Each protocol's floor: its cheapest call (KServe ServerLive / GET /v2/health/live / IPC
  // health) through the same client, no model involved.
  auto live = [](Client& c, const char* what) {
    auto r = c.Live();
    if (!r.ok()) {
      std::fprintf(stderr, "mlos-bench-protocols: %s live: %s\n", what, r.status().ToString().c_str());
      std::exit(1);
    }
  };
  small["http_live"] = Measure(200, a.iters, [&] { live(*http, "http"); });
  small["grpc_live"] = Measure(200, a.iters, [&] { live(*grpc, "grpc"); });
  small["ipc_live"] = Measure(200, a.iters, [&] { live(*ipc, "ipc"); });

  // Part 2: size sweep on Identity.
  std::string out = "{\"small\": {";
  bool first = true;
  for (auto& [k, v] : small) {
    char b[96];
    std::snprintf(b, sizeof b, "%s\"%s\": %.1f", first ? "" : ", ", k.c_str(), v);
    out += b;
    first = false;
  }
  out += "}, \"sweep\": [";
  std::vector<size_t> elems = {1u << 10, 1u << 14, 1u << 18, 1u << 22, 1u << 24};
  if (!a.sweep) elems.clear();
  for (size_t si = 0; si < elems.size(); ++si) {
    size_t n = elems[si];
    Raw ident(env, a.sweep_onnx + "/ident_" + std::to_string(n) + ".onnx");
    const std::string sweep_model = a.sweep_model + "_" + std::to_string(n) + "@1.0.0";
    std::vector<float> v(n, 1.5f);
    std::vector<int64_t> s = {static_cast<int64_t>(n)};
    int iters = static_cast<int>(std::clamp<size_t>((size_t{64} << 20) / (n * 4) * 2, 10, 500));
    uint64_t bytes = n * 4;
    double r = Measure(3, iters, [&] { ident.Run(v, s); });
    double h = PathLatency(*http, sweep_model, ident.input(), "output", v, s, bytes, false, iters,
                           "http sweep");
    double g = PathLatency(*grpc, sweep_model, ident.input(), "output", v, s, bytes, false, iters,
                           "grpc sweep");
    double ii = PathLatency(*ipc, sweep_model, ident.input(), "output", v, s, bytes, false, iters,
                            "ipc sweep");
    double is = PathLatency(*ipc, sweep_model, ident.input(), "output", v, s, bytes, true, iters,
                            "ipc-shm sweep");
    // The machine's floor for this size, in the same run (bench/mlosd/floor.h).
    const mlos::bench::Floor f = mlos::bench::MeasureFloor(bytes, std::min(iters, 100));
    char b[384];
    std::snprintf(b, sizeof b,
                  "%s{\"bytes\": %llu, \"raw\": %.1f, \"http_binary\": %.1f, \"grpc\": %.1f, "
                  "\"ipc_inline\": %.1f, \"ipc_shm\": %.1f, \"memcpy\": %.1f, \"tcp\": %.1f, "
                  "\"unix\": %.1f}",
                  si ? ", " : "", static_cast<unsigned long long>(bytes), r, h, g, ii, is,
                  f.memcpy_us, f.tcp_us, f.unix_us);
    out += b;
  }
  out += "]}";
  std::printf("%s\n", out.c_str());
  return 0;
}
