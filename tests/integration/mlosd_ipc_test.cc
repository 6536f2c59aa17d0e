// The IPC front-end against the real mlosd (--ipc <tmp>/mlosd.sock), with a raw client built on
// wire/ipc_protocol.h: HELLO, health, metadata, inline and shared-memory inference (outputs
// compared with HTTP's), region checks, malformed frames, and SO_PEERCRED principals.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "wire/ipc_protocol.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

using namespace mlos::ipc;  // NOLINT

int ConnectUnix(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Answer {
  FrameHeader h;
  std::string payload;
  bool ok() const { return h.status == 0; }
};

class Client {
 public:
  explicit Client(const fs::path& path) : fd_(ConnectUnix(path)) {}
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  Answer Call(Op op, const std::string& payload, int pass_fd = -1) {
    FrameHeader h;
    h.op = static_cast<uint16_t>(op);
    h.request_id = ++next_id_;
    Answer a;
    EXPECT_TRUE(SendFrame(fd_, h, payload, pass_fd).ok());
    mlos::Status st = RecvFrame(fd_, a.h, a.payload);
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(a.h.request_id, h.request_id);
    EXPECT_EQ(a.h.op, h.op);
    return a;
  }
  static std::string Str(const std::string& s) {
    std::string out;
    Writer(out).Str(s);
    return out;
  }

 private:
  int fd_;
  uint64_t next_id_ = 0;
};

std::vector<float> Input(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 3.1);
  return v;
}

// A memfd of `size` bytes, sealed (or not) against shrinking.
int Memfd(size_t size, bool seal) {
  int fd = ::memfd_create("ipc-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  if (seal) {
    EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
  }
  return fd;
}

std::string RegisterPayload(const std::string& name, uint64_t offset, uint64_t size) {
  std::string p;
  Writer w(p);
  w.Str(name);
  w.U64(offset);
  w.U64(size);
  return p;
}

class MlosdIpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    sock_ = tmp_.path() / "mlosd.sock";
    // A stale socket file from an earlier run is replaced.
    {
      int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
      ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      ::close(s);
    }
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state",
                                       std::vector<std::string>{"--ipc", sock_.string()});
    ASSERT_TRUE(daemon_->Start());
    pkg_ = MlpPackage();
    const fs::path dir = WritePackage(tmp_.path(), pkg_);
    Reply r = daemon_->Post("/models/register", RegisterBody(pkg_, dir));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  InferRequestMsg MlpRequest() {
    InferRequestMsg m;
    m.model = "test/mlp";
    return m;
  }

  TempDir tmp_;
  fs::path sock_;
  std::unique_ptr<Daemon> daemon_;
  Package pkg_;
};

TEST_F(MlosdIpcTest, SocketModeHelloHealthMetadata) {
  struct stat st {};
  ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  Client c(sock_);
  ASSERT_TRUE(c.connected());
  std::string hello;
  Writer(hello).U16(1), Writer(hello).U16(7);
  Answer a = c.Call(Op::kHello, hello);
  ASSERT_TRUE(a.ok()) << a.payload;
  Reader r(a.payload);
  EXPECT_EQ(r.U16(), 1);
  EXPECT_EQ(r.U32(), kMaxPayload);
  EXPECT_EQ(std::string(r.Str()).rfind("mlosd ", 0), 0u);
  // No common version.
  std::string bad;
  Writer(bad).U16(5), Writer(bad).U16(9);
  a = c.Call(Op::kHello, bad);
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kFailedPrecondition));
  EXPECT_NE(a.payload.find("no common protocol version"), std::string::npos) << a.payload;

  a = c.Call(Op::kHealth, "");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.payload, std::string("\x01\x01", 2));

  a = c.Call(Op::kModelMetadata, Client::Str("test/mlp") + Client::Str(""));
  ASSERT_TRUE(a.ok()) << a.payload;
  json md = json::parse(a.payload);
  EXPECT_EQ(md["name"], "test/mlp");
  EXPECT_EQ(md["inputs"][0]["name"], "input");
  a = c.Call(Op::kModelMetadata, Client::Str("test/nope") + Client::Str(""));
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kNotFound));
  EXPECT_FALSE(a.payload.empty());

  a = c.Call(Op::kModelList, "");
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a.payload.find("test/mlp@1.0.0"), std::string::npos);

  a = c.Call(Op::kPeerInfo, "");
  ASSERT_TRUE(a.ok());
  Reader pr(a.payload);
  EXPECT_EQ(std::string(pr.Str()), "uid:" + std::to_string(::getuid()));
  EXPECT_EQ(pr.U32(), static_cast<uint32_t>(::getpid()));
  EXPECT_NE(daemon_->Log().find("principal uid:" + std::to_string(::getuid())),
            std::string::npos);

  a = c.Call(static_cast<Op>(999), "");
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kUnimplemented));
}

