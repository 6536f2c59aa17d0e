// Connection limits against floods and slow clients, on the real mlosd (docs/reliability.md,
// "Load and faults"): HTTP (max_connections -> 503, a trickled request head closed after
// header_timeout, idle keep-alive closed after idle_timeout, an oversized head -> 431, clients
// that leave mid-request), IPC (the same with frames, an error frame over the limit) and gRPC
// (the handshake timeout, the metadata limit, a flood of silent connections); after each the
// daemon still answers, and the metrics count what was dropped.
#include <grpcpp/grpcpp.h>
#include <sys/un.h>

#include <regex>

#include "grpc_service.grpc.pb.h"
#include "mlosd_harness.h"
#include "wire/ipc_protocol.h"

namespace mlostest {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until the server closes `fd` (EOF or a reset; any bytes it sends first are returned in
// *got). False when it is still open after `limit`.
bool WaitClosed(int fd, std::chrono::milliseconds limit, std::string* got = nullptr) {
  const auto end = Clock::now() + limit;
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return true;  // reset
    }
    if (got) got->append(buf, static_cast<size_t>(n));
  }
  return false;
}

// Reads one HTTP answer on a keep-alive connection (Content-Length framed).
Reply ReadReply(int fd) {
  std::string raw;
  char buf[4096];
  for (;;) {
    const size_t head = raw.find("\r\n\r\n");
    if (head != std::string::npos) {
      std::smatch m;
      const std::string h = raw.substr(0, head);
      static const std::regex len("[Cc]ontent-[Ll]ength: *([0-9]+)");
      const size_t body = std::regex_search(h, m, len) ? std::stoul(m[1]) : 0;
      if (raw.size() >= head + 4 + body) return ParseReply(raw.substr(0, head + 4 + body));
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return ParseReply(raw);
    raw.append(buf, static_cast<size_t>(n));
  }
}

const std::string kLive = "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// The value of a metric series, e.g. mlos_connections_dropped_total{protocol="http",...}.
double Metric(Daemon& d, const std::string& name, const std::string& labels) {
  const std::string text = d.Get("/metrics").body;
  const std::string key = name + "{" + labels + "}";
  const size_t at = text.find(key + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + key.size() + 1));
}

class MlosdLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
  }
  std::unique_ptr<Daemon> Start(const std::string& config, std::vector<std::string> args = {}) {
    const fs::path file = tmp_.path() / ("config-" + std::to_string(++n_) + ".yaml");
    std::ofstream(file) << config;
    args.insert(args.begin(), {"--config", file.string()});
    auto d = std::make_unique<Daemon>(tmp_.path() / ("state-" + std::to_string(n_)), args);
    EXPECT_TRUE(d->Start());
    return d;
  }
  TempDir tmp_;
  int n_ = 0;
};

TEST_F(MlosdLimitsTest, HttpSlowHeadIdleAndOversizedHeadAreClosed) {
  auto d = Start("http: {header_timeout_s: 1, idle_timeout_s: 2, max_header_bytes: 2048}\n");
  // A head over the limit: 431 naming it.
  Reply big = d->Get("/v2/health/live");
  ASSERT_EQ(big.status, 200);
  big = Http(d->port(), "GET", "/v2/health/live", "", {{"X-Pad", std::string(4096, 'a')}});
  EXPECT_EQ(big.status, 431);
  EXPECT_NE(big.Error().find("2048 bytes"), std::string::npos) << big.body;

  // Slowloris: a header line every 200 ms never completes the head; closed after ~1 s.
  int slow = Connect(d->port());
  ASSERT_GE(slow, 0);
  const auto t0 = Clock::now();
  ASSERT_TRUE(SendAll(slow, "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!SendAll(slow, "X-Slow: " + std::to_string(i) + "\r\n")) {
      closed = true;
      break;
    }
    closed = WaitClosed(slow, std::chrono::milliseconds(200));
  }
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(closed) << "a trickled head kept the connection open for 8 s";
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 4.0);
  ::close(slow);

  // A silent new connection: the same limit.
  int silent = Connect(d->port());
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(WaitClosed(silent, std::chrono::seconds(4)));
  ::close(silent);

  // Keep-alive: open between requests (well under the idle timeout), closed once idle for 2 s.
  int ka = Connect(d->port());
  ASSERT_GE(ka, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SendAll(ka, kLive));
    EXPECT_EQ(ReadReply(ka).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // > header, < idle timeout
  }
  const auto idle_from = Clock::now();
  EXPECT_TRUE(WaitClosed(ka, std::chrono::seconds(5)));
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - idle_from).count(), 0.5);
  ::close(ka);

  EXPECT_GE(Metric(*d, "mlos_connections_dropped_total", "protocol=\"http\",reason=\"timed_out\""),
            2);
  EXPECT_EQ(d->Get("/v2/health/live").status, 200);
}

