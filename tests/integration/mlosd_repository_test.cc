// mlosd --model-repository: a directory of models (package directories with manifests, one that
// depends on another, a .axon file, Triton's NAME/VERSION/ layout without a manifest, a bare
// model file) is installed, registered in dependency order and loaded at start; readiness is false
// until then; SIGHUP picks up a new version and withdraws a model whose files went away; a restart
// serves the same models again; KServe's storage-initializer layout (NAME=DIR).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("mlos-repo-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = root_ / "repo";
    fs::create_directories(repo_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Polls GET `path` until it answers `status` (or 60 s pass).
  static bool WaitFor(Daemon& d, const std::string& path, int status) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (d.Get(path).status == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  static std::string State(Daemon& d, const std::string& id) {
    Reply r = d.Get("/models/" + Encode(id));
    return r.status == 200 ? r.Json().value("state", "") : "HTTP " + std::to_string(r.status);
  }
  static Reply Celsius(Daemon& d, const std::string& model, float c) {
    const std::string body =
        R"({"inputs":[{"name":"celsius","datatype":"FP32","shape":[1],"data":[)" +
        std::to_string(c) + "]}]}";
    return d.Post("/v2/models/" + Encode(model) + "/infer", body);
  }

  fs::path root_, repo_;
};

TEST_F(RepositoryTest, ServesEveryLayoutInDependencyOrderAndReadinessWaits) {
  // base (slow to load) <- app depends on it; written so that app sorts first by name.
  Package base = TestingPackage("zbase", R"({"behavior":"identity","load_sleep_ms":1500})");
  Package app = TestingPackage("app", R"({"behavior":"identity"})");
  app.deps_yaml = "      - test/zbase@1.0.0\n";
  WritePackage(repo_, base);
  WritePackage(repo_, app);
  fs::create_directories(repo_ / "celsius" / "1");  // Triton: NAME/VERSION/model.onnx
  fs::copy_file(kFixtures / "demo_celsius.onnx", repo_ / "celsius" / "1" / "model.onnx");
  std::ofstream(repo_ / "celsius" / "config.pbtxt") << "name: \"celsius\"\n";
  fs::copy_file(kFixtures / "add.onnx", repo_ / "adder.onnx");  // a bare model file
  // A .axon package, packed by axon from a package directory outside the repository.
  Package packed = CelsiusPackage();
  packed.name = "packed";
  const fs::path packed_dir = WritePackage(root_ / "src", packed);
  const std::string pack = "'" + (fs::path(MLOS_BINARY_DIR) / "bin" / "axon").string() +
                           "' pack '" + packed_dir.string() + "' -o '" +
                           (repo_ / "packed.axon").string() + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(pack.c_str()), 0);
  std::ofstream(repo_ / "README.md") << "not a model\n";
  fs::create_directories(repo_ / "notes");
  std::ofstream(repo_ / "notes" / "todo.txt") << "nothing here\n";

  Daemon d(root_ / "state", {"--model-repository", repo_.string()});
  ASSERT_TRUE(d.Start());
  // Listening at once, not ready while the slow model loads.
  EXPECT_EQ(d.Get("/v2/health/live").status, 200);
  EXPECT_NE(d.Get("/v2/health/ready").status, 200);
  ASSERT_TRUE(WaitFor(d, "/v2/health/ready", 200)) << d.Log();

  EXPECT_EQ(State(d, base.Id()), "READY");
  EXPECT_EQ(State(d, app.Id()), "READY");
  EXPECT_EQ(State(d, "local/celsius@1.0.0"), "READY");
  EXPECT_EQ(State(d, "local/adder@1.0.0"), "READY");
  EXPECT_EQ(State(d, packed.Id()), "READY");
  Reply list = d.Get("/models");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Json()["models"].size(), 5u) << list.body;

  // Dependency order: the model app depends on was registered (and loaded) before it.
  const std::string log = d.Log();
  const size_t reg_base = log.find("registered " + base.Id());
  const size_t reg_app = log.find("registered " + app.Id());
  ASSERT_NE(reg_base, std::string::npos) << log;
  ASSERT_NE(reg_app, std::string::npos) << log;
  EXPECT_LT(reg_base, reg_app);
  EXPECT_NE(log.find("skipped " + (repo_ / "notes").string()), std::string::npos) << log;

  // The Triton-layout model serves: 100 °C is 212 °F.
  Reply r = Celsius(d, "local/celsius", 100);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NEAR(r.Json()["outputs"][0]["data"][0].get<double>(), 212.0, 1e-3);

  // An operator unloads version 1: later scans leave it so.
  ASSERT_EQ(d.Post("/models/" + Encode("local/celsius@1.0.0") + "/unload").status, 200);
  // SIGHUP: a new version appears, a model whose files went away is withdrawn.
  fs::create_directories(repo_ / "celsius" / "2");
  fs::copy_file(kFixtures / "demo_celsius.onnx", repo_ / "celsius" / "2" / "model.onnx");
  fs::remove(repo_ / "adder.onnx");
  d.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(d, "/models/" + Encode("local/celsius@2.0.0"), 200)) << d.Log();
  ASSERT_TRUE(WaitFor(d, "/models/" + Encode("local/adder@1.0.0"), 404)) << d.Log();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (State(d, "local/celsius@2.0.0") != "READY" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(State(d, "local/celsius@2.0.0"), "READY");
  EXPECT_EQ(State(d, "local/celsius@1.0.0"), "UNLOADED");
  EXPECT_EQ(d.Stop(), 0);

  // A restart with the same state serves the same models again.
  Daemon again(root_ / "state", {"--model-repository", repo_.string()});
  ASSERT_TRUE(again.Start());
  ASSERT_TRUE(WaitFor(again, "/v2/health/ready", 200)) << again.Log();
  EXPECT_EQ(State(again, base.Id()), "READY");
  EXPECT_EQ(State(again, app.Id()), "READY");
  EXPECT_EQ(State(again, "local/celsius@2.0.0"), "READY");
  EXPECT_EQ(State(again, "local/adder@1.0.0"), "HTTP 404");
}

