// The resource manager end to end in the core: memory measured at load, eviction under the
// budget (LRU, idle, unpinned), pins (config and API, persisted), keep_alive, the refusal that
// names the holders. Models are the testing plugin's `alloc` behaviour, which maps and touches
// a given number of bytes from load to unload: resident memory the process really holds.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/resources.h"
#include "core_fixture.h"

namespace mlos::core {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kModelBytes = 24 * kMiB;

class ResourcesTest : public CoreTest {
 protected:
  Pkg AllocModel(const std::string& name) {
    Pkg p;
    p.name = name;
    p.testing_json = R"({"behavior":"alloc","alloc_bytes":)" + std::to_string(kModelBytes) + "}";
    return p;
  }

  // Starts with a budget that fits the process plus `models` models and a half.
  void StartWithRoomFor(double models) {
    Start();
    const uint64_t base = core_->Stats().memory_base_bytes;
    ASSERT_GT(base, 0u);
    options_.resources.memory_budget_bytes =
        base + static_cast<uint64_t>(models * static_cast<double>(kModelBytes)) + 4 * kMiB;
    Start();
  }

  void RegisterAll(std::initializer_list<const char*> names) {
    for (const char* n : names) ASSERT_TRUE(Register(AllocModel(n)).ok()) << n;
  }

  ModelState State(const std::string& id) {
    auto s = core_->Get(id);
    return s.ok() ? s->state : ModelState::kFailed;
  }

  int Ready() {
    int n = 0;
    for (const ModelStatus& s : core_->List()) n += s.state == ModelState::kReady;
    return n;
  }

  void ExpectWithinBudget() {
    const CoreStats st = core_->Stats();
    EXPECT_LE(st.memory_used_bytes, st.memory_budget_bytes)
        << "used " << st.memory_used_bytes << " budget " << st.memory_budget_bytes;
  }
};

TEST_F(ResourcesTest, MeasuresWhatALoadedModelHolds) {
  Start();
  RegisterAll({"a"});
  ASSERT_TRUE(Run("local/a").ok());
  auto s = core_->Get("local/a@1.0.0");
  ASSERT_TRUE(s.ok());
  // The plugin reports nothing for alloc models: the resident growth is the measure.
  EXPECT_GE(s->memory_bytes, kModelBytes * 9 / 10);
  EXPECT_LT(s->memory_bytes, kModelBytes * 2);
  EXPECT_EQ(s->load_kind, "cold");
  const CoreStats st = core_->Stats();
  EXPECT_EQ(st.memory_used_bytes, st.memory_base_bytes + s->memory_bytes);
}

TEST_F(ResourcesTest, BudgetForTwoOfThreeServesRoundRobinByEvicting) {
  StartWithRoomFor(2.5);
  RegisterAll({"a", "b", "c"});
  for (int round = 0; round < 3; ++round) {
    for (const char* m : {"local/a", "local/b", "local/c"}) {
      auto r = Run(m);
      ASSERT_TRUE(r.ok()) << m << ": " << r.status().ToString();
      ExpectWithinBudget();
      EXPECT_LE(Ready(), 2);
    }
  }
  EXPECT_GE(core_->Stats().evictions, 6u);
  // The least recently used went first: after a, b, c the one left out is a.
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kUnloaded);
  EXPECT_EQ(State("local/c@1.0.0"), ModelState::kReady);
  auto a = core_->Get("local/a@1.0.0");
  EXPECT_EQ(a->unload_reason, "memory");
  EXPECT_GE(a->evictions, 2u);
  EXPECT_GT(a->memory_estimate_bytes, kModelBytes / 2);  // planned from its last measure
  // Reloads are warm; an evicted model is still registered and still desired.
  ASSERT_TRUE(Run("local/a").ok());
  EXPECT_EQ(core_->Get("local/a@1.0.0")->load_kind, "warm");
}

