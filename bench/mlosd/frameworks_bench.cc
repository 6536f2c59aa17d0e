// mlos-bench-frameworks: what each framework plugin adds over its framework called directly, in
// one run. For every case (an ONNX, a TorchScript and a TFLite model), "raw" runs the framework in
// this process the way its plugin does (ONNX Runtime's C++ API, libtorch's torch::jit, the TFLite
// C API with XNNPACK; one intra-op thread each), and the same model is then called through mlosd
// with the C++ SDK over IPC (tensors inline) and HTTP (KServe binary). Rounds alternate the cases
// and paths so that drift on the machine hits every one alike; the p50 of all samples is taken.
//
//   mlos-bench-frameworks --http URL --unix URL --iters 2000 --rounds 8
//       --case onnx,local/fw-onnx@1.0.0,/path/mlp.onnx,input,1x16
//       --case torch,local/fw-torch@1.0.0,/path/model.pt,x,1x16
//       --case tflite,local/fw-tflite@1.0.0,/path/add.tflite,a+b,1x4
// A case is KIND,MODEL,FILE,INPUTS,SHAPE: INPUTS are float32 input names joined by '+', all of
// SHAPE (dims joined by 'x'). Prints one JSON object: {"cases": [{"kind", "model", "raw",
// "ipc_inline", "http_binary"} (p50 µs)]}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>
#include <tensorflow/lite/c/c_api.h>
#include <ATen/Parallel.h>
#include <torch/script.h>

#include "mlos/client.h"

// Exported by libtensorflowlite_c 2.9 without a header in the package. The options struct is
// zeroed and larger than any 2.9.x layout ({num_threads, flags, weights_cache}).
extern "C" {
struct MlosXnnpackOptions {
  int32_t num_threads;
  uint32_t flags;
  void* weights_cache;
  char reserved[64];
};
TfLiteDelegate* TfLiteXNNPackDelegateCreate(const MlosXnnpackOptions* options);
void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);
}

namespace {

using Clock = std::chrono::steady_clock;
using mlos::client::Client;
using mlos::client::Tensor;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mlos-bench-frameworks: %s\n", what.c_str());
  std::exit(1);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

struct Case {
  std::string kind, model, file;
  std::vector<std::string> inputs;
  std::vector<int64_t> shape;
  size_t elements = 1;
  std::vector<float> x;  // the same values in every input
};

Case ParseCase(const std::string& text) {
  const std::vector<std::string> f = Split(text, ',');
  if (f.size() != 5) Die("--case wants KIND,MODEL,FILE,INPUTS,SHAPE: " + text);
  Case c{f[0], f[1], f[2], Split(f[3], '+'), {}, 1, {}};
  for (const std::string& d : Split(f[4], 'x')) {
    c.shape.push_back(std::stoll(d));
    c.elements *= static_cast<size_t>(c.shape.back());
  }
  c.x.resize(c.elements);
  for (size_t i = 0; i < c.elements; ++i) c.x[i] = 0.01f * static_cast<float>(i % 97);
  return c;
}

// The framework called directly, as its plugin calls it.
class Raw {
 public:
  virtual ~Raw() = default;
  virtual void Run() = 0;
};

class RawOnnx : public Raw {
 public:
  RawOnnx(Ort::Env& env, Case& c) : c_(c) {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    so.SetInterOpNumThreads(1);
    session_ = std::make_unique<Ort::Session>(env, c.file.c_str(), so);
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < session_->GetOutputCount(); ++i)
      outs_.push_back(session_->GetOutputNameAllocated(i, alloc).get());
    for (auto& o : outs_) out_ptrs_.push_back(o.c_str());
    for (auto& n : c.inputs) in_ptrs_.push_back(n.c_str());
  }
  void Run() override {
    std::vector<Ort::Value> in;
    for (size_t i = 0; i < c_.inputs.size(); ++i)
      in.push_back(Ort::Value::CreateTensor<float>(mem_, c_.x.data(), c_.x.size(),
                                                   c_.shape.data(), c_.shape.size()));
    auto r = session_->Run(Ort::RunOptions{nullptr}, in_ptrs_.data(), in.data(), in.size(),
                           out_ptrs_.data(), out_ptrs_.size());
    (void)r;
  }

 private:
  Case& c_;
  Ort::MemoryInfo mem_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::unique_ptr<Ort::Session> session_;
  std::vector<std::string> outs_;
  std::vector<const char*> out_ptrs_, in_ptrs_;
};

class RawTorch : public Raw {
 public:
  explicit RawTorch(Case& c) : c_(c) {
    at::set_num_threads(1);
    module_ = torch::jit::load(c.file, torch::kCPU);
    module_.eval();
  }
  void Run() override {
    torch::NoGradGuard no_grad;
    c10::InferenceMode guard;
    std::vector<torch::jit::IValue> in;
    for (size_t i = 0; i < c_.inputs.size(); ++i)
      in.emplace_back(torch::from_blob(c_.x.data(), c_.shape, torch::kFloat32));
    torch::jit::IValue out = module_.forward(std::move(in));
    // The plugin copies every output into the host's buffer: so does this.
    auto copy = [&](const at::Tensor& t) {
      at::Tensor ct = t.contiguous();
      sink_.resize(static_cast<size_t>(ct.nbytes()));
      std::memcpy(sink_.data(), ct.data_ptr(), sink_.size());
    };
    if (out.isTensor()) {
      copy(out.toTensor());
    } else if (out.isTuple()) {
      for (const auto& e : out.toTupleRef().elements()) copy(e.toTensor());
    }
  }

 private:
  Case& c_;
  torch::jit::Module module_;
  std::vector<char> sink_;
};

