// Streaming text generation over gRPC (mlos.v1.Management/Generate), IPC (GENERATE frames) and
// the C++ SDK over every URL scheme, end to end: the real mlosd with the llama.cpp plugin and
// the tiny-llama.gguf fixture (random weights; greedy decoding never ends early, so a request
// gets exactly max_tokens tokens). Greedy text is the same on every transport; a client that
// cancels stops the generation; errors have the same codes everywhere.
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <memory>

#include "mlos/client.h"
#include "mlos_management.grpc.pb.h"
#include "mlosd_harness.h"
#include "wire/ipc_protocol.h"

namespace mlostest {
namespace {

namespace ipc = mlos::ipc;
using mlos::StatusCode;

const fs::path kLlamaFixture = kFixtures / "tiny-llama.gguf";
const char kModel[] = "test/tiny-llama";
const char kPrompt[] = "Once upon a time";

Package LlamaPackage() {
  Package p;
  p.name = "tiny-llama";
  p.framework = "gguf";
  p.execution_format = "gguf";
  p.file_name = "tiny-llama.gguf";
  p.file_contents = ReadFileBytes(kLlamaFixture);
  return p;
}

// One daemon (HTTP, gRPC and IPC) with the model registered and loaded, shared by the tests.
struct Env {
  TempDir dir;
  std::unique_ptr<Daemon> daemon;
  std::string why_not;  // set when the environment could not be made

  Env() {
    for (const fs::path& p : {kMlosd, kLlamaFixture, kPlugins / "libmlos_llama.so"}) {
      if (!fs::exists(p)) {
        why_not = "missing " + p.string();
        return;
      }
    }
    const fs::path state = dir.path() / "state";
    daemon = std::make_unique<Daemon>(
        state, std::vector<std::string>{"--grpc", "127.0.0.1:0", "--ipc",
                                        (dir.path() / "mlosd.sock").string()});
    if (auto started = daemon->Start(); !started) {
      why_not = started.message();
      return;
    }
    const Package pkg = LlamaPackage();
    const fs::path pkg_dir = WritePackage(dir.path(), pkg);
    Reply r = daemon->Post("/models/register", RegisterBody(pkg, pkg_dir));
    if (r.status != 200 && r.status != 201) {
      why_not = "register: " + std::to_string(r.status) + " " + r.body;
      return;
    }
    r = daemon->Post("/models/" + Encode(pkg.Id()) + "/load");
    if (r.status != 200) why_not = "load: " + std::to_string(r.status) + " " + r.body;
  }
};

Env* env = nullptr;

class LlmStreamTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
  void SetUp() override {
    if (!env) env = new Env();
    if (!env->why_not.empty()) {
      if (env->daemon == nullptr) GTEST_SKIP() << env->why_not;
      FAIL() << env->why_not << "\nlog:\n" << env->daemon->Log();
    }
  }
  Daemon& daemon() { return *env->daemon; }
  std::string GrpcUrl() { return "grpc://" + daemon().grpc_target(); }
  std::string HttpUrl() { return "http://127.0.0.1:" + std::to_string(daemon().http_port()); }
  std::string UnixUrl() { return "unix://" + daemon().ipc_path(); }

