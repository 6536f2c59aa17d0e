// KServe Open Inference Protocol v2 against the real mlosd: metadata, readiness, repository
// routes, JSON and binary-tensor inference with outputs compared bit-exactly to ONNX Runtime
// called directly (default session options on both sides), and the Prometheus metrics.
#include <dlfcn.h>

#include <cstring>

#include "../../third_party/onnxruntime/include/onnxruntime_c_api.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

// Runs the mlp fixture in ONNX Runtime directly (loaded with dlopen, default options).
class DirectOrt {
 public:
  DirectOrt() {
    handle_ = dlopen((fs::path(MLOS_SOURCE_DIR) / "third_party/onnxruntime/lib/libonnxruntime.so.1")
                         .c_str(),
                     RTLD_NOW | RTLD_LOCAL);
    if (!handle_) return;
    auto get = reinterpret_cast<const OrtApiBase* (*)()>(dlsym(handle_, "OrtGetApiBase"));
    if (!get) return;
    api_ = get()->GetApi(ORT_API_VERSION);
  }
  bool ok() const { return api_ != nullptr; }

  // Returns {logits, probs} for `input` of shape [batch, 16].
  std::vector<std::vector<float>> RunMlp(const std::vector<float>& input) {
    OrtEnv* env = nullptr;
    OrtSessionOptions* so = nullptr;
    OrtSession* session = nullptr;
    OrtMemoryInfo* mem = nullptr;
    Check(api_->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "test", &env));
    Check(api_->CreateSessionOptions(&so));
    Check(api_->CreateSession(env, (kFixtures / "mlp.onnx").c_str(), so, &session));
    Check(api_->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem));
    const int64_t shape[2] = {static_cast<int64_t>(input.size() / 16), 16};
    OrtValue* in = nullptr;
    Check(api_->CreateTensorWithDataAsOrtValue(mem, const_cast<float*>(input.data()),
                                               input.size() * 4, shape, 2,
                                               ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &in));
    const char* in_names[] = {"input"};
    const char* out_names[] = {"logits", "probs"};
    OrtValue* outs[2] = {nullptr, nullptr};
    Check(api_->Run(session, nullptr, in_names, &in, 1, out_names, 2, outs));
    std::vector<std::vector<float>> result;
    for (OrtValue* o : outs) {
      float* p = nullptr;
      Check(api_->GetTensorMutableData(o, reinterpret_cast<void**>(&p)));
      result.emplace_back(p, p + input.size() / 16 * 4);
      api_->ReleaseValue(o);
    }
    api_->ReleaseValue(in);
    api_->ReleaseMemoryInfo(mem);
    api_->ReleaseSession(session);
    api_->ReleaseSessionOptions(so);
    api_->ReleaseEnv(env);
    return result;
  }

 private:
  void Check(OrtStatus* st) {
    if (st) {
      ADD_FAILURE() << "onnxruntime: " << api_->GetErrorMessage(st);
      api_->ReleaseStatus(st);
    }
  }
  void* handle_ = nullptr;
  const OrtApi* api_ = nullptr;
};

std::vector<float> Input(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 3.1);
  return v;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

class MlosdKServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) {
      GTEST_SKIP() << why;
    }
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state");
    ASSERT_TRUE(daemon_->Start());
    Package m = MlpPackage();
    Reply reg = daemon_->Post("/models/register",
                              RegisterBody(m, WritePackage(tmp_.path() / "pkgs", m)));
    ASSERT_EQ(reg.status, 200) << reg.body;
  }
  void TearDown() override {
    if (daemon_ && daemon_->port()) {
      EXPECT_EQ(daemon_->Stop(SIGTERM), 0) << daemon_->Log();
    }
  }
  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  const std::string name_ = Encode("test/mlp");
};

