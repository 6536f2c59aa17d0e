// TokenStore on SQLite: the `tokens` table in the registry database, opened the way the
// registry store opens it (WAL, synchronous=NORMAL, 5 s busy timeout) so the daemon, its
// registry connection and `mlosd token ...` share the file. One connection, one mutex;
// prepared statements cached per SQL text; one transaction per mutating call.
#include "security/token_store.h"

#include <sqlite3.h>

#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "security/token.h"

namespace mlos::security {
namespace {

// A row per issued token; rows of revoked tokens stay (a name may be issued again once its
// active token is revoked). `models` holds the patterns joined by '\n' (patterns cannot
// contain one). Times are unix milliseconds, 0 = never / not.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tokens(
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  models TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_name ON tokens(name) WHERE revoked_at = 0;
)sql";

constexpr const char* kColumns =
    "name, hash, role, models, created_at, expires_at, last_used_at, revoked_at";

constexpr int kBusyTimeoutMs = 5000;

std::string JoinPatterns(const std::vector<std::string>& patterns) {
  std::string out;
  for (const std::string& p : patterns) {
    if (!out.empty()) out += '\n';
    out += p;
  }
  return out;
}

std::vector<std::string> SplitPatterns(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const size_t nl = joined.find('\n');
    out.emplace_back(joined.substr(0, nl));
    if (nl == std::string_view::npos) break;
    joined.remove_prefix(nl + 1);
  }
  return out;
}

Status CheckSpec(const TokenSpec& spec) {
  MLOS_RETURN_IF_ERROR(ValidateTokenName(spec.name).WithPrefix("name"));
  if (spec.role == Role::kNone) {
    return InvalidArgument("role: a token needs a role (reader, user, operator or admin)");
  }
  for (size_t i = 0; i < spec.models.size(); ++i) {
    MLOS_RETURN_IF_ERROR(
        ValidateModelPattern(spec.models[i]).WithPrefix("models[" + std::to_string(i) + "]"));
  }
  if (spec.ttl_s < 0) return InvalidArgument("ttl_s: must not be negative (0 = never expires)");
  return Status::Ok();
}

}  // namespace

Result<TokenSpec> MakeTokenSpec(std::string name, const std::string& role,
                                std::vector<std::string> models, const std::string& expires) {
  TokenSpec spec;
  spec.name = std::move(name);
  const std::optional<Role> r = ParseRole(role);
  if (!r || *r == Role::kNone) {
    return InvalidArgument("role: '" + role + "' is not one of admin, operator, user, reader");
  }
  spec.role = *r;
  spec.models = std::move(models);
  if (!expires.empty()) {
    Result<int64_t> ttl = ParseDuration(expires);
    if (!ttl.ok()) return ttl.status().WithPrefix("expires");
    spec.ttl_s = *ttl;
  }
  return spec;
}

struct TokenStore::Impl {
  struct Stmt {
    sqlite3_stmt* stmt = nullptr;
  };

  explicit Impl(sqlite3* handle) : db(handle) {}
  ~Impl() {
    for (auto& [sql, s] : stmts) sqlite3_finalize(s.stmt);
    sqlite3_close_v2(db);
  }