  std::unique_ptr<mlos::v1::Management::Stub> Stub() {
    return mlos::v1::Management::NewStub(
        grpc::CreateChannel(daemon().grpc_target(), grpc::InsecureChannelCredentials()));
  }
};

mlos::v1::GenerateRequest GreedyRequest(int64_t max_tokens, const std::string& model = kModel) {
  mlos::v1::GenerateRequest req;
  req.set_model(model);
  req.set_prompt(kPrompt);
  req.mutable_max_tokens()->set_value(max_tokens);
  req.mutable_temperature()->set_value(0);
  return req;
}

// ---- IPC, on raw frames ----

class IpcConn {
 public:
  explicit IpcConn(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{60, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~IpcConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

  bool Send(ipc::Op op, uint64_t id, const std::string& payload) {
    ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(op);
    h.request_id = id;
    h.length = static_cast<uint32_t>(payload.size());
    return ipc::SendFrame(fd_, h, payload).ok();
  }
  bool Recv(ipc::FrameHeader& h, std::string& payload) {
    return ipc::RecvFrame(fd_, h, payload).ok();
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

struct IpcGeneration {
  std::vector<std::string> chunks;
  uint32_t status = 0;
  std::string last;  // the usage JSON or the error message
  std::string text() const {
    std::string t;
    for (const auto& c : chunks) t += c;
    return t;
  }
};

// Reads the frames of GENERATE `id` up to its last one.
IpcGeneration ReadGeneration(IpcConn& c, uint64_t id) {
  IpcGeneration g;
  for (;;) {
    ipc::FrameHeader h;
    std::string payload;
    if (!c.Recv(h, payload)) {
      ADD_FAILURE() << "the connection ended before the last GENERATE frame";
      return g;
    }
    EXPECT_EQ(h.request_id, id);
    if (h.op == static_cast<uint16_t>(ipc::Op::kGenerateChunk)) {
      EXPECT_EQ(h.status, 0u);
      g.chunks.push_back(payload);
      continue;
    }
    EXPECT_EQ(h.op, static_cast<uint16_t>(ipc::Op::kGenerate));
    g.status = h.status;
    g.last = payload;
    return g;
  }
}

std::string GenerateJson(int64_t max_tokens, const std::string& model = kModel) {
  return json{{"model", model},
              {"prompt", kPrompt},
              {"params", {{"max_tokens", max_tokens}, {"temperature", 0}}}}
      .dump();
}

// ---- the tests ----

TEST_F(LlmStreamTest, GrpcStreamsChunksThenUsage) {
  auto stub = Stub();
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, GreedyRequest(16));
  mlos::v1::GenerateResponse msg;
  int chunks = 0, lasts = 0;
  std::string text;
  mlos::v1::GenerateResponse last;
  while (reader->Read(&msg)) {
    if (msg.done()) {
      ++lasts;
      last = msg;
    } else {
      ++chunks;
      EXPECT_FALSE(msg.text().empty());
      EXPECT_EQ(lasts, 0) << "a chunk after the last message";
      text += msg.text();
    }
  }
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GE(chunks, 2);
  EXPECT_FALSE(text.empty());
  ASSERT_EQ(lasts, 1);
  EXPECT_EQ(last.finish_reason(), "length");
  EXPECT_EQ(last.completion_tokens(), 16u);
  EXPECT_GT(last.prompt_tokens(), 0u);
  EXPECT_EQ(last.model_id(), std::string(kModel) + "@1.0.0");
}

TEST_F(LlmStreamTest, IpcStreamsChunkFramesThenUsage) {
  IpcConn c(daemon().ipc_path());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 7, GenerateJson(16)));
  IpcGeneration g = ReadGeneration(c, 7);
  ASSERT_EQ(g.status, 0u) << g.last;
  EXPECT_GE(g.chunks.size(), 2u);
  json usage = json::parse(g.last, nullptr, false);
  ASSERT_TRUE(usage.is_object()) << g.last;
  EXPECT_EQ(usage["finish_reason"], "length");
  EXPECT_EQ(usage["completion_tokens"], 16);
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(usage["model_id"], std::string(kModel) + "@1.0.0");
  // The connection goes on: a HEALTH after it is answered.
  ASSERT_TRUE(c.Send(ipc::Op::kHealth, 8, ""));
  ipc::FrameHeader h;
  std::string payload;
  ASSERT_TRUE(c.Recv(h, payload));
  EXPECT_EQ(h.request_id, 8u);
  EXPECT_EQ(h.status, 0u);
}

TEST_F(LlmStreamTest, GreedyTextIsTheSameOverEveryTransport) {
  // Raw gRPC and raw IPC first, then the SDK over each scheme.
  std::string grpc_text;
  {
    auto stub = Stub();
    grpc::ClientContext ctx;
    auto reader = stub->Generate(&ctx, GreedyRequest(12));
    mlos::v1::GenerateResponse msg;
    while (reader->Read(&msg)) grpc_text += msg.text();
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_FALSE(grpc_text.empty());
  {
    IpcConn c(daemon().ipc_path());
    ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 1, GenerateJson(12)));
    IpcGeneration g = ReadGeneration(c, 1);
    ASSERT_EQ(g.status, 0u) << g.last;
    EXPECT_EQ(g.text(), grpc_text);
  }
  for (const std::string& url : {GrpcUrl(), UnixUrl(), HttpUrl()}) {
    SCOPED_TRACE(url);
    auto client = mlos::client::Client::Connect(url);
    ASSERT_TRUE(client.ok()) << client.status().message();
    mlos::client::GenerateOptions o;
    o.model = kModel;
    o.prompt = kPrompt;
    o.max_tokens = 12;
    o.temperature = 0;
    std::string streamed;
    int calls = 0;
    auto r = (*client)->Generate(o, [&](std::string_view t) {
      streamed.append(t);
      ++calls;
      return true;
    });
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->text, grpc_text);
    EXPECT_EQ(streamed, grpc_text);
    EXPECT_GE(calls, 2);
    EXPECT_EQ(r->finish_reason, "length");
    EXPECT_EQ(r->completion_tokens, 12u);
    EXPECT_GT(r->prompt_tokens, 0u);
  }
}

