// TorchScript and TFLite models served the way a user does it (`axon install` -> `axon register`)
// by one mlosd beside an ONNX model, checked against the frameworks called directly: libtorch
// through Debian's python3-torch (/usr/bin/python3 runs the same .pt on the same inputs) and the
// TFLite C library called from this test. Every output over HTTP (KServe binary), gRPC and IPC
// equals the direct result within 1e-5, for every input dtype the models take. Bad input gets a
// clear error naming the tensor, a corrupt model file is refused at load, and the daemon keeps
// serving throughout.
#include <tensorflow/lite/c/c_api.h>

#include <cmath>
#include <cstring>
#include <random>

#include "client/tensor_file.h"
#include "mlos/client.h"
#include "mlosd_harness.h"

extern "C" {
// Exported by libtensorflowlite_c 2.9 without a header in the package; a zeroed options struct
// larger than any 2.9.x layout.
struct MlosTestXnnpackOptions {
  int32_t num_threads;
  uint32_t flags;
  void* weights_cache;
  char reserved[64];
};
TfLiteDelegate* TfLiteXNNPackDelegateCreate(const MlosTestXnnpackOptions* options);
void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);
}

namespace mlostest {
namespace {

namespace client = mlos::client;

const fs::path kTorchPlugin = kPlugins / "libmlos_torch.so";
const fs::path kTflitePlugin = kPlugins / "libmlos_tflite.so";
const fs::path kHandLite = fs::path(MLOS_SOURCE_DIR) / "third_party/tflite/models/hand_landmark_lite.tflite";

// The TFLite C library called directly (XNNPACK on, one thread: the plugin's defaults).
std::vector<client::Tensor> TfliteDirect(const fs::path& model_path,
                                         const std::vector<client::Tensor>& inputs) {
  std::vector<client::Tensor> out;
  TfLiteModel* model = TfLiteModelCreateFromFile(model_path.c_str());
  EXPECT_NE(model, nullptr) << model_path;
  if (!model) return out;
  MlosTestXnnpackOptions xo{};
  xo.num_threads = 1;
  TfLiteDelegate* xnnpack = TfLiteXNNPackDelegateCreate(&xo);
  TfLiteInterpreterOptions* options = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(options, 1);
  if (xnnpack) TfLiteInterpreterOptionsAddDelegate(options, xnnpack);
  TfLiteInterpreter* interp = TfLiteInterpreterCreate(model, options);
  TfLiteInterpreterOptionsDelete(options);
  EXPECT_NE(interp, nullptr);
  if (interp) {
    for (int i = 0; i < TfLiteInterpreterGetInputTensorCount(interp); ++i) {
      const std::string name = TfLiteTensorName(TfLiteInterpreterGetInputTensor(interp, i));
      for (const client::Tensor& t : inputs) {
        if (t.name != name) continue;
        std::vector<int> dims(t.shape.begin(), t.shape.end());
        TfLiteInterpreterResizeInputTensor(interp, i, dims.data(), static_cast<int>(dims.size()));
      }
    }
    EXPECT_EQ(TfLiteInterpreterAllocateTensors(interp), kTfLiteOk);
    for (int i = 0; i < TfLiteInterpreterGetInputTensorCount(interp); ++i) {
      TfLiteTensor* in = TfLiteInterpreterGetInputTensor(interp, i);
      for (const client::Tensor& t : inputs) {
        if (t.name == TfLiteTensorName(in)) {
          EXPECT_EQ(TfLiteTensorCopyFromBuffer(in, t.data.data(), t.data.size()), kTfLiteOk);
        }
      }
    }
    EXPECT_EQ(TfLiteInterpreterInvoke(interp), kTfLiteOk);
    for (int i = 0; i < TfLiteInterpreterGetOutputTensorCount(interp); ++i) {
      const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interp, i);
      client::Tensor o;
      o.name = TfLiteTensorName(t);
      for (int d = 0; d < TfLiteTensorNumDims(t); ++d) o.shape.push_back(TfLiteTensorDim(t, d));
      o.data.resize(TfLiteTensorByteSize(t));
      TfLiteTensorCopyToBuffer(t, o.data.data(), o.data.size());
      out.push_back(std::move(o));
    }
    TfLiteInterpreterDelete(interp);
  }
  if (xnnpack) TfLiteXNNPackDelegateDelete(xnnpack);
  TfLiteModelDelete(model);
  return out;
}

// Element i of a numeric tensor as a double.
double At(const client::Tensor& t, size_t i) {
  const uint8_t* p = t.data.data();
  auto get = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, p + i * sizeof v, sizeof v);
    return static_cast<double>(v);
  };
  const std::string& d = t.dtype;
  if (d == "float32") return get(float{});
  if (d == "float64") return get(double{});
  if (d == "int8") return get(int8_t{});
  if (d == "int16") return get(int16_t{});
  if (d == "int32") return get(int32_t{});
  if (d == "int64") return get(int64_t{});
  if (d == "uint8" || d == "bool") return get(uint8_t{});
  if (d == "uint16") return get(uint16_t{});
  if (d == "uint32") return get(uint32_t{});
  if (d == "uint64") return get(uint64_t{});
  if (d == "float16" || d == "bfloat16") {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    if (d == "bfloat16") {
      uint32_t bits = static_cast<uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exp == 0) return sign * std::ldexp(mant, -24);
    if (exp == 31) return mant ? NAN : sign * INFINITY;
    return sign * std::ldexp(mant + 1024, exp - 25);
  }
  ADD_FAILURE() << "dtype " << d;
  return 0;
}

