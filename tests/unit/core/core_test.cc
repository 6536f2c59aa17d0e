// MLOS Core end to end over the real testing plugin (libmlos_testing.so): registration checks,
// lifecycle, versions/defaults/rollback under load, restart persistence, the inference path.
#include "core/core.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "core_fixture.h"

namespace mlos::core {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSchema =
    R"({"behavior":"identity","inputs":[{"name":"x","dtype":"float32","shape":[-1,4]}],)"
    R"("outputs":[{"name":"y","dtype":"float32","shape":[-1,4]}]})";

TEST_F(CoreTest, PluginsAreListed) {
  Start();
  bool found = false;
  for (const PluginStatus& p : core_->Plugins()) {
    if (p.name == "testing") {
      found = true;
      EXPECT_EQ(p.execution_formats, std::vector<std::string>{"testing"});
      EXPECT_NE(std::find(p.capabilities.begin(), p.capabilities.end(), "thread_safe_infer"),
                p.capabilities.end());
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(CoreTest, PluginConfigSectionsReachTheirPlugin) {
  options_.plugin_config_json = "not json";
  EXPECT_EQ(Core::Create(options_).status().code(), StatusCode::kInvalidArgument);
  // The testing plugin gets {"init_fail": ...}: its plugin_init fails, so it is skipped.
  options_.plugin_config_json = R"({"testing": {"init_fail": "no thanks"}})";
  Start();
  for (const PluginStatus& p : core_->Plugins()) EXPECT_NE(p.name, "testing");
  auto got = Register(Pkg{});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("no plugin serves execution format \"testing\""),
            std::string::npos)
      << got.status().message();
}

TEST_F(CoreTest, RegisterRejectsBadRequestsAndChangesNothing) {
  Start();
  fs::path good = MakePackage(Pkg{});
  struct Row {
    std::string id, path, manifest_path;
    StatusCode code;
    std::string needle;
  } rows[] = {
      {"", good, "", StatusCode::kInvalidArgument, "model_id"},
      {"local/m", good, "", StatusCode::kInvalidArgument, "model_id"},
      {"local/../m@1.0.0", good, "", StatusCode::kInvalidArgument, "model_id"},
      {"local//m@1.0.0", good, "", StatusCode::kInvalidArgument, "model_id"},
      {"lo cal/m@1.0.0", good, "", StatusCode::kInvalidArgument, "model_id"},
      {"local/m@1.0.0", "", "", StatusCode::kInvalidArgument, "path"},
      {"local/m@1.0.0", (root_ / "nope").string(), "", StatusCode::kInvalidArgument, "path"},
      {"local/m@1.0.0", (good / "testing.json").string(), "", StatusCode::kInvalidArgument,
       "path"},
      {"local/m@1.0.0", good, "/etc/passwd", StatusCode::kInvalidArgument, "manifest_path"},
      {"local/m@1.0.0", good, "../x/manifest.yaml", StatusCode::kInvalidArgument,
       "manifest_path"},
      {"local/other@1.0.0", good, "", StatusCode::kInvalidArgument, "does not match"},
  };
  for (const Row& r : rows) {
    RegisterRequest req;
    req.model_id = r.id;
    req.path = r.path;
    req.manifest_path = r.manifest_path;
    auto got = core_->Register(req);
    ASSERT_FALSE(got.ok()) << r.id << " " << r.path;
    EXPECT_EQ(got.status().code(), r.code) << got.status().ToString();
    EXPECT_NE(got.status().message().find(r.needle), std::string::npos)
        << got.status().message();
  }
  EXPECT_TRUE(core_->List().empty());
}

TEST_F(CoreTest, RegisterChecksumMismatchNamesTheFile) {
  Start();
  fs::path dir = MakePackage(Pkg{});
  ASSERT_TRUE(WriteFileAtomic(dir / "testing.json", R"({"behavior":"fail"})").ok());
  RegisterRequest req{"local/m@1.0.0", "", "", "", dir.string(), "", ""};
  auto got = core_->Register(req);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("testing.json"), std::string::npos)
      << got.status().message();
  EXPECT_TRUE(core_->List().empty());
}

TEST_F(CoreTest, RegisterUnsupportedFormats) {
  Start();
  Pkg p;
  p.execution_format = "coreml";
  auto got = Register(p);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("no plugin serves execution format \"coreml\" (plugins: "),
            std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("testing"), std::string::npos);

  p.version = "2.0.0";
  p.execution_format = "none";
  got = Register(p);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("needs conversion"), std::string::npos)
      << got.status().message();
  EXPECT_TRUE(core_->List().empty());
}

