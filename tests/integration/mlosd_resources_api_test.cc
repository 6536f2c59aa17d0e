// The resource manager's API on every protocol, against the real mlosd (HTTP, --grpc, --ipc):
// per-request priority, timeout and keep_alive (the X-MLOS-* headers and the KServe
// `parameters` over HTTP, ModelInferRequest.parameters over gRPC, the INFER extension block
// over IPC, InferOptions in the SDK, `mlos infer` flags), pin / unpin (POST /models/{id}/pin,
// Management.Pin / Unpin, IPC ops 25 / 26, Client::Pin / Unpin, `mlos models pin`), and the
// resource fields of the model status and of /stats.
//
// What each test needs beyond the front-ends is written above it: "[front-ends]" tests pass on
// any core; "[core: ...]" tests need the resource manager's part of the core (Core::Pin,
// keep_alive, memory accounting) and of the service (RequestContext::priority and ::keep_alive
// handed to core::InferRequest).
#include <grpcpp/grpcpp.h>
#include <sys/un.h>

#include <atomic>
#include <cstdio>

#include "grpc_service.grpc.pb.h"
#include "mlos/client.h"
#include "mlosd_harness.h"
#include "wire/ipc_protocol.h"

namespace mlostest {
namespace {

namespace client = mlos::client;
namespace ipc = mlos::ipc;
using std::chrono::milliseconds;

constexpr const char* kEcho = "test/echo@1.0.0";

// A KServe JSON request for the echo model ([1, 2] in, the same out), with `extra` members.
std::string KServeBody(const std::string& extra = "") {
  return R"({"inputs":[{"name":"input","shape":[2],"datatype":"FP32","data":[1,2]}])" +
         (extra.empty() ? "" : "," + extra) + "}";
}

client::InferRequest EchoRequest(client::InferOptions options = {}) {
  client::InferRequest r;
  r.model = kEcho;
  r.inputs.push_back(
      client::Tensor::From<float>("input", "float32", {2}, std::vector<float>{1, 2}));
  r.options = std::move(options);
  return r;
}


// Exactly one "mlos: error:" line on stderr, nothing on stdout, and exit `code`.
::testing::AssertionResult OneErrorLine(const CliRun& r, int code) {
  const size_t lines = static_cast<size_t>(std::count(r.err.begin(), r.err.end(), '\n'));
  if (r.code == code && lines == 1 && r.err.rfind("mlos: error: ", 0) == 0 && r.out.empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "exit " << r.code << " (want " << code << "), stderr: "
                                       << r.err << " stdout: " << r.out;
}

class MlosdResourcesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    const std::string help = MlosdHelp();
    if (help.find("--grpc") == std::string::npos || help.find("--ipc") == std::string::npos) {
      GTEST_SKIP() << "this mlosd has no --grpc or no --ipc";
    }
    const uint16_t grpc_port = FreePort();
    sock_ = tmp_.path() / "mlosd.sock";
    daemon_ = std::make_unique<Daemon>(
        tmp_.path() / "state",
        std::vector<std::string>{"--grpc", "127.0.0.1:" + std::to_string(grpc_port), "--ipc",
                                 sock_.string()});
    ASSERT_TRUE(daemon_->Start());
    grpc_url_ = "grpc://127.0.0.1:" + std::to_string(grpc_port);
    urls_ = {"http://127.0.0.1:" + std::to_string(daemon_->port()), grpc_url_,
             "unix://" + sock_.string()};
    Register(TestingPackage("echo", R"({"behavior": "identity"})"));
    ASSERT_EQ(daemon_->Post("/models/" + Encode(kEcho) + "/load").status, 200);
  }