// got equals want (shape, and values within 1e-5, relative above 1).
void ExpectClose(const client::Tensor& got, const client::Tensor& want, const std::string& where) {
  ASSERT_EQ(got.shape, want.shape) << where << " " << want.name;
  ASSERT_EQ(got.data.size(), want.data.size()) << where << " " << want.name;
  const uint64_t size = client::DtypeSize(got.dtype);
  ASSERT_GT(size, 0u) << got.dtype;
  const size_t n = got.data.size() / size;
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = At(got, i), b = At(want, i);
    if (!(std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b)))) {
      if (++bad <= 3) ADD_FAILURE() << where << " " << want.name << "[" << i << "]: " << a << " vs " << b;
    }
  }
  EXPECT_EQ(bad, 0u) << where << " " << want.name << ": " << bad << " of " << n << " differ";
}

class MlosdFrameworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    for (const fs::path& p : {kTorchPlugin, kTflitePlugin, kHandLite}) {
      if (!fs::exists(p)) GTEST_SKIP() << "missing " << p;
    }
    int rc = 0;
    Sh("/usr/bin/python3 -c 'import torch, numpy'", &rc);
    if (rc != 0) GTEST_SKIP() << "no python3-torch";
    const std::string help = MlosdHelp();
    std::vector<std::string> args = {"--config", (tmp_.path() / "mlosd.yaml").string()};
    std::ofstream(tmp_.path() / "mlosd.yaml")
        << "plugins:\n  torch:\n    intra_op_threads: 1\n  tflite:\n    threads: 1\n";
    if (help.find("--grpc") != std::string::npos) {
      args.insert(args.end(), {"--grpc", "127.0.0.1:" + std::to_string(FreePort())});
      grpc_url_ = "grpc://" + args.back();
    }
    if (help.find("--ipc") != std::string::npos) {
      const fs::path sock = tmp_.path() / "mlosd.sock";
      args.insert(args.end(), {"--ipc", sock.string()});
      urls_.push_back("unix://" + sock.string());
    }
    if (!grpc_url_.empty()) urls_.push_back(grpc_url_);
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state", args);
    ASSERT_TRUE(daemon_->Start());
    urls_.insert(urls_.begin(), "http://127.0.0.1:" + std::to_string(daemon_->port()));
    env_ = "AXON_HOME=" + (tmp_.path() / "axon").string() +
           " MLOS_CORE_ENDPOINT=http://127.0.0.1:" + std::to_string(daemon_->port()) + " ";
    for (const std::string& url : urls_) clients_.push_back(Connect(url));
  }

  std::unique_ptr<client::Client> Connect(const std::string& url) {
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url);
      if (c.ok() && ((*c)->Live().ok() || attempt >= 50)) return std::move(c).value();
      if (attempt >= 50) {
        ADD_FAILURE() << url << ": " << (c.ok() ? "not live" : c.status().message());
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // `axon install SOURCE --name ID EXTRA` then `axon register ID`; the output on failure.
  void InstallAndRegister(const std::string& source, const std::string& id,
                          const std::string& extra = "") {
    int rc = 0;
    std::string out = Axon("install '" + source + "' --name " + id + " " + extra, &rc);
    ASSERT_EQ(rc, 0) << out;
    out = Axon("register " + id, &rc);
    ASSERT_EQ(rc, 0) << out << daemon_->Log();
  }
  std::string Axon(const std::string& args, int* rc) {
    return Sh("env " + env_ + std::string(MLOS_BINARY_DIR) + "/bin/axon " + args, rc);
  }

  // Runs the model over every transport and compares every output with `want`.
  void ExpectEverywhere(const std::string& model, const std::vector<client::Tensor>& inputs,
                        const std::vector<client::Tensor>& want) {
    for (size_t k = 0; k < clients_.size(); ++k) {
      ASSERT_NE(clients_[k], nullptr);
      client::InferRequest req;
      req.model = model;
      req.inputs = inputs;
      auto r = clients_[k]->Infer(req);
      ASSERT_TRUE(r.ok()) << urls_[k] << " " << model << ": " << r.status().message()
                          << daemon_->Log();
      for (const client::Tensor& w : want) {
        const client::Tensor* got = r->Find(w.name);
        ASSERT_NE(got, nullptr) << urls_[k] << " " << model << ": no output " << w.name;
        client::Tensor expected = w;
        if (expected.dtype.empty()) expected.dtype = got->dtype;
        EXPECT_EQ(got->dtype, expected.dtype) << urls_[k] << " " << w.name;
        ExpectClose(*got, expected, urls_[k] + " " + model);
      }
    }
  }

  // Every transport refuses the request with an error that contains `needle`.
  void ExpectRefused(const std::string& model, const std::vector<client::Tensor>& inputs,
                     const std::string& needle) {
    for (size_t k = 0; k < clients_.size(); ++k) {
      client::InferRequest req;
      req.model = model;
      req.inputs = inputs;
      auto r = clients_[k]->Infer(req);
      ASSERT_FALSE(r.ok()) << urls_[k] << " " << model << " accepted a bad request";
      EXPECT_EQ(r.status().code(), mlos::StatusCode::kInvalidArgument)
          << urls_[k] << ": " << r.status().message();
      EXPECT_NE(r.status().message().find(needle), std::string::npos)
          << urls_[k] << ": " << r.status().message() << " (wanted " << needle << ")";
    }
  }

  // Reads `dir`/FIXTURE.TENSOR.npy as a tensor named TENSOR.
  static client::Tensor Npy(const fs::path& dir, const std::string& name) {
    auto t = client::DecodeNpy(ReadFileBytes(dir / (name + ".npy")),
                               name.substr(name.rfind('.') + 1));
    EXPECT_TRUE(t.ok()) << (dir / (name + ".npy")) << ": " << t.status().message();
    return t.ok() ? *t : client::Tensor{};
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  std::string env_, grpc_url_;
  std::vector<std::string> urls_;
  std::vector<std::unique_ptr<client::Client>> clients_;
};

// A float32 tensor of `shape` with reproducible values in [-1, 1).
client::Tensor RandomF32(const std::string& name, std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return client::Tensor::From(name, "float32", std::move(shape), v);
}

TEST_F(MlosdFrameworksTest, TfliteHandLandmarkEqualsTheInterpreterCalledDirectly) {
  InstallAndRegister(kHandLite.string(), "local/hand@1.0.0");
  Reply meta = daemon_->Get("/v2/models/local%2Fhand");
  ASSERT_EQ(meta.status, 200) << meta.body;
  const json m = meta.Json();
  ASSERT_EQ(m["inputs"].size(), 1u) << meta.body;
  EXPECT_EQ(m["platform"].get<std::string>().find("tflite") != std::string::npos ||
                meta.body.find("tflite") != std::string::npos,
            true)
      << meta.body;
  const std::string input = m["inputs"][0]["name"];
  std::vector<int64_t> shape = m["inputs"][0]["shape"].get<std::vector<int64_t>>();
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  const client::Tensor x = RandomF32(input, shape, 7);
  const std::vector<client::Tensor> want = TfliteDirect(kHandLite, {x});
  ASSERT_EQ(want.size(), m["outputs"].size());
  ExpectEverywhere("local/hand@1.0.0", {x}, want);

  // Bad input: wrong dtype, wrong shape, missing input, an unknown one.
  client::Tensor as_int = client::Tensor::From(input, "int32", shape,
                                               std::vector<int32_t>(x.data.size() / 4, 1));
  ExpectRefused("local/hand@1.0.0", {as_int}, input);
  std::vector<int64_t> wrong = shape;
  wrong[1] = 100;
  ExpectRefused("local/hand@1.0.0", {RandomF32(input, wrong, 1)}, input);
  ExpectRefused("local/hand@1.0.0", {}, input);
  ExpectRefused("local/hand@1.0.0", {x, RandomF32("nope", shape, 2)}, "nope");
  ExpectEverywhere("local/hand@1.0.0", {x}, want);  // still serving
}


// A directory holding copies of fixture files (a model and its sidecar io.yaml).
fs::path StageFixtures(const fs::path& dir, const std::vector<std::string>& names) {
  fs::create_directories(dir);
  for (const std::string& n : names) fs::copy_file(kFixtures / n, dir / n);
  return dir;
}

TEST_F(MlosdFrameworksTest, TorchScriptModelsEqualTorchCalledDirectly) {
  for (const char* f : {"torch_scripted.pt", "torch_traced.pt", "torch_dtypes.pt"}) {
    if (!fs::exists(kFixtures / f)) GTEST_SKIP() << "no TorchScript fixture " << f;
  }
  // A scripted module with float32 and int64 inputs and a tuple of two outputs, its IO from the
  // sidecar io.yaml beside it.
  InstallAndRegister(
      StageFixtures(tmp_.path() / "scripted", {"torch_scripted.pt", "torch_scripted.io.yaml"})
          .string(),
      "local/scripted@1.0.0");
  ExpectEverywhere("local/scripted@1.0.0",
                   {Npy(kFixtures, "torch_scripted.x"), Npy(kFixtures, "torch_scripted.ids")},
                   {Npy(kFixtures, "torch_scripted.y"), Npy(kFixtures, "torch_scripted.count")});

  // A traced module, its IO given on the command line.
  InstallAndRegister((kFixtures / "torch_traced.pt").string(), "local/traced@1.0.0",
                     "--input x:float32:-1,16 --output y:float32:-1,8");
  ExpectEverywhere("local/traced@1.0.0", {Npy(kFixtures, "torch_traced.x")},
                   {Npy(kFixtures, "torch_traced.y")});

  // One input per dtype torch has besides float32 and int64.
  InstallAndRegister(
      StageFixtures(tmp_.path() / "dtypes", {"torch_dtypes.pt", "torch_dtypes.io.yaml"}).string(),
      "local/dtypes@1.0.0");
  std::vector<client::Tensor> in, want;
  for (const char* n : {"f64", "f16", "bf16", "i8", "i16", "i32", "u8", "b"}) {
    in.push_back(Npy(kFixtures, std::string("torch_dtypes.") + n));
    want.push_back(Npy(kFixtures, std::string("torch_dtypes.") + n + "_out"));
    if (std::string(n) == "bf16") in.back().dtype = want.back().dtype = "bfloat16";  // .npy: int16 bits
  }
  ExpectEverywhere("local/dtypes@1.0.0", in, want);

  // Bad input: wrong dtype, wrong rank, a missing input; the model keeps serving.
  client::Tensor x = Npy(kFixtures, "torch_scripted.x"), ids = Npy(kFixtures, "torch_scripted.ids");
  client::Tensor ids_f = client::Tensor::From("ids", "float32", ids.shape,
                                              std::vector<float>(ids.data.size() / 8, 1.f));
  ExpectRefused("local/scripted@1.0.0", {x, ids_f}, "ids");
  client::Tensor x_flat = x;
  x_flat.shape = {static_cast<int64_t>(x.data.size() / 4)};
  ExpectRefused("local/scripted@1.0.0", {x_flat, ids}, "\"x\"");
  ExpectRefused("local/scripted@1.0.0", {x}, "ids");
  ExpectEverywhere("local/scripted@1.0.0", {x, ids},
                   {Npy(kFixtures, "torch_scripted.y"), Npy(kFixtures, "torch_scripted.count")});
}

// A file that is not a model of its format is refused at load with an error that says so, and the
// daemon keeps serving the models it has.
TEST_F(MlosdFrameworksTest, CorruptModelFilesAreRefusedAndTheDaemonKeepsServing) {
  InstallAndRegister(kHandLite.string(), "local/hand@1.0.0");
  Reply meta = daemon_->Get("/v2/models/local%2Fhand");
  ASSERT_EQ(meta.status, 200) << meta.body;
  const std::string input = meta.Json()["inputs"][0]["name"];
  const client::Tensor x = RandomF32(input, {1, 224, 224, 3}, 3);
  const std::vector<client::Tensor> want = TfliteDirect(kHandLite, {x});

  std::string garbage(4096, '\0');
  std::mt19937 gen(11);
  for (char& c : garbage) c = static_cast<char>(gen());
  const std::string hand = ReadFileBytes(kHandLite);
  struct Bad {
    std::string name, format, file, contents, io;
  };
  const std::string torch_io =
      "    inputs:\n      - name: x\n        dtype: float32\n        shape: [-1, 16]\n"
      "    outputs:\n      - name: y\n        dtype: float32\n        shape: [-1, 8]\n";
  const std::vector<Bad> bad = {
      {"torch-garbage", "torchscript", "model.pt", garbage, torch_io},
      {"torch-onnx", "torchscript", "model.pt", ReadFileBytes(kFixtures / "mlp.onnx"), torch_io},
      {"tflite-garbage", "tflite", "model.tflite", garbage, ""},
      {"tflite-truncated", "tflite", "model.tflite", hand.substr(0, hand.size() / 2), ""},
  };
  for (const Bad& b : bad) {
    Package p;
    p.name = b.name;
    p.framework = b.format;
    p.execution_format = b.format;
    p.file_name = b.file;
    p.file_contents = b.contents;
    p.io_yaml = b.io;
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    Reply reg = daemon_->Post("/models/register", RegisterBody(p, dir));
    ASSERT_EQ(reg.status / 100, 2) << b.name << ": " << reg.body;
    Reply load = daemon_->Post("/models/" + Encode(p.Id()) + "/load");
    EXPECT_GE(load.status, 400) << b.name << ": " << load.body;
    EXPECT_LT(load.status, 600) << b.name << ": " << load.body;
    EXPECT_NE(load.Error().find(b.format == "tflite" ? "tflite" : "torch"), std::string::npos)
        << b.name << ": " << load.body;
    Reply st = daemon_->Get("/models/" + Encode(p.Id()));
    EXPECT_NE(st.body.find("FAILED"), std::string::npos) << b.name << ": " << st.body;
    ExpectEverywhere("local/hand@1.0.0", {x}, want);
  }
}

// A tensor of `dtype` and `shape` with reproducible bytes (valid values for every dtype: bool
// 0/1, floats from small integers).
client::Tensor Patterned(const std::string& name, const std::string& dtype,
                         std::vector<int64_t> shape, int seed) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  client::Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  const uint64_t size = client::DtypeSize(dtype);
  t.data.resize(n * size);
  for (size_t i = 0; i < n; ++i) {
    const int v = static_cast<int>((i * 7 + static_cast<size_t>(seed) * 13) % 23) - 11;
    uint8_t* p = t.data.data() + i * size;
    if (dtype == "float32") {
      const float f = static_cast<float>(v) * 0.25f;
      std::memcpy(p, &f, 4);
    } else if (dtype == "float64") {
      const double f = v * 0.125;
      std::memcpy(p, &f, 8);
    } else if (dtype == "float16") {
      const uint16_t h = static_cast<uint16_t>(0x3c00 + (v & 0x3f));  // 1.0 .. ~1.06
      std::memcpy(p, &h, 2);
    } else if (dtype == "bool") {
      *p = static_cast<uint8_t>(v & 1);
    } else {
      const int64_t x = dtype.rfind("uint", 0) == 0 ? v + 11 : v;
      std::memcpy(p, &x, size);  // little endian: the low bytes
    }
  }
  return t;
}

