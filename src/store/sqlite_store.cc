// SQLite implementation of RegistryStore: prepared statements (cached per SQL text), one
// transaction per mutating call, WAL journal.
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

namespace mlos::store {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS models(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  path TEXT NOT NULL,
  manifest_path TEXT NOT NULL,
  execution_format TEXT NOT NULL,
  framework TEXT NOT NULL,
  description TEXT NOT NULL,
  desired_loaded INTEGER NOT NULL DEFAULT 0,
  registered_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS models_name ON models(name);
CREATE TABLE IF NOT EXISTS defaults(
  name TEXT PRIMARY KEY,
  version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS default_history(
  name TEXT NOT NULL,
  pos INTEGER NOT NULL,
  version TEXT NOT NULL,
  PRIMARY KEY(name, pos));
CREATE TABLE IF NOT EXISTS aliases(
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version TEXT NOT NULL,
  PRIMARY KEY(name, alias));
CREATE TABLE IF NOT EXISTS pins(
  id TEXT PRIMARY KEY);
)sql";

class SqliteStore final : public RegistryStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { Close(); }

  Status Init() {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    MLOS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    MLOS_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
    int version = 0;
    {
      Stmt* s = nullptr;
      MLOS_RETURN_IF_ERROR(Prepare("PRAGMA user_version", &s));
      if (sqlite3_step(s->stmt) == SQLITE_ROW) version = sqlite3_column_int(s->stmt, 0);
      sqlite3_reset(s->stmt);
    }
    if (version > kSchemaVersion) {
      return DataLoss("registry schema version " + std::to_string(version) +
                      " is newer than this daemon's (" + std::to_string(kSchemaVersion) + ")");
    }
    return Transaction([&]() -> Status {
      MLOS_RETURN_IF_ERROR(Exec(kSchema));
      return Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    });
  }

  Result<RegistrySnapshot> Load() override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    RegistrySnapshot snap;
    Stmt* s = nullptr;
    MLOS_RETURN_IF_ERROR(Prepare(
        "SELECT seq, id, name, version, path, manifest_path, execution_format, framework, "
        "description, desired_loaded, registered_at FROM models ORDER BY seq",
        &s));
    int rc;
    while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {
      ModelRecord r;
      r.seq = sqlite3_column_int64(s->stmt, 0);
      r.id = Text(s, 1);
      r.name = Text(s, 2);
      r.version = Text(s, 3);
      r.path = Text(s, 4);
      r.manifest_path = Text(s, 5);
      r.execution_format = Text(s, 6);
      r.framework = Text(s, 7);
      r.description = Text(s, 8);
      r.desired_loaded = sqlite3_column_int(s->stmt, 9) != 0;
      r.registered_at = sqlite3_column_int64(s->stmt, 10);
      snap.models.push_back(std::move(r));
    }
    MLOS_RETURN_IF_ERROR(Done(s, rc));

    MLOS_RETURN_IF_ERROR(Prepare("SELECT id FROM pins", &s));
    std::set<std::string> pins;
    while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) pins.insert(Text(s, 0));
    MLOS_RETURN_IF_ERROR(Done(s, rc));
    for (ModelRecord& r : snap.models) r.pinned = pins.count(r.id) > 0;

    MLOS_RETURN_IF_ERROR(Prepare("SELECT name, version FROM defaults", &s));
    while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {
      snap.defaults[Text(s, 0)].current = Text(s, 1);
    }
    MLOS_RETURN_IF_ERROR(Done(s, rc));

    MLOS_RETURN_IF_ERROR(
        Prepare("SELECT name, version FROM default_history ORDER BY name, pos", &s));
    while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {
      snap.defaults[Text(s, 0)].history.push_back(Text(s, 1));
    }
    MLOS_RETURN_IF_ERROR(Done(s, rc));