TEST_F(MlosdIpcTest, InlineInferMatchesHttp) {
  const std::vector<float> in = Input(3);
  json body = {{"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {3, 16}},
                            {"data", in}}}}};
  Reply hr = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  ASSERT_EQ(hr.status, 200) << hr.body;
  json hj = hr.Json();

  Client c(sock_);
  InferRequestMsg m = MlpRequest();
  WireTensor t;
  t.name = "input";
  t.dtype = 1;
  t.shape = {3, 16};
  t.data = std::string_view(reinterpret_cast<const char*>(in.data()), in.size() * 4);
  m.inputs.push_back(t);
  std::string payload;
  EncodeInferRequest(m, payload);
  Answer a = c.Call(Op::kInfer, payload);
  ASSERT_TRUE(a.ok()) << a.payload;
  auto resp = DecodeInferResponse(a.payload);
  ASSERT_TRUE(resp.ok()) << resp.status().message();
  EXPECT_EQ(resp->model_id, "test/mlp@1.0.0");
  ASSERT_EQ(resp->outputs.size(), 2u);
  for (const WireTensor& o : resp->outputs) {
    EXPECT_EQ(o.shape, (std::vector<int64_t>{3, 4}));
    ASSERT_EQ(o.data.size(), 48u);
    std::vector<float> got(12);
    std::memcpy(got.data(), o.data.data(), 48);
    bool found = false;
    for (const json& ho : hj["outputs"]) {
      if (ho["name"] != o.name) continue;
      found = true;
      std::vector<float> want = ho["data"].get<std::vector<float>>();
      EXPECT_EQ(got, want) << o.name;
    }
    EXPECT_TRUE(found) << o.name;
  }
  // Errors carry the core's message and status.
  m.inputs[0].shape = {3, 15};
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
  EXPECT_NE(a.payload.find("input"), std::string::npos) << a.payload;
  m.inputs[0].shape = {3, 16};
  m.model = "test/nope";
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kNotFound)) << a.payload;
}

