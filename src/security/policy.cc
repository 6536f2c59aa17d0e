// Roles, actions and model patterns (pure functions; see policy.h).
#include "security/policy.h"

#include <algorithm>

namespace mlos::security {
namespace {

constexpr size_t kMaxPatternLength = 200;

// The least role that may perform `action`.
Role MinimumRole(Action action) {
  switch (action) {
    case Action::kList:
    case Action::kMetadata:
      return Role::kReader;
    case Action::kInfer:
      return Role::kUser;
    case Action::kRegister:
    case Action::kUnregister:
    case Action::kLoad:
    case Action::kUnload:
    case Action::kSetDefault:
    case Action::kRollback:
    case Action::kAlias:
    case Action::kPin:
    case Action::kSharedMemory:
      return Role::kOperator;
    case Action::kTokens:
    case Action::kAudit:
      return Role::kAdmin;
  }
  return Role::kAdmin;  // an unknown action: only admins
}

// Glob match where '*' matches any run of characters (empty included). Iterative: on a
// mismatch it resumes after the last '*' with one more character swallowed by it, so the
// cost is O(|pattern| * |text|) at worst and there is no recursion.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos;  // position of the last '*' seen in pattern
  size_t star_t = 0;                     // text position that '*' was matched up to
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsPatternChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '/' || c == '@' || c == '*';
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kNone:
      return "none";
    case Role::kReader:
      return "reader";
    case Role::kUser:
      return "user";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "none";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kNone, Role::kReader, Role::kUser, Role::kOperator, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

const char* ActionVerb(Action action) {
  switch (action) {
    case Action::kList: return "list models";
    case Action::kMetadata: return "read metadata of";
    case Action::kInfer: return "infer with";
    case Action::kRegister: return "register";
    case Action::kUnregister: return "unregister";
    case Action::kLoad: return "load";
    case Action::kUnload: return "unload";
    case Action::kSetDefault: return "set the default of";
    case Action::kRollback: return "roll back";
    case Action::kAlias: return "set aliases of";
    case Action::kPin: return "pin";
    case Action::kSharedMemory: return "manage shared memory";
    case Action::kTokens: return "manage tokens";
    case Action::kAudit: return "read the audit log";
  }
  return "act on";
}

const char* ActionName(Action action) {
  switch (action) {
    case Action::kList:
      return "list";
    case Action::kMetadata:
      return "metadata";
    case Action::kInfer:
      return "infer";
    case Action::kRegister:
      return "register";
    case Action::kUnregister:
      return "unregister";
    case Action::kLoad:
      return "load";
    case Action::kUnload:
      return "unload";
    case Action::kSetDefault:
      return "set_default";
    case Action::kRollback:
      return "rollback";
    case Action::kAlias:
      return "alias";
    case Action::kPin:
      return "pin";
    case Action::kSharedMemory:
      return "shared_memory";
    case Action::kTokens:
      return "tokens";
    case Action::kAudit:
      return "audit";
  }
  return "unknown";
}

bool RoleAllows(Role role, Action action) {
  return role != Role::kNone && role >= MinimumRole(action);
}

bool MatchModelPattern(std::string_view pattern, std::string_view name, std::string_view id) {
  const bool against_id = pattern.find('@') != std::string_view::npos;
  return GlobMatch(pattern, against_id ? id : name);
}

bool MatchAnyPattern(const std::vector<std::string>& patterns, std::string_view name,
                     std::string_view id) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return MatchModelPattern(p, name, id);
  });
}

Status ValidateModelPattern(std::string_view pattern) {
  if (pattern.empty()) return InvalidArgument("model pattern is empty");
  if (pattern.size() > kMaxPatternLength) {
    return InvalidArgument("model pattern is longer than " + std::to_string(kMaxPatternLength) +
                           " characters");
  }
  auto bad = std::find_if_not(pattern.begin(), pattern.end(), IsPatternChar);
  if (bad != pattern.end()) {
    // Echo the pattern only when it is printable (it may end up in a terminal or a log).
    const bool printable = std::all_of(pattern.begin(), pattern.end(),
                                       [](char c) { return c >= 0x20 && c < 0x7f; });
    return InvalidArgument("model pattern" +
                           (printable ? " '" + std::string(pattern) + "'" : std::string()) +
                           " may contain only letters, digits and . _ - / @ *");
  }
  return Status::Ok();
}

bool AccessAllows(const std::vector<std::string>& principals, const std::vector<std::string>& roles,
                  std::string_view principal, Role role) {
  if (role == Role::kAdmin) return true;
  if (principals.empty() && roles.empty()) return true;
  if (std::find(principals.begin(), principals.end(), principal) != principals.end()) return true;
  const std::string_view role_name = RoleName(role);
  return std::find(roles.begin(), roles.end(), role_name) != roles.end();
}

}  // namespace mlos::security
