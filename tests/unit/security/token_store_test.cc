// TokenStore: issue/list/revoke/touch, spec validation, and sharing the registry database with
// another connection (another process in production: `mlosd token ...` beside the daemon) and
// with the registry store itself.
#include "security/token_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "security/token.h"
#include "store/sqlite_store.h"

namespace mlos::security {
namespace {

namespace fs = std::filesystem;

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "mlos_token_store_test_");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    db_ = dir_ / "registry.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<TokenStore> Open() {
    auto s = TokenStore::Open(db_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static TokenSpec Spec(const std::string& name, Role role = Role::kUser,
                        std::vector<std::string> models = {}, int64_t ttl_s = 0) {
    TokenSpec spec;
    spec.name = name;
    spec.role = role;
    spec.models = std::move(models);
    spec.ttl_s = ttl_s;
    return spec;
  }

  static uint64_t Version(TokenStore& s) {
    auto v = s.Version();
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : 0;
  }

  fs::path dir_, db_;
};

TEST_F(TokenStoreTest, IssueStoresOnlyTheHash) {
  auto s = Open();
  ASSERT_TRUE(s);
  const int64_t before = NowUnixMs();
  auto issued = s->Issue(Spec("alice", Role::kOperator, {"team/*", "other/clf@2"}));
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  const auto& [token, rec] = *issued;
  EXPECT_EQ(token.substr(0, kTokenPrefix.size()), kTokenPrefix);
  EXPECT_EQ(rec.name, "alice");
  EXPECT_EQ(rec.hash, HashToken(token));
  EXPECT_EQ(rec.role, Role::kOperator);
  EXPECT_EQ(rec.models, (std::vector<std::string>{"team/*", "other/clf@2"}));
  EXPECT_GE(rec.created_at_ms, before);
  EXPECT_LE(rec.created_at_ms, NowUnixMs());
  EXPECT_EQ(rec.expires_at_ms, 0);
  EXPECT_EQ(rec.last_used_at_ms, 0);
  EXPECT_EQ(rec.revoked_at_ms, 0);

  auto list = s->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const TokenRecord& got = (*list)[0];
  EXPECT_EQ(got.name, "alice");
  EXPECT_EQ(got.hash, rec.hash);
  EXPECT_EQ(got.role, Role::kOperator);
  EXPECT_EQ(got.models, rec.models);
  EXPECT_EQ(got.created_at_ms, rec.created_at_ms);

  // The token itself is nowhere in the database file.
  s.reset();
  auto bytes = ReadFile(db_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->find(token), std::string::npos);
}

TEST_F(TokenStoreTest, EmptyModelsMeansEveryModel) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Issue(Spec("bob")).ok());
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].models.empty());
}

TEST_F(TokenStoreTest, ExpiryStored) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto issued = s->Issue(Spec("ci", Role::kReader, {}, 3600));
  ASSERT_TRUE(issued.ok());
  const TokenRecord& rec = issued->second;
  EXPECT_EQ(rec.expires_at_ms, rec.created_at_ms + 3600 * 1000);
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].expires_at_ms, rec.expires_at_ms);
}

