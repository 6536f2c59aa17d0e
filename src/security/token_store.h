// Tokens in the registry database (a `tokens` table beside the registry's own), shared by the
// daemon and `mlosd token ...` run beside it: SQLite in WAL mode serialises writers, and
// Version() tells a reader that another process changed the table.
//
// Thread-safety: every method may be called from any thread (one connection, one mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "security/policy.h"

namespace mlos::security {

struct TokenRecord {
  std::string name;                 // the principal the token identifies (unique among active)
  std::string hash;                 // HashToken(token), hex
  Role role = Role::kNone;
  std::vector<std::string> models;  // model patterns; empty = every model
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;        // 0 = never
  int64_t last_used_at_ms = 0;      // 0 = never used
  int64_t revoked_at_ms = 0;        // 0 = active
};

// What `token create` asks for.
struct TokenSpec {
  std::string name;
  Role role = Role::kNone;
  std::vector<std::string> models;
  int64_t ttl_s = 0;  // 0 = never expires
};

// A spec from what a caller typed (the API's fields, `mlosd token create`'s flags): `role` by
// name, `expires` as ParseDuration ("" = never). kInvalidArgument naming `role` or `expires`;
// the name and patterns are checked by Issue.
Result<TokenSpec> MakeTokenSpec(std::string name, const std::string& role,
                                std::vector<std::string> models, const std::string& expires);

class TokenStore {
 public:
  // Opens (creating the table if needed) the database at `db_path` (the registry database,
  // <state-dir>/registry.db).
  static Result<std::unique_ptr<TokenStore>> Open(const std::filesystem::path& db_path);
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Checks the spec (name, role not none, patterns), generates a token, stores its hash and
  // returns {token, record}: the only time the token exists outside its holder.
  // kAlreadyExists when an active token has the name (a revoked one is replaced),
  // kInvalidArgument for a bad spec (naming the field).
  // `preset`: a token the caller generated (GenerateToken) and saved first, so that it becomes
  // valid only once it is kept somewhere (the first admin token and its file).
  Result<std::pair<std::string, TokenRecord>> Issue(const TokenSpec& spec,
                                                    std::string preset = "");
  // Every token (revoked ones included), by name.
  Result<std::vector<TokenRecord>> List();
  // Marks the named active token revoked. kNotFound when there is no active token of that name.
  Result<TokenRecord> Revoke(const std::string& name);
  // Records last-use times (name, unix ms); a later time never goes back.
  Status TouchLastUsed(const std::vector<std::pair<std::string, int64_t>>& uses);
  // Changes whenever the tokens table may have changed, by this process or another one
  // (SQLite's data_version plus this connection's own writes). Cheap.
  Result<uint64_t> Version();

 private:
  struct Impl;
  explicit TokenStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlos::security