    MLOS_RETURN_IF_ERROR(Prepare("SELECT name, alias, version FROM aliases", &s));
    while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {
      snap.aliases[Text(s, 0)][Text(s, 1)] = Text(s, 2);
    }
    MLOS_RETURN_IF_ERROR(Done(s, rc));
    return snap;
  }

  Status PutModel(const ModelRecord& r, const DefaultRecord* defaults) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    return Transaction([&]() -> Status {
      Stmt* s = nullptr;
      MLOS_RETURN_IF_ERROR(Prepare(
          "INSERT INTO models(id, name, version, path, manifest_path, execution_format, "
          "framework, description, desired_loaded, registered_at) "
          "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
          "ON CONFLICT(id) DO UPDATE SET name=excluded.name, version=excluded.version, "
          "path=excluded.path, manifest_path=excluded.manifest_path, "
          "execution_format=excluded.execution_format, framework=excluded.framework, "
          "description=excluded.description, desired_loaded=excluded.desired_loaded, "
          "registered_at=excluded.registered_at",
          &s));
      Bind(s, 1, r.id);
      Bind(s, 2, r.name);
      Bind(s, 3, r.version);
      Bind(s, 4, r.path);
      Bind(s, 5, r.manifest_path);
      Bind(s, 6, r.execution_format);
      Bind(s, 7, r.framework);
      Bind(s, 8, r.description);
      sqlite3_bind_int(s->stmt, 9, r.desired_loaded ? 1 : 0);
      sqlite3_bind_int64(s->stmt, 10, r.registered_at);
      MLOS_RETURN_IF_ERROR(Run(s));
      if (defaults) MLOS_RETURN_IF_ERROR(WriteDefaults(r.name, *defaults));
      return Status::Ok();
    });
  }

  Status DeleteModel(const std::string& id, const DefaultRecord& defaults) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    return Transaction([&]() -> Status {
      Stmt* s = nullptr;
      MLOS_RETURN_IF_ERROR(Prepare("SELECT name, version FROM models WHERE id = ?1", &s));
      Bind(s, 1, id);
      int rc = sqlite3_step(s->stmt);
      if (rc != SQLITE_ROW) {
        MLOS_RETURN_IF_ERROR(Done(s, rc));
        return NotFound("model " + id + " is not registered");
      }
      std::string name = Text(s, 0), version = Text(s, 1);
      sqlite3_reset(s->stmt);
      MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM models WHERE id = ?1", &s));
      Bind(s, 1, id);
      MLOS_RETURN_IF_ERROR(Run(s));
      MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM pins WHERE id = ?1", &s));
      Bind(s, 1, id);
      MLOS_RETURN_IF_ERROR(Run(s));
      MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM aliases WHERE name = ?1 AND version = ?2", &s));
      Bind(s, 1, name);
      Bind(s, 2, version);
      MLOS_RETURN_IF_ERROR(Run(s));
      return WriteDefaults(name, defaults);
    });
  }

  Status SetDesiredLoaded(const std::string& id, bool desired_loaded) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    Stmt* s = nullptr;
    MLOS_RETURN_IF_ERROR(Prepare("UPDATE models SET desired_loaded = ?1 WHERE id = ?2", &s));
    sqlite3_bind_int(s->stmt, 1, desired_loaded ? 1 : 0);
    Bind(s, 2, id);
    MLOS_RETURN_IF_ERROR(Run(s));
    if (sqlite3_changes(db_) == 0) return NotFound("model " + id + " is not registered");
    return Status::Ok();
  }

  Status SetPinned(const std::string& id, bool pinned) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    return Transaction([&]() -> Status {
      Stmt* s = nullptr;
      MLOS_RETURN_IF_ERROR(Prepare("SELECT 1 FROM models WHERE id = ?1", &s));
      Bind(s, 1, id);
      int rc = sqlite3_step(s->stmt);
      if (rc != SQLITE_ROW) {
        MLOS_RETURN_IF_ERROR(Done(s, rc));
        return NotFound("model " + id + " is not registered");
      }
      sqlite3_reset(s->stmt);
      MLOS_RETURN_IF_ERROR(Prepare(pinned ? "INSERT OR IGNORE INTO pins(id) VALUES(?1)"
                                          : "DELETE FROM pins WHERE id = ?1",
                                   &s));
      Bind(s, 1, id);
      return Run(s);
    });
  }

  Status PutDefaults(const std::string& name, const DefaultRecord& defaults) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    return Transaction([&]() { return WriteDefaults(name, defaults); });
  }

  Status PutAlias(const std::string& name, const std::string& alias,
                  const std::string& version) override {
    std::lock_guard<std::mutex> lock(mu_);
    MLOS_RETURN_IF_ERROR(CheckOpen());
    Stmt* s = nullptr;
    if (version.empty()) {
      MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM aliases WHERE name = ?1 AND alias = ?2", &s));
    } else {
      MLOS_RETURN_IF_ERROR(Prepare(
          "INSERT INTO aliases(name, alias, version) VALUES(?1, ?2, ?3) "
          "ON CONFLICT(name, alias) DO UPDATE SET version=excluded.version",
          &s));
      Bind(s, 3, version);
    }
    Bind(s, 1, name);
    Bind(s, 2, alias);
    return Run(s);
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!db_) return;
    for (auto& [sql, s] : stmts_) sqlite3_finalize(s.stmt);
    stmts_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

 private:
  struct Stmt {
    sqlite3_stmt* stmt = nullptr;
  };

  Status CheckOpen() const {
    return db_ ? Status::Ok() : Unavailable("registry store is closed");
  }

  Status Error(const std::string& what) const {
    return Internal("sqlite: " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "closed"));
  }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Internal("sqlite: " + msg);
    }
    return Status::Ok();
  }

  // Returns a cached, reset statement for `sql` (bindings cleared).
  Status Prepare(const std::string& sql, Stmt** out) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      Stmt s;
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.stmt, nullptr) != SQLITE_OK) {
        return Error("prepare");
      }
      it = stmts_.emplace(sql, s).first;
    } else {
      sqlite3_reset(it->second.stmt);
      sqlite3_clear_bindings(it->second.stmt);
    }
    *out = &it->second;
    return Status::Ok();
  }

  static void Bind(Stmt* s, int index, const std::string& value) {
    sqlite3_bind_text(s->stmt, index, value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
  }

  static std::string Text(Stmt* s, int col) {
    const unsigned char* t = sqlite3_column_text(s->stmt, col);
    int n = sqlite3_column_bytes(s->stmt, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : "";
  }

  // Steps a statement that returns no rows, then resets it.
  Status Run(Stmt* s) {
    int rc = sqlite3_step(s->stmt);
    return Done(s, rc);
  }

  Status Done(Stmt* s, int rc) {
    sqlite3_reset(s->stmt);
    if (rc != SQLITE_DONE) return Error("step");
    return Status::Ok();
  }

  template <typename F>
  Status Transaction(F&& body) {
    MLOS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st = body();
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    st = Exec("COMMIT");
    if (!st.ok()) (void)Exec("ROLLBACK");
    return st;
  }

  Status WriteDefaults(const std::string& name, const DefaultRecord& d) {
    Stmt* s = nullptr;
    if (d.current.empty()) {
      MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM defaults WHERE name = ?1", &s));
      Bind(s, 1, name);
    } else {
      MLOS_RETURN_IF_ERROR(Prepare(
          "INSERT INTO defaults(name, version) VALUES(?1, ?2) "
          "ON CONFLICT(name) DO UPDATE SET version=excluded.version",
          &s));
      Bind(s, 1, name);
      Bind(s, 2, d.current);
    }
    MLOS_RETURN_IF_ERROR(Run(s));
    MLOS_RETURN_IF_ERROR(Prepare("DELETE FROM default_history WHERE name = ?1", &s));
    Bind(s, 1, name);
    MLOS_RETURN_IF_ERROR(Run(s));
    for (size_t i = 0; i < d.history.size(); ++i) {
      MLOS_RETURN_IF_ERROR(
          Prepare("INSERT INTO default_history(name, pos, version) VALUES(?1, ?2, ?3)", &s));
      Bind(s, 1, name);
      sqlite3_bind_int64(s->stmt, 2, static_cast<int64_t>(i));
      Bind(s, 3, d.history[i]);
      MLOS_RETURN_IF_ERROR(Run(s));
    }
    return Status::Ok();
  }

  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
  std::unordered_map<std::string, Stmt> stmts_;  // guarded by mu_
};

}  // namespace

// Less free space than this when the registry cannot be opened: the disk is full.
constexpr uintmax_t kFullBelowBytes = 1 << 20;

Result<std::unique_ptr<RegistryStore>> OpenSqliteStore(const std::filesystem::path& db_path) {
  std::error_code ec;
  if (db_path.has_parent_path()) std::filesystem::create_directories(db_path.parent_path(), ec);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Unavailable("open registry " + db_path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteStore>(db);
  Status st = store->Init();
  if (!st.ok()) {
    // A full file system (SQLite cannot create its write-ahead log or write the schema) is
    // not a damaged registry: say what it is.
    const std::filesystem::path dir = db_path.has_parent_path() ? db_path.parent_path() : ".";
    const auto space = std::filesystem::space(dir, ec);
    if (!ec && space.available < kFullBelowBytes) {
      return Unavailable("registry " + db_path.string() + ": the file system holding it is full (" +
                         std::to_string(space.available) + " bytes free); free space and start "
                         "again (" + st.message() + ")");
    }
    if (st.code() == StatusCode::kInternal) {
      st = DataLoss("registry " + db_path.string() + ": " + st.message());
    }
    return st;
  }
  return std::unique_ptr<RegistryStore>(std::move(store));
}

}  // namespace mlos::store
