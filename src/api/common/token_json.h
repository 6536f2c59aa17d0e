// Token documents for the management API (HTTP /tokens and the IPC token operations):
//   {"name", "role", "models": [...], "created_at", "expires_at", "last_used_at", "revoked_at"}
// with RFC 3339 UTC times (null when unset), plus "token" in the answer to a create.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "security/token_store.h"

namespace mlos::api {

struct TokenRequest {
  std::string name, role, expires;
  std::vector<std::string> models;
};
// POST /tokens: {"name" (required), "role" (required), "models": [...], "expires": "30d"}.
Result<TokenRequest> ParseTokenRequest(std::string_view body);

// `token` non-empty: the create answer (the only document that carries it).
void EncodeToken(const security::TokenRecord& record, std::string_view token, std::string& out);
void EncodeTokenList(const std::vector<security::TokenRecord>& records, std::string& out);

}  // namespace mlos::api