TEST_F(ResourcesTest, PinnedModelsAreNeverEvicted) {
  options_.resources.models["local/a"].pinned = true;  // config pin, by name
  StartWithRoomFor(2.5);
  RegisterAll({"a", "b", "c"});
  for (int round = 0; round < 3; ++round) {
    for (const char* m : {"local/a", "local/b", "local/c"}) {
      ASSERT_TRUE(Run(m).ok()) << m;
      EXPECT_EQ(State("local/a@1.0.0"), ModelState::kReady);
    }
  }
  EXPECT_EQ(core_->Get("local/a@1.0.0")->evictions, 0u);
  EXPECT_TRUE(core_->Get("local/a@1.0.0")->pinned);
}

TEST_F(ResourcesTest, WhenNothingCanBeEvictedTheRefusalNamesTheHolders) {
  StartWithRoomFor(2.5);
  RegisterAll({"a", "b", "c"});
  ASSERT_TRUE(Run("local/a").ok());
  ASSERT_TRUE(Run("local/b").ok());
  ASSERT_TRUE(core_->Pin("local/a", true).ok());
  ASSERT_TRUE(core_->Pin("local/b@1.0.0", true).ok());
  auto r = Run("local/c");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("not enough memory to load local/c@1.0.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("memory budget"), std::string::npos) << msg;
  EXPECT_NE(msg.find("local/a@1.0.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("local/b@1.0.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(pinned)"), std::string::npos) << msg;
  // Nothing changed: both still loaded, c not FAILED (it may fit later).
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kReady);
  EXPECT_EQ(State("local/b@1.0.0"), ModelState::kReady);
  EXPECT_NE(State("local/c@1.0.0"), ModelState::kFailed);
  // An unpin makes room.
  ASSERT_TRUE(core_->Pin("local/a", false).ok());
  EXPECT_TRUE(Run("local/c").ok());
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kUnloaded);
}

TEST_F(ResourcesTest, ALoadWaitsForABusyModelInsteadOfEvictingIt) {
  StartWithRoomFor(1.5);
  Pkg slow = AllocModel("slow");
  slow.testing_json = R"({"behavior":"alloc","alloc_bytes":)" + std::to_string(kModelBytes) +
                      R"(,"sleep_ms":800})";
  ASSERT_TRUE(Register(slow).ok());
  RegisterAll({"a"});
  ASSERT_TRUE(Run("local/a").ok());
  // a is idle: slow evicts it. While a request runs on slow, a load of a cannot evict it: it
  // waits for the request to finish, then evicts slow.
  auto busy = std::async(std::launch::async, [&] { return Run("local/slow"); });
  for (int i = 0; i < 200 && State("local/slow@1.0.0") != ModelState::kReady; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(State("local/slow@1.0.0"), ModelState::kReady);
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kUnloaded);
  auto waiter = std::async(std::launch::async, [&] { return Run("local/a"); });
  EXPECT_EQ(waiter.wait_for(300ms), std::future_status::timeout);  // still busy: no eviction
  EXPECT_EQ(State("local/slow@1.0.0"), ModelState::kReady);
  ASSERT_TRUE(busy.get().ok());
  auto r = waiter.get();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(State("local/slow@1.0.0"), ModelState::kUnloaded);
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kReady);
}