TEST_F(MlosdFrameworksTest, TfliteDtypesAndDynamicBatchEqualTheInterpreterCalledDirectly) {
  for (const char* f : {"tflite_add_f32.tflite", "tflite_add_i32.tflite", "tflite_add_i64.tflite",
                        "tflite_passthrough.tflite"}) {
    if (!fs::exists(kFixtures / f)) GTEST_SKIP() << "no TFLite fixture " << f;
  }
  // ADD on [-1, 4] (shape_signature): batch 3, then 1, then 5 on the same model.
  for (const auto& [file, dtype] : {std::pair{"tflite_add_f32.tflite", "float32"},
                                    std::pair{"tflite_add_i32.tflite", "int32"},
                                    std::pair{"tflite_add_i64.tflite", "int64"}}) {
    const std::string id = std::string("local/") + dtype + "-add@1.0.0";
    InstallAndRegister((kFixtures / file).string(), id);
    for (int64_t batch : {3, 1, 5}) {
      const std::vector<client::Tensor> in = {Patterned("a", dtype, {batch, 4}, 1),
                                              Patterned("b", dtype, {batch, 4}, 2)};
      std::vector<client::Tensor> want = TfliteDirect(kFixtures / file, in);
      ASSERT_EQ(want.size(), 1u);
      want[0].dtype = dtype;
      ExpectEverywhere(id, in, want);
    }
  }
  // Every other dtype TFLite has (and a scalar), through a model that passes inputs through.
  InstallAndRegister((kFixtures / "tflite_passthrough.tflite").string(), "local/passthrough@1.0.0");
  std::vector<client::Tensor> in;
  int seed = 0;
  for (const char* d : {"float16", "float64", "int8", "int16", "uint8", "uint16", "uint32",
                        "uint64", "bool"}) {
    in.push_back(Patterned(std::string("p_") + d, d, {2}, ++seed));
  }
  in.push_back(Patterned("p_scalar", "float32", {}, ++seed));
  std::vector<client::Tensor> want = TfliteDirect(kFixtures / "tflite_passthrough.tflite", in);
  ASSERT_EQ(want.size(), in.size());
  for (client::Tensor& w : want) {
    for (const client::Tensor& i : in) {
      if (i.name == w.name) w.dtype = i.dtype;
    }
  }
  ExpectEverywhere("local/passthrough@1.0.0", in, want);
}

