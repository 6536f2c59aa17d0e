// The one mapping from mlos::StatusCode to an HTTP status, and the JSON error body every route
// answers with.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos::http {

// kInvalidArgument 400, kNotFound 404, kAlreadyExists/kFailedPrecondition 409,
// kPermissionDenied 403, kUnauthenticated 401, kResourceExhausted 413, kDataLoss 400 (a bad
// package is bad input), kUnavailable 503, kDeadlineExceeded 504, kCancelled 499-as-503,
// kUnimplemented 501, kInternal 500.
int HttpStatusFor(StatusCode code);

// {"error": "<message>"} with the message JSON-escaped.
std::string ErrorBody(std::string_view message);

// Reason phrase for a status line ("Not Found"); "Unknown" for others.
const char* ReasonPhrase(int status);

}  // namespace mlos::http
