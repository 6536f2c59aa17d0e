// Api over a fake core: routing, status mapping and the JSON each route answers, without
// sockets or the real core.
#include <cstring>
#include <map>
#include <mutex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/http/api.h"
#include "service/metrics.h"

namespace mlos::http {
namespace {

using core::DataType;
using nlohmann::json;

core::Tensor MakeTensor(std::string name, core::DataType dtype,
                        std::vector<int64_t> shape = {}) {
  core::Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

// A core with one model, "ns/mlp@1" (input float32 [-1, 4] -> output "y" = input * 2), that
// records what it was asked.
class FakeCore : public core::Core {
 public:
  FakeCore() {
    model_.id = "ns/mlp@1";
    model_.name = "ns/mlp";
    model_.version = "1";
    model_.state = core::ModelState::kReady;
    model_.framework = "onnx";
    model_.execution_format = "onnx";
    model_.is_default = true;
    model_.inputs = {{"x", DataType::kFloat32, {-1, 4}}};
    model_.outputs = {{"y", DataType::kFloat32, {-1, 4}}};
  }
  void SetObserver(core::CoreObserver* o) override { observer_ = o; }
  Result<core::ModelStatus> Register(const core::RegisterRequest& r) override {
    last_register = r;
    if (r.path == "/missing") return NotFound("no manifest at /missing/manifest.yaml");
    return model_;
  }
  Status Unregister(const std::string& id) override {
    if (!Known(id)) return NotFound("model '" + id + "' is not registered");
    return FailedPrecondition("model '" + id + "' is needed by ns/other@1");
  }
  Result<core::ModelStatus> Load(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> Unload(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> SetDefault(const std::string& name, const std::string& v) override {
    return Lookup(name + "@" + v);
  }
  Result<core::ModelStatus> Rollback(const std::string& name) override {
    if (!Known(name)) return NotFound("model '" + name + "' is not registered");
    return FailedPrecondition("no previous default for " + name);
  }
  Result<core::ModelStatus> Pin(const std::string& id, bool pinned) override {
    MLOS_ASSIGN_OR_RETURN(core::ModelStatus m, Lookup(id));
    model_.pinned = pinned;
    m.pinned = pinned;
    return m;
  }
  std::vector<core::ModelStatus> List() const override { return {model_}; }
  Result<core::ModelStatus> Get(const std::string& id) const override { return Lookup(id); }
  std::vector<core::PluginStatus> Plugins() const override {
    return {{"onnx", "1.0", "onnx", {"onnx"}, {"thread_safe_infer"}, "/p/libonnx.so"}};
  }
  core::CoreStats Stats() const override {
    core::CoreStats s;
    s.requests = 3;
    s.errors = 1;
    s.models_registered = 1;
    s.models_ready = 1;
    s.uptime_s = 2.5;
    s.memory_budget_bytes = 1 << 30;
    s.memory_used_bytes = 300 << 20;
    s.memory_base_bytes = 100 << 20;
    s.evictions = 4;
    s.queues = {{"ns/mlp@1", 2, 7}};
    return s;
  }
  Result<core::InferResponse> Infer(core::InferRequest request) override {
    std::lock_guard lock(mu_);
    last_infer_model = request.model;
    last_infer_version = request.version;
    last_priority = request.priority;
    last_keep_alive = request.keep_alive;
    last_deadline = request.deadline;
    auto m = Lookup(request.version.empty() ? request.model
                                            : request.model + "@" + request.version);
    if (!m.ok()) return m.status();
    if (request.inputs.size() != 1 || request.inputs[0].name != "x") {
      return InvalidArgument("missing input 'x'");
    }
    const core::Tensor& in = request.inputs[0];
    if (in.dtype != DataType::kFloat32) return InvalidArgument("input 'x': wrong dtype");
    if (in.shape.size() != 2) return InvalidArgument("input 'x': wrong rank");
    if (in.shape[1] != 4) return InvalidArgument("input 'x': dim 1 must be 4");
    core::InferResponse r;
    r.model_id = m->id;
    r.model_name = m->name;
    r.model_version = m->version;
    core::Tensor y = MakeTensor("y", DataType::kFloat32, in.shape);
    y.data.resize(in.byte_size());
    const float* src = reinterpret_cast<const float*>(in.bytes());
    float* dst = reinterpret_cast<float*>(y.data.data());
    for (size_t i = 0; i < in.byte_size() / 4; ++i) dst[i] = src[i] * 2;
    r.outputs.push_back(std::move(y));
    if (observer_) observer_->OnInfer(m->id, request.protocol, true, 1, 2);
    return r;
  }
  void Shutdown() override {}

  core::RegisterRequest last_register;
  std::string last_infer_model, last_infer_version;
  int last_priority = -1;
  std::optional<std::chrono::milliseconds> last_keep_alive;
  std::optional<std::chrono::steady_clock::time_point> last_deadline;
  core::ModelStatus& model() { return model_; }

 private:
  bool Known(const std::string& id) const {
    return id == model_.id || id == model_.name || id == model_.name + "@latest";
  }
  Result<core::ModelStatus> Lookup(const std::string& id) const {
    if (!Known(id)) return NotFound("model '" + id + "' is not registered");
    return model_;
  }
  core::ModelStatus model_;
  core::CoreObserver* observer_ = nullptr;
  std::mutex mu_;
};

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : service_(core_, shm_, &metrics_, {.server_version = "9.9"}), api_(service_) {
    core_.SetObserver(&metrics_);
  }
  HttpResponse Call(Method m, std::string_view target, std::string_view body = "",
                    std::optional<uint64_t> ihcl = std::nullopt,
                    const api::RequestHeaders& headers = {}) {
    HttpRequest req;
    req.method = m;
    req.target = target;
    req.body = body;
    req.inference_header_length = ihcl;
    req.options = headers;
    HttpResponse res;
    api_.Handle(req, res);
    return res;
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  FakeCore core_;
  service::Metrics metrics_;
  service::ShmRegistry shm_;
  service::Service service_;
  Api api_;
};

TEST_F(ApiTest, HealthAndServerMetadata) {
  auto r = Call(Method::kGet, "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["status"], "healthy");
  auto v2 = Body(Call(Method::kGet, "/v2"));
  EXPECT_EQ(v2["name"], "mlos");
  EXPECT_EQ(v2["version"], "9.9");
  EXPECT_NE(v2["extensions"].dump().find("binary_tensor_data"), std::string::npos);
  EXPECT_EQ(Call(Method::kGet, "/v2/health/live").status, 200);
  EXPECT_EQ(Body(Call(Method::kGet, "/stats"))["requests"], 3);
  EXPECT_EQ(Body(Call(Method::kGet, "/plugins"))["plugins"][0]["name"], "onnx");
}

TEST_F(ApiTest, ErrorsAreJsonWithMappedStatus) {
  auto r = Call(Method::kGet, "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(Body(r).contains("error"));
  r = Call(Method::kPost, "/health");
  EXPECT_EQ(r.status, 405);
  EXPECT_STREQ(r.allow, "GET");
  r = Call(Method::kGet, "/models/ns%2Fnope%401");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(Body(r)["error"].get<std::string>().find("ns/nope@1"), std::string::npos);
  EXPECT_EQ(Call(Method::kDelete, "/models/ns%2Fmlp%401").status, 409);
  EXPECT_EQ(Call(Method::kPost, "/models/ns%2Fmlp/rollback").status, 409);
  EXPECT_EQ(Call(Method::kPost, "/models/..%2Fx/inference", "{}").status, 400);
}

TEST_F(ApiTest, Register) {
  auto r = Call(Method::kPost, "/models/register",
                R"({"model_id":"ns/mlp@1","model_path":"/pkg","framework":"onnx"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["model_id"], "ns/mlp@1");
  EXPECT_EQ(core_.last_register.path, "/pkg");
  r = Call(Method::kPost, "/models/register", R"({"model_id":"ns/mlp@1"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Body(r)["error"].get<std::string>().find("path"), std::string::npos);
  r = Call(Method::kPost, "/models/register", R"({"model_id":"../x@1","path":"/p"})");
  EXPECT_EQ(r.status, 400);
  r = Call(Method::kPost, "/models/register", R"({"model_id":"a@1","path":"/missing"})");
  EXPECT_EQ(r.status, 404);
}

TEST_F(ApiTest, OriginalInference) {
  auto r = Call(Method::kPost, "/models/ns%2Fmlp%40latest/inference",
                R"({"x":[1,2,3,4,5,6,7,8]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = Body(r);
  EXPECT_EQ(j["status"], "success");
  EXPECT_EQ(j["model_id"], "ns/mlp@1");
  EXPECT_EQ(j["outputs"]["y"], json::parse("[2,4,6,8,10,12,14,16]"));
  EXPECT_EQ(j["output_shapes"]["y"], json::parse("[2,4]"));
  EXPECT_EQ(j["output_dtypes"]["y"], "float32");

  r = Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[1,2,3]})");
  EXPECT_EQ(r.status, 400);
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[[1,2,3]]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Body(r)["error"].get<std::string>().find("'x'"), std::string::npos);
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":["a","b","c","d"]})");
  EXPECT_EQ(r.status, 400);
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4)");
  EXPECT_EQ(r.status, 400);
  r = Call(Method::kPost, "/models/ns%2Fnone/inference", R"({"x":[1,2,3,4]})");
  EXPECT_EQ(r.status, 404);
}

TEST_F(ApiTest, KServeInferJsonAndBinary) {
  auto r = Call(Method::kPost, "/v2/models/ns%2Fmlp/versions/1/infer",
                R"({"id":"a","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32",)"
                R"("data":[1,2,3,4]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_infer_model, "ns/mlp");
  EXPECT_EQ(core_.last_infer_version, "1");
  json j = Body(r);
  EXPECT_EQ(j["model_name"], "ns/mlp");
  EXPECT_EQ(j["id"], "a");
  EXPECT_EQ(j["outputs"][0]["data"], json::parse("[2,4,6,8]"));

  const std::string header =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32",)"
      R"("parameters":{"binary_data_size":16}}],"outputs":[{"name":"y",)"
      R"("parameters":{"binary_data":true}}]})";
  std::string body = header;
  const float x[4] = {1, 2, 3, 4};
  body.append(reinterpret_cast<const char*>(x), 16);
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", body, header.size());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_STREQ(r.content_type, "application/octet-stream");
  ASSERT_GT(r.inference_header_length, 0u);
  ASSERT_EQ(r.body.size(), r.inference_header_length + 16);
  float y[4];
  std::memcpy(y, r.body.data() + r.inference_header_length, 16);
  EXPECT_EQ(y[3], 8.0f);

  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer",
           R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]})");
  EXPECT_EQ(r.status, 400);
  r = Call(Method::kPost, "/v2/models/ns%2Fnope/infer",
           R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})");
  EXPECT_EQ(r.status, 404);
}

TEST_F(ApiTest, KServeMetadataReadyAndRepository) {
  auto r = Call(Method::kGet, "/v2/models/ns%2Fmlp");
  ASSERT_EQ(r.status, 200);
  json j = Body(r);
  EXPECT_EQ(j["name"], "ns/mlp");
  EXPECT_EQ(j["versions"], json::parse(R"(["1"])"));
  EXPECT_EQ(j["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["inputs"][0]["shape"], json::parse("[-1,4]"));
  EXPECT_EQ(Call(Method::kGet, "/v2/models/ns%2Fmlp/versions/1/ready").status, 200);
  EXPECT_EQ(Call(Method::kGet, "/v2/models/ns%2Fmlp/versions/7/ready").status, 404);
  auto idx = Body(Call(Method::kPost, "/v2/repository/index"));
  ASSERT_TRUE(idx.is_array());
  EXPECT_EQ(idx[0]["state"], "READY");
  EXPECT_EQ(Call(Method::kPost, "/v2/repository/models/ns%2Fmlp/load").status, 200);
}

TEST_F(ApiTest, MetricsCountWorkerRestartsByModelAndReason) {
  metrics_.OnWorkerRestart("ns/mlp@1", "oom");
  metrics_.OnWorkerRestart("ns/mlp@1", "oom");
  metrics_.OnWorkerRestart("ns/mlp@1", "hang");
  const std::string t = Call(Method::kGet, "/metrics").body;
  EXPECT_NE(t.find("# TYPE mlos_worker_restarts_total counter"), std::string::npos) << t;
  EXPECT_NE(t.find(R"(mlos_worker_restarts_total{model="ns/mlp@1",reason="oom"} 2)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find(R"(mlos_worker_restarts_total{model="ns/mlp@1",reason="hang"} 1)"),
            std::string::npos)
      << t;
}

TEST_F(ApiTest, MetricsExposition) {
  Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4]})");
  Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[1,2,3]})");
  metrics_.OnLoad("ns/mlp@1", true, 12.0);
  auto r = Call(Method::kGet, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(std::string(r.content_type).find("text/plain"), std::string::npos);
  const std::string& t = r.body;
  EXPECT_NE(t.find(R"(mlos_requests_total{code="OK",model="ns/mlp@1",protocol="http"} 1)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find(R"(mlos_requests_total{code="INVALID_ARGUMENT",model="ns/mlp@1",)"
                   R"(protocol="http"} 1)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find(R"(mlos_request_errors_total{model="ns/mlp@1",protocol="http"} 1)"),
            std::string::npos);
  EXPECT_NE(t.find("mlos_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(t.find("mlos_queue_duration_seconds_count{model=\"ns/mlp@1\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find("mlos_model_load_duration_seconds_count"), std::string::npos);
  EXPECT_NE(t.find(R"(mlos_model_state{model="ns/mlp@1",state="READY"} 1)"), std::string::npos);
  EXPECT_NE(t.find("mlos_model_memory_bytes{model=\"ns/mlp@1\"}"), std::string::npos);
}

}  // namespace
}  // namespace mlos::http

namespace mlos::http {
namespace {

constexpr const char* kKServeX =
    R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}])";

TEST_F(ApiTest, PinAndUnpinAnswerTheModel) {
  auto r = Call(Method::kPost, "/models/ns%2Fmlp%401/pin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["id"], "ns/mlp@1");
  EXPECT_EQ(Body(r)["pinned"], true);
  EXPECT_EQ(Body(Call(Method::kGet, "/models/ns%2Fmlp%401"))["pinned"], true);
  r = Call(Method::kPost, "/models/ns/mlp@1/unpin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["pinned"], false);
  r = Call(Method::kPost, "/models/ns%2Fnope%401/pin");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(Body(r)["error"].get<std::string>().find("ns/nope@1"), std::string::npos);
  EXPECT_EQ(Call(Method::kGet, "/models/ns%2Fmlp/pin").status, 405);
}

TEST_F(ApiTest, ModelAndStatsDocumentsCarryResources) {
  core::ModelStatus& m = core_.model();
  m.memory_bytes = 64 << 20;
  m.shared_memory_bytes = 1 << 20;
  m.memory_estimate_bytes = 70 << 20;
  m.load_kind = "warm";
  m.pinned = true;
  m.keep_alive_ms = 300000;
  m.priority = 2;
  m.last_used_unix_ms = 1764800000000;
  m.evictions = 3;
  m.unload_reason = "keep_alive";
  json j = Body(Call(Method::kGet, "/models/ns%2Fmlp%401"));
  EXPECT_EQ(j["memory_bytes"], 64 << 20);
  EXPECT_EQ(j["shared_memory_bytes"], 1 << 20);
  EXPECT_EQ(j["memory_estimate_bytes"], 70 << 20);
  EXPECT_EQ(j["load_kind"], "warm");
  EXPECT_EQ(j["pinned"], true);
  EXPECT_EQ(j["keep_alive_ms"], 300000);
  EXPECT_EQ(j["priority"], 2);
  EXPECT_EQ(j["last_used_unix_ms"], 1764800000000);
  EXPECT_EQ(j["evictions"], 3);
  EXPECT_EQ(j["unload_reason"], "keep_alive");
  // In-process: no worker fields but the isolation and the restart count.
  EXPECT_EQ(j["isolation"], "in_process");
  EXPECT_EQ(j["worker_restarts"], 0);
  EXPECT_FALSE(j.contains("worker_pid"));
  EXPECT_FALSE(j.contains("worker_state"));
  EXPECT_FALSE(j.contains("last_crash"));
  m.isolation = core::Isolation::kProcess;
  m.worker_pid = 4321;
  m.worker_state = "running";
  m.worker_restarts = 2;
  m.last_crash = "oom";
  j = Body(Call(Method::kGet, "/models/ns%2Fmlp%401"));
  EXPECT_EQ(j["isolation"], "process");
  EXPECT_EQ(j["worker_pid"], 4321);
  EXPECT_EQ(j["worker_state"], "running");
  EXPECT_EQ(j["worker_restarts"], 2);
  EXPECT_EQ(j["last_crash"], "oom");
  EXPECT_EQ(Body(Call(Method::kGet, "/models"))["models"][0]["worker_pid"], 4321);
  EXPECT_EQ(Body(Call(Method::kGet, "/models"))["models"][0]["keep_alive_ms"], 300000);
  m.keep_alive_ms = -1;
  EXPECT_EQ(Body(Call(Method::kGet, "/models"))["models"][0]["keep_alive_ms"], -1);

  json s = Body(Call(Method::kGet, "/stats"));
  EXPECT_EQ(s["memory_budget_bytes"], 1 << 30);
  EXPECT_EQ(s["memory_used_bytes"], 300 << 20);
  EXPECT_EQ(s["memory_base_bytes"], 100 << 20);
  EXPECT_EQ(s["evictions"], 4);
  ASSERT_EQ(s["queues"].size(), 1u);
  EXPECT_EQ(s["queues"][0]["model"], "ns/mlp@1");
  EXPECT_EQ(s["queues"][0]["priority"], 2);
  EXPECT_EQ(s["queues"][0]["depth"], 7);
}

TEST_F(ApiTest, InferenceDeadlineFromHeaderAndParameter) {
  // Nothing said: no client deadline.
  auto r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(core_.last_deadline.has_value());

  api::RequestHeaders h;
  h.timeout_ms = "60000";
  const auto before = std::chrono::steady_clock::now();
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}", std::nullopt,
           h);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(core_.last_deadline.has_value());
  EXPECT_GT(*core_.last_deadline, before + std::chrono::seconds(59));
  EXPECT_LT(*core_.last_deadline, std::chrono::steady_clock::now() + std::chrono::seconds(61));

  // KServe's timeout is microseconds (as Triton's); with the header too, the shorter wins.
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer",
           std::string(kKServeX) + R"(,"parameters":{"timeout":2000000}})", std::nullopt, h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LT(*core_.last_deadline, std::chrono::steady_clock::now() + std::chrono::seconds(3));

  // The original API's "parameters" member.
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference",
           R"({"x":[1,2,3,4],"parameters":{"timeout":3000000}})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(core_.last_deadline.has_value());
  EXPECT_LT(*core_.last_deadline, std::chrono::steady_clock::now() + std::chrono::seconds(4));
}

// Needs service::Service::Infer to hand RequestContext::priority and ::keep_alive to the core
// (core::InferRequest::priority, ::keep_alive): the resource manager's part of the service.
TEST_F(ApiTest, InferencePriorityAndKeepAliveReachTheCore) {
  auto r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_priority, 0);
  EXPECT_FALSE(core_.last_keep_alive.has_value());

  // The X-MLOS-* headers.
  api::RequestHeaders h;
  h.priority = "3";
  h.keep_alive = "5m";
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}", std::nullopt,
           h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_priority, 3);
  EXPECT_EQ(core_.last_keep_alive, std::chrono::minutes(5));

