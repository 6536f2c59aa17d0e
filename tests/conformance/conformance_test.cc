// Protocol conformance: one set of cases, run over every way a client reaches mlosd:
//
//   HttpJson    KServe v2 REST, pure JSON bodies (this file's own client, conformance_harness.h)
//   HttpBinary  KServe v2 REST with the binary tensor extension (the C++ SDK, http://)
//   Grpc        KServe v2 GRPCInferenceService (the C++ SDK, grpc://)
//   IpcInline   MLOS IPC frames, tensors inline (the C++ SDK, unix://)
//   IpcShm      MLOS IPC frames, numeric inputs and outputs in a registered memfd region
//               (BYTES tensors stay inline: the IPC protocol carries them inline only)
//
// One real daemon serves the whole suite (all three listeners at once); the fixture models are
// registered and loaded over the HTTP API before the first case.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <climits>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "conformance_harness.h"
#include "mlos/client.h"

namespace {

namespace fs = std::filesystem;
using conformance::FullDaemon;
using mlos::StatusCode;
using mlos::client::Client;
using mlos::client::InferRequest;
using mlos::client::InferResult;
using mlos::client::OutputSpec;
using mlos::client::Tensor;

enum class Path { kHttpJson, kHttpBinary, kGrpc, kIpcInline, kIpcShm };
constexpr Path kAllPaths[] = {Path::kHttpJson, Path::kHttpBinary, Path::kGrpc, Path::kIpcInline,
                              Path::kIpcShm};

const char* PathName(Path p) {
  switch (p) {
    case Path::kHttpJson: return "HttpJson";
    case Path::kHttpBinary: return "HttpBinary";
    case Path::kGrpc: return "Grpc";
    case Path::kIpcInline: return "IpcInline";
    case Path::kIpcShm: return "IpcShm";
  }
  return "?";
}

const char* const kDtypes[] = {"float32", "float64", "float16", "bfloat16", "int8",
                               "int16",   "int32",   "int64",   "uint8",    "uint16",
                               "uint32",  "uint64",  "bool",    "string"};

// What the model serves: names of every output and which of them are strings.
struct ModelOutputs {
  std::vector<std::string> all;
  std::set<std::string> strings;
};

const std::map<std::string, ModelOutputs>& OutputsOf() {
  static const std::map<std::string, ModelOutputs> m = [] {
    std::map<std::string, ModelOutputs> out;
    out["test/identity"] = {{"output"}, {}};
    out["test/add"] = {{"sum"}, {}};
    out["test/mlp"] = {{"logits", "probs"}, {}};
    out["test/scalar_empty"] = {{"scalar_out", "empty_out"}, {}};
    ModelOutputs d;
    for (const char* t : kDtypes) d.all.push_back(std::string("out_") + t);
    d.strings.insert("out_string");
    out["test/dtypes"] = d;
    return out;
  }();
  return m;
}

// A connection over one path (each thread of the concurrency case opens its own).
class Conn {
 public:
  static std::unique_ptr<Conn> Open(Path path, const FullDaemon& d) {
    auto c = std::make_unique<Conn>();
    c->path_ = path;
    c->http_port_ = d.http_port();
    std::string url;
    switch (path) {
      case Path::kHttpJson: return c;  // conformance::JsonInfer, a curl handle per request
      case Path::kHttpBinary: url = "http://127.0.0.1:" + std::to_string(d.http_port()); break;
      case Path::kGrpc: url = "grpc://127.0.0.1:" + std::to_string(d.grpc_port()); break;
      case Path::kIpcInline:
      case Path::kIpcShm: url = "unix://" + d.ipc_path(); break;
    }
    auto client = Client::Connect(url);
    if (!client.ok()) {
      ADD_FAILURE() << PathName(path) << ": Connect(" << url << "): " << client.status().ToString();
      return nullptr;
    }
    c->client_ = std::move(client).value();
    return c;
  }

  mlos::Result<InferResult> Infer(const InferRequest& req) {
    switch (path_) {
      case Path::kHttpJson: return conformance::JsonInfer(http_port_, req);
      case Path::kIpcShm: {
        auto it = OutputsOf().find(req.model);
        static const ModelOutputs kNone;
        const ModelOutputs& outs = it == OutputsOf().end() ? kNone : it->second;
        return conformance::ShmInfer(*client_, req, outs.all, outs.strings);
      }
      default: return client_->Infer(req);
    }
  }

