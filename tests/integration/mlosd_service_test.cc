// The service layer under every protocol, through the real daemon: requests over HTTP, gRPC and
// IPC are counted alike in /metrics (by protocol and status code), and readiness is false while
// the models loaded before a restart are loading again, then true.
#include <thread>

#include "mlos/client.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

namespace client = mlos::client;

// The value of the first sample line that starts with `series` ("name{labels}"), or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t value = at + series.size() + 1;
      return std::stod(text.substr(value, text.find('\n', value) - value));
    }
    at += series.size();
  }
  return -1;
}

class MlosdServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
  }

  std::unique_ptr<Daemon> StartDaemon(const fs::path& state) {
    const uint16_t grpc = FreePort();
    auto d = std::make_unique<Daemon>(
        state, std::vector<std::string>{"--grpc", "127.0.0.1:" + std::to_string(grpc), "--ipc",
                                        (tmp_.path() / "mlosd.sock").string()});
    EXPECT_TRUE(d->Start());
    return d;
  }

  static std::unique_ptr<client::Client> Connect(const std::string& url) {
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url);
      if (c.ok() && (*c)->Live().ok()) return std::move(c).value();
      if (attempt > 50) {
        ADD_FAILURE() << url << ": " << (c.ok() ? "not live" : c.status().message());
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  TempDir tmp_;
};

TEST_F(MlosdServiceTest, MetricsCountEveryProtocolByCode) {
  auto daemon = StartDaemon(tmp_.path() / "state");
  const Package pkg = MlpPackage();
  const fs::path dir = WritePackage(tmp_.path() / "pkgs", pkg);
  ASSERT_EQ(daemon->Post("/models/register", RegisterBody(pkg, dir)).status, 200);

  const std::vector<std::pair<std::string, std::string>> urls = {
      {"http", "http://127.0.0.1:" + std::to_string(daemon->port())},
      {"grpc", "grpc://" + daemon->grpc_target()},
      {"ipc", "unix://" + daemon->ipc_path()}};
  const int kRequests[] = {3, 4, 5};  // a different N per protocol: no count can stand in
  for (size_t p = 0; p < urls.size(); ++p) {
    auto c = Connect(urls[p].second);
    ASSERT_TRUE(c);
    client::InferRequest req;
    req.model = "test/mlp";
    req.inputs.push_back(
        client::Tensor::From("input", "float32", {1, 16}, std::vector<float>(16, 0.5f)));
    for (int i = 0; i < kRequests[p]; ++i) {
      auto r = c->Infer(req);
      ASSERT_TRUE(r.ok()) << urls[p].first << ": " << r.status().message();
    }
    // One refused request each (wrong shape): counted under its status code.
    client::InferRequest bad = req;
    bad.inputs[0].shape = {1, 15};
    bad.inputs[0].data.resize(15 * 4);
    auto r = c->Infer(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), mlos::StatusCode::kInvalidArgument) << urls[p].first;
  }
  const std::string text = daemon->Get("/metrics").body;
  for (size_t p = 0; p < urls.size(); ++p) {
    const std::string& proto = urls[p].first;
    EXPECT_EQ(Sample(text, R"(mlos_requests_total{code="OK",model="test/mlp@1.0.0",protocol=")" +
                               proto + "\"}"),
              kRequests[p])
        << proto << "\n"
        << text;
    EXPECT_EQ(Sample(text, R"(mlos_requests_total{code="INVALID_ARGUMENT",model="test/mlp@1.0.0",)"
                           R"(protocol=")" +
                               proto + "\"}"),
              1)
        << proto;
    EXPECT_EQ(Sample(text, R"(mlos_request_duration_seconds_count{model="test/mlp@1.0.0",)"
                           R"(protocol=")" +
                               proto + "\"}"),
              kRequests[p] + 1)
        << proto;
  }
}

TEST_F(MlosdServiceTest, ReadinessWaitsForModelsLoadedBeforeARestart) {
  const fs::path state = tmp_.path() / "state";
  const Package slow = TestingPackage("slow", R"({"behavior": "identity", "load_sleep_ms": 2500})");
  const fs::path dir = WritePackage(tmp_.path() / "pkgs", slow);
  {
    auto daemon = StartDaemon(state);
    ASSERT_EQ(daemon->Post("/models/register", RegisterBody(slow, dir)).status, 200);
    ASSERT_EQ(daemon->Post("/models/" + Encode(slow.Id()) + "/load").status, 200);
    EXPECT_EQ(daemon->Get("/v2/health/ready").status, 200);
    ASSERT_EQ(daemon->Stop(), 0);
  }
  auto daemon = StartDaemon(state);
  // Listening at once, live, and not ready while the model loads again, on every protocol.
  EXPECT_EQ(daemon->Get("/v2/health/live").status, 200);
  const Reply not_ready = daemon->Get("/v2/health/ready");
  EXPECT_EQ(not_ready.status, 503) << not_ready.body;
  auto grpc = Connect("grpc://" + daemon->grpc_target());
  auto ipc = Connect("unix://" + daemon->ipc_path());
  ASSERT_TRUE(grpc && ipc);
  for (client::Client* c : {grpc.get(), ipc.get()}) {
    auto ready = c->Ready();
    ASSERT_TRUE(ready.ok()) << ready.status().message();
    EXPECT_FALSE(*ready) << c->endpoint().ToString();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (daemon->Get("/v2/health/ready").status != 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(daemon->Get("/v2/health/ready").status, 200);
  EXPECT_EQ(daemon->Get("/models/" + Encode(slow.Id())).Json()["state"], "READY");
  for (client::Client* c : {grpc.get(), ipc.get()}) {
    auto ready = c->Ready();
    ASSERT_TRUE(ready.ok());
    EXPECT_TRUE(*ready) << c->endpoint().ToString();
  }
}

}  // namespace
}  // namespace mlostest