TEST_F(MlosdLimitsTest, HttpConnectionLimitAnswers503AndRecovers) {
  auto d = Start("http: {max_connections: 8, header_timeout_s: 5, idle_timeout_s: 30}\n");
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) {
    // With 7 held, the metrics request is the 8th open connection.
    if (i == 7) {
      EXPECT_EQ(Metric(*d, "mlos_connections_open", "protocol=\"http\""), 8);
    }
    // (The metrics connection's session may end a moment after the client saw it close.)
    int status = 0;
    for (int attempt = 0; attempt < 20 && status != 200; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int fd = Connect(d->port());
      ASSERT_GE(fd, 0);
      ASSERT_TRUE(SendAll(fd, kLive));
      status = ReadReply(fd).status;
      if (status == 200) {
        held.push_back(fd);
      } else {
        ::close(fd);
      }
    }
    ASSERT_EQ(status, 200) << "connection " << i;
  }
  // Over the limit: a clear 503 with Retry-After, then the connection closes.
  Reply r = Http(d->port(), "GET", "/v2/health/live");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.Error().find("too many open connections"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  // A flood of 200 more, some sending a request with a body, none served.
  std::vector<int> flood;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect(d->port());
    if (fd < 0) continue;
    if (i % 2) {
      (void)SendAll(fd, "POST /v2/models/x/infer HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{");
    }
    flood.push_back(fd);
  }
  for (int fd : flood) ::close(fd);
  // Freeing held connections lets new clients in again.
  for (int i = 0; i < 4; ++i) ::close(held[static_cast<size_t>(i)]);
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = Http(d->port(), "GET", "/v2/health/live").status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(served);
  EXPECT_GE(Metric(*d, "mlos_connections_dropped_total", "protocol=\"http\",reason=\"refused\""),
            1);
  for (size_t i = 4; i < held.size(); ++i) ::close(held[i]);
}

TEST_F(MlosdLimitsTest, HttpClientsLeavingMidRequestChangeNothing) {
  auto d = Start("http: {header_timeout_s: 2}\n");
  const Package pkg = TestingPackage("slow", R"({"behavior": "sleep", "sleep_ms": 400})");
  const fs::path dir = WritePackage(tmp_.path() / "pkgs", pkg);
  ASSERT_EQ(d->Post("/models/register", RegisterBody(pkg, dir)).status, 200);
  const std::string infer = "/v2/models/" + Encode(pkg.Id()) + "/infer";
  const std::string body =
      R"({"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1.0]}]})";
  for (int i = 0; i < 20; ++i) {
    int fd = Connect(d->port());
    ASSERT_GE(fd, 0);
    const std::string head = "POST " + infer + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n";
    if (i % 3 == 0) {
      (void)SendAll(fd, head.substr(0, head.size() / 2));  // mid-head
    } else if (i % 3 == 1) {
      (void)SendAll(fd, head + body.substr(0, 10));  // mid-body
    } else {
      (void)SendAll(fd, head + body);  // while the model runs
    }
    ::close(fd);
  }
  Reply r = d->Post(infer, body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(d->Get("/v2/health/ready").status, 200);
}

// ---- IPC ----

int IpcConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// HELLO; the answer's status (OK, or the refusal's) and message.
mlos::StatusCode Hello(int fd, std::string* message = nullptr) {
  mlos::ipc::FrameHeader h;
  h.op = static_cast<uint16_t>(mlos::ipc::Op::kHello);
  h.request_id = 1;
  std::string payload;
  mlos::ipc::Writer w(payload);
  w.U16(mlos::ipc::kVersionMin);
  w.U16(mlos::ipc::kVersionMax);
  (void)mlos::ipc::SendFrame(fd, h, payload);
  mlos::ipc::FrameHeader back;
  std::string answer;
  if (!mlos::ipc::RecvFrame(fd, back, answer).ok()) return mlos::StatusCode::kUnavailable;
  if (message) *message = answer;
  return static_cast<mlos::StatusCode>(back.status);
}