TEST_F(ResourcesTest, KeepAliveUnloadsAnIdleModelAndTheNextRequestReloadsIt) {
  options_.resources.keep_alive = 200ms;
  Start();
  RegisterAll({"a"});
  ASSERT_TRUE(Run("local/a").ok());
  EXPECT_EQ(core_->Get("local/a@1.0.0")->keep_alive_ms, 200);
  for (int i = 0; i < 300 && State("local/a@1.0.0") != ModelState::kUnloaded; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto s = core_->Get("local/a@1.0.0");
  EXPECT_EQ(s->state, ModelState::kUnloaded);
  EXPECT_EQ(s->unload_reason, "keep_alive");
  EXPECT_TRUE(s->desired_loaded);  // still wanted: it reloads on demand
  ASSERT_TRUE(Run("local/a").ok());
  EXPECT_EQ(core_->Get("local/a@1.0.0")->load_kind, "warm");
}

TEST_F(ResourcesTest, PerRequestKeepAliveZeroUnloadsRightAfterTheRequest) {
  Start();  // the server's keep_alive: forever
  RegisterAll({"a"});
  ASSERT_TRUE(Run("local/a").ok());
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kReady);
  InferRequest r;
  r.model = "local/a";
  r.inputs = {F32("input", {2}, {1, 2})};
  r.keep_alive = 0ms;
  ASSERT_TRUE(core_->Infer(std::move(r)).ok());
  for (int i = 0; i < 200 && State("local/a@1.0.0") != ModelState::kUnloaded; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kUnloaded);
  // A pinned model ignores keep_alive.
  ASSERT_TRUE(core_->Pin("local/a", true).ok());
  InferRequest again;
  again.model = "local/a";
  again.inputs = {F32("input", {2}, {1, 2})};
  again.keep_alive = 0ms;
  ASSERT_TRUE(core_->Infer(std::move(again)).ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(State("local/a@1.0.0"), ModelState::kReady);
}

TEST_F(ResourcesTest, PinsSurviveARestart) {
  Start();
  RegisterAll({"a", "b"});
  ASSERT_TRUE(core_->Pin("local/a", true).ok());
  EXPECT_EQ(core_->Pin("local/nope", true).status().code(), StatusCode::kNotFound);
  Start();
  EXPECT_TRUE(core_->Get("local/a@1.0.0")->pinned);
  EXPECT_FALSE(core_->Get("local/b@1.0.0")->pinned);
  ASSERT_TRUE(core_->Unregister("local/a@1.0.0").ok());
  ASSERT_TRUE(Register(AllocModel("a")).ok());
  EXPECT_FALSE(core_->Get("local/a@1.0.0")->pinned);  // a pin goes with its registration
}

TEST(MemoryBudgetTest, ParsesSizesAndPercentages) {
  const uint64_t avail = 8ull << 30;
  EXPECT_EQ(*ParseMemoryBudget("1073741824", avail), 1073741824u);
  EXPECT_EQ(*ParseMemoryBudget("2GiB", avail), 2ull << 30);
  EXPECT_EQ(*ParseMemoryBudget("512MiB", avail), 512ull << 20);
  EXPECT_EQ(*ParseMemoryBudget("80%", avail), avail * 8 / 10);
  EXPECT_EQ(*ParseMemoryBudget("100%", avail), avail);
  EXPECT_EQ(*ParseMemoryBudget("12.5%", avail), avail / 8);
  for (const char* bad : {"", "lots", "0%", "101%", "-5%", "%", "2 parsecs", "-1"}) {
    auto r = ParseMemoryBudget(bad, avail);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("resources.memory_budget"), std::string::npos) << bad;
  }
  // A percentage needs to know what is available.
  EXPECT_EQ(ParseMemoryBudget("80%", 0).status().code(), StatusCode::kFailedPrecondition);
}

TEST(MemoryBudgetTest, TheProcessSeesItsMemoryAndItsResidentSize) {
  const uint64_t avail = MemoryAvailableToProcess();
  EXPECT_GT(avail, 64ull << 20);
  EXPECT_GT(ResidentBytes(), 1ull << 20);
  EXPECT_LT(ResidentBytes(), avail);
  // Heap in use follows an allocation that resident memory may not show.
  const uint64_t before = HeapBytesInUse();
  std::vector<char> block(8 << 20, 1);
  EXPECT_GE(HeapBytesInUse(), before + (8u << 20));
  EXPECT_EQ(FormatBytes(3 * kMiB / 2), "1.5 MiB");
}

}  // namespace
}  // namespace mlos::core
