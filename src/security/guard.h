// The Guard: who is calling (authentication), what they may do (authorization), how much
// (quotas), and the record of it (audit) — the one object service::Service consults on every
// call, whatever protocol carried it. Front-ends only collect Credentials.
//
// Identities, in the order tried:
//   1. a bearer token (HTTP Authorization, gRPC `authorization` metadata, IPC kAuth): looked up
//      by its SHA-256 in a table the Guard reloads from the registry database whenever it
//      changes (polled every `token_poll`, so `mlosd token revoke` run beside the daemon takes
//      effect within a second); unknown, expired and revoked tokens are kUnauthenticated;
//   2. a verified client certificate's subject CN (mTLS), a principal in `principals`;
//   3. the Unix peer's uid (IPC SO_PEERCRED), through `unix_principals`.
// With auth off every caller is an admin named after its transport ("anonymous", "uid:1000"):
// no checks, as before; quotas, model roots and the audit log still apply.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "security/audit.h"
#include "security/limiter.h"
#include "security/policy.h"
#include "security/token_store.h"

namespace mlos::security {

// What a front-end learned about the caller, before anyone checked it.
struct Credentials {
  std::string bearer;                // the token after "Bearer " ("" = none)
  bool other_scheme = false;         // an Authorization header with another scheme (Basic, ...)
  std::string tls_cn;                // a verified client certificate's subject CN
  std::optional<uint32_t> peer_uid;  // IPC peer credentials
};

// Fills `out` from an Authorization header value (HTTP header, gRPC metadata): "Bearer <token>"
// (the scheme case-insensitive, RFC 7235) sets bearer; any other non-empty value other_scheme.
void ParseAuthorization(std::string_view header, Credentials& out);

// An authenticated caller.
struct Identity {
  std::string name;                  // the principal
  Role role = Role::kNone;
  std::string method = "none";       // "token", "mtls", "peercred", "none"
  std::vector<std::string> models;   // model patterns; empty = every model
};
using IdentityPtr = std::shared_ptr<const Identity>;

// A principal named in the config (mTLS CNs, Unix users mapped through unix_principals).
struct PrincipalConfig {
  Role role = Role::kNone;
  std::vector<std::string> models;
};

struct SecurityOptions {
  bool auth_required = false;
  std::map<std::string, PrincipalConfig> principals;
  std::map<uint32_t, std::string> unix_principals;  // uid -> principal name
  LimitsConfig limits;
  // Register accepts only packages under these (each resolved with its symlinks); empty = any.
  std::vector<std::filesystem::path> model_roots;
  AuditOptions audit;                 // an empty path: no audit log
  std::filesystem::path token_db;     // the registry database; empty: no tokens
  std::chrono::milliseconds token_poll{250};
};

// A model as authorization sees it.
struct ModelRef {
  std::string_view name;  // "ns/name"
  std::string_view id;    // "ns/name@version"
  const std::vector<std::string>* acl_principals = nullptr;  // manifest security.access
  const std::vector<std::string>* acl_roles = nullptr;
};

class Guard {
 public:
  static Result<std::unique_ptr<Guard>> Create(SecurityOptions options);
  ~Guard();
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  bool auth_required() const { return options_.auth_required; }
  // Whether any quota or byte limit is configured for principals (model quotas come with
  // the models).
  bool principal_limits() const { return !options_.limits.Unlimited(); }
  const SecurityOptions& options() const { return options_; }

  // Who is calling. `transport_name` names the caller when auth is off ("anonymous",
  // "uid:1000"). kUnauthenticated names what was wrong, never the token.
  Result<IdentityPtr> Authenticate(const Credentials& credentials,
                                   const std::string& transport_name) const;
  // Role check. kPermissionDenied: "principal 'bob' (role reader) may not infer".
  Status Authorize(const Identity& who, Action action) const;
  // Role, model patterns and the manifest's access lists; the message names the model.
  Status AuthorizeModel(const Identity& who, Action action, const ModelRef& model) const;
  // Whether `who` may see `model` at all (list filtering).
  bool MaySee(const Identity& who, const ModelRef& model) const;
  // Quotas (see limiter.h): the principal's limit and the model's quota.
  Result<Limiter::Ticket> Admit(const std::string& principal, Role role,
                                const std::string& model_id, const ModelQuota& quota,
                                uint64_t request_bytes) {
    return limiter_.Admit(principal, role, model_id, quota, request_bytes);
  }
  // `path` resolved with its symlinks (what register hands the core, so a link swapped after
  // the check cannot lead it elsewhere); kPermissionDenied naming the roots when that is not
  // under one of them. Without roots, `path` as given.
  Result<std::filesystem::path> ResolveUnderModelRoot(const std::filesystem::path& path) const;

  // Appends to the audit log (when there is one) and waits until it is durable.
  void Audit(const AuditEvent& event);
  const AuditLog* audit_log() const { return audit_.get(); }

  // Token management (the API's and `mlosd token`'s). Changes are visible to Authenticate
  // before these return.
  Result<std::pair<std::string, TokenRecord>> CreateToken(const TokenSpec& spec);
  Result<std::vector<TokenRecord>> ListTokens();
  Result<TokenRecord> RevokeToken(const std::string& name);
  // With auth required and no active admin token: issues one named "admin" and writes it to
  // `file` (mode 0600). Returns whether it did.
  Result<bool> EnsureAdminToken(const std::filesystem::path& file);

 private:
  struct Tokens;
  explicit Guard(SecurityOptions options);
  Status ReloadTokens();
  // The identity of a principal named in the config (or after a role); null when it has none.
  IdentityPtr ConfiguredIdentity(const std::string& name, const char* method) const;
  void PollLoop();

  const SecurityOptions options_;
  std::vector<std::filesystem::path> roots_;  // canonical model roots
  std::map<std::string, IdentityPtr> cert_identities_;  // by certificate CN
  std::map<uint32_t, IdentityPtr> peer_identities_;     // unix_principals with a role
  Limiter limiter_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<TokenStore> store_;
  std::unique_ptr<Tokens> tokens_;
};

}  // namespace mlos::security
