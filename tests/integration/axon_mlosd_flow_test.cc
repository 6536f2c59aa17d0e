// The original MLOS flow, verbatim, against the real daemon: `axon install` -> `axon register`
// -> `curl -X POST .../models/<percent-encoded id>/inference -d '{"input": [...]}'`.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../hubs/hubtest.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

class AxonMlosdFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(Prerequisites(&why)) << why;
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state");
    ASSERT_TRUE(daemon_->Start());
    env_ = "AXON_HOME=" + (tmp_.path() / "axon").string() +
           " MLOS_CORE_ENDPOINT=http://127.0.0.1:" + std::to_string(daemon_->port()) + " ";
  }
  std::string Axon(const std::string& args, int* rc, const std::string& extra_env = "") {
    return Sh("env " + env_ + extra_env + " " + std::string(MLOS_BINARY_DIR) + "/bin/axon " +
                  args,
              rc);
  }
  nlohmann::json Curl(const std::string& encoded_id, const std::string& body) {
    int rc = 0;
    std::string out = Sh("curl -s -X POST http://127.0.0.1:" + std::to_string(daemon_->port()) +
                             "/models/" + encoded_id + "/inference -d '" + body + "'",
                         &rc);
    EXPECT_EQ(rc, 0) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    return j;
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  std::string env_;
};

TEST_F(AxonMlosdFlowTest, LocalPackageInstallRegisterInfer) {
  fs::create_directories(tmp_.path() / "model");
  fs::copy_file(kFixtures / "demo_celsius.onnx", tmp_.path() / "model" / "model.onnx");
  int rc = 0;
  std::string out = Axon("install " + (tmp_.path() / "model").string() +
                             " --name demo/celsius@1.0.0",
                         &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Axon("register demo/celsius@1.0.0", &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = Curl("demo%2Fcelsius%401.0.0", R"({"celsius": [-40, 0, 100]})");
  EXPECT_EQ(j["status"], "success") << j.dump();
  EXPECT_EQ(j["model_id"], "demo/celsius@1.0.0");
  EXPECT_EQ(j["outputs"]["fahrenheit"], nlohmann::json({-40.0, 32.0, 212.0})) << j.dump();
  // The alias the original Axon ids use.
  auto latest = Curl("demo%2Fcelsius%40latest", R"({"celsius": [37]})");
  EXPECT_EQ(latest["status"], "success") << latest.dump();
  // Registering twice is idempotent; the daemon lists it once.
  out = Axon("register demo/celsius@1.0.0", &rc);
  EXPECT_EQ(rc, 0) << out;
  auto models = daemon_->Get("/models").Json();
  int count = 0;
  for (const auto& m : models["models"]) count += m["id"] == "demo/celsius@1.0.0";
  EXPECT_EQ(count, 1) << models.dump();
}

TEST_F(AxonMlosdFlowTest, HubInstallRegisterInfer) {
  // A Hugging Face repo served by the fake hub: install it, register it, infer.
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  fs::path rev = tmp_.path() / "repos" / "org" / "mlp" / sha;
  fs::create_directories(rev);
  fs::create_directories(tmp_.path() / "repos" / "org" / "mlp" / "refs");
  fs::copy_file(kFixtures / "mlp.onnx", rev / "model.onnx");
  std::ofstream(tmp_.path() / "repos" / "org" / "mlp" / "refs" / "main") << sha;
  auto hub = mlos::hubtest::FakeServer::Start({"/usr/bin/python3",
                                               mlos::hubtest::HubScript("fake_hf_hub.py"),
                                               "--repos", (tmp_.path() / "repos").string()});
  ASSERT_TRUE(hub.ok()) << hub.status().ToString();
  int rc = 0;
  std::string out = Axon("install hf/org/mlp@main", &rc, "HF_ENDPOINT=" + hub->url());
  ASSERT_EQ(rc, 0) << out;
  out = Axon("register hf/org/mlp@main", &rc);
  ASSERT_EQ(rc, 0) << out;
  std::string input = "[";
  for (int i = 0; i < 16; ++i) input += (i ? "," : "") + std::to_string(i * 0.1);
  input += "]";
  auto j = Curl("hf%2Forg%2Fmlp%40main", R"({"input": )" + input + "}");
  EXPECT_EQ(j["status"], "success") << j.dump();
  EXPECT_EQ(j["outputs"]["logits"].size(), 4u) << j.dump();
  EXPECT_EQ(j["output_shapes"]["probs"], nlohmann::json({1, 4})) << j.dump();
  // A wrong input is refused with the tensor named; the daemon keeps serving.
  auto bad = Curl("hf%2Forg%2Fmlp%40main", R"({"input": [1, 2, 3]})");
  EXPECT_TRUE(bad.contains("error")) << bad.dump();
  EXPECT_NE(bad["error"].get<std::string>().find("input"), std::string::npos) << bad.dump();
  EXPECT_EQ(daemon_->Get("/health").status, 200);
}

}  // namespace
}  // namespace mlostest
