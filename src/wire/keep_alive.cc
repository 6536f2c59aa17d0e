#include "wire/keep_alive.h"

#include <cstdint>
#include <limits>

namespace mlos::wire {
namespace {

constexpr const char* kHint =
    ": expected a duration such as 5m, 30s, 1h30m or 500ms (units ms, s, m, h, d, w), a number "
    "of seconds, 0 (unload after the request) or -1 (keep loaded)";

// Milliseconds per unit; 0 for an unknown unit.
int64_t UnitMs(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  if (unit == "d") return 24 * 3600 * 1000LL;
  if (unit == "w") return 7 * 24 * 3600 * 1000LL;
  return 0;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUnitChar(char c) { return c >= 'a' && c <= 'z'; }

std::string Quote(std::string_view s) { return "'" + std::string(s.substr(0, 64)) + "'"; }

}  // namespace

Result<std::chrono::milliseconds> ParseKeepAlive(std::string_view text) {
  const std::string_view original = text;
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return InvalidArgument(std::string("duration is empty") + kHint);
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty()) return InvalidArgument("invalid duration " + Quote(original) + kHint);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t value = 0;
    const size_t digits_start = i;
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      const int64_t d = text[i] - '0';
      if (value > (kMax - d) / 10) {
        return InvalidArgument("duration " + Quote(original) + " is too long");
      }
      value = value * 10 + d;
    }
    if (i == digits_start) return InvalidArgument("invalid duration " + Quote(original) + kHint);
    const size_t unit_start = i;
    for (; i < text.size() && IsUnitChar(text[i]); ++i) {
    }
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t unit_ms = 0;
    if (unit.empty()) {
      // A bare number is seconds, and only on its own ("300", not "1m30").
      if (digits_start != 0 || i != text.size()) {
        return InvalidArgument("invalid duration " + Quote(original) + kHint);
      }
      unit_ms = 1000;
    } else {
      unit_ms = UnitMs(unit);
      if (unit_ms == 0) return InvalidArgument("invalid duration " + Quote(original) + kHint);
    }
    if (value > (kMax - total) / unit_ms) {
      return InvalidArgument("duration " + Quote(original) + " is too long");
    }
    total += value * unit_ms;
  }
  if (negative && total > 0) return std::chrono::milliseconds(-1);
  return std::chrono::milliseconds(total);
}

std::string FormatKeepAlive(std::chrono::milliseconds keep_alive) {
  int64_t ms = keep_alive.count();
  if (ms < 0) return "-1";
  if (ms == 0) return "0";
  std::string out;
  struct Unit {
    int64_t ms;
    const char* suffix;
  };
  for (const Unit& u : {Unit{3600 * 1000, "h"}, Unit{60 * 1000, "m"}, Unit{1000, "s"},
                        Unit{1, "ms"}}) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms) + u.suffix;
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace mlos::wire
