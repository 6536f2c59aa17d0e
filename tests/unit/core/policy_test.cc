// Lifecycle policy: pure functions, table-tested without threads.
#include "core/policy.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace mlos::core::policy {
namespace {

using store::DefaultRecord;
using V = std::vector<std::string>;

NameSnapshot Snap(std::vector<std::string> versions, DefaultRecord d = {},
                  std::map<std::string, std::string> aliases = {}) {
  NameSnapshot s;
  int64_t seq = 1;
  for (auto& v : versions) s.versions.push_back({v, seq++});
  s.defaults = std::move(d);
  s.aliases = std::move(aliases);
  return s;
}

TEST(PolicyTest, ParseModelRef) {
  struct Row {
    std::string ref, override_, name, requested;
    bool ok;
  } rows[] = {
      {"local/a", "", "local/a", "", true},
      {"local/a@1.0.0", "", "local/a", "1.0.0", true},
      {"local/a@stable", "", "local/a", "stable", true},
      {"local/a@1.0.0", "2.0.0", "local/a", "2.0.0", true},
      {"hf/org/m@latest", "", "hf/org/m", "latest", true},
      {"@1", "", "", "", false},
      {"local/a@", "", "", "", false},
      {"local/a@1@2", "", "", "", false},
      {"", "", "", "", false},
      {"local/../a", "", "", "", false},
      {"/local/a", "", "", "", false},
      {"local/a", "../x", "", "", false},
  };
  for (const Row& r : rows) {
    auto got = ParseModelRef(r.ref, r.override_);
    ASSERT_EQ(got.ok(), r.ok) << r.ref;
    if (!r.ok) {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    EXPECT_EQ(got->name, r.name) << r.ref;
    EXPECT_EQ(got->requested, r.requested) << r.ref;
  }
}

TEST(PolicyTest, ValidateModelId) {
  // The one check every front-end applies to ids, names and versions it is given; the
  // messages are part of the protocols (their tests look for them).
  struct Row {
    std::string id, what, message;  // message "" = accepted
  } rows[] = {
      {"hf/bert@1.0.0", "", ""},
      {"ns/mlp", "", ""},
      {"a b@1", "", ""},  // only what is unsafe in a path is refused here
      {"local/a@1@2", "", ""},
      {"hf/../etc@1", "", "model id 'hf/../etc@1' contains '..'"},
      {"..", "", "model id '..' contains '..'"},
      {"a..b", "field 'model_id'", "field 'model_id' 'a..b' contains '..'"},
      {"/abs", "", "model id '/abs' starts with '/'"},
      {std::string("a\0b", 3), "", "model id contains a NUL byte"},
      {"a\nb", "model name", "model name contains a control character"},
      {"a\x7f", "", "model id contains a control character"},
      {"a\\b", "model version", "model version contains a backslash"},
      {"", "", "model id is empty"},
      {"", "field 'model_id'", "field 'model_id' is empty"},
  };
  for (const Row& r : rows) {
    Status st = r.what.empty() ? ValidateModelId(r.id) : ValidateModelId(r.id, r.what);
    EXPECT_EQ(st.ok(), r.message.empty()) << r.id << ": " << st.message();
    if (!r.message.empty()) {
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << r.id;
      EXPECT_EQ(st.message(), r.message) << r.id;
    }
  }
}

TEST(PolicyTest, ValidateRegistrationId) {
  struct Row {
    std::string id;
    bool ok;
  } rows[] = {
      {"local/a@1.0.0", true},       {"hf/microsoft/resnet-50@1.0.0", true},
      {"hf/bert_base.v2@1.0.0+b1", true}, {"a@1", false},
      {"local/a", false},            {"", false},
      {"local/../etc@1", false},     {"local//a@1", false},
      {"/local/a@1", false},         {"local/a/@1", false},
      {"local/a@1@2", false},        {"local/a@", false},
      {"local/a b@1", false},        {"local/a@1/../x", false},
      {"local/./a@1", false},        {"local/a@..", false},
      {"lo$cal/a@1", false},         {"local/a..b@1", false},
      {"local/a@1..2", false},
  };
  for (const Row& r : rows) {
    Status st = ValidateRegistrationId(r.id, "model_id");
    EXPECT_EQ(st.ok(), r.ok) << r.id << ": " << st.message();
    if (!r.ok) {
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(st.message().rfind("model_id", 0), 0u) << st.message();
    }
  }
  // What the generic check refuses, it refuses with the generic message.
  EXPECT_EQ(ValidateRegistrationId("local/a..b@1").message(),
            "model id 'local/a..b@1' contains '..'");
}

TEST(PolicyTest, CompareVersions) {
  struct Row {
    std::string a, b;
    int want;
  } rows[] = {
      {"1.0.0", "1.0.0", 0},        {"1.0.0", "2.0.0", -1},     {"1.10.0", "1.9.0", 1},
      {"1.0.0-rc.1", "1.0.0", -1},  {"1.0.0-rc.2", "1.0.0-rc.10", -1},
      {"1.0.0-alpha", "1.0.0-1", 1}, {"1.0.0+b2", "1.0.0+b1", 0},
      {"1.0.0", "main", 1},         {"abc", "abd", -1},         {"main", "0.0.1", -1},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(CompareVersions(r.a, r.b), r.want) << r.a << " vs " << r.b;
    EXPECT_EQ(CompareVersions(r.b, r.a), -r.want) << r.b << " vs " << r.a;
  }
}

TEST(PolicyTest, LatestVersion) {
  struct Row {
    std::vector<VersionEntry> versions;
    std::string want;
  } rows[] = {
      {{}, ""},
      {{{"1.0.0", 1}}, "1.0.0"},
      {{{"2.0.0", 1}, {"1.5.0", 2}}, "2.0.0"},
      {{{"1.0.0", 1}, {"1.10.0", 2}, {"1.9.0", 3}}, "1.10.0"},
      {{{"2.0.0-rc.1", 1}, {"1.9.0", 2}}, "2.0.0-rc.1"},
      {{{"abc123", 1}, {"def456", 2}}, "def456"},       // none semver: most recent
      {{{"def456", 2}, {"abc123", 1}}, "def456"},
      {{{"main", 3}, {"0.1.0", 1}}, "0.1.0"},           // semver wins
  };
  for (const Row& r : rows) EXPECT_EQ(LatestVersion(r.versions), r.want);
}

TEST(PolicyTest, ResolveVersion) {
  NameSnapshot s = Snap({"1.0.0", "2.0.0", "1.5.0"}, {"1.0.0", {}}, {{"stable", "1.5.0"}});
  struct Row {
    std::string requested, want;
    StatusCode code;
  } rows[] = {
      {"", "1.0.0", StatusCode::kOk},
      {"2.0.0", "2.0.0", StatusCode::kOk},
      {"latest", "2.0.0", StatusCode::kOk},
      {"stable", "1.5.0", StatusCode::kOk},
      {"3.0.0", "", StatusCode::kNotFound},
      {"canary", "", StatusCode::kNotFound},
  };
  for (const Row& r : rows) {
    auto got = ResolveVersion("local/a", s, r.requested);
    EXPECT_EQ(got.status().code(), r.code) << r.requested;
    if (got.ok()) { EXPECT_EQ(*got, r.want) << r.requested; }
  }
  // A user alias named "latest" wins over the computed one.
  NameSnapshot pinned = Snap({"1.0.0", "2.0.0"}, {"1.0.0", {}}, {{"latest", "1.0.0"}});
  EXPECT_EQ(*ResolveVersion("local/a", pinned, "latest"), "1.0.0");
  // No default recorded: latest.
  EXPECT_EQ(*ResolveVersion("local/a", Snap({"1.0.0", "2.0.0"}), ""), "2.0.0");
  // Unknown name.
  auto missing = ResolveVersion("local/zz", NameSnapshot{}, "");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("local/zz"), std::string::npos);
}

TEST(PolicyTest, DefaultsAfterSetAndRegister) {
  EXPECT_EQ(DefaultsAfterRegister({}, "1.0.0").current, "1.0.0");
  EXPECT_EQ(DefaultsAfterRegister({"1.0.0", {}}, "2.0.0").current, "1.0.0");
  DefaultRecord d = DefaultsAfterSet({"1.0.0", {}}, "2.0.0");
  EXPECT_EQ(d.current, "2.0.0");
  EXPECT_EQ(d.history, V{"1.0.0"});
  d = DefaultsAfterSet(d, "2.0.0");  // no-op
  EXPECT_EQ(d.history, V{"1.0.0"});
  d = DefaultsAfterSet(d, "3.0.0");
  EXPECT_EQ(d.history, (V{"1.0.0", "2.0.0"}));
  EXPECT_EQ(DefaultsAfterSet({}, "1.0.0").history, V{});
}

TEST(PolicyTest, NextDefaultOnRollback) {
  struct Row {
    DefaultRecord in;
    std::set<std::string> registered;
    std::optional<DefaultRecord> want;
  } rows[] = {
      {{"1.0.0", {}}, {"1.0.0"}, std::nullopt},
      {{"2.0.0", {"1.0.0"}}, {"1.0.0", "2.0.0"}, DefaultRecord{"1.0.0", {}}},
      {{"3.0.0", {"1.0.0", "2.0.0"}}, {"1.0.0", "2.0.0", "3.0.0"},
       DefaultRecord{"2.0.0", {"1.0.0"}}},
      // 2.0.0 was unregistered: skip it.
      {{"3.0.0", {"1.0.0", "2.0.0"}}, {"1.0.0", "3.0.0"}, DefaultRecord{"1.0.0", {}}},
      // history entries equal to the current one are skipped
      {{"1.0.0", {"2.0.0", "1.0.0"}}, {"1.0.0", "2.0.0"}, DefaultRecord{"2.0.0", {}}},
      {{"3.0.0", {"9.9.9"}}, {"3.0.0"}, std::nullopt},
  };
  for (const Row& r : rows) {
    auto got = NextDefaultOnRollback(r.in, r.registered);
    ASSERT_EQ(got.has_value(), r.want.has_value()) << r.in.current;
    if (got) {
      EXPECT_EQ(got->current, r.want->current);
      EXPECT_EQ(got->history, r.want->history);
    }
  }
}

TEST(PolicyTest, DefaultsAfterUnregister) {
  std::vector<VersionEntry> rem = {{"1.0.0", 1}, {"3.0.0", 3}};
  // Not the default: only the history loses it.
  DefaultRecord d = DefaultsAfterUnregister({"3.0.0", {"1.0.0", "2.0.0"}}, "2.0.0", rem);
  EXPECT_EQ(d.current, "3.0.0");
  EXPECT_EQ(d.history, V{"1.0.0"});
  // The default: back to the previous default still registered.
  d = DefaultsAfterUnregister({"2.0.0", {"1.0.0"}}, "2.0.0", rem);
  EXPECT_EQ(d.current, "1.0.0");
  EXPECT_TRUE(d.history.empty());
  // No history: the latest remaining.
  d = DefaultsAfterUnregister({"2.0.0", {}}, "2.0.0", rem);
  EXPECT_EQ(d.current, "3.0.0");
  // Nothing left.
  d = DefaultsAfterUnregister({"2.0.0", {}}, "2.0.0", {});
  EXPECT_EQ(d.current, "");
}

TEST(PolicyTest, LoadOrderDependenciesFirst) {
  DepGraph g = {{"app@1", {"enc@1", "tok@1"}}, {"enc@1", {"tok@1"}}, {"tok@1", {}}};
  auto order = LoadOrder(g, "app@1");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, (V{"tok@1", "enc@1", "app@1"}));
  EXPECT_EQ(*LoadOrder(g, "tok@1"), V{"tok@1"});
  EXPECT_EQ(*LoadOrder(g, "unknown@1"), V{"unknown@1"});
}