  void Register(const Package& p) {
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    Reply r = daemon_->Post("/models/register", RegisterBody(p, dir));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::unique_ptr<client::Client> Connect(const std::string& url) {
    // The gRPC / IPC listeners may come up a moment after the HTTP line.
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url);
      if (c.ok() && (*c)->Live().ok()) return std::move(c).value();
      if (attempt >= 50) {
        ADD_FAILURE() << url << ": " << (c.ok() ? (*c)->Live().status() : c.status()).message();
        return nullptr;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  Reply KServe(const std::string& body,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return daemon_->Post("/v2/models/" + Encode("test/echo") + "/versions/1.0.0/infer", body,
                         headers);
  }

  json Model(const std::string& id = kEcho) {
    return daemon_->Get("/models/" + Encode(id)).Json();
  }

  // A raw IPC INFER of the echo model: the SDK's frame, then `extension` appended as is.
  ipc::FrameHeader RawIpcInfer(const std::string& extension, std::string* answer) {
    ipc::InferRequestMsg m;
    m.model = kEcho;
    const std::vector<float> x = {1, 2};
    ipc::WireTensor t;
    t.name = "input";
    t.dtype = 1;  // FP32
    t.shape = {2};
    t.data = std::string_view(reinterpret_cast<const char*>(x.data()), 8);
    m.inputs.push_back(t);
    std::string payload;
    ipc::EncodeInferRequest(m, payload);
    payload += extension;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
    ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(ipc::Op::kInfer);
    h.request_id = 7;
    ipc::FrameHeader got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ipc::SendFrame(fd, h, payload).ok()) {
      EXPECT_TRUE(ipc::RecvFrame(fd, got, *answer).ok());
    } else {
      ADD_FAILURE() << "cannot reach " << sock_;
    }
    ::close(fd);
    return got;
  }

  CliRun Mlos(std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", urls_[0]});
    return RunMlos(args, tmp_.path());
  }

  TempDir tmp_;
  fs::path sock_;
  std::unique_ptr<Daemon> daemon_;
  std::string grpc_url_;
  std::vector<std::string> urls_;  // http, grpc, unix
};

// [front-ends] Every protocol accepts the options and answers as without them; an IPC frame
// without the extension block (the SDK without options) still works.
TEST_F(MlosdResourcesApiTest, OptionsAreAcceptedOnEveryProtocol) {
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto plain = c->Infer(EchoRequest());
    ASSERT_TRUE(plain.ok()) << plain.status().message();
    client::InferOptions o;
    o.priority = 1;
    o.timeout = std::chrono::seconds(20);
    o.keep_alive = std::chrono::minutes(10);
    auto r = c->Infer(EchoRequest(o));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->outputs.size(), 1u);
    EXPECT_EQ(r->outputs[0].As<float>(), (std::vector<float>{1, 2}));
    o.keep_alive = milliseconds(-1);
    o.priority = 7;
    EXPECT_TRUE(c->Infer(EchoRequest(o)).ok());
  }
  Reply r =
      KServe(KServeBody(R"("parameters":{"priority":2,"timeout":20000000,"keep_alive":"-1"})"),
             {{"X-MLOS-Priority", "3"}, {"X-MLOS-Timeout-Ms", "20000"},
              {"X-MLOS-Keep-Alive", "10m"}});
  EXPECT_EQ(r.status, 200) << r.body;
  r = daemon_->Post("/models/" + Encode(kEcho) + "/inference",
                    R"({"input":[1,2],"parameters":{"priority":1,"keep_alive":600}})");
  EXPECT_EQ(r.status, 200) << r.body;
}

