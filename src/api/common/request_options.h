// The per-request resource hints every front-end reads the same way: priority, timeout and
// keep_alive. A front-end only finds where its wire carries them (HTTP: the X-MLOS-* headers
// and the KServe request's `parameters`; gRPC: ModelInferRequest.parameters; IPC: the INFER
// frame's extension block) and hands them here to be checked and applied, once:
//
//   priority    integer >= 0: 1 = most urgent, 0 = the model's default (as Triton's `priority`)
//   timeout     the client's own limit, counted from RequestContext::received; 0 = none. The
//               KServe / gRPC parameter is integer microseconds (as Triton's `timeout`), the
//               header X-MLOS-Timeout-Ms integer milliseconds. Where the request already has a
//               deadline (gRPC's, IPC's timeout_us), the earlier one wins.
//   keep_alive  Ollama's: a duration string (wire::ParseKeepAlive: "5m", "30s", "0", "-1") or
//               a number of seconds; negative = keep loaded forever, 0 = unload after it.
//
// Errors are kInvalidArgument naming the header or parameter ("parameter 'priority': must be an
// integer >= 0"). Pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "service/request_context.h"

namespace mlos::api {

inline constexpr std::string_view kPriorityHeader = "X-MLOS-Priority";
inline constexpr std::string_view kTimeoutHeader = "X-MLOS-Timeout-Ms";
inline constexpr std::string_view kKeepAliveHeader = "X-MLOS-Keep-Alive";

// What a request said; unset = it did not say.
struct RequestOptions {
  std::optional<int> priority;                          // >= 0
  std::optional<std::chrono::microseconds> timeout;     // > 0 (0 on the wire = none)
  std::optional<std::chrono::milliseconds> keep_alive;  // negative = forever

  bool empty() const { return !priority && !timeout && !keep_alive; }
  // Adds what `other` says: its priority and keep_alive replace these, the shorter timeout wins.
  void Merge(const RequestOptions& other);
};

// A KServe parameter's value as its wire typed it (a JSON value, a gRPC InferParameter).
struct ParameterValue {
  enum class Type { kInt, kDouble, kString, kBool, kOther };
  Type type = Type::kOther;
  int64_t int_value = 0;  // kInt (an unsigned value above INT64_MAX arrives as INT64_MAX)
  double double_value = 0;
  std::string_view string_value;
  bool bool_value = false;

  static ParameterValue Int(int64_t v);
  static ParameterValue Double(double v);
  static ParameterValue String(std::string_view v);
  static ParameterValue Bool(bool v);
};

// When `name` is "priority", "timeout" or "keep_alive", checks `value` and sets it in `out`
// and answers true; any other name is not one of these (false, `out` untouched).
Result<bool> ParseRequestParameter(std::string_view name, const ParameterValue& value,
                                   RequestOptions& out);

// The members of a JSON `parameters` object that ParseRequestParameter knows (the KServe
// request's, the original API's); the others are left to the caller.
Status ParseJsonParameters(const nlohmann::json& parameters, RequestOptions& out);

// The X-MLOS-* headers as they arrived (nullopt = absent; present but empty is an error).
struct RequestHeaders {
  std::optional<std::string_view> priority;    // X-MLOS-Priority: integer >= 0
  std::optional<std::string_view> timeout_ms;  // X-MLOS-Timeout-Ms: integer milliseconds >= 0
  std::optional<std::string_view> keep_alive;  // X-MLOS-Keep-Alive: as wire::ParseKeepAlive
  bool empty() const { return !priority && !timeout_ms && !keep_alive; }
};
Result<RequestOptions> ParseRequestHeaders(const RequestHeaders& headers);

// IPC's INFER extension fields: u32 priority, i64 keep_alive_ms (negative = forever).
Result<int> CheckPriority(int64_t priority, std::string_view what);

// Sets ctx.priority and ctx.keep_alive when given, and with a timeout the client deadline:
// received + timeout, or the deadline ctx already has when that is earlier.
void ApplyRequestOptions(const RequestOptions& options, service::RequestContext& ctx);

}  // namespace mlos::api