 private:
  Path path_ = Path::kHttpJson;
  uint16_t http_port_ = 0;
  std::unique_ptr<Client> client_;
};

InferRequest Request(std::string model, std::vector<Tensor> inputs,
                     std::vector<std::string> outputs = {}) {
  InferRequest r;
  r.model = std::move(model);
  r.version = "1.0.0";
  r.inputs = std::move(inputs);
  for (auto& o : outputs) r.outputs.push_back(OutputSpec{std::move(o), {}});
  return r;
}

std::vector<float> MlpInput(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 2.5);
  return v;
}

// Two elements of every dtype, chosen to hit edges (extremes, denormals, UTF-8, "").
Tensor DtypeTensor(const std::string& dtype) {
  const std::string name = "in_" + dtype;
  if (dtype == "float32") {
    return Tensor::From<float>(name, dtype, {2}, {3.14159274f, -1.0e-38f});
  }
  if (dtype == "float64") return Tensor::From<double>(name, dtype, {2}, {M_PI, -1.5e300});
  if (dtype == "float16") return Tensor::From<uint16_t>(name, dtype, {2}, {0x3C01, 0x8001});
  if (dtype == "bfloat16") return Tensor::From<uint16_t>(name, dtype, {2}, {0x3F81, 0xC2F7});
  if (dtype == "int8") return Tensor::From<int8_t>(name, dtype, {2}, {-128, 127});
  if (dtype == "int16") return Tensor::From<int16_t>(name, dtype, {2}, {-32768, 32767});
  if (dtype == "int32") return Tensor::From<int32_t>(name, dtype, {2}, {INT32_MIN, INT32_MAX});
  if (dtype == "int64") return Tensor::From<int64_t>(name, dtype, {2}, {INT64_MIN, INT64_MAX});
  if (dtype == "uint8") return Tensor::From<uint8_t>(name, dtype, {2}, {0, 255});
  if (dtype == "uint16") return Tensor::From<uint16_t>(name, dtype, {2}, {1, 65535});
  if (dtype == "uint32") return Tensor::From<uint32_t>(name, dtype, {2}, {1, UINT32_MAX});
  if (dtype == "uint64") return Tensor::From<uint64_t>(name, dtype, {2}, {1, UINT64_MAX});
  if (dtype == "bool") return Tensor::From<uint8_t>(name, dtype, {2}, {1, 0});
  Tensor t;
  t.name = name;
  t.dtype = "string";
  t.shape = {2};
  t.strings = {"", "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x9A\x80"};
  return t;
}

std::string Hex(const std::vector<uint8_t>& b) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += k[c >> 4];
    s += k[c & 15];
  }
  return s;
}