TEST_F(LlmStreamTest, ChatOverEveryTransportGivesTheSameGreedyAnswer) {
  std::string first;
  for (const std::string& url : {GrpcUrl(), UnixUrl(), HttpUrl()}) {
    SCOPED_TRACE(url);
    auto client = mlos::client::Client::Connect(url);
    ASSERT_TRUE(client.ok()) << client.status().message();
    mlos::client::GenerateOptions o;
    o.model = kModel;
    o.messages = {{"system", "You are terse."}, {"user", "Hello there"}};
    o.max_tokens = 8;
    o.temperature = 0;
    auto r = (*client)->Generate(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_FALSE(r->text.empty());
    EXPECT_EQ(r->completion_tokens, 8u);
    if (first.empty()) first = r->text;
    EXPECT_EQ(r->text, first);
  }
}

TEST_F(LlmStreamTest, GrpcClientCancelStopsTheGeneration) {
  auto stub = Stub();
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, GreedyRequest(400));
  mlos::v1::GenerateResponse msg;
  int chunks = 0;
  const auto start = std::chrono::steady_clock::now();
  while (chunks < 2 && reader->Read(&msg)) {
    if (!msg.done()) ++chunks;
  }
  ASSERT_EQ(chunks, 2);
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED) << st.error_message();
  // The server stopped it: a new generation is served at once (the 400 tokens would take far
  // longer on this CPU).
  auto r = mlos::client::Client::Connect(GrpcUrl());
  ASSERT_TRUE(r.ok());
  mlos::client::GenerateOptions o;
  o.model = kModel;
  o.prompt = kPrompt;
  o.max_tokens = 4;
  o.temperature = 0;
  auto after = (*r)->Generate(o);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(after->completion_tokens, 4u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

TEST_F(LlmStreamTest, IpcCancelStopsTheGenerationAndIsAnswered) {
  IpcConn c(daemon().ipc_path());
  ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 21, GenerateJson(400)));
  ipc::FrameHeader h;
  std::string payload;
  for (int chunks = 0; chunks < 2;) {
    ASSERT_TRUE(c.Recv(h, payload));
    ASSERT_EQ(h.request_id, 21u);
    ASSERT_EQ(h.op, static_cast<uint16_t>(ipc::Op::kGenerateChunk)) << payload;
    ++chunks;
  }
  std::string cancel;
  ipc::Writer(cancel).U64(21);
  ASSERT_TRUE(c.Send(ipc::Op::kCancel, 22, cancel));
  IpcGeneration g = ReadGeneration(c, 21);
  ASSERT_EQ(g.status, 0u) << g.last;
  json usage = json::parse(g.last, nullptr, false);
  EXPECT_EQ(usage["finish_reason"], "cancelled") << g.last;
  EXPECT_LT(usage["completion_tokens"].get<int>(), 400);
  ASSERT_TRUE(c.Recv(h, payload));  // CANCEL's own answer, after the generation's last frame
  EXPECT_EQ(h.request_id, 22u);
  EXPECT_EQ(h.op, static_cast<uint16_t>(ipc::Op::kCancel));
  EXPECT_EQ(payload, std::string(1, '\1'));
  // A CANCEL with nothing running is answered 0.
  ASSERT_TRUE(c.Send(ipc::Op::kCancel, 23, cancel));
  ASSERT_TRUE(c.Recv(h, payload));
  EXPECT_EQ(h.request_id, 23u);
  EXPECT_EQ(payload, std::string(1, '\0'));
}

