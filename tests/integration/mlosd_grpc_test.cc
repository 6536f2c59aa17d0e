// mlosd's gRPC front-end end to end: the real daemon started with --grpc 127.0.0.1:0, a C++
// client on the generated KServe v2 / mlos.v1 stubs, answers compared with the HTTP front-end's.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/mman.h>

#include <cstring>

#include "grpc_service.grpc.pb.h"
#include "mlos_management.grpc.pb.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

// mlosd with --grpc on a free port (the harness reads the gRPC listening line).
class GrpcDaemon : public Daemon {
 public:
  GrpcDaemon(fs::path state_dir, std::vector<std::string> extra = {})
      : Daemon(std::move(state_dir), WithGrpc(std::move(extra))) {}

 private:
  static std::vector<std::string> WithGrpc(std::vector<std::string> extra) {
    extra.insert(extra.begin(), {"--grpc", "127.0.0.1:0"});
    return extra;
  }
};

using inference::GRPCInferenceService;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

std::vector<float> MlpInput(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  return v;
}

ModelInferRequest MlpRequest(const std::vector<float>& x, bool raw) {
  ModelInferRequest req;
  req.set_model_name("test/mlp");
  req.set_id("req-1");
  auto* in = req.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  in->add_shape(static_cast<int64_t>(x.size() / 16));
  in->add_shape(16);
  if (raw) {
    req.add_raw_input_contents()->assign(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  } else {
    in->mutable_contents()->mutable_fp32_contents()->Add(x.begin(), x.end());
  }
  return req;
}

std::vector<float> RawFloats(const std::string& s) {
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

class MlosdGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    daemon_ = std::make_unique<GrpcDaemon>(tmp_.path() / "state");
    ASSERT_TRUE(daemon_->Start());
    channel_ = grpc::CreateChannel(daemon_->grpc_target(), grpc::InsecureChannelCredentials());
    stub_ = GRPCInferenceService::NewStub(channel_);
    mgmt_ = mlos::v1::Management::NewStub(channel_);
  }
  void RegisterMlp() {
    Package p = MlpPackage();
    mlos::v1::RegisterRequest r;
    r.set_model_id(p.Id());
    r.set_name(p.name);
    r.set_framework(p.framework);
    r.set_execution_format(p.execution_format);
    r.set_path(WritePackage(tmp_.path() / "pkgs", p).string());
    mlos::v1::RegisterResponse res;
    grpc::ClientContext ctx;
    grpc::Status st = mgmt_->Register(&ctx, r, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(res.model_id(), "test/mlp@1.0.0");
  }
  // The HTTP (KServe v2 REST) error message for the same request body.
  std::string HttpError(const std::string& model, const json& body) {
    return daemon_->Post("/v2/models/" + Encode(model) + "/infer", body.dump()).Error();
  }

  TempDir tmp_;
  std::unique_ptr<GrpcDaemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
  std::unique_ptr<mlos::v1::Management::Stub> mgmt_;
};

TEST_F(MlosdGrpcTest, HealthAndMetadata) {
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse res;
    ASSERT_TRUE(stub_->ServerLive(&ctx, {}, &res).ok());
    EXPECT_TRUE(res.live());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerReadyResponse res;
    ASSERT_TRUE(stub_->ServerReady(&ctx, {}, &res).ok());
    EXPECT_TRUE(res.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerMetadataResponse res;
    ASSERT_TRUE(stub_->ServerMetadata(&ctx, {}, &res).ok());
    EXPECT_EQ(res.name(), "mlos");
  }
  RegisterMlp();
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("test/mlp");
    inference::ModelMetadataResponse res;
    grpc::Status st = stub_->ModelMetadata(&ctx, req, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(res.name(), "test/mlp");
    ASSERT_EQ(res.versions_size(), 1);
    EXPECT_EQ(res.versions(0), "1.0.0");
    ASSERT_EQ(res.inputs_size(), 1);
    EXPECT_EQ(res.inputs(0).name(), "input");
    EXPECT_EQ(res.inputs(0).datatype(), "FP32");
    ASSERT_EQ(res.outputs_size(), 2);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("test/mlp");
    req.set_version("1.0.0");
    inference::ModelReadyResponse res;
    ASSERT_TRUE(stub_->ModelReady(&ctx, req, &res).ok());
    EXPECT_FALSE(res.ready());  // registered, not loaded yet
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("test/mlp@1.0.0");
    inference::RepositoryModelLoadResponse res;
    grpc::Status st = stub_->RepositoryModelLoad(&ctx, req, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("test/mlp");
    inference::ModelReadyResponse res;
    ASSERT_TRUE(stub_->ModelReady(&ctx, req, &res).ok());
    EXPECT_TRUE(res.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryIndexRequest req;
    inference::RepositoryIndexResponse res;
    ASSERT_TRUE(stub_->RepositoryIndex(&ctx, req, &res).ok());
    ASSERT_EQ(res.models_size(), 1);
    EXPECT_EQ(res.models(0).name(), "test/mlp");
    EXPECT_EQ(res.models(0).state(), "READY");
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("test/none");
    inference::ModelMetadataResponse res;
    EXPECT_EQ(stub_->ModelMetadata(&ctx, req, &res).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelUnloadRequest req;
    req.set_model_name("test/mlp@1.0.0");
    inference::RepositoryModelUnloadResponse res;
    ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, req, &res).ok());
  }
  EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
}

TEST_F(MlosdGrpcTest, InferTypedAndRawMatchHttp) {
  RegisterMlp();
  const std::vector<float> x = MlpInput(3);
  json body = {
      {"inputs",
       json::array({{{"name", "input"}, {"datatype", "FP32"}, {"shape", {3, 16}}, {"data", x}}})}};
  Reply http = daemon_->Post("/v2/models/" + Encode("test/mlp") + "/infer", body.dump());
  ASSERT_EQ(http.status, 200) << http.body;
  std::map<std::string, std::vector<float>> want;
  const json answer = http.Json();
  for (const json& o : answer["outputs"]) {
    want[o["name"]] = o["data"].get<std::vector<float>>();
  }
  ASSERT_EQ(want.size(), 2u);

  // Raw in, raw out (the default).
  {
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, MlpRequest(x, true), &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(res.model_name(), "test/mlp");
    EXPECT_EQ(res.model_version(), "1.0.0");
    EXPECT_EQ(res.id(), "req-1");
    ASSERT_EQ(res.outputs_size(), 2);
    ASSERT_EQ(res.raw_output_contents_size(), 2);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(res.outputs(i).datatype(), "FP32");
      EXPECT_EQ(std::vector<int64_t>(res.outputs(i).shape().begin(), res.outputs(i).shape().end()),
                (std::vector<int64_t>{3, 4}));
      EXPECT_EQ(RawFloats(res.raw_output_contents(i)), want[res.outputs(i).name()]);
    }
  }
  // Typed in, typed out (binary_data=false), one output requested.
  {
    ModelInferRequest req = MlpRequest(x, false);
    auto* o = req.add_outputs();
    o->set_name("probs");
    (*o->mutable_parameters())["binary_data"].set_bool_param(false);
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(res.outputs_size(), 1);
    EXPECT_EQ(res.raw_output_contents_size(), 0);
    EXPECT_EQ(res.outputs(0).name(), "probs");
    const auto& f = res.outputs(0).contents().fp32_contents();
    EXPECT_EQ(std::vector<float>(f.begin(), f.end()), want["probs"]);
  }
  // Typed in, raw out.
  {
    grpc::ClientContext ctx;
    ModelInferResponse res;
    ASSERT_TRUE(stub_->ModelInfer(&ctx, MlpRequest(x, false), &res).ok());
    ASSERT_EQ(res.raw_output_contents_size(), 2);
    EXPECT_EQ(RawFloats(res.raw_output_contents(0)), want[res.outputs(0).name()]);
  }
  // Streaming: one good, one bad, one good.
  {
    grpc::ClientContext ctx;
    auto stream = stub_->ModelStreamInfer(&ctx);
    ModelInferRequest bad = MlpRequest(x, true);
    bad.set_model_name("test/none");
    ASSERT_TRUE(stream->Write(MlpRequest(x, true)));
    ASSERT_TRUE(stream->Write(bad));
    ASSERT_TRUE(stream->Write(MlpRequest(x, false)));
    stream->WritesDone();
    inference::ModelStreamInferResponse r;
    std::vector<std::string> errors;
    int n = 0;
    while (stream->Read(&r)) {
      ++n;
      errors.push_back(r.error_message());
      if (r.error_message().empty()) {
        EXPECT_EQ(RawFloats(r.infer_response().raw_output_contents(0)),
                  want[r.infer_response().outputs(0).name()]);
      }
    }
    EXPECT_TRUE(stream->Finish().ok());
    ASSERT_EQ(n, 3);
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], HttpError("test/none", body));
    EXPECT_EQ(errors[2], "");
  }
}