class Conformance : public ::testing::TestWithParam<Path> {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    if (!mlostest::Prerequisites(&why)) {
      skip_ = why;
      return;
    }
    dir_ = new mlostest::TempDir();
    // Limits raised for the >= 64 MB case (two 32 MiB inputs, and ~100 MB of JSON text).
    const fs::path config = dir_->path() / "mlosd.yaml";
    // MLOS_CONFORMANCE_ISOLATION=process|strict: every model runs in a sandboxed worker (a
    // second ctest run of this suite), except mlp_ref, the in-process reference.
    std::ofstream(config) << "http:\n  max_body_bytes: 1073741824\n  request_timeout_s: 600\n"
                             "grpc:\n  max_message_bytes: 1073741824\n"
                          << (Isolation().empty()
                                  ? std::string()
                                  : "isolation:\n  default: " + Isolation() +
                                        "\n  models: {\"test/mlp_ref\": in_process}\n");
    daemon_ = new FullDaemon();
    auto started = daemon_->Start(dir_->path(), config);
    if (!started) {
      setup_error_ = started.message();
      return;
    }
    auto admin = Client::Connect("http://127.0.0.1:" + std::to_string(daemon_->http_port()));
    if (!admin.ok()) {
      setup_error_ = admin.status().ToString();
      return;
    }
    const fs::path pkgs = dir_->path() / "packages";
    std::vector<mlostest::Package> packages;
    packages.push_back(mlostest::MlpPackage());
    mlostest::Package ref = mlostest::MlpPackage();
    ref.name = "mlp_ref";
    packages.push_back(ref);
    auto simple = [](std::string name, const char* file) {
      mlostest::Package p;
      p.name = std::move(name);
      p.file_contents = mlostest::ReadFileBytes(mlostest::kFixtures / file);
      return p;
    };
    packages.push_back(simple("identity", "identity_f32.onnx"));
    packages.push_back(simple("add", "add.onnx"));
    packages.push_back(simple("dtypes", "dtypes.onnx"));
    packages.push_back(simple("scalar_empty", "scalar_and_empty.onnx"));
    for (const mlostest::Package& p : packages) {
      const fs::path pdir = mlostest::WritePackage(pkgs, p);
      mlos::client::RegisterRequest rr;
      rr.model_id = p.Id();
      rr.name = p.name;
      rr.framework = p.framework;
      rr.execution_format = p.execution_format;
      rr.path = pdir.string();
      auto reg = (*admin)->Register(rr);
      if (!reg.ok()) {
        setup_error_ = "register " + p.Id() + ": " + reg.status().ToString();
        return;
      }
      auto load = (*admin)->Load(p.Id());
      if (!load.ok()) {
        setup_error_ = "load " + p.Id() + ": " + load.status().ToString();
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_ << "\nmlosd log:\n"
                                      << (daemon_ ? daemon_->Log() : "");
    conn_ = Conn::Open(GetParam(), *daemon_);
    ASSERT_NE(conn_, nullptr);
  }

  mlos::Result<InferResult> Infer(const InferRequest& r) { return conn_->Infer(r); }

  // Asserts the request fails with `code` and a message containing `core`; and that the
  // HTTP-binary path (the reference) gives the same category and the same message.
  void ExpectError(const InferRequest& req, StatusCode code, const std::string& core) {
    auto r = Infer(req);
    ASSERT_FALSE(r.ok()) << PathName(GetParam()) << ": request unexpectedly succeeded";
    EXPECT_EQ(r.status().code(), code)
        << PathName(GetParam()) << ": " << r.status().ToString() << " (want "
        << mlos::StatusCodeName(code) << ")";
    EXPECT_NE(r.status().message().find(core), std::string::npos)
        << PathName(GetParam()) << ": message \"" << r.status().message()
        << "\" lacks the core message \"" << core << "\"";
    RecordProperty("message", r.status().message());
    auto ref = Conn::Open(Path::kHttpBinary, *daemon_);
    ASSERT_NE(ref, nullptr);
    auto rr = ref->Infer(req);
    ASSERT_FALSE(rr.ok());
    EXPECT_EQ(rr.status().code(), r.status().code())
        << "category differs from HTTP-binary: " << rr.status().ToString() << " vs "
        << r.status().ToString();
    // Every front-end passes the core's message through unchanged.
    EXPECT_EQ(r.status().message(), rr.status().message())
        << PathName(GetParam()) << " vs HttpBinary";
  }

  // "" (in-process), "process" or "strict".
  static std::string Isolation() {
    const char* v = std::getenv("MLOS_CONFORMANCE_ISOLATION");
    return v ? v : "";
  }

  static inline std::string skip_;
  static inline std::string setup_error_;
  static inline mlostest::TempDir* dir_ = nullptr;
  static inline FullDaemon* daemon_ = nullptr;
  std::unique_ptr<Conn> conn_;
};

// ---- data ----

TEST_P(Conformance, EveryDtypeRoundTripsBitExact) {
  std::vector<Tensor> inputs;
  for (const char* d : kDtypes) inputs.push_back(DtypeTensor(d));
  auto r = Infer(Request("test/dtypes", inputs));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outputs.size(), std::size(kDtypes));
  for (const Tensor& in : inputs) {
    const std::string dtype = in.dtype;
    SCOPED_TRACE(dtype);
    const Tensor* out = r->Find("out_" + dtype);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out->dtype, dtype);
    EXPECT_EQ(out->shape, (std::vector<int64_t>{2}));
    if (dtype == "string") {
      EXPECT_EQ(out->strings, in.strings);
    } else {
      EXPECT_EQ(Hex(out->data), Hex(in.data));
    }
  }
}

