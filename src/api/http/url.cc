#include "api/http/url.h"

#include <charconv>

#include "core/policy.h"

namespace mlos::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return InvalidArgument("bad percent-encoding in path: truncated escape");
      }
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("bad percent-encoding in path: '%" +
                                                   std::string(in.substr(i + 1, 2)) + "'");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return InvalidArgument("NUL byte in path");
    out.push_back(c);
  }
  return out;
}

std::string_view QueryString(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  const size_t hash = query.find('#');
  return hash == std::string_view::npos ? query : query.substr(0, hash);
}

Result<uint64_t> QueryUInt(std::string_view target, std::string_view key, uint64_t min,
                           uint64_t max, uint64_t fallback) {
  std::string_view q = QueryString(target);
  uint64_t value = fallback;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.size() <= key.size() || !part.starts_with(key) || part[key.size()] != '=') continue;
    const std::string_view v = part.substr(key.size() + 1);
    auto r = std::from_chars(v.data(), v.data() + v.size(), value);
    if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || value < min ||
        value > max) {
      return InvalidArgument("query parameter '" + std::string(key) +
                             "' must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max));
    }
  }
  return value;
}

std::vector<std::string_view> SplitPath(std::string_view target) {
  const size_t end = target.find_first_of("?#");
  std::string_view path = target.substr(0, end);
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

Result<std::string> DecodeModelId(const std::vector<std::string_view>& segments, size_t first,
                                  size_t last) {
  if (first >= last) return InvalidArgument("model id is empty");
  std::string id;
  for (size_t i = first; i < last; ++i) {
    MLOS_ASSIGN_OR_RETURN(std::string part, PercentDecode(segments[i]));
    if (i > first) id.push_back('/');
    id += part;
  }
  MLOS_RETURN_IF_ERROR(core::policy::ValidateModelId(id));
  return id;
}

}  // namespace mlos::http