TEST_F(MlosdGrpcTest, ErrorsMatchHttp) {
  RegisterMlp();
  const std::vector<float> x = MlpInput(1);
  // Unknown model.
  {
    ModelInferRequest req = MlpRequest(x, true);
    req.set_model_name("test/none");
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    json body = {
        {"inputs",
         json::array(
             {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {1, 16}}, {"data", x}}})}};
    EXPECT_EQ(st.error_message(), HttpError("test/none", body));
  }
  // Wrong dtype.
  {
    ModelInferRequest req;
    req.set_model_name("test/mlp");
    auto* in = req.add_inputs();
    in->set_name("input");
    in->set_datatype("INT64");
    in->add_shape(1);
    in->add_shape(16);
    for (int i = 0; i < 16; ++i) in->mutable_contents()->add_int64_contents(i);
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    std::vector<int64_t> ints(16);
    for (int i = 0; i < 16; ++i) ints[static_cast<size_t>(i)] = i;
    json body = {
        {"inputs",
         json::array(
             {{{"name", "input"}, {"datatype", "INT64"}, {"shape", {1, 16}}, {"data", ints}}})}};
    EXPECT_EQ(st.error_message(), HttpError("test/mlp", body));
    EXPECT_NE(st.error_message().find("input"), std::string::npos);
  }
  // Missing input.
  {
    ModelInferRequest req;
    req.set_model_name("test/mlp");
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(), HttpError("test/mlp", json{{"inputs", json::array()}}));
  }
  // Element count mismatch and raw size mismatch.
  {
    ModelInferRequest req = MlpRequest(x, false);
    req.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(),
              "input 'input'.contents: has 15 elements, shape [1, 16] needs 16");
  }
  {
    ModelInferRequest req = MlpRequest(x, true);
    req.mutable_raw_input_contents(0)->resize(60);
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("raw_input_contents size 60"), std::string::npos)
        << st.error_message();
  }
}