TEST_F(MlosdIpcTest, SharedMemoryInferReadsAndWritesInPlace) {
  const std::vector<float> in = Input(2);
  Client c(sock_);
  // Reference, inline.
  InferRequestMsg ref = MlpRequest();
  WireTensor t;
  t.name = "input";
  t.dtype = 1;
  t.shape = {2, 16};
  t.data = std::string_view(reinterpret_cast<const char*>(in.data()), in.size() * 4);
  ref.inputs.push_back(t);
  std::string payload;
  EncodeInferRequest(ref, payload);
  // The reference answer keeps its payload: the decoded tensors are views of it.
  const Answer ref_answer = c.Call(Op::kInfer, payload);
  ASSERT_TRUE(ref_answer.ok()) << ref_answer.payload;
  auto want = DecodeInferResponse(ref_answer.payload);
  ASSERT_TRUE(want.ok());
  Answer a;

  const size_t size = 8192;
  int mfd = Memfd(size, true);
  auto* base = static_cast<uint8_t*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
  ASSERT_NE(base, MAP_FAILED);
  std::memcpy(base + 256, in.data(), in.size() * 4);
  a = c.Call(Op::kShmRegister, RegisterPayload("buf", 0, size), mfd);
  ASSERT_TRUE(a.ok()) << a.payload;
  ::close(mfd);

  a = c.Call(Op::kShmStatus, Client::Str(""));
  ASSERT_TRUE(a.ok());
  json sj = json::parse(a.payload);
  ASSERT_EQ(sj.size(), 1u);
  EXPECT_EQ(sj[0]["name"], "buf");
  EXPECT_EQ(sj[0]["byte_size"], size);

  InferRequestMsg m = MlpRequest();
  WireTensor s;
  s.name = "input";
  s.dtype = 1;
  s.shape = {2, 16};
  s.placement = Placement::kShm;
  s.region = "buf";
  s.offset = 256;
  s.byte_size = in.size() * 4;
  m.inputs.push_back(s);
  WireOutputSpec o1{"logits", Placement::kShm, "buf", 4096, 64};
  WireOutputSpec o2{"probs", Placement::kShm, "buf", 4096 + 64, 64};
  m.outputs = {o1, o2};
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  ASSERT_TRUE(a.ok()) << a.payload;
  auto got = DecodeInferResponse(a.payload);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->outputs.size(), 2u);
  for (const WireTensor& o : got->outputs) {
    EXPECT_EQ(o.placement, Placement::kShm);
    EXPECT_EQ(o.region, "buf");
    EXPECT_EQ(o.byte_size, 32u);  // [2,4] float32
    EXPECT_TRUE(o.data.empty());
    const WireTensor* w = nullptr;
    for (const WireTensor& x : want->outputs) {
      if (x.name == o.name) w = &x;
    }
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(std::memcmp(base + o.offset, w->data.data(), 32), 0) << o.name;
  }

  // Out of bounds: offset + size beyond the region.
  m.inputs[0].offset = size - 64;
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
  EXPECT_NE(a.payload.find("exceeds its 8192 bytes"), std::string::npos) << a.payload;
  // An output window too small for the output.
  m.inputs[0].offset = 256;
  m.outputs[0].byte_size = 16;
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  EXPECT_NE(a.h.status, 0u);
  EXPECT_NE(a.payload.find("do not fit"), std::string::npos) << a.payload;
  // Unknown region.
  m.outputs[0].byte_size = 64;
  m.inputs[0].region = "nope";
  payload.clear();
  EncodeInferRequest(m, payload);
  a = c.Call(Op::kInfer, payload);
  EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kNotFound)) << a.payload;

  // Another connection cannot use or unregister this connection's region.
  {
    Client other(sock_);
    m.inputs[0].region = "buf";
    payload.clear();
    EncodeInferRequest(m, payload);
    a = other.Call(Op::kInfer, payload);
    EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kNotFound)) << a.payload;
    a = other.Call(Op::kShmUnregister, Client::Str("buf"));
    EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kNotFound));
  }
  a = c.Call(Op::kShmUnregister, Client::Str("buf"));
  EXPECT_TRUE(a.ok()) << a.payload;
  ::munmap(base, size);
}