TEST_F(CoreTest, RegisterIsIdempotentForTheSamePath) {
  Start();
  Pkg p;
  auto a = Register(p);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->state, ModelState::kRegistered);
  EXPECT_TRUE(a->is_default);
  auto again = Register(p);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  // Same id, another directory.
  fs::path other = root_ / "elsewhere";
  fs::create_directories(other);
  fs::copy(root_ / "pkgs" / "m-1.0.0", other, fs::copy_options::recursive);
  RegisterRequest req{"local/m@1.0.0", "", "", "", other.string(), "", ""};
  auto dup = core_->Register(req);
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(core_->List().size(), 1u);
}

TEST_F(CoreTest, DependenciesMissingCycleAndLoadOrder) {
  Start();
  Pkg app;
  app.name = "app";
  app.deps_yaml = "      - id: local/base\n        version: \">=1.0.0\"\n";
  auto missing = Register(app);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("local/base"), std::string::npos);

  Pkg self;
  self.name = "selfish";
  self.deps_yaml = "      - local/selfish@1.0.0\n";
  auto cycle = Register(self);
  EXPECT_EQ(cycle.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(cycle.status().message().find("dependency cycle: local/selfish@1.0.0 -> "
                                          "local/selfish@1.0.0"),
            std::string::npos)
      << cycle.status().message();
  EXPECT_TRUE(core_->List().empty());

  Pkg base;
  base.name = "base";
  ASSERT_TRUE(Register(base).ok());
  auto a = Register(app);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->dependencies, std::vector<std::string>{"local/base@1.0.0"});

  // Loading the app loads its dependency first.
  auto loaded = core_->Load("local/app@1.0.0");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(core_->Get("local/base@1.0.0")->state, ModelState::kReady);

  // The base cannot go while the app needs it.
  Status st = core_->Unregister("local/base@1.0.0");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("local/app@1.0.0"), std::string::npos) << st.message();
  EXPECT_EQ(core_->List().size(), 2u);
  EXPECT_TRUE(core_->Unregister("local/app@1.0.0").ok());
  EXPECT_TRUE(core_->Unregister("local/base@1.0.0").ok());
  EXPECT_TRUE(core_->List().empty());
  EXPECT_EQ(core_->Unregister("local/base@1.0.0").code(), StatusCode::kNotFound);
}

TEST_F(CoreTest, LoadUnloadAndLazyLoad) {
  options_.lazy_load = false;
  Start();
  ASSERT_TRUE(Register(Pkg{}).ok());
  auto r = Run("local/m");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("model local/m@1.0.0 is not loaded"), std::string::npos)
      << r.status().message();

  auto s = core_->Load("local/m@1.0.0");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, ModelState::kReady);
  EXPECT_TRUE(s->desired_loaded);
  r = Run("local/m");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model_id, "local/m@1.0.0");
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].shape, (std::vector<int64_t>{2}));
  float out[2];
  std::memcpy(out, r->outputs[0].data.data(), sizeof(out));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 2.0f);

  s = core_->Unload("local/m@1.0.0");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->state, ModelState::kUnloaded);
  EXPECT_FALSE(s->desired_loaded);
  EXPECT_EQ(Run("local/m").status().code(), StatusCode::kUnavailable);

  // With lazy loading the first request loads it.
  options_.lazy_load = true;
  Start();
  EXPECT_EQ(core_->Get("local/m")->state, ModelState::kRegistered);
  r = Run("local/m");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(core_->Get("local/m")->state, ModelState::kReady);
  EXPECT_EQ(core_->Stats().models_ready, 1u);
}