  // The KServe parameters win over the headers.
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer",
           std::string(kKServeX) + R"(,"parameters":{"priority":1,"keep_alive":-1}})",
           std::nullopt, h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_priority, 1);
  EXPECT_EQ(core_.last_keep_alive, std::chrono::milliseconds(-1));

  // In the binary extension's JSON header too.
  const std::string header =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32",)"
      R"("parameters":{"binary_data_size":16}}],"parameters":{"keep_alive":"0"}})";
  std::string body = header;
  const float x[4] = {1, 2, 3, 4};
  body.append(reinterpret_cast<const char*>(x), 16);
  r = Call(Method::kPost, "/v2/models/ns%2Fmlp/infer", body, header.size());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_keep_alive, std::chrono::milliseconds(0));

  // The original API: its body's "parameters", and the headers.
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference",
           R"({"x":[1,2,3,4],"parameters":{"priority":4,"keep_alive":"30s"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_priority, 4);
  EXPECT_EQ(core_.last_keep_alive, std::chrono::seconds(30));
  api::RequestHeaders only_priority;
  only_priority.priority = "9";
  r = Call(Method::kPost, "/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4]})", std::nullopt,
           only_priority);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(core_.last_priority, 9);
}

TEST_F(ApiTest, BadOptionsAre400NamingTheHeaderOrParameter) {
  const struct {
    std::string target, body;
    api::RequestHeaders headers;
    std::string error;
  } bad[] = {
      {"/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + R"(,"parameters":{"priority":-1}})",
       {}, "parameter 'priority': must be an integer >= 0"},
      {"/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + R"(,"parameters":{"timeout":"1s"}})",
       {}, "parameter 'timeout': must be an integer number of microseconds >= 0"},
      {"/v2/models/ns%2Fmlp/infer",
       std::string(kKServeX) + R"(,"parameters":{"keep_alive":"soon"}})", {},
       "parameter 'keep_alive': invalid duration 'soon'"},
      {"/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}", {"x", {}, {}},
       "header 'X-MLOS-Priority': must be an integer >= 0"},
      {"/v2/models/ns%2Fmlp/infer", std::string(kKServeX) + "}", {{}, "-3", {}},
       "header 'X-MLOS-Timeout-Ms': must be an integer number of milliseconds >= 0"},
      {"/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4]})", {{}, {}, "1 day"},
       "header 'X-MLOS-Keep-Alive': invalid duration '1 day'"},
      {"/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4],"parameters":{"priority":1.5}})", {},
       "parameter 'priority': must be an integer >= 0"},
      {"/models/ns%2Fmlp/inference", R"({"x":[1,2,3,4],"parameters":7})", {},
       "field 'parameters' must be an object"},
  };
  for (const auto& b : bad) {
    core_.last_priority = -1;
    auto r = Call(Method::kPost, b.target, b.body, std::nullopt, b.headers);
    EXPECT_EQ(r.status, 400) << b.error << ": " << r.body;
    EXPECT_EQ(Body(r)["error"].get<std::string>().rfind(b.error, 0), 0u) << r.body;
    EXPECT_EQ(core_.last_priority, -1) << "the core ran: " << b.error;
  }
}