TEST_F(MlosdGrpcTest, SystemSharedMemoryInputsAndOutputs) {
  RegisterMlp();
  const std::string key = "/mlos-grpc-test-" + std::to_string(::getpid());
  const int fd = ::shm_open(key.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  const size_t size = 4096;
  ASSERT_EQ(::ftruncate(fd, size), 0);
  auto* mem =
      static_cast<uint8_t*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ::close(fd);
  ASSERT_NE(mem, MAP_FAILED);
  const std::vector<float> x = MlpInput(2);
  std::memcpy(mem, x.data(), x.size() * 4);
  {
    inference::SystemSharedMemoryRegisterRequest req;
    req.set_name("r");
    req.set_key(key);
    req.set_byte_size(size);
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryRegisterResponse res;
    grpc::Status st = stub_->SystemSharedMemoryRegister(&ctx, req, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryStatusResponse res;
    ASSERT_TRUE(stub_->SystemSharedMemoryStatus(&ctx, {}, &res).ok());
    ASSERT_EQ(res.regions().count("r"), 1u);
    EXPECT_EQ(res.regions().at("r").byte_size(), size);
  }
  // The expected logits, from a plain raw request.
  std::string want;
  {
    grpc::ClientContext ctx;
    ModelInferResponse res;
    ASSERT_TRUE(stub_->ModelInfer(&ctx, MlpRequest(x, true), &res).ok());
    for (int i = 0; i < res.outputs_size(); ++i) {
      if (res.outputs(i).name() == "logits") want = res.raw_output_contents(i);
    }
    ASSERT_EQ(want.size(), 32u);
  }
  ModelInferRequest req;
  req.set_model_name("test/mlp");
  auto* in = req.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  in->add_shape(2);
  in->add_shape(16);
  (*in->mutable_parameters())["shared_memory_region"].set_string_param("r");
  (*in->mutable_parameters())["shared_memory_byte_size"].set_int64_param(128);
  auto* out = req.add_outputs();
  out->set_name("logits");
  (*out->mutable_parameters())["shared_memory_region"].set_string_param("r");
  (*out->mutable_parameters())["shared_memory_offset"].set_int64_param(1024);
  (*out->mutable_parameters())["shared_memory_byte_size"].set_int64_param(32);
  {
    grpc::ClientContext ctx;
    ModelInferResponse res;
    grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(res.outputs_size(), 1);
    EXPECT_EQ(res.outputs(0).parameters().at("shared_memory_region").string_param(), "r");
    for (const std::string& raw : res.raw_output_contents()) EXPECT_TRUE(raw.empty());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(mem) + 1024, 32), want);
  }
  {
    ModelInferRequest bad = req;
    (*bad.mutable_inputs(0)->mutable_parameters())["shared_memory_region"].set_string_param("nope");
    grpc::ClientContext ctx;
    ModelInferResponse res;
    EXPECT_EQ(stub_->ModelInfer(&ctx, bad, &res).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    inference::SystemSharedMemoryUnregisterRequest u;
    u.set_name("r");
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryUnregisterResponse res;
    EXPECT_TRUE(stub_->SystemSharedMemoryUnregister(&ctx, u, &res).ok());
  }
  ::munmap(mem, size);
  ::shm_unlink(key.c_str());
}

TEST_F(MlosdGrpcTest, ClientDeadlineCancelsTheRequest) {
  Package slow = TestingPackage("slow", R"({"behavior":"sleep","sleep_ms":3000})");
  Reply reg = daemon_->Post("/models/register",
                            RegisterBody(slow, WritePackage(tmp_.path() / "pkgs", slow)));
  ASSERT_EQ(reg.status, 200) << reg.body;
  ASSERT_EQ(daemon_->Post("/models/" + Encode(slow.Id()) + "/load", "").status, 200);
  ModelInferRequest req;
  req.set_model_name("test/slow");
  auto* in = req.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  in->add_shape(2);
  in->mutable_contents()->add_fp32_contents(1);
  in->mutable_contents()->add_fp32_contents(2);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  ModelInferResponse res;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status st = stub_->ModelInfer(&ctx, req, &res);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  // The daemon is still serving (the sleeping request was cancelled, not left running).
  const auto again = std::chrono::steady_clock::now();
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  EXPECT_EQ(stub_->ModelInfer(&ctx2, req, &res).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::milliseconds(2500));
}

TEST_F(MlosdGrpcTest, Management) {
  Package v1 = MlpPackage("1.0.0");
  Package v2 = MlpPackage("2.0.0");
  for (const Package& p : {v1, v2}) {
    mlos::v1::RegisterRequest r;
    r.set_model_id(p.Id());
    r.set_path(WritePackage(tmp_.path() / "pkgs", p).string());
    grpc::ClientContext ctx;
    mlos::v1::RegisterResponse res;
    grpc::Status st = mgmt_->Register(&ctx, r, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(res.status(), "registered");
    EXPECT_EQ(res.model().state(), "REGISTERED");
  }
  {
    mlos::v1::RegisterRequest r;
    r.set_model_id("test/x@1");
    grpc::ClientContext ctx;
    mlos::v1::RegisterResponse res;
    grpc::Status st = mgmt_->Register(&ctx, r, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(), "field 'path' (or 'model_path') is required");
  }
  {
    grpc::ClientContext ctx;
    mlos::v1::ListResponse res;
    ASSERT_TRUE(mgmt_->List(&ctx, {}, &res).ok());
    EXPECT_EQ(res.models_size(), 2);
  }
  auto call = [&](auto method, const std::string& id, mlos::v1::ModelStatus* out) {
    mlos::v1::ModelRequest req;
    req.set_id(id);
    grpc::ClientContext ctx;
    return ((*mgmt_).*method)(&ctx, req, out);
  };
  mlos::v1::ModelStatus m;
  using S = mlos::v1::Management::Stub;
  grpc::Status st = call(&S::Load, v1.Id(), &m);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(m.state(), "READY");
  ASSERT_TRUE(call(&S::Load, v2.Id(), &m).ok());
  ASSERT_TRUE(call(&S::SetDefault, v2.Id(), &m).ok());
  ASSERT_TRUE(call(&S::Get, "test/mlp", &m).ok());
  EXPECT_EQ(m.version(), "2.0.0");
  st = call(&S::Rollback, "test/mlp", &m);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(call(&S::Get, "test/mlp", &m).ok());
  EXPECT_EQ(m.version(), "1.0.0");
  EXPECT_EQ(call(&S::Get, "test/none", &m).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(call(&S::Unload, v2.Id(), &m).ok());
  EXPECT_EQ(m.state(), "UNLOADED");
  {
    mlos::v1::ModelRequest req;
    req.set_id(v2.Id());
    grpc::ClientContext ctx;
    mlos::v1::UnregisterResponse res;
    ASSERT_TRUE(mgmt_->Unregister(&ctx, req, &res).ok());
    EXPECT_EQ(res.status(), "unregistered");
  }
  {
    grpc::ClientContext ctx;
    mlos::v1::PluginsResponse res;
    ASSERT_TRUE(mgmt_->Plugins(&ctx, {}, &res).ok());
    EXPECT_GE(res.plugins_size(), 2);
  }
  {
    grpc::ClientContext ctx;
    mlos::v1::ListResponse res;
    ASSERT_TRUE(mgmt_->List(&ctx, {}, &res).ok());
    EXPECT_EQ(res.models_size(), 1);
  }
}

// --- TLS ---------------------------------------------------------------------------------------

bool Shell(const std::string& cmd) {
  return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
}

class MlosdGrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    const fs::path d = tmp_.path();
    // A CA, a server cert for 127.0.0.1 signed by it, and a client cert signed by it.
    ASSERT_TRUE(Shell("cd " + d.string() +
                      " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=mlos-test-ca"
                      " -keyout ca.key -out ca.pem"
                      " && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost"
                      " -keyout server.key -out server.csr"
                      " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext"
                      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key"
                      " -CAcreateserial -days 1 -extfile san.ext -out server.pem"
                      " && openssl req -newkey rsa:2048 -nodes -subj /CN=client"
                      " -keyout client.key -out client.csr"
                      " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key"
                      " -CAcreateserial -days 1 -out client.pem"));
  }
  void StartDaemon(bool mutual) {
    const fs::path d = tmp_.path();
    std::ofstream(d / "mlosd.yaml")
        << "grpc:\n  max_message_bytes: 1048576\n  tls:\n    cert: " << (d / "server.pem").string()
        << "\n    key: " << (d / "server.key").string() << "\n"
        << (mutual ? "    client_ca: " + (d / "ca.pem").string() + "\n" : "");
    daemon_ = std::make_unique<GrpcDaemon>(
        d / "state", std::vector<std::string>{"--config", (d / "mlosd.yaml").string()});
    ASSERT_TRUE(daemon_->Start());
  }
  std::unique_ptr<GRPCInferenceService::Stub> Stub(bool with_client_cert) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadFileBytes(tmp_.path() / "ca.pem");
    if (with_client_cert) {
      o.pem_private_key = ReadFileBytes(tmp_.path() / "client.key");
      o.pem_cert_chain = ReadFileBytes(tmp_.path() / "client.pem");
    }
    return GRPCInferenceService::NewStub(
        grpc::CreateChannel(daemon_->grpc_target(), grpc::SslCredentials(o)));
  }
  grpc::Status Live(GRPCInferenceService::Stub& stub) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    inference::ServerLiveResponse res;
    return stub.ServerLive(&ctx, {}, &res);
  }

  TempDir tmp_;
  std::unique_ptr<GrpcDaemon> daemon_;
};

