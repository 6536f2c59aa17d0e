// mlosd lifecycle over HTTP: restart persistence, version switch and rollback under concurrent
// requests (none lost), and SIGTERM draining requests in flight.
#include <atomic>
#include <future>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

class MlosdLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) {
      GTEST_SKIP() << why;
    }
  }
  Reply Register(Daemon& d, const Package& p) {
    return d.Post("/models/register", RegisterBody(p, WritePackage(tmp_.path() / "pkgs", p)));
  }
  TempDir tmp_;
};

TEST_F(MlosdLifecycleTest, RestartRestoresRegistrationsAndLoadedState) {
  const fs::path state = tmp_.path() / "state";
  Package c = CelsiusPackage();
  Package m = MlpPackage();
  {
    Daemon d(state);
    ASSERT_TRUE(d.Start());
    ASSERT_EQ(Register(d, c).status, 200);
    ASSERT_EQ(Register(d, m).status, 200);
    ASSERT_EQ(d.Post("/models/" + Encode(c.Id()) + "/load").status, 200);
    EXPECT_EQ(d.Stop(SIGTERM), 0) << d.Log();
  }
  Daemon d(state);
  ASSERT_TRUE(d.Start());
  Reply list = d.Get("/models");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Json()["models"].size(), 2u) << list.body;
  Reply got = d.Get("/models/" + Encode(c.Id()));
  ASSERT_EQ(got.status, 200);
  EXPECT_TRUE(got.Json()["desired_loaded"].get<bool>());
  // Restored loads may still be running: wait for READY.
  std::string state_name;
  for (int i = 0; i < 200; ++i) {
    state_name = d.Get("/models/" + Encode(c.Id())).Json()["state"];
    if (state_name == "READY") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(state_name, "READY");
  EXPECT_NE(d.Get("/models/" + Encode(m.Id())).Json()["state"], "READY");
  Reply inf = d.Post("/models/" + Encode(c.Id()) + "/inference", R"({"celsius":[100]})");
  ASSERT_EQ(inf.status, 200) << inf.body;
  EXPECT_EQ(inf.Json()["outputs"]["fahrenheit"][0], 212.0);
  EXPECT_EQ(d.Stop(SIGINT), 0);
}

TEST_F(MlosdLifecycleTest, VersionSwitchAndRollbackUnderLoadLoseNoRequest) {
  Daemon d(tmp_.path() / "state", {"--threads", "2"});
  ASSERT_TRUE(d.Start());
  Package v1 = CelsiusPackage("1.0.0");
  Package v2 = CelsiusPackage("2.0.0");
  ASSERT_EQ(Register(d, v1).status, 200);
  ASSERT_EQ(Register(d, v2).status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(v1.Id()) + "/load").status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(v2.Id()) + "/load").status, 200);
  Reply set1 = d.Post("/models/" + Encode(v1.Id()) + "/default");
  ASSERT_EQ(set1.status, 200) << set1.body;

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::atomic<int> seen_v1{0}, seen_v2{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        Reply r = d.Post("/models/" + Encode("test/celsius") + "/inference", R"({"celsius":[1]})");
        if (r.status == 200 &&
            static_cast<float>(r.Json()["outputs"]["fahrenheit"][0].get<double>()) == 33.8f) {
          ++ok;
          (r.Json()["model_version"] == "1.0.0" ? seen_v1 : seen_v2)++;
        } else {
          ++failed;
          ADD_FAILURE() << r.status << " " << r.body;
        }
      }
    });
  }
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Reply sw = d.Post("/models/" + Encode(v2.Id()) + "/default");
    ASSERT_EQ(sw.status, 200) << sw.body;
    EXPECT_EQ(d.Post("/models/" + Encode("test/celsius") + "/inference", R"({"celsius":[1]})")
                  .Json()["model_version"],
              "2.0.0");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Reply rb = d.Post("/models/" + Encode("test/celsius") + "/rollback");
    ASSERT_EQ(rb.status, 200) << rb.body;
    EXPECT_EQ(d.Post("/models/" + Encode("test/celsius") + "/inference", R"({"celsius":[1]})")
                  .Json()["model_version"],
              "1.0.0");
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 20);
  EXPECT_GT(seen_v1.load(), 0);
  EXPECT_GT(seen_v2.load(), 0);
  // Default without a version is a 400; unknown version a 404.
  EXPECT_EQ(d.Post("/models/" + Encode("test/celsius") + "/default").status, 400);
  EXPECT_EQ(d.Post("/models/" + Encode("test/celsius@9.0.0") + "/default").status, 404);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST_F(MlosdLifecycleTest, SigtermDrainsRequestsInFlight) {
  Daemon d(tmp_.path() / "state");
  ASSERT_TRUE(d.Start());
  Package slow = TestingPackage("slow", R"({"behavior":"sleep","sleep_ms":1500})");
  ASSERT_EQ(Register(d, slow).status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(slow.Id()) + "/load").status, 200);
  const uint16_t port = d.port();
  auto in_flight = std::async(std::launch::async, [&] {
    return Http(port, "POST", "/models/" + Encode(slow.Id()) + "/inference",
                R"({"input":[1,2,3]})");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  d.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // No longer accepting.
  int fd = Connect(port);
  if (fd >= 0) {
    // The listen socket may linger for an instant; a request on it must not be served.
    Reply late = RawRequest(port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(late.status, 0);
    ::close(fd);
  }
  Reply r = in_flight.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["outputs"]["output"], json::parse("[1.0,2.0,3.0]"));
  EXPECT_EQ(d.Wait(), 0) << d.Log();
}

}  // namespace
}  // namespace mlostest
