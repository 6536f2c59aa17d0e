// Dynamic batching through the real daemon: concurrent HTTP clients of a slow model are merged
// into one plugin call, every client gets its own rows back, the batch shows in /metrics, and a
// bad batching config is refused at start with the field named.
#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

class MlosdBatchingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
  }
  fs::path Config(const std::string& yaml) {
    const fs::path p = tmp_.path() / "mlosd.yaml";
    std::ofstream(p) << yaml;
    return p;
  }
  TempDir tmp_;
};

// The histogram's _count and _sum for one model from the Prometheus text.
std::pair<double, double> BatchHistogram(const std::string& metrics, const std::string& model) {
  double count = -1, sum = -1;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.find("model=\"" + model + "\"") == std::string::npos) continue;
    if (line.rfind("mlos_batch_requests_count", 0) == 0) count = std::stod(line.substr(line.rfind(' ')));
    if (line.rfind("mlos_batch_requests_sum", 0) == 0) sum = std::stod(line.substr(line.rfind(' ')));
  }
  return {count, sum};
}

TEST_F(MlosdBatchingTest, ConcurrentRequestsAreMergedAndSplitBack) {
  Daemon d(tmp_.path() / "state",
           {"--config", Config("batching:\n  max_batch_size: 8\n  max_concurrent_batches: 1\n").string()});
  ASSERT_TRUE(d.Start());
  // 100 ms per plugin call: requests sent while one runs queue up and form the next batch.
  Package slow = TestingPackage(
      "slow", R"({"behavior":"sleep","sleep_ms":100,
                  "inputs":[{"name":"input","dtype":"float32","shape":[-1,2]}],
                  "outputs":[{"name":"output","dtype":"float32","shape":[-1,2]}]})");
  const fs::path dir = WritePackage(tmp_.path(), slow);
  ASSERT_EQ(d.Post("/models/register", RegisterBody(slow, dir)).status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(slow.Id()) + "/load").status, 200);
  EXPECT_NE(d.Log().find("dynamic batching on"), std::string::npos) << d.Log();

  constexpr int kClients = 8, kRounds = 3;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  const uint16_t port = d.port();
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < kRounds; ++r) {
        const float a = static_cast<float>(c * 10 + r), b = a + 0.5f;
        json body = {{"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {1, 2}},
                                  {"data", {a, b}}}}}};
        Reply rep = Http(port, "POST", "/v2/models/" + Encode(slow.Id()) + "/infer", body.dump());
        json out = rep.Json();
        if (rep.status != 200 || out["outputs"][0]["shape"] != json::parse("[1,2]") ||
            out["outputs"][0]["data"] != json({a, b})) {
          ADD_FAILURE() << "client " << c << " round " << r << ": " << rep.status << " "
                        << rep.body;
          ++wrong;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto [batches, requests] = BatchHistogram(d.Get("/metrics").body, slow.Id());
  EXPECT_EQ(requests, kClients * kRounds);
  // 24 requests at 100 ms each would take 2.4 s alone; merged they take a handful of calls.
  EXPECT_GT(batches, 0);
  EXPECT_LT(batches, kClients * kRounds / 2) << "requests were not merged";
}

TEST_F(MlosdBatchingTest, ModelsWithoutADynamicFirstDimensionAreNotBatched) {
  Daemon d(tmp_.path() / "state", {"--config", Config("batching:\n  max_batch_size: 8\n").string()});
  ASSERT_TRUE(d.Start());
  Package fixed = TestingPackage(
      "fixed", R"({"behavior":"identity",
                   "inputs":[{"name":"input","dtype":"float32","shape":[2]}],
                   "outputs":[{"name":"output","dtype":"float32","shape":[2]}]})");
  const fs::path dir = WritePackage(tmp_.path(), fixed);
  ASSERT_EQ(d.Post("/models/register", RegisterBody(fixed, dir)).status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(fixed.Id()) + "/load").status, 200);
  EXPECT_EQ(d.Log().find("dynamic batching on"), std::string::npos) << d.Log();
  Reply r = d.Post("/models/" + Encode(fixed.Id()) + "/inference", R"({"input":[1,2]})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(MlosdBatchingTest, MaxConcurrentInfersQueuesTheRest) {
  Daemon d(tmp_.path() / "state",
           {"--config", Config("scheduling:\n  max_concurrent_infers: 1\n").string()});
  ASSERT_TRUE(d.Start());
  Package slow = TestingPackage("slow", R"({"behavior":"sleep","sleep_ms":150})");
  const fs::path dir = WritePackage(tmp_.path(), slow);
  ASSERT_EQ(d.Post("/models/register", RegisterBody(slow, dir)).status, 200);
  ASSERT_EQ(d.Post("/models/" + Encode(slow.Id()) + "/load").status, 200);
  // Four requests at once on two HTTP io threads: one plugin call at a time, so at least
  // 4 x 150 ms, and every answer right.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  const uint16_t port = d.port();
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      Reply r = Http(port, "POST", "/models/" + Encode(slow.Id()) + "/inference",
                     "{\"input\":[" + std::to_string(c) + "]}");
      if (r.status == 200 && r.Json()["outputs"]["output"] == json::parse("[" + std::to_string(c) + ".0]")) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_GE(ms, 4 * 150);
}

TEST_F(MlosdBatchingTest, BadBatchingConfigIsRefusedWithTheField) {
  for (const auto& [yaml, field] : std::vector<std::pair<std::string, std::string>>{
           {"batching:\n  max_batch_size: -1\n", "batching.max_batch_size"},
           {"batching:\n  max_concurrent_batches: 0\n", "batching.max_concurrent_batches"},
           {"batching:\n  max_batch: 8\n", "batching.max_batch"},
           {"batching: 8\n", "batching"},
           {"http:\n  infer_threads: -2\n", "http.infer_threads"},
           {"scheduling:\n  max_concurrent_infers: -1\n", "scheduling.max_concurrent_infers"},
           {"scheduling:\n  workers: 2\n", "scheduling.workers"}}) {
    Daemon d(tmp_.path() / "state-bad", {"--config", Config(yaml).string()});
    EXPECT_FALSE(d.Start()) << yaml;
    EXPECT_NE(d.Log().find(field), std::string::npos) << yaml << "\n" << d.Log();
  }
}

}  // namespace
}  // namespace mlostest