TEST_F(MlosdGrpcTlsTest, TlsServesAndRefusesPlaintextAndLimitsMessageSize) {
  StartDaemon(false);
  auto stub = Stub(false);
  grpc::Status st = Live(*stub);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << daemon_->Log();
  auto plain = GRPCInferenceService::NewStub(
      grpc::CreateChannel(daemon_->grpc_target(), grpc::InsecureChannelCredentials()));
  EXPECT_FALSE(Live(*plain).ok());
  // Over max_message_bytes (1 MiB): RESOURCE_EXHAUSTED.
  ModelInferRequest big = MlpRequest(std::vector<float>(16 * 20000, 1.0f), true);
  grpc::ClientContext ctx;
  ModelInferResponse res;
  EXPECT_EQ(stub->ModelInfer(&ctx, big, &res).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(daemon_->Stop(), 0);
}

TEST_F(MlosdGrpcTlsTest, MutualTlsRequiresAClientCertificate) {
  StartDaemon(true);
  auto with_cert = Stub(true);
  grpc::Status st = Live(*with_cert);
  EXPECT_TRUE(st.ok()) << st.error_message() << "\n" << daemon_->Log();
  auto without = Stub(false);
  EXPECT_FALSE(Live(*without).ok());
}

}  // namespace
}  // namespace mlostest