TEST_F(ApiTest, KServeModelConfigAndStatistics) {
  auto cfg = Call(Method::kGet, "/v2/models/ns/mlp/config");
  ASSERT_EQ(cfg.status, 200) << cfg.body;
  EXPECT_EQ(Body(cfg), json::parse(R"({"name": "ns/mlp", "platform": "onnx", "backend": "",
      "max_batch_size": 0, "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 4]}],
      "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [-1, 4]}]})"));
  EXPECT_EQ(Call(Method::kGet, "/v2/models/ns/nope/config").status, 404);
  EXPECT_NE(Body(Call(Method::kGet, "/v2")).dump().find("model_configuration"), std::string::npos);

  ASSERT_EQ(Call(Method::kPost, "/v2/models/ns/mlp/infer", std::string(kKServeX) + "}").status,
            200);
  ASSERT_EQ(Call(Method::kPost, "/v2/models/ns/mlp/infer",
                 R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]})")
                .status,
            400);
  for (const char* path : {"/v2/models/ns/mlp/stats", "/v2/models/ns%2Fmlp/versions/1/stats",
                           "/v2/models/stats"}) {
    auto r = Call(Method::kGet, path);
    ASSERT_EQ(r.status, 200) << path << r.body;
    json s = Body(r)["model_stats"];
    ASSERT_EQ(s.size(), 1u) << path;
    EXPECT_EQ(s[0]["name"], "ns/mlp");
    EXPECT_EQ(s[0]["version"], "1");
    EXPECT_EQ(s[0]["inference_count"], 1);
    EXPECT_EQ(s[0]["execution_count"], 1);
    EXPECT_GT(s[0]["last_inference"].get<uint64_t>(), 0u);
    const json& st = s[0]["inference_stats"];
    EXPECT_EQ(st["success"]["count"], 1);
    EXPECT_GT(st["success"]["ns"].get<uint64_t>(), 0u);
    EXPECT_EQ(st["fail"]["count"], 1);
    EXPECT_EQ(st["compute_infer"]["count"], 1);
    EXPECT_EQ(st["cache_hit"]["count"], 0);
  }
  EXPECT_EQ(Call(Method::kGet, "/v2/models/ns/nope/stats").status, 404);
}

}  // namespace
}  // namespace mlos::http
