// The SDK's resource calls over every transport, against the real front-ends (HTTP, gRPC, IPC)
// and the real service over a recording fake core (no daemon, no plugins): Pin / Unpin, the
// model status's resource and isolation fields, and InferOptions (priority, timeout, keep_alive) as they
// reach the core. Every transport must give the same answers.
#include <filesystem>
#include <mutex>
#include <optional>

#include <gtest/gtest.h>

#include "api/grpc/grpc_server.h"
#include "api/http/server.h"
#include "api/ipc/server.h"
#include "mlos/client.h"

namespace mlos::client {
namespace {

namespace fs = std::filesystem;
using core::DataType;
using std::chrono::milliseconds;

// One identity model, "ns/echo@1" (float32 [-1] -> "y"), with every resource field set; it
// records the last inference request's priority, keep_alive and deadline.
class FakeCore : public core::Core {
 public:
  FakeCore() {
    model_.id = "ns/echo@1";
    model_.name = "ns/echo";
    model_.version = "1";
    model_.state = core::ModelState::kReady;
    model_.framework = "testing";
    model_.execution_format = "testing";
    model_.is_default = true;
    model_.memory_bytes = 64ull << 20;
    model_.shared_memory_bytes = 1ull << 20;
    model_.memory_estimate_bytes = 70ull << 20;
    model_.load_kind = "cold";
    model_.keep_alive_ms = 300000;
    model_.priority = 3;
    model_.last_used_unix_ms = 1764800000123;
    model_.evictions = 2;
    model_.unload_reason = "memory";
    model_.isolation = core::Isolation::kStrict;
    model_.worker_pid = 4242;
    model_.worker_state = "running";
    model_.worker_restarts = 3;
    model_.last_crash = "oom";
    model_.inputs = {{"x", DataType::kFloat32, {-1}}};
    model_.outputs = {{"y", DataType::kFloat32, {-1}}};
  }
  void SetObserver(core::CoreObserver*) override {}
  Result<core::ModelStatus> Register(const core::RegisterRequest&) override {
    return Unimplemented("register");
  }
  Status Unregister(const std::string&) override { return Unimplemented("unregister"); }
  Result<core::ModelStatus> Load(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> Unload(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> SetDefault(const std::string& n, const std::string& v) override {
    return Lookup(n + "@" + v);
  }
  Result<core::ModelStatus> Rollback(const std::string& n) override { return Lookup(n); }
  Result<core::ModelStatus> Pin(const std::string& id, bool pinned) override {
    std::lock_guard lock(mu_);
    if (!Known(id)) return NotFound("model '" + id + "' is not registered");
    model_.pinned = pinned;
    return model_;
  }
  std::vector<core::ModelStatus> List() const override {
    std::lock_guard lock(mu_);
    return {model_};
  }
  Result<core::ModelStatus> Get(const std::string& id) const override { return Lookup(id); }
  std::vector<core::PluginStatus> Plugins() const override { return {}; }
  core::CoreStats Stats() const override { return {}; }
  Result<core::InferResponse> Infer(core::InferRequest request) override {
    MLOS_ASSIGN_OR_RETURN(core::ModelStatus m,
                          Lookup(request.version.empty() ? request.model
                                                         : request.model + "@" + request.version));
    {
      std::lock_guard lock(mu_);
      seen_ = Seen{request.priority, request.keep_alive, request.deadline};
    }
    if (request.inputs.size() != 1) return InvalidArgument("want one input");
    core::InferResponse r;
    r.model_id = m.id;
    r.model_name = m.name;
    r.model_version = m.version;
    core::Tensor y;
    y.name = "y";
    y.dtype = DataType::kFloat32;
    y.shape = request.inputs[0].shape;
    const uint8_t* in = request.inputs[0].bytes();
    y.data.assign(in, in + request.inputs[0].byte_size());
    r.outputs.push_back(std::move(y));
    return r;
  }
  void Shutdown() override {}

  struct Seen {
    int priority = -1;
    std::optional<milliseconds> keep_alive;
    std::optional<std::chrono::steady_clock::time_point> deadline;
  };
  Seen seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  bool Known(const std::string& id) const { return id == model_.id || id == model_.name; }
  Result<core::ModelStatus> Lookup(const std::string& id) const {
    std::lock_guard lock(mu_);
    if (!Known(id)) return NotFound("model '" + id + "' is not registered");
    return model_;
  }
  mutable std::mutex mu_;
  core::ModelStatus model_;
  Seen seen_;
};

class ClientResourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http::ServerOptions ho;
    ho.port = 0;
    ho.io_threads = 1;
    http_ = std::make_unique<http::Server>(api_, ho);
    Status st = http_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
    grpcapi::GrpcServerOptions go;
    go.threads = 2;
    grpc_ = std::make_unique<grpcapi::GrpcServer>(service_, go);
    st = grpc_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
    char tmpl[] = "/tmp/mlos-client-resources-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ipc::ServerOptions io;
    io.path = (dir_ / "mlosd.sock").string();
    ipc_ = std::make_unique<ipc::Server>(service_, io);
    st = ipc_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    if (ipc_) ipc_->Stop();
    if (grpc_) grpc_->Stop(milliseconds(100));
    if (http_) http_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::vector<std::string> Urls() const {
    return {"http://127.0.0.1:" + std::to_string(http_->port()),
            "grpc://127.0.0.1:" + std::to_string(grpc_->port()),
            "unix://" + (dir_ / "mlosd.sock").string()};
  }
  static std::unique_ptr<Client> Open(const std::string& url) {
    ClientOptions o;
    o.timeout = std::chrono::seconds(10);
    auto c = Client::Connect(url, o);
    EXPECT_TRUE(c.ok()) << url << ": " << c.status().message();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static InferRequest Echo(InferOptions options = {}) {
    InferRequest r;
    r.model = "ns/echo@1";
    r.inputs.push_back(Tensor::From<float>("x", "float32", {2}, std::vector<float>{1, 2}));
    r.options = std::move(options);
    return r;
  }

  FakeCore core_;
  service::ShmRegistry shm_;
  service::Service service_{core_, shm_, nullptr, {}};
  http::Api api_{service_};
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<grpcapi::GrpcServer> grpc_;
  std::unique_ptr<ipc::Server> ipc_;
  fs::path dir_;
};

TEST_F(ClientResourcesTest, PinAndUnpinOnEveryTransport) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Open(url);
    ASSERT_NE(c, nullptr);
    auto pinned = c->Pin("ns/echo@1");
    ASSERT_TRUE(pinned.ok()) << pinned.status().message();
    EXPECT_EQ(pinned->id, "ns/echo@1");
    EXPECT_TRUE(pinned->pinned);
    auto got = c->GetModel("ns/echo@1");
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->pinned);
    auto unpinned = c->Unpin("ns/echo");
    ASSERT_TRUE(unpinned.ok()) << unpinned.status().message();
    EXPECT_FALSE(unpinned->pinned);
    auto missing = c->Pin("ns/nope@1");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(missing.status().message(), "model 'ns/nope@1' is not registered");
    auto empty = c->Unpin("");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(empty.status().message(), "model id is empty");
  }
}

TEST_F(ClientResourcesTest, ModelStatusCarriesResourceFieldsOnEveryTransport) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Open(url);
    ASSERT_NE(c, nullptr);
    auto list = c->ListModels();
    ASSERT_TRUE(list.ok()) << list.status().message();
    ASSERT_EQ(list->size(), 1u);
    for (const ModelInfo& m : {list->front(), *c->GetModel("ns/echo")}) {
      EXPECT_EQ(m.memory_bytes, 64ull << 20);
      EXPECT_EQ(m.shared_memory_bytes, 1ull << 20);
      EXPECT_EQ(m.memory_estimate_bytes, 70ull << 20);
      EXPECT_EQ(m.load_kind, "cold");
      EXPECT_FALSE(m.pinned);
      EXPECT_EQ(m.keep_alive_ms, 300000);
      EXPECT_EQ(m.priority, 3);
      EXPECT_EQ(m.last_used_unix_ms, 1764800000123);
      EXPECT_EQ(m.evictions, 2u);
      EXPECT_EQ(m.unload_reason, "memory");
      EXPECT_EQ(m.isolation, "strict");
      EXPECT_EQ(m.worker_pid, 4242);
      EXPECT_EQ(m.worker_state, "running");
      EXPECT_EQ(m.worker_restarts, 3u);
      EXPECT_EQ(m.last_crash, "oom");
    }
  }
}