// Both plugins also run in sandboxed workers (isolation: process) and answer what the
// frameworks called directly answer.
TEST_F(MlosdFrameworksTest, SandboxedWorkersServeTorchScriptAndTflite) {
  if (!fs::exists(kFixtures / "torch_traced.pt")) GTEST_SKIP() << "no TorchScript fixture";
  InstallAndRegister(kHandLite.string(), "local/hand@1.0.0");
  InstallAndRegister((kFixtures / "torch_traced.pt").string(), "local/traced@1.0.0",
                     "--input x:float32:-1,16 --output y:float32:-1,8");
  clients_.clear();
  ASSERT_EQ(daemon_->Stop(SIGTERM), 0);
  std::ofstream(tmp_.path() / "mlosd.yaml", std::ios::app) << "isolation:\n  default: process\n";
  daemon_ = std::make_unique<Daemon>(
      tmp_.path() / "state",
      std::vector<std::string>{"--config", (tmp_.path() / "mlosd.yaml").string()});
  ASSERT_TRUE(daemon_->Start());
  urls_ = {"http://127.0.0.1:" + std::to_string(daemon_->port())};
  clients_.push_back(Connect(urls_[0]));
  ASSERT_EQ(daemon_->Post("/models/local%2Fhand%401.0.0/load").status, 200) << daemon_->Log();
  Reply st = daemon_->Get("/models/local%2Fhand%401.0.0");
  if (st.body.find("\"isolation\":\"process\"") == std::string::npos) {
    GTEST_SKIP() << "no sandbox on this machine: " << st.body;
  }
  const client::Tensor x = RandomF32("input_1", {1, 224, 224, 3}, 5);
  ExpectEverywhere("local/hand@1.0.0", {x}, TfliteDirect(kHandLite, {x}));
  Reply load = daemon_->Post("/models/local%2Ftraced%401.0.0/load");
  ASSERT_EQ(load.status, 200) << load.body << daemon_->Log();
  ExpectEverywhere("local/traced@1.0.0", {Npy(kFixtures, "torch_traced.x")},
                   {Npy(kFixtures, "torch_traced.y")});
  st = daemon_->Get("/models/local%2Ftraced%401.0.0");
  EXPECT_NE(st.body.find("\"isolation\":\"process\""), std::string::npos) << st.body;
  EXPECT_NE(st.body.find("\"worker_pid\""), std::string::npos) << st.body;
}

}  // namespace
}  // namespace mlostest
