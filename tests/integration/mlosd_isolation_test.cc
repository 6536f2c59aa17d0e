// Sandboxed workers through the real daemon (docs/isolation.md): two ONNX models in `process`
// isolation serve HTTP traffic while one's worker is killed with SIGSEGV from outside; the
// other sees zero errors, the killed one is READY again within 2 s with correct results, and
// status and metrics say what happened.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

using namespace std::chrono_literals;

class MlosdIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    const fs::path config = tmp_.path() / "mlosd.yaml";
    std::ofstream(config) << "isolation:\n  default: process\n  restart_backoff: 50ms\n";
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state",
                                       std::vector<std::string>{"--config", config.string(),
                                                                "--model-root",
                                                                tmp_.path().string()});
    ASSERT_TRUE(daemon_->Start());
    for (const Package& p : {CelsiusPackage(), MlpPackage()}) {
      const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
      Reply r = daemon_->Post("/models/register", RegisterBody(p, dir));
      ASSERT_EQ(r.status, 200) << r.body;
      r = daemon_->Post("/models/" + Encode(p.Id()) + "/load");
      ASSERT_EQ(r.status, 200) << r.body << "\n" << daemon_->Log();
    }
  }

  json Status(const std::string& id) { return daemon_->Get("/models/" + Encode(id)).Json(); }

  Reply Celsius(float c) {
    return daemon_->Post("/v2/models/" + Encode("test/celsius") + "/infer",
                         R"({"inputs":[{"name":"celsius","datatype":"FP32","shape":[1],"data":[)" +
                             std::to_string(c) + "]}]}");
  }
  Reply Mlp() {
    std::string data;
    for (int i = 0; i < 16; ++i) data += (i ? "," : "") + std::to_string(i * 0.1);
    return daemon_->Post("/v2/models/" + Encode("test/mlp") + "/infer",
                         R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":[)" +
                             data + "]}]}");
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(MlosdIsolationTest, StatusShowsTheWorkerAndItsSandbox) {
  json s = Status("test/celsius@1.0.0");
  EXPECT_EQ(s["isolation"], "process");
  EXPECT_EQ(s["worker_state"], "running");
  const int pid = s.value("worker_pid", 0);
  ASSERT_GT(pid, 0) << s.dump();
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("NoNewPrivs:\t1"), std::string::npos) << text;
  EXPECT_NE(text.find("Seccomp:\t2"), std::string::npos) << text;
  Reply r = Celsius(100);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FLOAT_EQ(r.Json()["outputs"][0]["data"][0].get<float>(), 212.0f);
}

TEST_F(MlosdIsolationTest, AWorkerKilledDuringTrafficFailsOnlyItsOwnRequests) {
  const int victim = Status("test/celsius@1.0.0").value("worker_pid", 0);
  ASSERT_GT(victim, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> other_ok{0}, other_errors{0}, victim_ok{0}, victim_errors{0};
  std::string other_error;
  std::thread other([&] {
    while (!stop) {
      Reply r = Mlp();
      if (r.status == 200) {
        ++other_ok;
      } else {
        if (other_errors++ == 0) other_error = std::to_string(r.status) + " " + r.body;
      }
    }
  });
  std::thread traffic([&] {
    while (!stop) {
      Reply r = Celsius(37);
      (r.status == 200 ? victim_ok : victim_errors)++;
    }
  });
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(::kill(victim, SIGSEGV), 0);
  const auto killed = std::chrono::steady_clock::now();
  bool back = false;
  int pid = 0;
  while (std::chrono::steady_clock::now() - killed < 2s) {
    json s = Status("test/celsius@1.0.0");
    pid = s.value("worker_pid", 0);
    if (s["state"] == "READY" && pid > 0 && pid != victim) {
      back = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(200ms);
  stop = true;
  other.join();
  traffic.join();
  EXPECT_TRUE(back) << "not READY within 2 s of the kill\n" << daemon_->Log();
  EXPECT_EQ(other_errors.load(), 0) << other_error;
  EXPECT_GT(other_ok.load(), 0);
  EXPECT_GT(victim_ok.load(), 0);
  // Correct results after the restart.
  Reply r = Celsius(-40);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FLOAT_EQ(r.Json()["outputs"][0]["data"][0].get<float>(), -40.0f);
  json s = Status("test/celsius@1.0.0");
  EXPECT_EQ(s.value("worker_restarts", 0), 1);
  EXPECT_NE(s.value("last_crash", std::string()).find("signal 11"), std::string::npos) << s.dump();
  const std::string metrics = daemon_->Get("/metrics").body;
  EXPECT_NE(metrics.find(R"(mlos_worker_restarts_total{model="test/celsius@1.0.0",reason="signal"} 1)"),
            std::string::npos)
      << metrics.substr(0, 4000);
}

TEST_F(MlosdIsolationTest, ARequestHeldByACrashingWorkerGets503WithTheReason) {
  const fs::path dir = WritePackage(tmp_.path() / "pkgs", TestingPackage("segv", R"({"behavior":"segv"})"));
  Package p = TestingPackage("segv", R"({"behavior":"segv"})");
  ASSERT_EQ(daemon_->Post("/models/register", RegisterBody(p, dir)).status, 200);
  Reply r = daemon_->Post("/v2/models/" + Encode("test/segv") + "/infer",
                          R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[1]}]})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("model worker for test/segv@1.0.0 crashed (signal 11"), std::string::npos)
      << r.body;
  EXPECT_EQ(Celsius(0).status, 200);
}

}  // namespace
}  // namespace mlostest