TEST_F(ClientResourcesTest, TimeoutBecomesTheCoresDeadlineOnEveryTransport) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Open(url);
    ASSERT_NE(c, nullptr);
    InferOptions o;
    o.timeout = milliseconds(1500);
    const auto before = std::chrono::steady_clock::now();
    auto r = c->Infer(Echo(o));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->outputs.size(), 1u);
    EXPECT_EQ(r->outputs[0].As<float>(), (std::vector<float>{1, 2}));
    const FakeCore::Seen seen = core_.seen();
    ASSERT_TRUE(seen.deadline.has_value());
    EXPECT_GT(*seen.deadline, before + milliseconds(1000));
    EXPECT_LE(*seen.deadline, std::chrono::steady_clock::now() + milliseconds(1500));
  }
}

// Needs service::Service::Infer to hand RequestContext::priority and ::keep_alive to the core
// (core::InferRequest::priority, ::keep_alive): the resource manager's part of the service.
TEST_F(ClientResourcesTest, PriorityAndKeepAliveReachTheCoreOnEveryTransport) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Open(url);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Infer(Echo()).ok());
    EXPECT_EQ(core_.seen().priority, 0);
    EXPECT_FALSE(core_.seen().keep_alive.has_value());
    for (milliseconds keep : {milliseconds(300000), milliseconds(0), milliseconds(-1),
                              milliseconds(90500)}) {
      InferOptions o;
      o.priority = 2;
      o.keep_alive = keep;
      auto r = c->Infer(Echo(o));
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ(core_.seen().priority, 2);
      EXPECT_EQ(core_.seen().keep_alive, keep);
    }
  }
}

TEST_F(ClientResourcesTest, BadOptionsAreRefusedBeforeSending) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Open(url);
    ASSERT_NE(c, nullptr);
    InferOptions o;
    o.priority = -2;
    auto r = c->Infer(Echo(o));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("priority -2"), std::string::npos);
  }
}

}  // namespace
}  // namespace mlos::client