TEST_F(TokenStoreTest, BadSpecNamesTheField) {
  auto s = Open();
  ASSERT_TRUE(s);
  struct Case {
    TokenSpec spec;
    std::string prefix;
  };
  const std::vector<Case> cases = {
      {Spec(""), "name: "},
      {Spec("a b"), "name: "},
      {Spec("x", Role::kNone), "role: "},
      {Spec("x", Role::kUser, {"team/*", "bad pattern"}), "models[1]: "},
      {Spec("x", Role::kUser, {}, -1), "ttl_s: "},
      {Spec("x", Role::kUser, {}, int64_t{1} << 62), "ttl_s: "},
  };
  for (const Case& c : cases) {
    auto r = s->Issue(c.spec);
    ASSERT_FALSE(r.ok()) << c.prefix;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(c.prefix, 0), 0u) << r.status().message();
  }
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(TokenStoreTest, ActiveNameIsUnique) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Issue(Spec("alice")).ok());
  auto again = s->Issue(Spec("alice", Role::kAdmin));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("alice"), std::string::npos);
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(TokenStoreTest, RevokeThenReissue) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto first = s->Issue(Spec("alice", Role::kUser));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(s->Issue(Spec("zed")).ok());

  auto revoked = s->Revoke("alice");
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(revoked->name, "alice");
  EXPECT_EQ(revoked->hash, first->second.hash);
  EXPECT_EQ(revoked->role, Role::kUser);
  EXPECT_GE(revoked->revoked_at_ms, first->second.created_at_ms);

  auto none = s->Revoke("alice");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->Revoke("nobody").status().code(), StatusCode::kNotFound);

  auto second = s->Issue(Spec("alice", Role::kAdmin));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->first, first->first);

  // Every row, by name then creation: the revoked alice, the new alice, zed.
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "alice");
  EXPECT_EQ((*list)[0].hash, first->second.hash);
  EXPECT_GT((*list)[0].revoked_at_ms, 0);
  EXPECT_EQ((*list)[1].name, "alice");
  EXPECT_EQ((*list)[1].hash, second->second.hash);
  EXPECT_EQ((*list)[1].role, Role::kAdmin);
  EXPECT_EQ((*list)[1].revoked_at_ms, 0);
  EXPECT_EQ((*list)[2].name, "zed");

  // Revoke now finds the new one.
  auto again = s->Revoke("alice");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->hash, second->second.hash);
}

TEST_F(TokenStoreTest, LastUseNeverGoesBack) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Issue(Spec("alice")).ok());
  ASSERT_TRUE(s->Issue(Spec("bob")).ok());
  auto last_used = [&](const std::string& name) -> int64_t {
    auto list = s->List();
    EXPECT_TRUE(list.ok());
    for (const auto& r : *list) {
      if (r.name == name && r.revoked_at_ms == 0) return r.last_used_at_ms;
    }
    return -1;
  };
  ASSERT_TRUE(s->TouchLastUsed({{"alice", 2000}, {"bob", 500}}).ok());
  EXPECT_EQ(last_used("alice"), 2000);
  EXPECT_EQ(last_used("bob"), 500);
  ASSERT_TRUE(s->TouchLastUsed({{"alice", 1000}, {"bob", 700}}).ok());
  EXPECT_EQ(last_used("alice"), 2000);
  EXPECT_EQ(last_used("bob"), 700);
  ASSERT_TRUE(s->TouchLastUsed({{"alice", 3000}, {"alice", 2500}, {"ghost", 9}}).ok());
  EXPECT_EQ(last_used("alice"), 3000);
  ASSERT_TRUE(s->TouchLastUsed({}).ok());
}

TEST_F(TokenStoreTest, VersionChangesOnOwnWrites) {
  auto s = Open();
  ASSERT_TRUE(s);
  const uint64_t v0 = Version(*s);
  EXPECT_EQ(Version(*s), v0);  // stable while nothing changes
  ASSERT_TRUE(s->Issue(Spec("alice")).ok());
  const uint64_t v1 = Version(*s);
  EXPECT_NE(v1, v0);
  ASSERT_TRUE(s->TouchLastUsed({{"alice", 1000}}).ok());
  const uint64_t v2 = Version(*s);
  EXPECT_NE(v2, v1);
  // A refused write changes nothing.
  ASSERT_FALSE(s->Issue(Spec("alice")).ok());
  ASSERT_FALSE(s->Revoke("nobody").ok());
  EXPECT_EQ(Version(*s), v2);
  ASSERT_TRUE(s->Revoke("alice").ok());
  EXPECT_NE(Version(*s), v2);
}

