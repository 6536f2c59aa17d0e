// Request-target handling: strict percent-decoding of path segments and model-id checks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mlos::http {

// Decodes %XX escapes (hex digits of either case). Strict: a '%' not followed by two hex digits
// is kInvalidArgument, and so is a decoded NUL. '+' stays '+' (paths are not form-encoded).
Result<std::string> PercentDecode(std::string_view in);

// Splits the path of a request target (query string and fragment dropped) into raw, still
// encoded, segments; empty segments (leading, trailing or doubled '/') are skipped.
std::vector<std::string_view> SplitPath(std::string_view target);

// The query string of a request target ("" when none).
std::string_view QueryString(std::string_view target);

// The value of query parameter `key` (the last one when it is repeated) of a request target as an
// integer from `min` to `max`; `fallback` when the query has none. kInvalidArgument
// ("query parameter 'limit' must be an integer from 1 to 1000") for anything else, e.g. an empty
// value, a sign, trailing characters or a number out of range.
Result<uint64_t> QueryUInt(std::string_view target, std::string_view key, uint64_t min,
                           uint64_t max, uint64_t fallback);

// Decodes and validates (core::policy::ValidateModelId) segments [first, last) joined with '/' as one model id: either one
// segment holding "ns%2Fname%40ver" or several raw segments "ns/name@ver".
Result<std::string> DecodeModelId(const std::vector<std::string_view>& segments, size_t first,
                                  size_t last);

}  // namespace mlos::http
