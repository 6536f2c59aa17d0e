// The core's store writes and its request lock: a registry mutation never holds the lock every
// request takes while it writes to the store, a refused write changes nothing, and memory and
// store agree afterwards (GatedStore holds or refuses the writes).
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "core_fixture.h"
#include "gated_store.h"

namespace mlos::core {
namespace {

using namespace std::chrono_literals;

int Entered(GatedStore::Gate& g) {
  std::lock_guard<std::mutex> lock(g.mu);
  return g.entered;
}

// What survives a restart: ids, defaults, aliases, desired load state.
std::vector<std::string> Persisted(const std::vector<ModelStatus>& list) {
  std::vector<std::string> out;
  for (const ModelStatus& m : list) {
    std::string s = m.id + (m.is_default ? " default" : "") +
                    (m.desired_loaded ? " desired-loaded" : "");
    for (const std::string& a : m.aliases) s += " @" + a;
    out.push_back(s);
  }
  return out;
}

TEST_F(CoreTest, RequestsRunWhileTheStoreWrites) {
  auto gate = std::make_shared<GatedStore::Gate>();
  StartWithStore(std::make_unique<GatedStore>(OpenStore(), gate));
  Pkg a, b1, b2, c;
  a.name = "a";
  b1.name = b2.name = "b";
  b2.version = "2.0.0";
  c.name = "c";
  ASSERT_TRUE(Register(a).ok());
  ASSERT_TRUE(Register(b1).ok());
  ASSERT_TRUE(Register(b2).ok());
  ASSERT_TRUE(core_->Load("local/a@1.0.0").ok());
  const std::string c_dir = MakePackage(c).string();

  struct Op {
    const char* what;
    std::function<Status()> run;
  } ops[] = {
      {"register",
       [&] {
         RegisterRequest r;
         r.model_id = "local/c@1.0.0";
         r.path = c_dir;
         return core_->Register(r).status();
       }},
      {"load (desired state)", [&] { return core_->Load("local/b@1.0.0").status(); }},
      {"set default", [&] { return core_->SetDefault("local/b", "2.0.0").status(); }},
      {"alias", [&] { return core_->SetAlias("local/b", "stable", "1.0.0").status(); }},
      {"unload (desired state)", [&] { return core_->Unload("local/b@1.0.0").status(); }},
      {"unregister", [&] { return core_->Unregister("local/c@1.0.0"); }},
  };
  for (const Op& op : ops) {
    const int before = Entered(*gate);
    GatedStore::Hold(*gate);
    Status result = Internal("not run");
    std::thread writer([&] { result = op.run(); });
    bool writing = GatedStore::WaitEntered(*gate, before + 1, 5s);
    EXPECT_TRUE(writing) << op.what << ": never reached the store";
    if (writing) {
      // Another, loaded model serves while the write is blocked in the store.
      auto r = Run("local/a@1.0.0");
      EXPECT_TRUE(r.ok()) << op.what << ": " << r.status().ToString();
      EXPECT_TRUE(core_->Get("local/a").ok()) << op.what;
      EXPECT_EQ(GatedStore::Writing(*gate), 1)
          << op.what << ": the request waited for the store write to end";
    }
    GatedStore::Release(*gate);
    writer.join();
    EXPECT_TRUE(result.ok()) << op.what << ": " << result.ToString();
  }
  EXPECT_EQ(core_->Get("local/b")->version, "2.0.0");
  EXPECT_EQ(core_->Get("local/b@stable")->version, "1.0.0");
  EXPECT_EQ(core_->Get("local/c@1.0.0").status().code(), StatusCode::kNotFound);

  // Memory and store agree.
  std::vector<std::string> live = Persisted(core_->List());
  Start();
  EXPECT_EQ(Persisted(core_->List()), live);
}

TEST_F(CoreTest, RefusedStoreWritesChangeNothing) {
  auto gate = std::make_shared<GatedStore::Gate>();
  StartWithStore(std::make_unique<GatedStore>(OpenStore(), gate));
  Pkg a, b1, b2, c;
  a.name = "a";
  b1.name = b2.name = "b";
  b2.version = "2.0.0";
  c.name = "c";
  ASSERT_TRUE(Register(a).ok());
  ASSERT_TRUE(Register(b1).ok());
  ASSERT_TRUE(Register(b2).ok());
  const std::vector<std::string> before = Persisted(core_->List());

  GatedStore::FailWrites(*gate, true);
  EXPECT_FALSE(Register(c).ok());
  EXPECT_EQ(core_->Get("local/c@1.0.0").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(core_->SetAlias("local/b", "stable", "1.0.0").status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(core_->Get("local/b@stable").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(core_->Load("local/b@1.0.0").ok());
  EXPECT_EQ(core_->Get("local/b@1.0.0")->state, ModelState::kRegistered);
  EXPECT_FALSE(core_->SetDefault("local/b", "2.0.0").ok());
  EXPECT_EQ(core_->Get("local/b")->version, "1.0.0");
  EXPECT_EQ(core_->Get("local/b@2.0.0")->state, ModelState::kRegistered);
  EXPECT_FALSE(core_->Unregister("local/a@1.0.0").ok());
  EXPECT_EQ(Persisted(core_->List()), before);

  GatedStore::FailWrites(*gate, false);
  EXPECT_TRUE(Run("local/a").ok());  // still registered, not left reserved
  ASSERT_TRUE(Register(c).ok());     // the id was not left reserved either
  ASSERT_TRUE(core_->Unregister("local/c@1.0.0").ok());
  std::vector<std::string> live = Persisted(core_->List());
  Start();
  EXPECT_EQ(Persisted(core_->List()), live);
}

}  // namespace
}  // namespace mlos::core