TEST_F(CoreTest, LoadFailureIsFailedWithReason) {
  Start();
  Pkg p;
  p.testing_json = R"({"behavior":"identity","load_fail":"weights are corrupt"})";
  ASSERT_TRUE(Register(p).ok());
  auto s = core_->Load("local/m@1.0.0");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("weights are corrupt"), std::string::npos);
  auto g = core_->Get("local/m@1.0.0");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->state, ModelState::kFailed);
  EXPECT_NE(g->reason.find("weights are corrupt"), std::string::npos) << g->reason;
  auto r = Run("local/m");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("weights are corrupt"), std::string::npos);
}

TEST_F(CoreTest, InputValidationNamesTheTensor) {
  Start();
  Pkg p;
  p.testing_json = kSchema;
  ASSERT_TRUE(Register(p).ok());
  ASSERT_TRUE(core_->Load("local/m@1.0.0").ok());
  auto s = core_->Get("local/m");
  ASSERT_EQ(s->inputs.size(), 1u);
  EXPECT_EQ(s->inputs[0].name, "x");
  EXPECT_EQ(s->inputs[0].shape, (std::vector<int64_t>{-1, 4}));

  Tensor i64 = F32("x", {1, 4}, {1, 2, 3, 4});
  i64.dtype = DataType::kInt64;
  i64.data.resize(32);
  Tensor short_bytes = F32("x", {1, 4}, {1, 2, 3});
  struct Row {
    std::vector<Tensor> inputs;
    std::string message;
  } rows[] = {
      {{i64}, "input \"x\": expected float32, got int64"},
      {{F32("x", {4}, {1, 2, 3, 4})}, "input \"x\": expected rank 2, got 1"},
      {{F32("x", {1, 3}, {1, 2, 3})}, "input \"x\": dim 1 must be 4, got 3"},
      {{F32("y", {1, 4}, {1, 2, 3, 4})}, "unknown input \"y\""},
      {{short_bytes}, "input \"x\": expected 16 bytes"},
  };
  for (Row& r : rows) {
    auto got = Run("local/m", r.inputs);
    ASSERT_FALSE(got.ok()) << r.message;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(got.status().message().find(r.message), std::string::npos)
        << got.status().message();
  }
  InferRequest none;
  none.model = "local/m";
  auto missing = core_->Infer(none);
  EXPECT_EQ(missing.status().message(), "missing input \"x\"");

  InferRequest bad_out;
  bad_out.model = "local/m";
  bad_out.inputs = {F32("x", {1, 4}, {1, 2, 3, 4})};
  bad_out.outputs = {"z"};
  auto unknown_out = core_->Infer(bad_out);
  EXPECT_EQ(unknown_out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown_out.status().message(), "unknown output \"z\"");

  auto ok = Run("local/m", {F32("x", {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->outputs[0].name, "y");
  EXPECT_EQ(ok->outputs[0].data.size(), 32u);
  EXPECT_GT(core_->Stats().errors, 0u);
}

TEST_F(CoreTest, DeadlineAndPluginErrors) {
  Start();
  Pkg p;
  p.testing_json = R"({"behavior":"fail","error_code":"RESOURCE_EXHAUSTED","error_message":"no room"})";
  ASSERT_TRUE(Register(p).ok());
  InferRequest r;
  r.model = "local/m";
  r.inputs = {F32("input", {1}, {1})};
  r.deadline = std::chrono::steady_clock::now() - 1ms;
  auto late = core_->Infer(r);
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  r.deadline.reset();
  auto failed = core_->Infer(r);
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(failed.status().message().find("no room"), std::string::npos);
}

TEST_F(CoreTest, OutputAllocatorReceivesOutputs) {
  Start();
  ASSERT_TRUE(Register(Pkg{}).ok());
  std::vector<uint8_t> region(64);
  InferRequest r;
  r.model = "local/m@1.0.0";
  r.inputs = {F32("input", {3}, {7, 8, 9})};
  r.output_allocator = [&](const std::string& name, DataType dtype,
                           const std::vector<int64_t>& shape, uint64_t bytes) -> void* {
    EXPECT_EQ(name, "output");
    EXPECT_EQ(dtype, DataType::kFloat32);
    EXPECT_EQ(shape, std::vector<int64_t>{3});
    return bytes <= region.size() ? region.data() : nullptr;
  };
  auto got = core_->Infer(r);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->outputs[0].external, region.data());
  EXPECT_EQ(got->outputs[0].external_size, 12u);
  float v[3];
  std::memcpy(v, region.data(), sizeof(v));
  EXPECT_EQ(v[2], 9.0f);

  r.output_allocator = [](const std::string&, DataType, const std::vector<int64_t>&,
                          uint64_t) -> void* { return nullptr; };
  EXPECT_EQ(core_->Infer(r).status().code(), StatusCode::kResourceExhausted);
}

TEST_F(CoreTest, VersionsDefaultsAndAliases) {
  Start();
  Pkg v1, v2;
  v2.version = "2.0.0";
  ASSERT_TRUE(Register(v1).ok());
  ASSERT_TRUE(Register(v2).ok());
  EXPECT_EQ(core_->Get("local/m")->version, "1.0.0");  // first registered is the default
  EXPECT_EQ(core_->Get("local/m@latest")->version, "2.0.0");
  EXPECT_EQ(Run("local/m@2.0.0")->model_version, "2.0.0");
  InferRequest r;
  r.model = "local/m";
  r.version = "2.0.0";
  r.inputs = {F32("input", {1}, {1})};
  EXPECT_EQ(core_->Infer(r)->model_version, "2.0.0");
  EXPECT_EQ(Run("local/m@9.9.9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Run("local/zzz").status().code(), StatusCode::kNotFound);

  auto a = core_->SetAlias("local/m", "stable", "1.0.0");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Run("local/m@stable")->model_version, "1.0.0");
  EXPECT_EQ(core_->SetAlias("local/m", "1.0.0", "2.0.0").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(core_->Rollback("local/m").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(CoreTest, SetDefaultSwitchesOnlyAfterLoadAndRollbackLosesNoRequest) {
  Start();
  Pkg v1, v2;
  v2.version = "2.0.0";
  v2.testing_json = R"({"behavior":"identity","load_sleep_ms":300})";
  ASSERT_TRUE(Register(v1).ok());
  ASSERT_TRUE(Register(v2).ok());
  ASSERT_TRUE(core_->Load("local/m@1.0.0").ok());

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, on_v2_before_ready{0};
  std::atomic<bool> switched{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        auto r = Run("local/m");
        if (!r.ok()) {
          failed++;
          ADD_FAILURE() << r.status().ToString();
          continue;
        }
        ok++;
        if (r->model_version == "2.0.0" && !switched.load()) {
          // Only possible once the switch happened (SetDefault may not have returned yet,
          // but v2 must be READY).
          if (core_->Get("local/m@2.0.0")->state != ModelState::kReady) on_v2_before_ready++;
        }
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  auto s = core_->SetDefault("local/m", "2.0.0");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  switched = true;
  EXPECT_TRUE(s->is_default);
  EXPECT_EQ(s->state, ModelState::kReady);
  EXPECT_EQ(Run("local/m")->model_version, "2.0.0");
  for (int i = 0; i < 5; ++i) {
    auto back = core_->Rollback("local/m");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->version, "1.0.0");
    std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(core_->SetDefault("local/m", "2.0.0").ok());
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(on_v2_before_ready.load(), 0);
  EXPECT_GT(ok.load(), 10);
  EXPECT_EQ(core_->Get("local/m")->version, "2.0.0");
}

TEST_F(CoreTest, UnloadDrainsRequestsInFlight) {
  Start();
  Pkg p;
  p.testing_json = R"({"behavior":"sleep","sleep_ms":300})";
  ASSERT_TRUE(Register(p).ok());
  ASSERT_TRUE(core_->Load("local/m@1.0.0").ok());
  Result<InferResponse> result = Status(StatusCode::kInternal, "not run");
  std::thread t([&] { result = Run("local/m"); });
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  auto s = core_->Unload("local/m@1.0.0");
  auto waited = std::chrono::steady_clock::now() - start;
  t.join();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->state, ModelState::kUnloaded);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_GE(waited, 100ms);
  EXPECT_GT(result->inference_time_us, 250000u);
}

TEST_F(CoreTest, RestartRestoresRegistrationsDefaultsAndLoadedModels) {
  Start();
  Pkg v1, v2, other;
  v2.version = "2.0.0";
  other.name = "other";
  ASSERT_TRUE(Register(v1).ok());
  ASSERT_TRUE(Register(v2).ok());
  ASSERT_TRUE(Register(other).ok());
  ASSERT_TRUE(core_->SetDefault("local/m", "2.0.0").ok());  // loads 2.0.0
  ASSERT_TRUE(core_->SetAlias("local/m", "stable", "1.0.0").ok());
  core_->Shutdown();
  core_->Shutdown();  // idempotent
  EXPECT_EQ(Run("local/m").status().code(), StatusCode::kUnavailable);
  core_.reset();

  options_.lazy_load = false;
  Start();
  auto list = core_->List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, "local/m@1.0.0");
  EXPECT_EQ(list[2].id, "local/other@1.0.0");
  auto m = core_->Get("local/m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->version, "2.0.0");
  EXPECT_EQ(m->state, ModelState::kReady);
  EXPECT_EQ(core_->Get("local/m@1.0.0")->state, ModelState::kRegistered);
  EXPECT_EQ(core_->Get("local/other@1.0.0")->state, ModelState::kRegistered);
  EXPECT_EQ(core_->Get("local/m@stable")->version, "1.0.0");
  EXPECT_TRUE(Run("local/m").ok());
  // The default history survived too.
  auto back = core_->Rollback("local/m");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version, "1.0.0");

  // Without restore, nothing is loaded.
  options_.restore = false;
  Start();
  EXPECT_EQ(core_->Get("local/m@2.0.0")->state, ModelState::kRegistered);
}

class CountingObserver : public CoreObserver {
 public:
  void OnInfer(const std::string&, const char*, bool ok, uint64_t, uint64_t) override {
    (ok ? infer_ok : infer_err)++;
  }
  void OnLoad(const std::string&, bool ok, double) override { loads += ok ? 1 : 0; }
  std::atomic<int> infer_ok{0}, infer_err{0}, loads{0};
};

TEST_F(CoreTest, ObserverAndStats) {
  Start();
  CountingObserver obs;
  core_->SetObserver(&obs);
  ASSERT_TRUE(Register(Pkg{}).ok());
  EXPECT_TRUE(Run("local/m").ok());
  EXPECT_FALSE(Run("local/nope").ok());
  EXPECT_EQ(obs.infer_ok.load(), 1);
  EXPECT_EQ(obs.infer_err.load(), 1);
  EXPECT_EQ(obs.loads.load(), 1);
  CoreStats st = core_->Stats();
  EXPECT_EQ(st.requests, 2u);
  EXPECT_EQ(st.errors, 1u);
  EXPECT_EQ(st.models_registered, 1u);
  core_->SetObserver(nullptr);
}

}  // namespace
}  // namespace mlos::core
