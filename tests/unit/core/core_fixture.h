// The CoreTest fixture shared by the core's end-to-end tests: a fresh state dir, the real
// testing plugin (libmlos_testing.so), packages written on demand, a Core started from them
// (over the SQLite store, or over a given store wrapping it).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "core/core.h"
#include "core/core_impl.h"
#include "store/sqlite_store.h"

namespace mlos::core {

inline const std::filesystem::path kPluginDir =
    std::filesystem::path(MLOS_BINARY_DIR) / "lib" / "mlos" / "plugins";

struct Pkg {
  std::string name = "m";
  std::string version = "1.0.0";
  std::string testing_json = R"({"behavior":"identity"})";
  std::string execution_format = "testing";
  std::string deps_yaml;  // lines under spec.dependencies.models
};

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPluginDir / "libmlos_testing.so")) {
      GTEST_SKIP() << "testing plugin not built: " << kPluginDir;
    }
    auto d = MakeTempDir(std::filesystem::temp_directory_path(), "mlos_core_test_");
    ASSERT_TRUE(d.ok());
    root_ = *d;
    options_.state_dir = root_ / "state";
    options_.plugin_dirs = {kPluginDir};
  }
  void TearDown() override {
    core_.reset();
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  void Start() {
    core_.reset();
    auto c = Core::Create(options_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    core_ = std::move(c).value();
  }

  // Opens the SQLite store of options_.state_dir for a wrapper to take.
  std::unique_ptr<store::RegistryStore> OpenStore() {
    core_.reset();
    std::filesystem::create_directories(options_.state_dir);
    auto s = store::OpenSqliteStore(options_.state_dir / "registry.db");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Starts the core over `store` (e.g. a wrapper around OpenStore()).
  void StartWithStore(std::unique_ptr<store::RegistryStore> store) {
    core_.reset();
    auto c = CoreImpl::Create(options_, std::move(store));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    core_ = std::move(c).value();
  }

  // Writes <root>/pkgs/<name>-<version>/{manifest.yaml, testing.json}.
  std::filesystem::path MakePackage(const Pkg& p) {
    std::filesystem::path dir = root_ / "pkgs" / (p.name + "-" + p.version);
    std::filesystem::create_directories(dir);
    EXPECT_TRUE(WriteFileAtomic(dir / "testing.json", p.testing_json).ok());
    std::string yaml =
        "apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n  name: " + p.name +
        "\n  namespace: local\n  version: " + p.version +
        "\nspec:\n  framework:\n    name: testing\n  format:\n    type: testing\n"
        "    execution_format: " + p.execution_format +
        "\n    files:\n      - path: testing.json\n        size: " +
        std::to_string(p.testing_json.size()) + "\n        sha256: " + Sha256Hex(p.testing_json) +
        "\n    execution_files:\n      - path: testing.json\n        format: " +
        p.execution_format + "\n        type: single\n";
    if (!p.deps_yaml.empty()) yaml += "  dependencies:\n    models:\n" + p.deps_yaml;
    EXPECT_TRUE(WriteFileAtomic(dir / "manifest.yaml", yaml).ok());
    return dir;
  }

  Result<ModelStatus> Register(const Pkg& p) {
    RegisterRequest r;
    r.model_id = "local/" + p.name + "@" + p.version;
    r.path = MakePackage(p).string();
    return core_->Register(r);
  }

  static Tensor F32(const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
    Tensor t;
    t.name = name;
    t.dtype = DataType::kFloat32;
    t.shape = std::move(shape);
    t.data.resize(v.size() * sizeof(float));
    std::memcpy(t.data.data(), v.data(), t.data.size());
    return t;
  }

  Result<InferResponse> Run(const std::string& model, std::vector<Tensor> inputs = {}) {
    InferRequest r;
    r.model = model;
    r.inputs = inputs.empty() ? std::vector<Tensor>{F32("input", {2}, {1, 2})} : std::move(inputs);
    return core_->Infer(std::move(r));
  }

  std::filesystem::path root_;
  CoreOptions options_;
  std::unique_ptr<Core> core_;
};

}  // namespace mlos::core