// [front-ends] Bad values are refused before the model runs, naming the header or parameter.
TEST_F(MlosdResourcesApiTest, BadOptionsAreRefusedNamingThem) {
  const struct {
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string error;
  } bad[] = {
      {KServeBody(), {{"X-MLOS-Priority", "high"}},
       "header 'X-MLOS-Priority': must be an integer >= 0"},
      {KServeBody(), {{"X-MLOS-Timeout-Ms", "1.5"}},
       "header 'X-MLOS-Timeout-Ms': must be an integer number of milliseconds >= 0"},
      {KServeBody(), {{"X-MLOS-Keep-Alive", "soon"}},
       "header 'X-MLOS-Keep-Alive': invalid duration 'soon'"},
      {KServeBody(R"("parameters":{"priority":-1})"), {},
       "parameter 'priority': must be an integer >= 0"},
      {KServeBody(R"("parameters":{"timeout":"5s"})"), {},
       "parameter 'timeout': must be an integer number of microseconds >= 0"},
      {KServeBody(R"("parameters":{"keep_alive":true})"), {},
       "parameter 'keep_alive': must be a duration string"},
  };
  for (const auto& b : bad) {
    Reply r = KServe(b.body, b.headers);
    EXPECT_EQ(r.status, 400) << b.error;
    EXPECT_EQ(r.Error().rfind(b.error, 0), 0u) << r.Error();
  }
  Reply r = daemon_->Post("/models/" + Encode(kEcho) + "/inference",
                          R"({"input":[1,2],"parameters":{"priority":"1"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "parameter 'priority': must be an integer >= 0");

  // gRPC: INVALID_ARGUMENT with the same words.
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(daemon_->grpc_target(), grpc::InsecureChannelCredentials()));
  const struct {
    const char* name;
    inference::InferParameter value;
    std::string error;
  } grpc_bad[] = {
      {"priority", [] { inference::InferParameter p; p.set_string_param("1"); return p; }(),
       "parameter 'priority': must be an integer >= 0"},
      {"timeout", [] { inference::InferParameter p; p.set_int64_param(-1); return p; }(),
       "parameter 'timeout': must be an integer number of microseconds >= 0"},
      {"keep_alive", [] { inference::InferParameter p; p.set_string_param("1x"); return p; }(),
       "parameter 'keep_alive': invalid duration '1x'"},
  };
  for (const auto& b : grpc_bad) {
    inference::ModelInferRequest req;
    req.set_model_name("test/echo");
    req.set_model_version("1.0.0");
    auto* in = req.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    in->add_shape(2);
    in->mutable_contents()->add_fp32_contents(1);
    in->mutable_contents()->add_fp32_contents(2);
    (*req.mutable_parameters())[b.name] = b.value;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    inference::ModelInferResponse res;
    grpc::Status st = stub->ModelInfer(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.error;
    EXPECT_EQ(st.error_message().rfind(b.error, 0), 0u) << st.error_message();
  }

  // IPC: a flag this server does not know, and a priority out of range.
  std::string answer;
  std::string unknown(1, '\x80');
  ipc::FrameHeader h = RawIpcInfer(unknown, &answer);
  EXPECT_EQ(h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
  EXPECT_EQ(answer, "ipc: unknown infer request extension flags 0x80");
  std::string huge;
  ipc::Writer w(huge);
  w.U8(ipc::kInferExtPriority);
  w.U32(0xFFFFFFFFu);
  h = RawIpcInfer(huge, &answer);
  EXPECT_EQ(h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
  EXPECT_EQ(answer, "INFER priority: must be at most 2147483647");
  // The frame without the block, and with a valid one, run.
  h = RawIpcInfer("", &answer);
  EXPECT_EQ(h.status, 0u) << answer;
  std::string good;
  ipc::Writer g(good);
  g.U8(ipc::kInferExtPriority | ipc::kInferExtKeepAlive);
  g.U32(1);
  g.I64(600000);
  h = RawIpcInfer(good, &answer);
  EXPECT_EQ(h.status, 0u) << answer;
}

// [front-ends, and the core's deadline while a model loads] A request's own timeout fails it
// when it would wait longer; without one it would wait for the load.
TEST_F(MlosdResourcesApiTest, TimeoutFailsARequestThatWaitsForALoad) {
  Register(TestingPackage("slow", R"({"behavior": "identity", "load_sleep_ms": 5000})"));
  const std::string slow = "test/slow@1.0.0";
  std::thread loader([&] { daemon_->Post("/models/" + Encode(slow) + "/load"); });
  for (int i = 0; i < 100 && Model(slow).value("state", "") != "LOADING"; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(Model(slow).value("state", ""), "LOADING");
  client::InferRequest req = EchoRequest();
  req.model = slow;
  req.options.timeout = milliseconds(300);
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c->Infer(req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), mlos::StatusCode::kDeadlineExceeded) << r.status().message();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  }
  Reply r = daemon_->Post("/v2/models/" + Encode(slow) + "/infer", KServeBody(),
                          {{"X-MLOS-Timeout-Ms", "300"}});
  EXPECT_EQ(r.status, 504) << r.body;
  loader.join();
}

// [front-ends] The documents carry every resource field (values are the core's).
TEST_F(MlosdResourcesApiTest, DocumentsCarryTheResourceFields) {
  json m = Model();
  for (const char* key : {"memory_bytes", "shared_memory_bytes", "memory_estimate_bytes",
                          "load_kind", "pinned", "keep_alive_ms", "priority",
                          "last_used_unix_ms", "evictions", "unload_reason"}) {
    EXPECT_TRUE(m.contains(key)) << key << " missing from " << m.dump();
  }
  json s = daemon_->Get("/stats").Json();
  for (const char* key :
       {"memory_budget_bytes", "memory_used_bytes", "memory_base_bytes", "evictions", "queues"}) {
    EXPECT_TRUE(s.contains(key)) << key << " missing from " << s.dump();
  }
  // The SDK decodes the same values from every transport.
  std::vector<client::ModelInfo> seen;
  for (const std::string& url : urls_) {
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto info = c->GetModel(kEcho);
    ASSERT_TRUE(info.ok()) << url << ": " << info.status().message();
    seen.push_back(*info);
  }
  for (const client::ModelInfo& i : seen) {
    EXPECT_EQ(i.pinned, seen[0].pinned);
    EXPECT_EQ(i.keep_alive_ms, seen[0].keep_alive_ms);
    EXPECT_EQ(i.priority, seen[0].priority);
    EXPECT_EQ(i.load_kind, seen[0].load_kind);
    EXPECT_EQ(i.memory_estimate_bytes, seen[0].memory_estimate_bytes);
    EXPECT_EQ(i.evictions, seen[0].evictions);
    EXPECT_EQ(i.unload_reason, seen[0].unload_reason);
  }
}

// [core: Core::Pin] Pin and unpin answer the model's status on every protocol.
TEST_F(MlosdResourcesApiTest, PinAndUnpinOnEveryProtocol) {
  Reply r = daemon_->Post("/models/" + Encode(kEcho) + "/pin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["pinned"], true);
  EXPECT_EQ(Model()["pinned"], true);
  r = daemon_->Post("/models/" + Encode(kEcho) + "/unpin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["pinned"], false);
  EXPECT_EQ(daemon_->Post("/models/" + Encode("test/nope@1") + "/pin").status, 404);
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto p = c->Pin(kEcho);
    ASSERT_TRUE(p.ok()) << p.status().message();
    EXPECT_TRUE(p->pinned);
    EXPECT_TRUE(c->GetModel(kEcho)->pinned);
    auto u = c->Unpin(kEcho);
    ASSERT_TRUE(u.ok()) << u.status().message();
    EXPECT_FALSE(u->pinned);
    auto missing = c->Pin("test/nope@1");
    EXPECT_EQ(missing.status().code(), mlos::StatusCode::kNotFound);
  }
}

// [core: keep_alive; service: RequestContext::keep_alive to the core] keep_alive 0 unloads the
// model after the request, on every protocol; the status says why.
TEST_F(MlosdResourcesApiTest, KeepAliveZeroUnloadsAfterTheRequest) {
  auto wait_unloaded = [&] {
    for (int i = 0; i < 200; ++i) {
      if (Model().value("state", "") != "READY") return true;
      std::this_thread::sleep_for(milliseconds(25));
    }
    return false;
  };
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    ASSERT_EQ(daemon_->Post("/models/" + Encode(kEcho) + "/load").status, 200);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    client::InferOptions o;
    o.keep_alive = milliseconds(0);
    auto r = c->Infer(EchoRequest(o));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(wait_unloaded()) << Model().dump();
  }
  ASSERT_EQ(daemon_->Post("/models/" + Encode(kEcho) + "/load").status, 200);
  EXPECT_EQ(KServe(KServeBody(), {{"X-MLOS-Keep-Alive", "0"}}).status, 200);
  EXPECT_TRUE(wait_unloaded()) << Model().dump();
  json m = Model();
  EXPECT_GE(m.value("evictions", 0), 1) << m.dump();
  EXPECT_EQ(m.value("unload_reason", ""), "keep_alive") << m.dump();
}

// [core: last use, load kind] A request and a load leave their marks in the status.
TEST_F(MlosdResourcesApiTest, StatusReportsUseAndLoadKind) {
  auto c = Connect(urls_[0]);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Infer(EchoRequest()).ok());
  auto m = c->GetModel(kEcho);
  ASSERT_TRUE(m.ok());
  EXPECT_GT(m->last_used_unix_ms, 0);
  EXPECT_EQ(m->load_kind, "cold");
  EXPECT_EQ(m->keep_alive_ms, -1);  // the default: never unloaded for idleness
  EXPECT_FALSE(m->pinned);
  EXPECT_GT(daemon_->Get("/stats").Json().value("memory_base_bytes", 0), 0);
}

// [front-ends] `mlos models` shows the resource columns; `mlos infer` checks its flags.
TEST_F(MlosdResourcesApiTest, CliListColumnsAndInferFlags) {
  if (!fs::exists(kMlos)) GTEST_SKIP() << "missing " << kMlos;
  CliRun list = Mlos({"models"});
  ASSERT_EQ(list.code, 0) << list.err;
  for (const char* column :
       {"STATE", "MEMORY", "LAST USED", "PINNED", "KEEP ALIVE", "ISOLATION", "in_process"}) {
    EXPECT_NE(list.out.find(column), std::string::npos) << column << " in " << list.out;
  }
  EXPECT_NE(list.out.find(kEcho), std::string::npos) << list.out;
  CliRun get = Mlos({"--json", "models", "get", kEcho});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_TRUE(json::parse(get.out).contains("keep_alive_ms")) << get.out;
  EXPECT_EQ(json::parse(get.out).value("isolation", ""), "in_process") << get.out;
  CliRun text = Mlos({"models", "get", kEcho});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("isolation:   in_process\n"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("worker pid:"), std::string::npos) << text.out;  // in-process

  const std::vector<std::string> infer = {"infer", kEcho, "-i", "input=[1,2]"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = infer;
    a.insert(a.end(), extra.begin(), extra.end());
    return Mlos(a);
  };
  CliRun ok = with({"--priority", "1", "--timeout-ms", "20000", "--keep-alive", "10m"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--priority", "-1"},
                                                               {"--priority", "high"},
                                                               {"--timeout-ms", "1.5"},
                                                               {"--timeout-ms", "-3"},
                                                               {"--keep-alive", "soon"}}) {
    CliRun r = with(bad);
    EXPECT_TRUE(OneErrorLine(r, 2)) << bad[0] << " " << bad[1];
    EXPECT_NE(r.err.find("bad " + bad[0]), std::string::npos) << r.err;
  }
}

// [core: Core::Pin] `mlos models pin` / `unpin`; unknown models are one error line.
TEST_F(MlosdResourcesApiTest, CliPinAndUnpin) {
  if (!fs::exists(kMlos)) GTEST_SKIP() << "missing " << kMlos;
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    CliRun pin = RunMlos({"--url", url, "--json", "models", "pin", kEcho}, tmp_.path());
    ASSERT_EQ(pin.code, 0) << pin.err;
    EXPECT_EQ(json::parse(pin.out)["pinned"], true);
    CliRun list = RunMlos({"--url", url, "models"}, tmp_.path());
    EXPECT_NE(list.out.find("yes"), std::string::npos) << list.out;
    CliRun unpin = RunMlos({"--url", url, "models", "unpin", kEcho}, tmp_.path());
    ASSERT_EQ(unpin.code, 0) << unpin.err;
    EXPECT_NE(unpin.out.find("pinned:      no"), std::string::npos) << unpin.out;
    EXPECT_TRUE(
        OneErrorLine(RunMlos({"--url", url, "models", "pin", "test/nope@1"}, tmp_.path()), 1));
  }
  EXPECT_TRUE(OneErrorLine(Mlos({"models", "pin"}), 2));
  EXPECT_TRUE(OneErrorLine(Mlos({"models", "unpin", kEcho, "extra"}), 2));
}

}  // namespace
}  // namespace mlostest