TEST(PolicyTest, LoadOrderNamesTheCycle) {
  struct Row {
    DepGraph g;
    std::string root, cycle;
  } rows[] = {
      {{{"a@1", {"a@1"}}}, "a@1", "dependency cycle: a@1 -> a@1"},
      {{{"a@1", {"b@1"}}, {"b@1", {"a@1"}}}, "a@1", "dependency cycle: a@1 -> b@1 -> a@1"},
      {{{"x@1", {"a@1"}}, {"a@1", {"b@1"}}, {"b@1", {"c@1"}}, {"c@1", {"a@1"}}}, "x@1",
       "dependency cycle: a@1 -> b@1 -> c@1 -> a@1"},
  };
  for (const Row& r : rows) {
    auto got = LoadOrder(r.g, r.root);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(got.status().message(), r.cycle);
  }
}

TEST(PolicyTest, UnloadOrderDependentsFirst) {
  struct Row {
    DepGraph g;
    V want;
  } rows[] = {
      {{}, {}},
      // "a" needs "b": reverse alphabetical order would unload "b" first.
      {{{"a@1", {"b@1"}}, {"b@1", {}}}, {"a@1", "b@1"}},
      {{{"app@1", {"enc@1", "tok@1"}}, {"enc@1", {"tok@1"}}, {"tok@1", {}}},
       {"app@1", "enc@1", "tok@1"}},
      // Unrelated ids: reverse id order.
      {{{"a@1", {}}, {"b@1", {}}, {"c@1", {}}}, {"c@1", "b@1", "a@1"}},
      // An id named only as a dependency still appears, after its dependents.
      {{{"z@1", {"ghost@1"}}}, {"z@1", "ghost@1"}},
      // A diamond: the shared dependency goes last, once.
      {{{"a@1", {"b@1", "c@1"}}, {"b@1", {"d@1"}}, {"c@1", {"d@1"}}, {"d@1", {}}},
       {"a@1", "c@1", "b@1", "d@1"}},
      // A cycle (registration refuses them) still yields every id once.
      {{{"a@1", {"b@1"}}, {"b@1", {"a@1"}}}, {"a@1", "b@1"}},
  };
  for (const Row& r : rows) {
    V got = UnloadOrder(r.g);
    EXPECT_EQ(got, r.want);
    // Every dependency comes after each of its dependents (cycles aside).
    for (const auto& [id, deps] : r.g) {
      for (const std::string& d : deps) {
        if (LoadOrder(r.g, id).ok()) {
          auto pi = std::find(got.begin(), got.end(), id), pd = std::find(got.begin(), got.end(), d);
          EXPECT_LT(pi, pd) << id << " needs " << d;
        }
      }
    }
  }
}

