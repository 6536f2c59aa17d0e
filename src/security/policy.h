// Roles, actions and model patterns: what a principal may do, as pure functions (no state).
//
//   admin     everything, tokens and the audit log included
//   operator  register, unregister, load, unload, set default, rollback, alias, shared-memory
//             regions, infer, and everything a user may do
//   user      infer, and what a reader may do
//   reader    list models, read model and server metadata, plugins, statistics and metrics
//
// A principal's model patterns (`team/*`, `team/classifier`, `team/classifier@2`) narrow the
// models it reaches; a model whose manifest lists security.access.{principals,roles} is usable
// only by those and by admins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mlos::security {

enum class Role : uint8_t { kNone = 0, kReader, kUser, kOperator, kAdmin };
const char* RoleName(Role role);  // "none", "reader", "user", "operator", "admin"
std::optional<Role> ParseRole(std::string_view name);

enum class Action : uint8_t {
  kList,        // list models
  kMetadata,    // a model's status or metadata, server metadata, plugins, stats, metrics
  kInfer,
  kRegister,
  kUnregister,
  kLoad,
  kUnload,
  kSetDefault,
  kRollback,
  kAlias,
  kPin,           // pin or unpin a model in memory
  kSharedMemory,  // register, unregister, status of shared-memory regions
  kTokens,        // create, list, revoke tokens
  kAudit,         // read the audit log (the web console's recent events)
};
const char* ActionName(Action action);  // "list", "metadata", "infer", ..., "set_default", ...
// The action as a verb phrase for messages: "list models", "read metadata of", "infer with",
// "register", ..., "manage shared memory", "manage tokens".
const char* ActionVerb(Action action);

// Whether `role` may perform `action` at all (before model patterns and manifest ACLs).
bool RoleAllows(Role role, Action action);

// '*' matches any run of characters ('/' included). A pattern without '@' is matched against
// the model's name ("ns/name"), one with '@' against its id ("ns/name@version").
bool MatchModelPattern(std::string_view pattern, std::string_view name, std::string_view id);
// True when `patterns` is empty (every model) or one of them matches.
bool MatchAnyPattern(const std::vector<std::string>& patterns, std::string_view name,
                     std::string_view id);
// A pattern: 1..200 characters of letters, digits and . _ - / @ *; kInvalidArgument otherwise.
Status ValidateModelPattern(std::string_view pattern);

// A manifest's security.access lists: both empty lets in everyone who may use models at all;
// otherwise only the principals named, the roles named, and admins.
bool AccessAllows(const std::vector<std::string>& principals, const std::vector<std::string>& roles,
                  std::string_view principal, Role role);

}  // namespace mlos::security