// NaN (with a payload), infinities and negative zero in every float type. JSON cannot spell NaN
// or Infinity (RFC 8259 numbers are finite), so the KServe JSON path is skipped for the
// non-finite half; negative zero is a JSON number and is checked on every path.
TEST_P(Conformance, NonFiniteAndNegativeZeroFloats) {
  const bool json = GetParam() == Path::kHttpJson;
  std::vector<Tensor> inputs;
  for (const char* d : kDtypes) inputs.push_back(DtypeTensor(d));
  auto set = [&](const std::string& dtype, Tensor t) {
    for (Tensor& in : inputs) {
      if (in.dtype == dtype) in = std::move(t);
    }
  };
  const float nan_payload = std::bit_cast<float>(0x7fc00123u);
  if (json) {
    set("float32", Tensor::From<float>("in_float32", "float32", {2}, {-0.0f, 0.0f}));
    set("float64", Tensor::From<double>("in_float64", "float64", {2}, {-0.0, 0.0}));
    set("float16", Tensor::From<uint16_t>("in_float16", "float16", {2}, {0x8000, 0x0000}));
    set("bfloat16", Tensor::From<uint16_t>("in_bfloat16", "bfloat16", {2}, {0x8000, 0x0000}));
  } else {
    set("float32", Tensor::From<float>("in_float32", "float32", {2}, {nan_payload, -INFINITY}));
    set("float64", Tensor::From<double>("in_float64", "float64", {2}, {-0.0, INFINITY}));
    set("float16", Tensor::From<uint16_t>("in_float16", "float16", {2}, {0x7e01, 0xfc00}));
    set("bfloat16", Tensor::From<uint16_t>("in_bfloat16", "bfloat16", {2}, {0xffc1, 0x8000}));
  }
  auto r = Infer(Request("test/dtypes", inputs));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const char* d : {"float32", "float64", "float16", "bfloat16"}) {
    SCOPED_TRACE(d);
    const Tensor* out = r->Find(std::string("out_") + d);
    ASSERT_NE(out, nullptr);
    for (const Tensor& in : inputs) {
      if (in.dtype == d) {
        EXPECT_EQ(Hex(out->data), Hex(in.data));
      }
    }
  }
  if (json) GTEST_SKIP() << "NaN/Infinity are not representable in KServe JSON (RFC 8259)";
}