TEST(PolicyTest, ResolveDependency) {
  NameSnapshot s = Snap({"1.0.0", "1.4.0", "2.0.0"}, {"1.0.0", {}});
  struct Row {
    std::string constraint, want;
    StatusCode code;
  } rows[] = {
      {"", "1.0.0", StatusCode::kOk},          // the default satisfies
      {">=1.2.0 <2.0.0", "1.4.0", StatusCode::kOk},
      {"^1.0.0", "1.0.0", StatusCode::kOk},
      {">=2", "2.0.0", StatusCode::kOk},
      {">=3", "", StatusCode::kFailedPrecondition},
      {"bogus!", "", StatusCode::kInvalidArgument},
  };
  for (const Row& r : rows) {
    auto got = ResolveDependency("local/tok", &s, r.constraint);
    EXPECT_EQ(got.status().code(), r.code) << r.constraint << " " << got.status().message();
    if (got.ok()) { EXPECT_EQ(*got, r.want) << r.constraint; }
  }
  auto missing = ResolveDependency("local/none", nullptr, ">=1");
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(missing.status().message(), "dependency local/none (>=1) is not registered");
}

TEST(PolicyTest, ChooseEvictionVictims) {
  std::vector<EvictionCandidate> c = {
      {"old_small", 100, 0, 10, false},
      {"old_big", 1000, 0, 10, false},
      {"new_idle", 500, 0, 50, false},
      {"busy_oldest", 5000, 2, 1, false},
      {"pinned", 10000, 0, 0, true},
  };
  struct Row {
    uint64_t need;
    V want;
  } rows[] = {
      {0, {}},
      {1, {"old_big"}},                        // same age: bigger first
      {1000, {"old_big"}},
      {1001, {"old_big", "old_small"}},
      {1500, {"old_big", "old_small", "new_idle"}},
      {1601, {"old_big", "old_small", "new_idle", "busy_oldest"}},  // idle first, busy last
      {7000, {}},                              // pinned never counts: impossible
  };
  for (const Row& r : rows) EXPECT_EQ(ChooseEvictionVictims(c, r.need), r.want) << r.need;
}

