// Core lifecycle across Create and Shutdown: shutdown unloads dependents before their
// dependencies; Ready() and restoring loaded models in the background.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

#include "core_fixture.h"

namespace mlos::core {
namespace {

using namespace std::chrono_literals;

class StateLog : public CoreObserver {
 public:
  void OnStateChange(const std::string& id, ModelState s) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.emplace_back(id, s);
  }
  // The ids that entered `s`, in order.
  std::vector<std::string> Entered(ModelState s) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [id, state] : events_) {
      if (state == s) out.push_back(id);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, ModelState>> events_;
};

TEST_F(CoreTest, ShutdownUnloadsDependentsBeforeTheirDependencies) {
  Start();
  StateLog log;
  core_->SetObserver(&log);
  // "a" needs "b": alphabetical (and reverse alphabetical) order gets one of them wrong.
  Pkg a, b, z;
  a.name = "a";
  a.deps_yaml = "      - local/b@1.0.0\n";
  b.name = "b";
  z.name = "z";
  ASSERT_TRUE(Register(b).ok());
  ASSERT_TRUE(Register(a).ok());
  ASSERT_TRUE(Register(z).ok());
  ASSERT_TRUE(core_->Load("local/a@1.0.0").ok());
  ASSERT_TRUE(core_->Load("local/z@1.0.0").ok());
  EXPECT_EQ(log.Entered(ModelState::kReady),
            (std::vector<std::string>{"local/b@1.0.0", "local/a@1.0.0", "local/z@1.0.0"}));
  core_->Shutdown();
  core_->SetObserver(nullptr);
  std::vector<std::string> unloading = log.Entered(ModelState::kUnloading);
  ASSERT_EQ(unloading.size(), 3u);
  auto pos = [&](const std::string& id) {
    return std::find(unloading.begin(), unloading.end(), id) - unloading.begin();
  };
  EXPECT_LT(pos("local/a@1.0.0"), pos("local/b@1.0.0"))
      << unloading[0] << ", " << unloading[1] << ", " << unloading[2];
  EXPECT_EQ(log.Entered(ModelState::kUnloaded).size(), 3u);
}

class RestoreTest : public CoreTest {
 protected:
  // Registers slow (its load takes `slow_ms`), broken (its load fails) and fast, loads them
  // and stops the core: all three are desired loaded at the next start.
  void PrepareRestart(int slow_ms) {
    Start();
    Pkg slow, broken, fast;
    slow.name = "slow";
    slow.testing_json =
        R"({"behavior":"identity","load_sleep_ms":)" + std::to_string(slow_ms) + "}";
    broken.name = "broken";
    broken.testing_json = R"({"behavior":"identity","load_fail":"bad weights"})";
    fast.name = "fast";
    for (const Pkg* p : {&slow, &broken, &fast}) {
      ASSERT_TRUE(Register(*p).ok()) << p->name;
      EXPECT_EQ(core_->Load("local/" + p->name + "@1.0.0").ok(), p != &broken) << p->name;
    }
    core_.reset();
  }

  ModelState State(const std::string& name) { return core_->Get("local/" + name)->state; }

  // Polls Ready() for up to `limit`.
  bool WaitReady(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!core_->Ready()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
};

TEST_F(RestoreTest, ReadyWhenCreateReturnsWithoutBackgroundRestore) {
  Start();
  EXPECT_TRUE(core_->Ready());  // nothing to restore
  PrepareRestart(/*slow_ms=*/300);
  Start();
  EXPECT_TRUE(core_->Ready());
  EXPECT_EQ(State("slow"), ModelState::kReady);
  EXPECT_EQ(State("fast"), ModelState::kReady);
  EXPECT_EQ(State("broken"), ModelState::kFailed);

  options_.restore = false;  // nothing is loaded, and that is ready too
  Start();
  EXPECT_TRUE(core_->Ready());
  EXPECT_EQ(State("slow"), ModelState::kRegistered);
}

TEST_F(RestoreTest, BackgroundRestoreReturnsAtOnceAndBecomesReady) {
  PrepareRestart(/*slow_ms=*/1500);
  options_.restore_in_background = true;
  auto t0 = std::chrono::steady_clock::now();
  Start();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1500ms);
  EXPECT_FALSE(core_->Ready());
  EXPECT_NE(State("slow"), ModelState::kReady);
  EXPECT_EQ(core_->List().size(), 3u);  // the registry is there already
  // A request for a model still loading waits for it.
  auto r = Run("local/slow");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(WaitReady(10s));
  EXPECT_EQ(State("slow"), ModelState::kReady);
  EXPECT_EQ(State("fast"), ModelState::kReady);
  EXPECT_EQ(State("broken"), ModelState::kFailed);
  EXPECT_NE(core_->Get("local/broken")->reason.find("bad weights"), std::string::npos);
}

TEST_F(RestoreTest, ShutdownStopsABackgroundRestore) {
  PrepareRestart(/*slow_ms=*/1500);
  options_.restore_in_background = true;
  options_.lazy_load = false;
  Start();
  EXPECT_FALSE(core_->Ready());
  auto t0 = std::chrono::steady_clock::now();
  core_->Shutdown();  // waits for the load in progress at most, starts no other
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3000ms);
  int never_loaded = 0;
  for (const ModelStatus& m : core_->List()) {
    EXPECT_NE(m.state, ModelState::kReady) << m.id;
    EXPECT_NE(m.state, ModelState::kLoading) << m.id;
    never_loaded += m.state == ModelState::kRegistered ? 1 : 0;
  }
  EXPECT_GE(never_loaded, 1);
  core_.reset();
  // The desired state survived: a normal start loads them.
  options_.restore_in_background = false;
  Start();
  EXPECT_EQ(State("fast"), ModelState::kReady);
}

}  // namespace
}  // namespace mlos::core