TEST_P(Conformance, ScalarAndEmptyTensors) {
  Tensor scalar = Tensor::From<float>("scalar", "float32", {}, {42.5f});
  Tensor empty = Tensor::From<float>("empty", "float32", {0, 3}, {});
  auto r = Infer(Request("test/scalar_empty", {scalar, empty}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Tensor* s = r->Find("scalar_out");
  const Tensor* e = r->Find("empty_out");
  ASSERT_NE(s, nullptr);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(s->dtype, "float32");
  EXPECT_TRUE(s->shape.empty()) << "scalar came back with rank " << s->shape.size();
  EXPECT_EQ(s->As<float>(), std::vector<float>{42.5f});
  EXPECT_EQ(e->dtype, "float32");
  EXPECT_EQ(e->shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(e->data.empty());
}

TEST_P(Conformance, LargeTensorsOver64MB) {
  // add.onnx: two [2796203, 3] float32 inputs (32 MiB + 12 bytes each, 64 MiB together).
  const int64_t batch = 2796203;
  const size_t n = static_cast<size_t>(batch) * 3;
  std::vector<float> a(n), b(n), sum(n);
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i % 1000) * 0.5f;
    b[i] = static_cast<float>(i % 7) - 3.0f;
    sum[i] = a[i] + b[i];
  }
  InferRequest req = Request("test/add", {Tensor::From<float>("a", "float32", {batch, 3}, a),
                                          Tensor::From<float>("b", "float32", {batch, 3}, b)});
  a.clear();
  a.shrink_to_fit();
  b.clear();
  b.shrink_to_fit();
  ASSERT_GE(req.inputs[0].data.size() + req.inputs[1].data.size(), 64ull << 20);
  auto r = Infer(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Tensor* out = r->Find("sum");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->shape, (std::vector<int64_t>{batch, 3}));
  ASSERT_EQ(out->data.size(), n * sizeof(float));
  const std::string want = mlos::Sha256Hex(
      std::string_view(reinterpret_cast<const char*>(sum.data()), n * sizeof(float)));
  const std::string got = mlos::Sha256Hex(
      std::string_view(reinterpret_cast<const char*>(out->data.data()), out->data.size()));
  EXPECT_EQ(got, want) << "sha256 of the 32 MiB sum differs";
}

TEST_P(Conformance, SeveralInputsAndOutputs) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {0.5f, -2, 10, 1e6f, -1e-3f, 0};
  auto r = Infer(Request("test/add", {Tensor::From<float>("a", "float32", {2, 3}, a),
                                      Tensor::From<float>("b", "float32", {2, 3}, b)}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Tensor* sum = r->Find("sum");
  ASSERT_NE(sum, nullptr);
  std::vector<float> want(6);
  for (int i = 0; i < 6; ++i) want[i] = a[i] + b[i];
  EXPECT_EQ(sum->As<float>(), want);

  auto m = Infer(Request("test/mlp", {Tensor::From<float>("input", "float32", {3, 16},
                                                          MlpInput(3))}));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->outputs.size(), 2u);
  const Tensor* logits = m->Find("logits");
  const Tensor* probs = m->Find("probs");
  ASSERT_NE(logits, nullptr);
  ASSERT_NE(probs, nullptr);
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(probs->shape, (std::vector<int64_t>{3, 4}));
  const std::vector<float> p = probs->As<float>();
  ASSERT_EQ(p.size(), 12u);
  for (int row = 0; row < 3; ++row) {
    float s = 0;
    for (int j = 0; j < 4; ++j) s += p[row * 4 + j];
    EXPECT_NEAR(s, 1.0f, 1e-5) << "probs row " << row << " is not a distribution";
  }
}

TEST_P(Conformance, RequestedSubsetOfOutputs) {
  auto r = Infer(Request("test/mlp",
                         {Tensor::From<float>("input", "float32", {2, 16}, MlpInput(2))},
                         {"probs"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].name, "probs");
  EXPECT_EQ(r->outputs[0].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(r->outputs[0].data.size(), 2u * 4 * sizeof(float));
}

// The same mlp request gives byte-identical outputs on this path and on every other path.
TEST_P(Conformance, MlpOutputsIdenticalAcrossAllPaths) {
  const InferRequest req =
      Request("test/mlp", {Tensor::From<float>("input", "float32", {4, 16}, MlpInput(4))});
  auto mine = Infer(req);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  for (Path other : kAllPaths) {
    SCOPED_TRACE(std::string("vs ") + PathName(other));
    auto c = Conn::Open(other, *daemon_);
    ASSERT_NE(c, nullptr);
    auto theirs = c->Infer(req);
    ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
    for (const char* name : {"logits", "probs"}) {
      const Tensor* a = mine->Find(name);
      const Tensor* b = theirs->Find(name);
      ASSERT_NE(a, nullptr) << name;
      ASSERT_NE(b, nullptr) << name;
      EXPECT_EQ(a->dtype, b->dtype) << name;
      EXPECT_EQ(a->shape, b->shape) << name;
      EXPECT_EQ(Hex(a->data), Hex(b->data)) << name;
    }
  }
}

// With isolation on, the sandboxed MLP's outputs are bit-identical to the in-process reference
// (the same model registered as test/mlp_ref, which the config keeps in-process).
TEST_P(Conformance, SandboxedOutputsBitIdenticalToInProcess) {
  if (Isolation().empty()) GTEST_SKIP() << "in-process run (MLOS_CONFORMANCE_ISOLATION unset)";
  for (int rows : {1, 4, 33}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    auto mine = Infer(Request(
        "test/mlp", {Tensor::From<float>("input", "float32", {rows, 16}, MlpInput(rows))}));
    auto ref = Infer(Request(
        "test/mlp_ref", {Tensor::From<float>("input", "float32", {rows, 16}, MlpInput(rows))}));
    ASSERT_TRUE(mine.ok()) << mine.status().ToString();
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    for (const char* name : {"logits", "probs"}) {
      ASSERT_NE(mine->Find(name), nullptr);
      ASSERT_NE(ref->Find(name), nullptr);
      EXPECT_EQ(Hex(mine->Find(name)->data), Hex(ref->Find(name)->data)) << name;
    }
  }
}

TEST_P(Conformance, ConcurrentClients) {
  constexpr int kThreads = 8, kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = Conn::Open(GetParam(), *daemon_);
      if (!c) {
        failures[t] = "connect failed";
        return;
      }
      for (int i = 0; i < kRequests; ++i) {
        const int rows = 1 + (t + i) % 4;
        std::vector<float> a(rows * 3), b(rows * 3), want(rows * 3);
        for (int k = 0; k < rows * 3; ++k) {
          a[k] = static_cast<float>(t * 1000 + i) + 0.25f * k;
          b[k] = static_cast<float>(k) - 0.5f * t;
          want[k] = a[k] + b[k];
        }
        auto r = c->Infer(Request("test/add", {Tensor::From<float>("a", "float32", {rows, 3}, a),
                                               Tensor::From<float>("b", "float32", {rows, 3}, b)}));
        if (!r.ok()) {
          failures[t] = "request " + std::to_string(i) + ": " + r.status().ToString();
          return;
        }
        const Tensor* s = r->Find("sum");
        if (!s || s->shape != std::vector<int64_t>{rows, 3} || s->As<float>() != want) {
          failures[t] = "request " + std::to_string(i) + ": wrong sum";
          return;
        }
        ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

// ---- errors: same category and core message on every path ----

Tensor IdentityInput(std::vector<int64_t> shape = {1, 4}) {
  std::vector<float> v(static_cast<size_t>(mlos::client::ElementCount(shape)), 1.5f);
  return Tensor::From<float>("input", "float32", std::move(shape), v);
}

TEST_P(Conformance, ErrorUnknownModel) {
  InferRequest r = Request("test/nope", {IdentityInput()});
  ExpectError(r, StatusCode::kNotFound, "model test/nope is not registered");
}

TEST_P(Conformance, ErrorUnknownVersion) {
  InferRequest r = Request("test/identity", {IdentityInput()});
  r.version = "9.9.9";
  ExpectError(r, StatusCode::kNotFound, "model test/identity@9.9.9 is not registered");
}

TEST_P(Conformance, ErrorWrongDtype) {
  Tensor t = Tensor::From<int64_t>("input", "int64", {1, 4}, {1, 2, 3, 4});
  ExpectError(Request("test/identity", {t}), StatusCode::kInvalidArgument,
              "input \"input\": expected float32, got int64");
}

TEST_P(Conformance, ErrorWrongRank) {
  ExpectError(Request("test/identity", {IdentityInput({4})}), StatusCode::kInvalidArgument,
              "input \"input\": expected rank 2, got 1");
}

TEST_P(Conformance, ErrorWrongFixedDim) {
  ExpectError(Request("test/identity", {IdentityInput({1, 5})}), StatusCode::kInvalidArgument,
              "input \"input\": dim 1 must be 4, got 5");
}

TEST_P(Conformance, ErrorMissingInput) {
  Tensor a = Tensor::From<float>("a", "float32", {1, 3}, {1, 2, 3});
  ExpectError(Request("test/add", {a}), StatusCode::kInvalidArgument, "missing input \"b\"");
}

TEST_P(Conformance, ErrorUnknownInput) {
  Tensor bogus = Tensor::From<float>("bogus", "float32", {1, 4}, {1, 2, 3, 4});
  ExpectError(Request("test/identity", {IdentityInput(), bogus}), StatusCode::kInvalidArgument,
              "unknown input \"bogus\"");
}

TEST_P(Conformance, ErrorUnknownOutput) {
  ExpectError(Request("test/identity", {IdentityInput()}, {"nope"}),
              StatusCode::kInvalidArgument, "unknown output \"nope\"");
}

INSTANTIATE_TEST_SUITE_P(Paths, Conformance, ::testing::ValuesIn(kAllPaths),
                         [](const ::testing::TestParamInfo<Path>& i) {
                           return std::string(PathName(i.param));
                         });

}  // namespace