  Status Error(const std::string& what) const {
    return Internal("token store: sqlite: " + what + ": " + sqlite3_errmsg(db));
  }

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      return Internal("token store: sqlite: " + msg);
    }
    return Status::Ok();
  }

  // A cached statement for `sql`, reset and with its bindings cleared.
  Status Prepare(const std::string& sql, Stmt** out) {
    auto it = stmts.find(sql);
    if (it == stmts.end()) {
      Stmt s;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s.stmt, nullptr) != SQLITE_OK) {
        return Error("prepare");
      }
      it = stmts.emplace(sql, s).first;
    } else {
      sqlite3_reset(it->second.stmt);
      sqlite3_clear_bindings(it->second.stmt);
    }
    *out = &it->second;
    return Status::Ok();
  }

  static void Bind(Stmt* s, int index, std::string_view value) {
    sqlite3_bind_text(s->stmt, index, value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
  }

  static std::string Text(Stmt* s, int col) {
    const unsigned char* t = sqlite3_column_text(s->stmt, col);
    const int n = sqlite3_column_bytes(s->stmt, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : "";
  }

  // Reads a row selected with kColumns.
  static TokenRecord Row(Stmt* s) {
    TokenRecord r;
    r.name = Text(s, 0);
    r.hash = Text(s, 1);
    r.role = ParseRole(Text(s, 2)).value_or(Role::kNone);  // unknown role: grants nothing
    r.models = SplitPatterns(Text(s, 3));
    r.created_at_ms = sqlite3_column_int64(s->stmt, 4);
    r.expires_at_ms = sqlite3_column_int64(s->stmt, 5);
    r.last_used_at_ms = sqlite3_column_int64(s->stmt, 6);
    r.revoked_at_ms = sqlite3_column_int64(s->stmt, 7);
    return r;
  }

  Status Done(Stmt* s, int rc) {
    sqlite3_reset(s->stmt);
    return rc == SQLITE_DONE ? Status::Ok() : Error("step");
  }

  // Runs `body` in BEGIN IMMEDIATE ... COMMIT (rolled back on error). A committed transaction
  // that changed rows counts as one of this connection's writes (for Version()).
  template <typename F>
  Status Transaction(F&& body) {
    MLOS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    const int64_t changes_before = sqlite3_total_changes64(db);
    Status st = body();
    if (st.ok()) st = Exec("COMMIT");
    if (!st.ok()) {
      if (!sqlite3_get_autocommit(db)) (void)Exec("ROLLBACK");
      return st;
    }
    if (sqlite3_total_changes64(db) != changes_before) ++own_writes;
    return Status::Ok();
  }

  Status Init() {
    MLOS_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    MLOS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    return Transaction([&] { return Exec(kSchema); });
  }

  std::mutex mu;
  sqlite3* const db;                              // guarded by mu
  std::unordered_map<std::string, Stmt> stmts;    // guarded by mu
  uint64_t own_writes = 0;                        // guarded by mu; committed changing transactions
};

TokenStore::TokenStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenStore::~TokenStore() = default;

Result<std::unique_ptr<TokenStore>> TokenStore::Open(const std::filesystem::path& db_path) {
  std::error_code ec;
  if (db_path.has_parent_path()) std::filesystem::create_directories(db_path.parent_path(), ec);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Unavailable("open token store " + db_path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  auto impl = std::make_unique<Impl>(db);
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    Status st = impl->Init();
    if (!st.ok()) {
      // The file is there but is not a usable database: kDataLoss, as the registry reports it.
      const int code = sqlite3_errcode(impl->db) & 0xff;
      if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) st = DataLoss(st.message());
      return st.WithPrefix(db_path.string());
    }
  }
  return std::unique_ptr<TokenStore>(new TokenStore(std::move(impl)));
}

Result<std::pair<std::string, TokenRecord>> TokenStore::Issue(const TokenSpec& spec,
                                                              std::string preset) {
  MLOS_RETURN_IF_ERROR(CheckSpec(spec));
  TokenRecord rec;
  rec.name = spec.name;
  rec.role = spec.role;
  rec.models = spec.models;
  rec.created_at_ms = NowUnixMs();
  if (spec.ttl_s > 0) {
    if (spec.ttl_s > (std::numeric_limits<int64_t>::max() - rec.created_at_ms) / 1000) {
      return InvalidArgument("ttl_s: " + std::to_string(spec.ttl_s) + " seconds is too long");
    }
    rec.expires_at_ms = rec.created_at_ms + spec.ttl_s * 1000;
  }
  std::string token = preset.empty() ? GenerateToken() : std::move(preset);
  rec.hash = HashToken(token);

  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  Status st = d.Transaction([&]() -> Status {
    Impl::Stmt* s = nullptr;
    MLOS_RETURN_IF_ERROR(d.Prepare("SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at = 0", &s));
    Impl::Bind(s, 1, rec.name);
    const int rc = sqlite3_step(s->stmt);
    if (rc == SQLITE_ROW) {
      sqlite3_reset(s->stmt);
      return AlreadyExists("token '" + rec.name + "' already exists (revoke it first)");
    }
    MLOS_RETURN_IF_ERROR(d.Done(s, rc));
    MLOS_RETURN_IF_ERROR(d.Prepare(std::string("INSERT INTO tokens(") + kColumns +
                                       ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, 0)",
                                   &s));
    Impl::Bind(s, 1, rec.name);
    Impl::Bind(s, 2, rec.hash);
    Impl::Bind(s, 3, RoleName(rec.role));
    Impl::Bind(s, 4, JoinPatterns(rec.models));
    sqlite3_bind_int64(s->stmt, 5, rec.created_at_ms);
    sqlite3_bind_int64(s->stmt, 6, rec.expires_at_ms);
    return d.Done(s, sqlite3_step(s->stmt));
  });
  if (!st.ok()) return st;
  return std::make_pair(std::move(token), std::move(rec));
}