class RawTflite : public Raw {
 public:
  explicit RawTflite(Case& c) : c_(c) {
    model_ = TfLiteModelCreateFromFile(c.file.c_str());
    if (!model_) Die("tflite cannot load " + c.file);
    MlosXnnpackOptions xo{};
    xo.num_threads = 1;
    delegate_ = TfLiteXNNPackDelegateCreate(&xo);
    TfLiteInterpreterOptions* o = TfLiteInterpreterOptionsCreate();
    TfLiteInterpreterOptionsSetNumThreads(o, 1);
    if (delegate_) TfLiteInterpreterOptionsAddDelegate(o, delegate_);
    interp_ = TfLiteInterpreterCreate(model_, o);
    TfLiteInterpreterOptionsDelete(o);
    if (!interp_) Die("tflite cannot make an interpreter for " + c.file);
    std::vector<int> dims(c.shape.begin(), c.shape.end());
    for (int i = 0; i < TfLiteInterpreterGetInputTensorCount(interp_); ++i)
      TfLiteInterpreterResizeInputTensor(interp_, i, dims.data(), static_cast<int>(dims.size()));
    if (TfLiteInterpreterAllocateTensors(interp_) != kTfLiteOk) Die("tflite allocate failed");
  }
  ~RawTflite() override {
    TfLiteInterpreterDelete(interp_);
    if (delegate_) TfLiteXNNPackDelegateDelete(delegate_);
    TfLiteModelDelete(model_);
  }
  void Run() override {
    for (int i = 0; i < TfLiteInterpreterGetInputTensorCount(interp_); ++i)
      TfLiteTensorCopyFromBuffer(TfLiteInterpreterGetInputTensor(interp_, i), c_.x.data(),
                                 c_.x.size() * sizeof(float));
    if (TfLiteInterpreterInvoke(interp_) != kTfLiteOk) Die("tflite invoke failed");
    for (int i = 0; i < TfLiteInterpreterGetOutputTensorCount(interp_); ++i) {
      const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interp_, i);
      sink_.resize(TfLiteTensorByteSize(t));
      TfLiteTensorCopyToBuffer(t, sink_.data(), sink_.size());
    }
  }

 private:
  Case& c_;
  TfLiteModel* model_ = nullptr;
  TfLiteDelegate* delegate_ = nullptr;
  TfLiteInterpreter* interp_ = nullptr;
  std::vector<char> sink_;
};

std::unique_ptr<Client> Connect(const std::string& url) {
  auto c = Client::Connect(url);
  if (!c.ok()) Die(url + ": " + c.status().ToString());
  return std::move(c).value();
}

double P50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename F>
void Sample(int warmup, int iters, std::vector<double>& into, F&& once) {
  for (int i = 0; i < warmup; ++i) once();
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    once();
    into.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string http_url, unix_url;
  int iters = 2000, rounds = 8;
  std::vector<Case> cases;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--http") http_url = v;
    else if (k == "--unix") unix_url = v;
    else if (k == "--iters") iters = std::atoi(v.c_str());
    else if (k == "--rounds") rounds = std::max(1, std::atoi(v.c_str()));
    else if (k == "--case") cases.push_back(ParseCase(v));
    else Die("unknown option " + k);
  }
  if (http_url.empty() || unix_url.empty() || cases.empty()) {
    Die("usage: --http URL --unix URL --case KIND,MODEL,FILE,INPUTS,SHAPE ...");
  }
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "bench");
  auto http = Connect(http_url), ipc = Connect(unix_url);

  struct Series {
    std::unique_ptr<Raw> raw;
    mlos::client::InferRequest request;
    std::vector<double> raw_us, ipc_us, http_us;
  };
  std::vector<Series> series(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    try {
      if (c.kind == "onnx") series[i].raw = std::make_unique<RawOnnx>(env, c);
      else if (c.kind == "torch") series[i].raw = std::make_unique<RawTorch>(c);
      else if (c.kind == "tflite") series[i].raw = std::make_unique<RawTflite>(c);
      else Die("unknown case kind " + c.kind + " (onnx, torch, tflite)");
    } catch (const std::exception& e) {
      Die(c.kind + ": " + e.what());
    }
    series[i].request.model = c.model;
    for (const std::string& name : c.inputs)
      series[i].request.inputs.push_back(Tensor::From(name, "float32", c.shape, c.x));
  }
  auto infer = [](Client& client, const mlos::client::InferRequest& req, const char* what) {
    auto r = client.Infer(req);
    if (!r.ok()) Die(std::string(what) + " " + req.model + ": " + r.status().ToString());
  };
  const int per_round = std::max(1, iters / rounds);
  for (int round = 0; round < rounds; ++round) {
    for (Series& s : series) {
      const int warmup = round == 0 ? 200 : 20;
      Sample(warmup, per_round, s.raw_us, [&] { s.raw->Run(); });
      Sample(warmup, per_round, s.ipc_us, [&] { infer(*ipc, s.request, "ipc"); });
      Sample(warmup, per_round, s.http_us, [&] { infer(*http, s.request, "http"); });
    }
  }
  std::string out = "{\"cases\": [";
  for (size_t i = 0; i < cases.size(); ++i) {
    char b[512];
    std::snprintf(b, sizeof b,
                  "%s{\"kind\": \"%s\", \"model\": \"%s\", \"samples\": %zu, \"raw\": %.1f, "
                  "\"ipc_inline\": %.1f, \"http_binary\": %.1f}",
                  i ? ", " : "", cases[i].kind.c_str(), cases[i].model.c_str(),
                  series[i].raw_us.size(), P50(series[i].raw_us), P50(series[i].ipc_us),
                  P50(series[i].http_us));
    out += b;
  }
  out += "]}";
  std::printf("%s\n", out.c_str());
  return 0;
}
