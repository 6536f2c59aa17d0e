#include "api/common/request_options.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "wire/keep_alive.h"

namespace mlos::api {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// A timeout this long or longer means none (and keeps received + timeout from overflowing).
constexpr microseconds kNoTimeoutFrom = std::chrono::hours(24 * 365);
constexpr int64_t kMaxPriority = std::numeric_limits<int>::max();

std::string Parameter(std::string_view name) { return "parameter '" + std::string(name) + "'"; }
std::string Header(std::string_view name) { return "header '" + std::string(name) + "'"; }

Status Bad(const std::string& what, std::string_view why) {
  return InvalidArgument(what + ": " + std::string(why));
}

// A whole decimal number, nothing else ("+1", " 1", "1.0" and "0x1" are not).
std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t v = 0;
  if (text.empty() || text.front() == '+') return std::nullopt;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// 0 = none; at least a year = none.
std::optional<microseconds> TimeoutOf(int64_t us) {
  if (us <= 0 || us >= kNoTimeoutFrom.count()) return std::nullopt;
  return microseconds(us);
}

Result<milliseconds> KeepAliveSeconds(double seconds, const std::string& what) {
  if (std::isnan(seconds)) return Bad(what, "must be a duration or a number of seconds");
  if (seconds < 0) return milliseconds(-1);
  const double ms = std::round(seconds * 1000.0);
  if (!(ms < 9.2e18)) return Bad(what, "is too long");
  return milliseconds(static_cast<int64_t>(ms));
}

Result<milliseconds> KeepAliveText(std::string_view text, const std::string& what) {
  auto parsed = wire::ParseKeepAlive(text);
  if (!parsed.ok()) return parsed.status().WithPrefix(what);
  return *parsed;
}

Status SetPriority(const ParameterValue& v, RequestOptions& out) {
  const std::string what = Parameter("priority");
  if (v.type != ParameterValue::Type::kInt) return Bad(what, "must be an integer >= 0");
  MLOS_ASSIGN_OR_RETURN(out.priority, CheckPriority(v.int_value, what));
  return Status::Ok();
}

Status SetTimeout(const ParameterValue& v, RequestOptions& out) {
  if (v.type != ParameterValue::Type::kInt || v.int_value < 0) {
    return Bad(Parameter("timeout"), "must be an integer number of microseconds >= 0");
  }
  out.timeout = TimeoutOf(v.int_value);
  return Status::Ok();
}

Status SetKeepAlive(const ParameterValue& v, RequestOptions& out) {
  const std::string what = Parameter("keep_alive");
  switch (v.type) {
    case ParameterValue::Type::kString: {
      MLOS_ASSIGN_OR_RETURN(out.keep_alive, KeepAliveText(v.string_value, what));
      return Status::Ok();
    }
    case ParameterValue::Type::kInt:
      if (v.int_value < 0) {
        out.keep_alive = milliseconds(-1);
      } else if (v.int_value > std::numeric_limits<int64_t>::max() / 1000) {
        return Bad(what, "is too long");
      } else {
        out.keep_alive = milliseconds(v.int_value * 1000);
      }
      return Status::Ok();
    case ParameterValue::Type::kDouble: {
      MLOS_ASSIGN_OR_RETURN(out.keep_alive, KeepAliveSeconds(v.double_value, what));
      return Status::Ok();
    }
    default:
      return Bad(what, "must be a duration string (\"5m\", \"-1\") or a number of seconds");
  }
}

}  // namespace

void RequestOptions::Merge(const RequestOptions& other) {
  if (other.priority) priority = other.priority;
  if (other.keep_alive) keep_alive = other.keep_alive;
  if (other.timeout && (!timeout || *other.timeout < *timeout)) timeout = other.timeout;
}