TEST_F(LlmStreamTest, IpcClosingTheConnectionStopsTheGeneration) {
  {
    IpcConn c(daemon().ipc_path());
    ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 1, GenerateJson(400)));
    ipc::FrameHeader h;
    std::string payload;
    ASSERT_TRUE(c.Recv(h, payload));
    EXPECT_EQ(h.op, static_cast<uint16_t>(ipc::Op::kGenerateChunk));
  }  // closed
  // The server serves the next request promptly (the model is free again).
  IpcConn c(daemon().ipc_path());
  ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 2, GenerateJson(4)));
  IpcGeneration g = ReadGeneration(c, 2);
  EXPECT_EQ(g.status, 0u) << g.last;
}

TEST_F(LlmStreamTest, SdkCancelOverEveryScheme) {
  for (const std::string& url : {GrpcUrl(), UnixUrl(), HttpUrl()}) {
    SCOPED_TRACE(url);
    auto client = mlos::client::Client::Connect(url);
    ASSERT_TRUE(client.ok()) << client.status().message();
    mlos::client::GenerateOptions o;
    o.model = kModel;
    o.prompt = kPrompt;
    o.max_tokens = 400;
    o.temperature = 0;
    int calls = 0;
    auto r = (*client)->Generate(o, [&](std::string_view) { return ++calls < 2; });
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->finish_reason, "cancelled");
    EXPECT_EQ(calls, 2);
    // The same client goes on working.
    o.max_tokens = 3;
    auto again = (*client)->Generate(o);
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_EQ(again->completion_tokens, 3u);
  }
}