TEST_F(MlosdKServeTest, MetadataReadinessAndRepository) {
  Reply md = daemon_->Get("/v2/models/" + name_);
  ASSERT_EQ(md.status, 200) << md.body;
  json j = md.Json();
  EXPECT_EQ(j["name"], "test/mlp");
  EXPECT_EQ(j["versions"], json::parse(R"(["1.0.0"])"));
  ASSERT_EQ(j["inputs"].size(), 1u);
  EXPECT_EQ(j["inputs"][0]["name"], "input");
  EXPECT_EQ(j["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["inputs"][0]["shape"], json::parse("[-1,16]"));
  EXPECT_EQ(j["outputs"].size(), 2u);
  EXPECT_EQ(daemon_->Get("/v2/models/" + name_ + "/versions/1.0.0").status, 200);
  EXPECT_EQ(daemon_->Get("/v2/models/" + name_ + "/versions/9.9.9").status, 404);
  EXPECT_EQ(daemon_->Get("/v2/models/" + Encode("test/none")).status, 404);

  EXPECT_EQ(daemon_->Get("/v2/models/" + name_ + "/ready").status, 503);
  Reply load = daemon_->Post("/v2/repository/models/" + name_ + "/load");
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(daemon_->Get("/v2/models/" + name_ + "/versions/1.0.0/ready").status, 200);
  Reply idx = daemon_->Post("/v2/repository/index");
  ASSERT_EQ(idx.status, 200);
  ASSERT_TRUE(idx.Json().is_array());
  EXPECT_EQ(idx.Json()[0]["name"], "test/mlp");
  EXPECT_EQ(idx.Json()[0]["version"], "1.0.0");
  EXPECT_EQ(idx.Json()[0]["state"], "READY");
  EXPECT_EQ(daemon_->Post("/v2/repository/models/" + name_ + "/unload").status, 200);
  EXPECT_EQ(daemon_->Get("/v2/models/" + name_ + "/ready").status, 503);
}

TEST_F(MlosdKServeTest, JsonInferenceMatchesOnnxRuntime) {
  DirectOrt ort;
  ASSERT_TRUE(ort.ok());
  const std::vector<float> x = Input(3);
  const auto want = ort.RunMlp(x);
  json req = {{"id", "req-1"},
              {"inputs", json::array({{{"name", "input"},
                                       {"shape", {3, 16}},
                                       {"datatype", "FP32"},
                                       {"data", x}}})}};
  Reply r = daemon_->Post("/v2/models/" + name_ + "/versions/1.0.0/infer", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["model_name"], "test/mlp");
  EXPECT_EQ(j["model_version"], "1.0.0");
  EXPECT_EQ(j["id"], "req-1");
  ASSERT_EQ(j["outputs"].size(), 2u);
  for (const json& o : j["outputs"]) {
    const size_t k = o["name"] == "logits" ? 0 : 1;
    EXPECT_EQ(o["datatype"], "FP32");
    EXPECT_EQ(o["shape"], json::parse("[3,4]"));
    std::vector<float> got;
    for (const json& v : o["data"]) got.push_back(static_cast<float>(v.get<double>()));
    EXPECT_TRUE(BitEqual(got, want[k])) << o.dump();
  }
  // Nested data and a requested output subset.
  json nested = {{"inputs", json::array({{{"name", "input"},
                                          {"shape", {1, 16}},
                                          {"datatype", "FP32"},
                                          {"data", json::array({Input(1)})}}})},
                 {"outputs", json::array({{{"name", "probs"}}})}};
  Reply r2 = daemon_->Post("/v2/models/" + name_ + "/infer", nested.dump());
  ASSERT_EQ(r2.status, 200) << r2.body;
  ASSERT_EQ(r2.Json()["outputs"].size(), 1u);
  EXPECT_EQ(r2.Json()["outputs"][0]["name"], "probs");
}

TEST_F(MlosdKServeTest, BinaryInferenceMatchesOnnxRuntime) {
  DirectOrt ort;
  ASSERT_TRUE(ort.ok());
  const std::vector<float> x = Input(2);
  const auto want = ort.RunMlp(x);
  json header = {{"inputs", json::array({{{"name", "input"},
                                          {"shape", {2, 16}},
                                          {"datatype", "FP32"},
                                          {"parameters", {{"binary_data_size", 128}}}}})},
                 {"outputs", json::array({{{"name", "logits"},
                                           {"parameters", {{"binary_data", true}}}},
                                          {{"name", "probs"},
                                           {"parameters", {{"binary_data", true}}}}})}};
  const std::string h = header.dump();
  std::string body = h;
  body.append(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  Reply r = daemon_->Post("/v2/models/" + name_ + "/infer", body,
                          {{"Content-Type", "application/octet-stream"},
                           {"Inference-Header-Content-Length", std::to_string(h.size())}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.headers["content-type"], "application/octet-stream");
  ASSERT_TRUE(r.headers.count("inference-header-content-length"));
  const size_t hl = std::stoull(r.headers["inference-header-content-length"]);
  json rh = json::parse(r.body.substr(0, hl));
  size_t offset = hl;
  for (const json& o : rh["outputs"]) {
    const size_t k = o["name"] == "logits" ? 0 : 1;
    const size_t n = o["parameters"]["binary_data_size"].get<size_t>();
    ASSERT_EQ(n, 32u);
    ASSERT_LE(offset + n, r.body.size());
    std::vector<float> got(n / 4);
    std::memcpy(got.data(), r.body.data() + offset, n);
    offset += n;
    EXPECT_TRUE(BitEqual(got, want[k])) << o.dump();
  }
  EXPECT_EQ(offset, r.body.size());

  // binary_data_output for every output; mismatched binary size is a 400.
  json all = header;
  all.erase("outputs");
  all["parameters"] = {{"binary_data_output", true}};
  const std::string h2 = all.dump();
  std::string body2 = h2;
  body2.append(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  Reply r2 = daemon_->Post("/v2/models/" + name_ + "/infer", body2,
                           {{"Inference-Header-Content-Length", std::to_string(h2.size())}});
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body.size(), std::stoull(r2.headers["inference-header-content-length"]) + 64);
  Reply bad = daemon_->Post("/v2/models/" + name_ + "/infer", body2.substr(0, body2.size() - 4),
                            {{"Inference-Header-Content-Length", std::to_string(h2.size())}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Error().find("binary"), std::string::npos) << bad.Error();
}

TEST_F(MlosdKServeTest, MetricsCountRequestsErrorsAndStates) {
  json req = {{"inputs", json::array({{{"name", "input"},
                                       {"shape", {1, 16}},
                                       {"datatype", "FP32"},
                                       {"data", Input(1)}}})}};
  ASSERT_EQ(daemon_->Post("/v2/models/" + name_ + "/infer", req.dump()).status, 200);
  ASSERT_EQ(daemon_->Post("/v2/models/" + name_ + "/infer", req.dump()).status, 200);
  req["inputs"][0]["shape"] = {1, 15};
  ASSERT_EQ(daemon_->Post("/v2/models/" + name_ + "/infer", req.dump()).status, 400);
  Reply m = daemon_->Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  const std::string& t = m.body;
  EXPECT_NE(
      t.find(R"(mlos_requests_total{code="OK",model="test/mlp@1.0.0",protocol="http"} 2)"),
      std::string::npos)
      << t;
  EXPECT_NE(t.find(R"(mlos_requests_total{code="INVALID_ARGUMENT",model="test/mlp@1.0.0",)"
                   R"(protocol="http"} 1)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find(R"(mlos_request_errors_total{model="test/mlp@1.0.0",protocol="http"} 1)"),
            std::string::npos);
  EXPECT_NE(t.find("mlos_request_duration_seconds_bucket{model=\"test/mlp@1.0.0\""),
            std::string::npos);
  EXPECT_NE(t.find("mlos_queue_duration_seconds_count{model=\"test/mlp@1.0.0\"}"),
            std::string::npos);
  EXPECT_NE(t.find("mlos_model_load_duration_seconds_count{model=\"test/mlp@1.0.0\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find(R"(mlos_model_state{model="test/mlp@1.0.0",state="READY"} 1)"),
            std::string::npos);
  EXPECT_NE(t.find("mlos_model_memory_bytes{model=\"test/mlp@1.0.0\"}"), std::string::npos);
}

}  // namespace
}  // namespace mlostest