TEST_F(RepositoryTest, KServeStorageLayoutAndPolling) {
  // KServe's storage initializer puts the model's files straight into /mnt/models.
  const fs::path models = repo_ / "models";
  fs::create_directories(models);
  fs::copy_file(kFixtures / "demo_celsius.onnx", models / "model.onnx");
  const fs::path config = root_ / "mlosd.yaml";
  // Its runtime names the model: NAME=DIRECTORY.
  std::ofstream(config) << "model_repository:\n  paths: [\"acme/thermo=" << models.string()
                        << "\"]\n  poll_seconds: 0.2\n";
  Daemon d(root_ / "state", {"--config", config.string()});
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitFor(d, "/v2/health/ready", 200)) << d.Log();
  Reply r = Celsius(d, "acme/thermo", 0);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NEAR(r.Json()["outputs"][0]["data"][0].get<double>(), 32.0, 1e-3);
  // Gone from the directory: withdrawn by the next poll, without a signal.
  fs::remove(models / "model.onnx");
  EXPECT_TRUE(WaitFor(d, "/models/" + Encode("acme/thermo@1.0.0"), 404)) << d.Log();
}

TEST_F(RepositoryTest, WorksWithAuthenticationRequired) {
  // The repository acts as the daemon itself: no token needed, audited as "mlosd".
  fs::copy_file(kFixtures / "demo_celsius.onnx", repo_ / "celsius.onnx");
  Daemon d(root_ / "state", {"--model-repository", repo_.string(), "--auth", "required"});
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(WaitFor(d, "/v2/health/ready", 200)) << d.Log();
  const std::string token = ReadFileBytes(root_ / "state" / "admin.token");
  std::string bearer = token.substr(0, token.find_first_of("\r\n"));
  Reply anonymous = d.Get("/models/" + Encode("local/celsius@1.0.0"));
  EXPECT_EQ(anonymous.status, 401);
  Reply r = Http(d.port(), "GET", "/models/" + Encode("local/celsius@1.0.0"), "",
                 {{"Authorization", "Bearer " + bearer}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("state", ""), "READY");
  const std::string audit = ReadFileBytes(root_ / "state" / "audit.log");
  EXPECT_NE(audit.find("\"mlosd\""), std::string::npos) << audit.substr(0, 2000);
}

TEST_F(RepositoryTest, BadConfigIsRefusedWithTheField) {
  const fs::path config = root_ / "mlosd.yaml";
  std::ofstream(config) << "model_repository:\n  paths: [" << repo_.string()
                        << "]\n  poll_second: 1\n";
  Daemon d(root_ / "state", {"--config", config.string()});
  EXPECT_FALSE(d.Start());
  EXPECT_EQ(d.Wait(), 2);
  EXPECT_NE(d.Log().find("model_repository.poll_second"), std::string::npos) << d.Log();
}

}  // namespace
}  // namespace mlostest