TEST_F(MlosdIpcTest, RegionChecksAndConnectionOwnership) {
  {
    Client c(sock_);
    int unsealed = Memfd(4096, false);
    Answer a = c.Call(Op::kShmRegister, RegisterPayload("u", 0, 4096), unsealed);
    ::close(unsealed);
    EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
    EXPECT_NE(a.payload.find("F_SEAL_SHRINK"), std::string::npos) << a.payload;
    // No descriptor.
    a = c.Call(Op::kShmRegister, RegisterPayload("n", 0, 4096));
    EXPECT_NE(a.payload.find("SCM_RIGHTS"), std::string::npos) << a.payload;
    // Region beyond the memfd.
    int small = Memfd(4096, true);
    a = c.Call(Op::kShmRegister, RegisterPayload("b", 0, 8192), small);
    ::close(small);
    EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
    int ok = Memfd(4096, true);
    a = c.Call(Op::kShmRegister, RegisterPayload("kept", 0, 4096), ok);
    ::close(ok);
    ASSERT_TRUE(a.ok()) << a.payload;
  }
  // The region went with its connection.
  for (int i = 0; i < 100; ++i) {
    Client c2(sock_);
    Answer a = c2.Call(Op::kShmStatus, Client::Str(""));
    ASSERT_TRUE(a.ok());
    if (json::parse(a.payload).empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "the closed connection's region is still registered";
}

TEST_F(MlosdIpcTest, MalformedFramesCloseOnlyThatConnection) {
  {
    Client c(sock_);
    SendAll(c.fd(), std::string(kHeaderSize, 'Z'));  // bad magic
    FrameHeader h;
    std::string p;
    ASSERT_TRUE(RecvFrame(c.fd(), h, p).ok());
    EXPECT_EQ(h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
    EXPECT_NE(p.find("magic"), std::string::npos) << p;
    EXPECT_EQ(RecvFrame(c.fd(), h, p).code(), mlos::StatusCode::kCancelled);
  }
  {
    Client c(sock_);
    FrameHeader h;
    h.op = static_cast<uint16_t>(Op::kInfer);
    h.length = 0xFFFFFFFF;  // over the 1 GiB cap
    uint8_t head[kHeaderSize];
    EncodeHeader(h, head);
    SendAll(c.fd(), std::string(reinterpret_cast<char*>(head), kHeaderSize));
    std::string p;
    ASSERT_TRUE(RecvFrame(c.fd(), h, p).ok());
    EXPECT_NE(p.find("exceeds the limit"), std::string::npos) << p;
  }
  {
    Client c(sock_);  // truncated frame, then the client goes away
    FrameHeader h;
    h.op = static_cast<uint16_t>(Op::kInfer);
    h.length = 1000;
    uint8_t head[kHeaderSize];
    EncodeHeader(h, head);
    SendAll(c.fd(), std::string(reinterpret_cast<char*>(head), kHeaderSize) + "abc");
  }
  {
    Client c(sock_);  // a garbage infer payload gets an error, the connection stays usable
    Answer a = c.Call(Op::kInfer, "garbage");
    EXPECT_EQ(a.h.status, static_cast<uint32_t>(mlos::StatusCode::kInvalidArgument));
    a = c.Call(Op::kHealth, "");
    EXPECT_TRUE(a.ok());
  }
  // Pipelining: several requests sent at once, answered in order with their ids.
  Client c(sock_);
  for (uint64_t id = 10; id < 15; ++id) {
    FrameHeader h;
    h.op = static_cast<uint16_t>(Op::kHealth);
    h.request_id = id;
    ASSERT_TRUE(SendFrame(c.fd(), h, "").ok());
  }
  for (uint64_t id = 10; id < 15; ++id) {
    FrameHeader h;
    std::string p;
    ASSERT_TRUE(RecvFrame(c.fd(), h, p).ok());
    EXPECT_EQ(h.request_id, id);
  }
  EXPECT_EQ(daemon_->Get("/health").status, 200);
}

// Not a benchmark (bench/ owns those) and no assertion on timing: prints p50 round trips (model
// compute included) inline and via shared memory, so regressions are visible in the test log.
TEST_F(MlosdIpcTest, LatencySmoke) {
  Client c(sock_);
  const size_t region = 64u << 20;
  int mfd = Memfd(region, true);
  auto* base = static_cast<uint8_t*>(
      ::mmap(nullptr, region, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
  ASSERT_NE(base, MAP_FAILED);
  ASSERT_TRUE(c.Call(Op::kShmRegister, RegisterPayload("lat", 0, region), mfd).ok());
  ::close(mfd);
  auto p50 = [&](int batch, bool shm, int iters) {
    const std::vector<float> in = Input(batch);
    InferRequestMsg m;
    m.model = "test/mlp";
    WireTensor t;
    t.name = "input";
    t.dtype = 1;
    t.shape = {batch, 16};
    if (shm) {
      std::memcpy(base, in.data(), in.size() * 4);
      t.placement = Placement::kShm;
      t.region = "lat";
      t.byte_size = in.size() * 4;
      const uint64_t out_at = (in.size() * 4 + 4095) / 4096 * 4096;
      m.outputs = {{"logits", Placement::kShm, "lat", out_at, uint64_t(batch) * 16},
                   {"probs", Placement::kShm, "lat", out_at + uint64_t(batch) * 16,
                    uint64_t(batch) * 16}};
    } else {
      t.data = std::string_view(reinterpret_cast<const char*>(in.data()), in.size() * 4);
    }
    m.inputs.push_back(t);
    std::string payload;
    EncodeInferRequest(m, payload);
    std::vector<double> us;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      Answer a = c.Call(Op::kInfer, payload);
      us.push_back(std::chrono::duration<double, std::micro>(
                       std::chrono::steady_clock::now() - t0).count());
      EXPECT_TRUE(a.ok()) << a.payload;
    }
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
  };
  const double inline1 = p50(1, false, 300), shm1 = p50(1, true, 300);
  const double inline_big = p50(65536, false, 20), shm_big = p50(65536, true, 20);  // 4 MiB in
  std::printf("ipc p50 round trip: batch 1 inline %.1f us, shm %.1f us; 4 MiB input inline "
              "%.1f us, shm %.1f us\n", inline1, shm1, inline_big, shm_big);
  ::munmap(base, region);
}

}  // namespace
}  // namespace mlostest