Result<std::vector<TokenRecord>> TokenStore::List() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  Impl::Stmt* s = nullptr;
  MLOS_RETURN_IF_ERROR(d.Prepare(
      std::string("SELECT ") + kColumns + " FROM tokens ORDER BY name, created_at, rowid", &s));
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) out.push_back(Impl::Row(s));
  MLOS_RETURN_IF_ERROR(d.Done(s, rc));
  return out;
}

Result<TokenRecord> TokenStore::Revoke(const std::string& name) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  TokenRecord rec;
  Status st = d.Transaction([&]() -> Status {
    Impl::Stmt* s = nullptr;
    MLOS_RETURN_IF_ERROR(d.Prepare(std::string("SELECT ") + kColumns +
                                       ", rowid FROM tokens WHERE name = ?1 AND revoked_at = 0",
                                   &s));
    Impl::Bind(s, 1, name);
    const int rc = sqlite3_step(s->stmt);
    if (rc != SQLITE_ROW) {
      MLOS_RETURN_IF_ERROR(d.Done(s, rc));
      return NotFound("no active token named '" + name + "'");
    }
    rec = Impl::Row(s);
    const int64_t rowid = sqlite3_column_int64(s->stmt, 8);
    sqlite3_reset(s->stmt);
    rec.revoked_at_ms = NowUnixMs();
    MLOS_RETURN_IF_ERROR(d.Prepare("UPDATE tokens SET revoked_at = ?1 WHERE rowid = ?2", &s));
    sqlite3_bind_int64(s->stmt, 1, rec.revoked_at_ms);
    sqlite3_bind_int64(s->stmt, 2, rowid);
    return d.Done(s, sqlite3_step(s->stmt));
  });
  if (!st.ok()) return st;
  return rec;
}

Status TokenStore::TouchLastUsed(const std::vector<std::pair<std::string, int64_t>>& uses) {
  if (uses.empty()) return Status::Ok();
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  return d.Transaction([&]() -> Status {
    for (const auto& [name, at_ms] : uses) {
      Impl::Stmt* s = nullptr;
      MLOS_RETURN_IF_ERROR(d.Prepare(
          "UPDATE tokens SET last_used_at = ?2 "
          "WHERE name = ?1 AND revoked_at = 0 AND last_used_at < ?2",
          &s));
      Impl::Bind(s, 1, name);
      sqlite3_bind_int64(s->stmt, 2, at_ms);
      MLOS_RETURN_IF_ERROR(d.Done(s, sqlite3_step(s->stmt)));
    }
    return Status::Ok();
  });
}

Result<uint64_t> TokenStore::Version() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  Impl::Stmt* s = nullptr;
  MLOS_RETURN_IF_ERROR(d.Prepare("PRAGMA data_version", &s));
  const int rc = sqlite3_step(s->stmt);
  if (rc != SQLITE_ROW) {
    MLOS_RETURN_IF_ERROR(d.Done(s, rc));
    return d.Error("data_version");
  }
  const auto data_version = static_cast<uint64_t>(sqlite3_column_int64(s->stmt, 0));
  sqlite3_reset(s->stmt);
  // Both parts only grow, so the sum changes whenever either does.
  return (data_version << 20) + d.own_writes;
}

}  // namespace mlos::security