TEST_F(MlosdLimitsTest, IpcLimitsStalledFramesIdleAndFlood) {
  const std::string sock = (tmp_.path() / "mlosd.sock").string();
  auto d = Start("ipc: {max_connections: 4, header_timeout_s: 1, idle_timeout_s: 2}\n",
                 {"--ipc", sock});
  // Four clients fill the limit; a fifth gets an error frame saying so, then EOF.
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    int fd = IpcConnect(sock);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(Hello(fd), mlos::StatusCode::kOk);
    held.push_back(fd);
  }
  int extra = IpcConnect(sock);
  ASSERT_GE(extra, 0);
  std::string why;
  EXPECT_EQ(Hello(extra, &why), mlos::StatusCode::kResourceExhausted);
  EXPECT_NE(why.find("too many open connections"), std::string::npos) << why;
  ::close(extra);
  // Idle for 2 s: closed by the server (the held ones are idle too).
  EXPECT_TRUE(WaitClosed(held[0], std::chrono::seconds(5)));
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // A frame that starts and stalls (half a header; then a header whose payload never comes):
  // the connection is closed after ~1 s and its thread is not kept.
  for (size_t cut : {size_t{10}, mlos::ipc::kHeaderSize}) {
    int fd = IpcConnect(sock);
    ASSERT_GE(fd, 0);
    mlos::ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(mlos::ipc::Op::kHello);
    h.length = 4;
    uint8_t head[mlos::ipc::kHeaderSize];
    mlos::ipc::EncodeHeader(h, head);
    ASSERT_TRUE(SendAll(fd, std::string_view(reinterpret_cast<char*>(head), cut)));
    const auto t0 = Clock::now();
    EXPECT_TRUE(WaitClosed(fd, std::chrono::seconds(5))) << "cut at " << cut;
    EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.8);
    ::close(fd);
  }
  EXPECT_GE(Metric(*d, "mlos_connections_dropped_total", "protocol=\"ipc\",reason=\"timed_out\""),
            2);
  EXPECT_GE(Metric(*d, "mlos_connections_dropped_total", "protocol=\"ipc\",reason=\"refused\""),
            1);
  int fd = IpcConnect(sock);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Hello(fd), mlos::StatusCode::kOk);
  ::close(fd);
}

// ---- gRPC ----

TEST_F(MlosdLimitsTest, GrpcHandshakeTimeoutMetadataLimitAndSilentFlood) {
  auto d = Start("grpc: {header_timeout_s: 1, max_header_bytes: 2048}\n",
                 {"--grpc", "127.0.0.1:0"});
  // Each call comes from a new client on a connection of its own (a local subchannel pool): the
  // server ends the connection of a call whose metadata is over the limit (an HPACK error is a
  // connection error), and a later call on that connection would fail with "Socket closed".
  auto live = [&](const std::string& pad) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(d->grpc_target(), grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    // Waits out a failed connection attempt (Debian's gRPC 1.51 client can take an in-progress
    // connect for a failed one: docs/reliability.md, Soak) instead of failing the probe.
    ctx.set_wait_for_ready(true);
    if (!pad.empty()) ctx.AddMetadata("x-pad", pad);
    inference::ServerLiveRequest req;
    inference::ServerLiveResponse res;
    return stub->ServerLive(&ctx, req, &res);
  };
  auto text = [](const grpc::Status& st) {
    return std::to_string(st.error_code()) + " " + st.error_message();
  };
  grpc::Status st = live("");
  ASSERT_TRUE(st.ok()) << text(st);
  EXPECT_FALSE(live(std::string(8192, 'a')).ok()) << "metadata over grpc.max_metadata_size";
  // A TCP connection that never speaks HTTP/2 is closed after the handshake timeout.
  int silent = Connect(d->grpc_port());
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(WaitClosed(silent, std::chrono::seconds(6)));
  ::close(silent);
  // 300 silent connections at once: a real client is still served meanwhile.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    int fd = Connect(d->grpc_port());
    if (fd >= 0) flood.push_back(fd);
  }
  st = live("");
  EXPECT_TRUE(st.ok()) << text(st);
  for (int fd : flood) ::close(fd);
  st = live("");
  EXPECT_TRUE(st.ok()) << text(st);
}

TEST_F(MlosdLimitsTest, BadLimitConfigIsRefusedWithItsPath) {
  const fs::path file = tmp_.path() / "bad.yaml";
  for (const auto& [yaml, path] : std::vector<std::pair<std::string, std::string>>{
           {"http: {header_timeout_s: 0}\n", "http.header_timeout_s"},
           {"ipc: {max_connections: -1}\n", "ipc.max_connections"},
           {"grpc: {max_connections: 10}\n", "grpc.max_connections"},
           {"http: {max_header_bytes: 10}\n", "http.max_header_bytes"}}) {
    std::ofstream(file) << yaml;
    Daemon d(tmp_.path() / "state-bad", {"--config", file.string()});
    EXPECT_FALSE(d.Start()) << yaml;
    EXPECT_NE(d.Log().find("'" + path + "'"), std::string::npos) << yaml << d.Log();
  }
}

}  // namespace
}  // namespace mlostest
