// Bearer tokens: generation, hashing, constant-time comparison, redaction, and the small
// parsers the token commands share. A token is "mlos_" followed by 43 base64url characters
// (256 random bits from getrandom). Only its SHA-256 is ever stored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos::security {

inline constexpr std::string_view kTokenPrefix = "mlos_";

// A new random token (kernel randomness; aborts only if the kernel cannot provide it).
std::string GenerateToken();
// Lower-case hex SHA-256 of the token (what the store keeps).
std::string HashToken(std::string_view token);
// Equal length and bytes, in time that depends only on the length.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

// Replaces every token-looking substring ("mlos_" + base64url run) and the credential after
// every "Bearer " with "[redacted]": applied to every log line and error that may echo input.
std::string RedactSecrets(std::string_view text);

// "90s", "15m", "12h", "30d", "2w" (or a bare number of seconds) -> seconds > 0.
Result<int64_t> ParseDuration(std::string_view text);
// A token (principal) name: 1..64 of letters, digits and . _ - @ :
Status ValidateTokenName(std::string_view name);

// Milliseconds since the Unix epoch, and RFC 3339 UTC ("2026-12-03T20:41:07Z") for 0 < ms.
int64_t NowUnixMs();
std::string FormatUnixMs(int64_t ms);

}  // namespace mlos::security