ParameterValue ParameterValue::Int(int64_t v) {
  ParameterValue p;
  p.type = Type::kInt;
  p.int_value = v;
  return p;
}
ParameterValue ParameterValue::Double(double v) {
  ParameterValue p;
  p.type = Type::kDouble;
  p.double_value = v;
  return p;
}
ParameterValue ParameterValue::String(std::string_view v) {
  ParameterValue p;
  p.type = Type::kString;
  p.string_value = v;
  return p;
}
ParameterValue ParameterValue::Bool(bool v) {
  ParameterValue p;
  p.type = Type::kBool;
  p.bool_value = v;
  return p;
}

Result<int> CheckPriority(int64_t priority, std::string_view what) {
  if (priority < 0) return Bad(std::string(what), "must be an integer >= 0");
  if (priority > kMaxPriority) {
    return Bad(std::string(what), "must be at most " + std::to_string(kMaxPriority));
  }
  return static_cast<int>(priority);
}

Result<bool> ParseRequestParameter(std::string_view name, const ParameterValue& value,
                                   RequestOptions& out) {
  if (name == "priority") {
    MLOS_RETURN_IF_ERROR(SetPriority(value, out));
  } else if (name == "timeout") {
    MLOS_RETURN_IF_ERROR(SetTimeout(value, out));
  } else if (name == "keep_alive") {
    MLOS_RETURN_IF_ERROR(SetKeepAlive(value, out));
  } else {
    return false;
  }
  return true;
}

Status ParseJsonParameters(const nlohmann::json& parameters, RequestOptions& out) {
  if (!parameters.is_object()) return InvalidArgument("field 'parameters' must be an object");
  for (const char* name : {"priority", "timeout", "keep_alive"}) {
    auto it = parameters.find(name);
    if (it == parameters.end()) continue;
    ParameterValue v;
    if (it->is_number_unsigned()) {
      const uint64_t u = it->get<uint64_t>();
      v = ParameterValue::Int(u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                                  ? std::numeric_limits<int64_t>::max()
                                  : static_cast<int64_t>(u));
    } else if (it->is_number_integer()) {
      v = ParameterValue::Int(it->get<int64_t>());
    } else if (it->is_number_float()) {
      v = ParameterValue::Double(it->get<double>());
    } else if (it->is_string()) {
      v = ParameterValue::String(it->get_ref<const std::string&>());
    } else if (it->is_boolean()) {
      v = ParameterValue::Bool(it->get<bool>());
    }
    MLOS_RETURN_IF_ERROR(ParseRequestParameter(name, v, out).status());
  }
  return Status::Ok();
}

Result<RequestOptions> ParseRequestHeaders(const RequestHeaders& h) {
  RequestOptions out;
  if (h.priority) {
    const std::string what = Header(kPriorityHeader);
    std::optional<int64_t> v = ParseInteger(*h.priority);
    if (!v) return Bad(what, "must be an integer >= 0");
    MLOS_ASSIGN_OR_RETURN(out.priority, CheckPriority(*v, what));
  }
  if (h.timeout_ms) {
    std::optional<int64_t> v = ParseInteger(*h.timeout_ms);
    if (!v || *v < 0) {
      return Bad(Header(kTimeoutHeader), "must be an integer number of milliseconds >= 0");
    }
    const int64_t limit = kNoTimeoutFrom.count() / 1000;
    out.timeout = TimeoutOf(*v >= limit ? kNoTimeoutFrom.count() : *v * 1000);
  }
  if (h.keep_alive) {
    MLOS_ASSIGN_OR_RETURN(out.keep_alive, KeepAliveText(*h.keep_alive, Header(kKeepAliveHeader)));
  }
  return out;
}

void ApplyRequestOptions(const RequestOptions& o, service::RequestContext& ctx) {
  if (o.priority) ctx.priority = *o.priority;
  if (o.keep_alive) ctx.keep_alive = *o.keep_alive;
  if (o.timeout) {
    const service::Clock::time_point deadline =
        ctx.received + std::chrono::duration_cast<service::Clock::duration>(*o.timeout);
    if (!ctx.client_deadline || deadline < *ctx.client_deadline) ctx.client_deadline = deadline;
  }
}

}  // namespace mlos::api