TEST(SchedulingPolicyTest, EffectivePriorityAgesOneLevelPerStep) {
  struct Row {
    int priority;
    int64_t waited_us, aging_us;
    int want;
  } rows[] = {
      {10, 0, 100000, 10},       {10, 99999, 100000, 10}, {10, 100000, 100000, 9},
      {10, 550000, 100000, 5},   {10, 5000000, 100000, 1},  // never above 1
      {3, 1000000, 0, 3},        // no aging
      {1, 1000000, 100000, 1},   {0, 0, 100000, 1},         // clamped to 1
      {7, -5, 100000, 7},        // clock skew: no change
  };
  for (const Row& r : rows) {
    EXPECT_EQ(EffectivePriority(r.priority, r.waited_us, r.aging_us), r.want)
        << r.priority << " waited " << r.waited_us << " aging " << r.aging_us;
  }
}

TEST(SchedulingPolicyTest, OrderIsPriorityThenDeadlineThenArrival) {
  const int64_t now = 1000000, aging = 0;
  // {seq, priority, enqueued_us, deadline_us}
  const QueuedCall p5_early{1, 5, now, 0}, p5_late{2, 5, now, 0}, p1{3, 1, now, 0},
      p5_deadline_far{4, 5, now, now + 50000}, p5_deadline_near{5, 5, now, now + 10000},
      p10{6, 10, now, now + 1};
  struct Row {
    QueuedCall a, b;
    bool a_first;
  } rows[] = {
      {p1, p5_early, true},                        // more urgent first
      {p5_early, p1, false},
      {p5_early, p5_late, true},                   // same level, no deadlines: arrival
      {p5_late, p5_early, false},
      {p5_deadline_near, p5_deadline_far, true},   // earliest deadline first
      {p5_deadline_far, p5_early, true},           // a deadline before none
      {p5_early, p5_deadline_far, false},
      {p10, p5_late, false},                       // a near deadline does not beat priority
  };
  for (const Row& r : rows) {
    EXPECT_EQ(RunsBefore(r.a, r.b, now, aging), r.a_first) << r.a.seq << " vs " << r.b.seq;
  }
  EXPECT_EQ(NextToRun({}, now, aging), -1);
  EXPECT_EQ(NextToRun({p5_late, p10, p5_early, p5_deadline_far}, now, aging), 3);
  EXPECT_EQ(NextToRun({p5_late, p10, p5_early, p1}, now, aging), 3);
}