TEST_F(LlmStreamTest, UnknownModelIsNotFoundEverywhere) {
  {
    auto stub = Stub();
    grpc::ClientContext ctx;
    auto reader = stub->Generate(&ctx, GreedyRequest(4, "test/nope"));
    mlos::v1::GenerateResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    IpcConn c(daemon().ipc_path());
    ASSERT_TRUE(c.Send(ipc::Op::kGenerate, 3, GenerateJson(4, "test/nope")));
    IpcGeneration g = ReadGeneration(c, 3);
    EXPECT_EQ(g.status, static_cast<uint32_t>(StatusCode::kNotFound)) << g.last;
    EXPECT_TRUE(g.chunks.empty());
  }
  for (const std::string& url : {GrpcUrl(), UnixUrl(), HttpUrl()}) {
    SCOPED_TRACE(url);
    auto client = mlos::client::Client::Connect(url);
    ASSERT_TRUE(client.ok());
    mlos::client::GenerateOptions o;
    o.model = "test/nope";
    o.prompt = kPrompt;
    auto r = (*client)->Generate(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().message();
  }
}

TEST_F(LlmStreamTest, BadParametersAreInvalidArgument) {
  {  // gRPC: a request option out of range, and a value the plugin refuses
    auto stub = Stub();
    grpc::ClientContext ctx;
    auto req = GreedyRequest(4);
    req.mutable_keep_alive()->set_value("not-a-duration");
    auto reader = stub->Generate(&ctx, req);
    mlos::v1::GenerateResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  }
  IpcConn c(daemon().ipc_path());
  // Not JSON, a params that is not an object, a sampling value of the wrong type.
  const std::vector<std::string> bad = {
      "{not json",
      json{{"model", kModel}, {"prompt", kPrompt}, {"params", "hot"}}.dump(),
      json{{"model", kModel}, {"prompt", kPrompt}, {"params", {{"temperature", "hot"}}}}.dump(),
  };
  uint64_t id = 100;
  for (const std::string& payload : bad) {
    SCOPED_TRACE(payload);
    ASSERT_TRUE(c.Send(ipc::Op::kGenerate, ++id, payload));
    IpcGeneration g = ReadGeneration(c, id);
    EXPECT_EQ(g.status, static_cast<uint32_t>(StatusCode::kInvalidArgument)) << g.last;
  }
  for (const std::string& url : {GrpcUrl(), UnixUrl(), HttpUrl()}) {
    SCOPED_TRACE(url);
    auto client = mlos::client::Client::Connect(url);
    ASSERT_TRUE(client.ok());
    mlos::client::GenerateOptions o;
    o.model = kModel;
    o.prompt = kPrompt;
    o.max_tokens = 4;
    o.temperature = -1;  // the plugin refuses a negative temperature
    auto r = (*client)->Generate(o);
    ASSERT_FALSE(r.ok()) << r->text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().message();
  }
}

// Stopping the daemon while a gRPC generation streams: the drain lets it finish when it can
// within mlosd's 30 s gRPC grace (the whole stream, with its last message) and cancels it
// otherwise; either way mlosd exits cleanly (its gRPC server waits for generation threads
// before it shuts its completion queue down).
TEST(LlmShutdownTest, SigtermDrainsAGrpcGenerationInFlight) {
  for (const fs::path& p : {kMlosd, kLlamaFixture, kPlugins / "libmlos_llama.so"}) {
    if (!fs::exists(p)) GTEST_SKIP() << "missing " << p;
  }
  TempDir dir;
  Daemon d(dir.path() / "state", {"--grpc", "127.0.0.1:0"});
  ASSERT_TRUE(d.Start());
  const Package pkg = LlamaPackage();
  Reply r = d.Post("/models/register", RegisterBody(pkg, WritePackage(dir.path(), pkg)));
  ASSERT_EQ(r.status, 200) << r.body;
  r = d.Post("/models/" + Encode(pkg.Id()) + "/load");
  ASSERT_EQ(r.status, 200) << r.body;
  auto stub = mlos::v1::Management::NewStub(
      grpc::CreateChannel(d.grpc_target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, GreedyRequest(100));
  mlos::v1::GenerateResponse msg;
  for (int chunks = 0; chunks < 2;) {
    ASSERT_TRUE(reader->Read(&msg));
    if (!msg.text().empty()) ++chunks;
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(d.Stop(SIGTERM), 0) << d.Log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  mlos::v1::GenerateResponse last;
  while (reader->Read(&msg)) {
    if (msg.done()) last = msg;
  }
  const grpc::Status st = reader->Finish();
  if (st.ok()) {
    EXPECT_TRUE(last.done());
    EXPECT_EQ(last.completion_tokens(), 100u);
  } else {  // a slow machine: the grace ran out
    EXPECT_FALSE(last.done());
  }
}

// A third-party client: Python's grpcio (stubs generated from proto/mlos_management.proto at
// run time) streams the same greedy text as the SDK.
TEST_F(LlmStreamTest, PythonGrpcioClientStreamsTheSameText) {
  const std::string python = "/usr/bin/python3";
  if (std::system((python + " -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "python3 grpcio / grpc_tools not installed";
  }
  const std::string cmd =
      python + " " + (fs::path(MLOS_SOURCE_DIR) / "tests/integration/grpc_python_client.py").string() +
      " --grpc " + daemon().grpc_target() + " --proto-dir " +
      (fs::path(MLOS_SOURCE_DIR) / "proto").string() + " --generate " + kModel + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  const size_t at = out.find("TEXT ");
  ASSERT_NE(at, std::string::npos) << out;
  const json text = json::parse(out.substr(at + 5, out.find('\n', at) - at - 5), nullptr, false);
  ASSERT_TRUE(text.is_string()) << out;

  auto client = mlos::client::Client::Connect(GrpcUrl());
  ASSERT_TRUE(client.ok());
  mlos::client::GenerateOptions o;
  o.model = kModel;
  o.prompt = kPrompt;
  o.max_tokens = 8;
  o.temperature = 0;
  auto r = (*client)->Generate(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(text.get<std::string>(), r->text);
}

}  // namespace
}  // namespace mlostest