TEST_F(TokenStoreTest, SecondConnectionSeesChanges) {
  auto daemon = Open();
  auto cli = Open();
  ASSERT_TRUE(daemon && cli);
  const uint64_t v0 = Version(*daemon);

  auto issued = cli->Issue(Spec("alice", Role::kReader, {"team/*"}));
  ASSERT_TRUE(issued.ok());
  const uint64_t v1 = Version(*daemon);
  EXPECT_NE(v1, v0);
  auto list = daemon->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].hash, issued->second.hash);
  EXPECT_EQ((*list)[0].models, std::vector<std::string>{"team/*"});

  ASSERT_TRUE(cli->Revoke("alice").ok());
  const uint64_t v2 = Version(*daemon);
  EXPECT_NE(v2, v1);
  list = daemon->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_GT((*list)[0].revoked_at_ms, 0);

  // And the other way round: the daemon's last-use writes reach the CLI's connection.
  ASSERT_TRUE(cli->Issue(Spec("bob")).ok());
  const uint64_t cli_v = Version(*cli);
  ASSERT_TRUE(daemon->TouchLastUsed({{"bob", 1234}}).ok());
  EXPECT_NE(Version(*cli), cli_v);
  auto cli_list = cli->List();
  ASSERT_TRUE(cli_list.ok());
  ASSERT_EQ(cli_list->size(), 2u);
  EXPECT_EQ((*cli_list)[1].last_used_at_ms, 1234);
}

TEST_F(TokenStoreTest, PersistsAcrossReopen) {
  std::string hash;
  {
    auto s = Open();
    ASSERT_TRUE(s);
    auto issued = s->Issue(Spec("alice", Role::kAdmin, {}, 60));
    ASSERT_TRUE(issued.ok());
    hash = issued->second.hash;
  }
  auto s = Open();
  ASSERT_TRUE(s);
  auto list = s->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].hash, hash);
  EXPECT_EQ((*list)[0].role, Role::kAdmin);
  EXPECT_GT((*list)[0].expires_at_ms, 0);
}

TEST_F(TokenStoreTest, SharesTheDatabaseWithTheRegistryStore) {
  // Tokens first, then the registry opens the same file (and the other way in the next block).
  auto tokens = Open();
  ASSERT_TRUE(tokens);
  ASSERT_TRUE(tokens->Issue(Spec("alice")).ok());
  auto registry = store::OpenSqliteStore(db_);
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  store::ModelRecord m;
  m.id = "team/clf@1";
  m.name = "team/clf";
  m.version = "1";
  m.path = "/models/1";
  m.manifest_path = "/models/1/manifest.yaml";
  m.execution_format = "testing";
  m.framework = "testing";
  m.registered_at = 1;
  ASSERT_TRUE((*registry)->PutModel(m, nullptr).ok());
  ASSERT_TRUE(tokens->Issue(Spec("bob")).ok());
  auto snap = (*registry)->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->models.size(), 1u);
  auto list = tokens->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);

  // The WAL journal mode both rely on.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(TokenStoreTest, RegistryFirstThenTokens) {
  {
    auto registry = store::OpenSqliteStore(db_);
    ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  }
  auto tokens = Open();
  ASSERT_TRUE(tokens);
  ASSERT_TRUE(tokens->Issue(Spec("alice")).ok());
  auto registry = store::OpenSqliteStore(db_);
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
}

TEST_F(TokenStoreTest, NotADatabaseIsDataLoss) {
  ASSERT_TRUE(WriteFileAtomic(db_, std::string(4096, 'x')).ok());
  auto s = TokenStore::Open(db_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << s.status().ToString();
  EXPECT_NE(s.status().message().find(db_.string()), std::string::npos);
}

TEST_F(TokenStoreTest, ConcurrentWritersOnTwoConnections) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::atomic<int> same_name_ok{0};
  auto work = [&](TokenStore* s, const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!s->Issue(Spec(prefix + std::to_string(i))).ok()) ++failures;
      if (!s->TouchLastUsed({{prefix + std::to_string(i), 1000 + i}}).ok()) ++failures;
      if (s->Issue(Spec("shared")).ok()) ++same_name_ok;
    }
  };
  std::thread ta(work, a.get(), "a");
  std::thread tb(work, b.get(), "b");
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(same_name_ok.load(), 1);  // one active token per name, whoever wins
  auto list = a->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u * kPerThread + 1);
}

}  // namespace
}  // namespace mlos::security