TEST(SchedulingPolicyTest, AgingLetsALowPriorityOvertakeNewUrgentCalls) {
  const int64_t aging = 100000;  // one level per 100 ms waited
  const QueuedCall old_low{1, 10, 0, 0};
  // At t = 0.5 s the old call is at 5: a fresh 3 still goes first, a fresh 5 does not.
  EXPECT_TRUE(RunsBefore({2, 3, 500000, 0}, old_low, 500000, aging));
  EXPECT_TRUE(RunsBefore(old_low, {2, 5, 500000, 0}, 500000, aging));
  // At t = 0.95 s it has reached 1 (clamped): it beats even a fresh 1 (arrived earlier).
  EXPECT_TRUE(RunsBefore(old_low, {2, 1, 950000, 0}, 950000, aging));
  // Starvation bound: under a stream of priority-1 calls the old call runs within
  // (priority - 1) * aging.
  int64_t t = 0;
  for (uint64_t seq = 2;; ++seq, t += 10000) {
    if (RunsBefore(old_low, {seq, 1, t, 0}, t, aging)) break;
    ASSERT_LE(t, 9 * aging) << "starved";
  }
  EXPECT_EQ(t, 9 * aging);
}

TEST(SchedulingPolicyTest, MayStartCountsOnlyCallsAtLeastAsUrgent) {
  std::vector<int> running(11, 0);
  EXPECT_TRUE(MayStart(running, 5, 1));
  running[10] = 2;  // two low-priority calls fill the machine
  EXPECT_TRUE(MayStart(running, 1, 2));   // an urgent call still starts (the kernel preempts)
  EXPECT_FALSE(MayStart(running, 10, 2)); // another low one waits
  running[3] = 1;
  EXPECT_TRUE(MayStart(running, 3, 2));
  EXPECT_TRUE(MayStart(running, 1, 1));
  EXPECT_FALSE(MayStart(running, 3, 1));
  EXPECT_FALSE(MayStart(running, 4, 1));
}

TEST(SchedulingPolicyTest, PredictLatency) {
  EXPECT_EQ(PredictLatencyUs(0, 2000, 1), 2000);
  EXPECT_EQ(PredictLatencyUs(6000, 2000, 1), 8000);
  EXPECT_EQ(PredictLatencyUs(6000, 2000, 2), 5000);
  EXPECT_EQ(PredictLatencyUs(-5, 2000, 0), 2000);
}

}  // namespace
}  // namespace mlos::core::policy
