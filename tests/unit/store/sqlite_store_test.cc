// SQLite registry store: round trips, transactions, WAL mode, persistence across reopen.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "common/fs.h"

namespace mlos::store {
namespace {

namespace fs = std::filesystem;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "mlos_store_test_");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    db_ = dir_ / "registry.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<RegistryStore> Open() {
    auto s = OpenSqliteStore(db_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static ModelRecord Rec(const std::string& name, const std::string& version) {
    ModelRecord r;
    r.id = name + "@" + version;
    r.name = name;
    r.version = version;
    r.path = "/models/" + version;
    r.manifest_path = r.path + "/manifest.yaml";
    r.execution_format = "testing";
    r.framework = "testing";
    r.description = "d'escription \"quoted\"";
    r.registered_at = 1700000000000;
    return r;
  }

  fs::path dir_, db_;
};

TEST_F(SqliteStoreTest, EmptyStoreLoadsEmpty) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->models.empty());
  EXPECT_TRUE(snap->defaults.empty());
  EXPECT_TRUE(snap->aliases.empty());
}

TEST_F(SqliteStoreTest, UsesWalAndNormalSync) {
  { auto s = Open(); ASSERT_TRUE(s); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, ModelsRoundTripInRegistrationOrderAcrossReopen) {
  {
    auto s = Open();
    ASSERT_TRUE(s);
    DefaultRecord d{"1.0.0", {}};
    ASSERT_TRUE(s->PutModel(Rec("local/a", "1.0.0"), &d).ok());
    ASSERT_TRUE(s->PutModel(Rec("local/a", "2.0.0"), nullptr).ok());
    ASSERT_TRUE(s->PutModel(Rec("local/b", "0.1.0"), nullptr).ok());
    ASSERT_TRUE(s->SetDesiredLoaded("local/a@2.0.0", true).ok());
    s->Close();
    s->Close();  // idempotent
    EXPECT_EQ(s->Load().status().code(), StatusCode::kUnavailable);
  }
  auto s = Open();
  ASSERT_TRUE(s);
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_EQ(snap->models.size(), 3u);
  EXPECT_EQ(snap->models[0].id, "local/a@1.0.0");
  EXPECT_EQ(snap->models[1].id, "local/a@2.0.0");
  EXPECT_EQ(snap->models[2].id, "local/b@0.1.0");
  EXPECT_LT(snap->models[0].seq, snap->models[1].seq);
  EXPECT_FALSE(snap->models[0].desired_loaded);
  EXPECT_TRUE(snap->models[1].desired_loaded);
  EXPECT_EQ(snap->models[0].description, "d'escription \"quoted\"");
  EXPECT_EQ(snap->models[0].manifest_path, "/models/1.0.0/manifest.yaml");
  EXPECT_EQ(snap->models[0].registered_at, 1700000000000);
  EXPECT_EQ(snap->defaults["local/a"].current, "1.0.0");
}

TEST_F(SqliteStoreTest, ReplaceKeepsSeq) {
  auto s = Open();
  ASSERT_TRUE(s->PutModel(Rec("local/a", "1.0.0"), nullptr).ok());
  ASSERT_TRUE(s->PutModel(Rec("local/a", "2.0.0"), nullptr).ok());
  ModelRecord r = Rec("local/a", "1.0.0");
  r.path = "/elsewhere";
  ASSERT_TRUE(s->PutModel(r, nullptr).ok());
  auto snap = s->Load();
  ASSERT_EQ(snap->models.size(), 2u);
  EXPECT_EQ(snap->models[0].id, "local/a@1.0.0");
  EXPECT_EQ(snap->models[0].path, "/elsewhere");
}

TEST_F(SqliteStoreTest, DefaultsAndHistoryRoundTrip) {
  auto s = Open();
  ASSERT_TRUE(s->PutDefaults("local/a", {"3.0.0", {"1.0.0", "2.0.0"}}).ok());
  auto snap = s->Load();
  EXPECT_EQ(snap->defaults["local/a"].current, "3.0.0");
  EXPECT_EQ(snap->defaults["local/a"].history, (std::vector<std::string>{"1.0.0", "2.0.0"}));
  ASSERT_TRUE(s->PutDefaults("local/a", {"1.0.0", {}}).ok());
  snap = s->Load();
  EXPECT_EQ(snap->defaults["local/a"].current, "1.0.0");
  EXPECT_TRUE(snap->defaults["local/a"].history.empty());
  ASSERT_TRUE(s->PutDefaults("local/a", {}).ok());
  snap = s->Load();
  EXPECT_EQ(snap->defaults.count("local/a"), 0u);
}

TEST_F(SqliteStoreTest, AliasesSetReplaceRemove) {
  auto s = Open();
  ASSERT_TRUE(s->PutAlias("local/a", "stable", "1.0.0").ok());
  ASSERT_TRUE(s->PutAlias("local/a", "stable", "2.0.0").ok());
  ASSERT_TRUE(s->PutAlias("local/a", "canary", "3.0.0").ok());
  auto snap = s->Load();
  EXPECT_EQ(snap->aliases["local/a"]["stable"], "2.0.0");
  EXPECT_EQ(snap->aliases["local/a"]["canary"], "3.0.0");
  ASSERT_TRUE(s->PutAlias("local/a", "canary", "").ok());
  snap = s->Load();
  EXPECT_EQ(snap->aliases["local/a"].count("canary"), 0u);
}

TEST_F(SqliteStoreTest, DeleteRemovesModelAliasesAndWritesDefaults) {
  auto s = Open();
  DefaultRecord d{"1.0.0", {}};
  ASSERT_TRUE(s->PutModel(Rec("local/a", "1.0.0"), &d).ok());
  ASSERT_TRUE(s->PutModel(Rec("local/a", "2.0.0"), nullptr).ok());
  ASSERT_TRUE(s->PutAlias("local/a", "stable", "1.0.0").ok());
  ASSERT_TRUE(s->PutAlias("local/a", "canary", "2.0.0").ok());
  ASSERT_TRUE(s->DeleteModel("local/a@1.0.0", {"2.0.0", {}}).ok());
  auto snap = s->Load();
  ASSERT_EQ(snap->models.size(), 1u);
  EXPECT_EQ(snap->models[0].id, "local/a@2.0.0");
  EXPECT_EQ(snap->aliases["local/a"].count("stable"), 0u);
  EXPECT_EQ(snap->aliases["local/a"]["canary"], "2.0.0");
  EXPECT_EQ(snap->defaults["local/a"].current, "2.0.0");
}

TEST_F(SqliteStoreTest, DeleteUnknownIsNotFoundAndChangesNothing) {
  auto s = Open();
  DefaultRecord d{"1.0.0", {}};
  ASSERT_TRUE(s->PutModel(Rec("local/a", "1.0.0"), &d).ok());
  EXPECT_EQ(s->DeleteModel("local/zzz@1", {}).code(), StatusCode::kNotFound);
  EXPECT_EQ(s->SetDesiredLoaded("local/zzz@1", true).code(), StatusCode::kNotFound);
  auto snap = s->Load();
  EXPECT_EQ(snap->models.size(), 1u);
  EXPECT_EQ(snap->defaults["local/a"].current, "1.0.0");
}

TEST_F(SqliteStoreTest, NotADatabaseIsAnError) {
  ASSERT_TRUE(WriteFileAtomic(db_, std::string(4096, 'x')).ok());
  auto s = OpenSqliteStore(db_);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace mlos::store
