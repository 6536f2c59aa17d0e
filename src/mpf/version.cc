// Semantic versions and npm-style version constraints for spec.dependencies.models.
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mpf/manifest.h"

namespace mlos::mpf {
namespace {

struct Version {
  uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> pre;  // pre-release identifiers; empty = release
  int parts = 3;                 // how many numeric components were written (1..3)
};

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A numeric component: digits, no leading zero (except "0"), fits in uint64.
bool ParseNumber(std::string_view s, uint64_t* out) {
  if (!IsDigits(s) || (s.size() > 1 && s[0] == '0') || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  *out = v;
  return true;
}

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
}

// Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading zeros when
// `numeric_rule` (pre-release), any when not (build metadata).
bool ParseIdentifiers(std::string_view s, bool numeric_rule, std::vector<std::string>* out) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view id = s.substr(start, end - start);
    if (id.empty()) return false;
    for (char c : id) {
      if (!IsIdentChar(c)) return false;
    }
    if (numeric_rule && IsDigits(id) && id.size() > 1 && id[0] == '0') return false;
    if (out != nullptr) out->emplace_back(id);
    if (end == s.size()) return true;
    start = end + 1;
  }
}

// Parses "MAJOR[.MINOR[.PATCH]][-pre][+build]". Partial forms only when allow_partial; a
// leading 'v' only when allow_v.
bool ParseVersion(std::string_view s, bool allow_partial, bool allow_v, Version* out) {
  if (allow_v && !s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  Version v;
  size_t plus = s.find('+');
  if (plus != std::string_view::npos) {
    if (!ParseIdentifiers(s.substr(plus + 1), false, nullptr)) return false;
    s = s.substr(0, plus);
  }
  size_t dash = s.find('-');
  if (dash != std::string_view::npos) {
    if (!ParseIdentifiers(s.substr(dash + 1), true, &v.pre)) return false;
    s = s.substr(0, dash);
  }
  uint64_t* fields[3] = {&v.major, &v.minor, &v.patch};
  int n = 0;
  size_t start = 0;
  while (true) {
    if (n == 3) return false;
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    if (!ParseNumber(s.substr(start, end - start), fields[n])) return false;
    ++n;
    if (end == s.size()) break;
    start = end + 1;
  }
  if (n < 3 && !allow_partial) return false;
  // "1.2-beta" is not meaningful: a pre-release needs all three components.
  if (n < 3 && !v.pre.empty()) return false;
  v.parts = n;
  *out = std::move(v);
  return true;
}

int CompareIdent(const std::string& a, const std::string& b) {
  bool an = IsDigits(a), bn = IsDigits(b);
  if (an && bn) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  }
  if (an != bn) return an ? -1 : 1;  // numeric identifiers sort before alphanumeric ones
  int c = a.compare(b);
  return c < 0 ? -1 : (c == 0 ? 0 : 1);
}

int Compare(const Version& a, const Version& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre.empty() || b.pre.empty()) {
    if (a.pre.empty() && b.pre.empty()) return 0;
    return a.pre.empty() ? 1 : -1;  // a release sorts after its pre-releases
  }
  for (size_t i = 0; i < a.pre.size() && i < b.pre.size(); ++i) {
    int c = CompareIdent(a.pre[i], b.pre[i]);
    if (c != 0) return c;
  }
  if (a.pre.size() == b.pre.size()) return 0;
  return a.pre.size() < b.pre.size() ? -1 : 1;
}

enum class Op { kEq, kLt, kLe, kGt, kGe };

struct Comparator {
  Op op;
  Version v;
};

bool Test(const Comparator& c, const Version& v) {
  int r = Compare(v, c.v);
  switch (c.op) {
    case Op::kEq:
      return r == 0;
    case Op::kLt:
      return r < 0;
    case Op::kLe:
      return r <= 0;
    case Op::kGt:
      return r > 0;
    case Op::kGe:
      return r >= 0;
  }
  return false;
}

// The exclusive upper bound "<X.Y.Z-0" (excludes the pre-releases of X.Y.Z too).
Comparator UpperBound(uint64_t major, uint64_t minor, uint64_t patch) {
  Version v;
  v.major = major;
  v.minor = minor;
  v.patch = patch;
  v.pre = {"0"};
  return {Op::kLt, v};
}

Status Malformed(const std::string& constraint, const std::string& why) {
  return InvalidArgument("malformed version constraint \"" + constraint + "\": " + why);
}

// Splits one conjunction into comparator tokens; an operator written apart from its version
// (">= 1.2") is joined to it.
std::vector<std::string> Tokens(std::string_view s) {
  std::vector<std::string> raw;
  std::string cur;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',') {
      if (!cur.empty()) raw.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) raw.push_back(std::move(cur));
  std::vector<std::string> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& t = raw[i];
    bool only_op = t.find_first_not_of("<>=^~") == std::string::npos;
    if (only_op && i + 1 < raw.size()) {
      out.push_back(t + raw[i + 1]);
      ++i;
    } else {
      out.push_back(t);
    }
  }
  return out;
}

Status ParseComparator(const std::string& constraint, const std::string& token,
                       std::vector<Comparator>* out) {
  if (token == "*" || token == "x" || token == "X") return Status::Ok();
  std::string_view rest = token;
  std::string op;
  for (const char* candidate : {">=", "<=", "==", ">", "<", "=", "^", "~"}) {
    std::string_view c = candidate;
    if (rest.substr(0, c.size()) == c) {
      op = c;
      rest.remove_prefix(c.size());
      break;
    }
  }
  Version v;
  if (!ParseVersion(rest, /*allow_partial=*/true, /*allow_v=*/true, &v)) {
    return Malformed(constraint, "\"" + token + "\" is not a comparator");
  }
  if (op == "^") {
    out->push_back({Op::kGe, v});
    if (v.major > 0 || v.parts == 1) {
      out->push_back(UpperBound(v.major + 1, 0, 0));
    } else if (v.minor > 0 || v.parts == 2) {
      out->push_back(UpperBound(0, v.minor + 1, 0));
    } else {
      out->push_back(UpperBound(0, 0, v.patch + 1));
    }
  } else if (op == "~") {
    out->push_back({Op::kGe, v});
    if (v.parts == 1) {
      out->push_back(UpperBound(v.major + 1, 0, 0));
    } else {
      out->push_back(UpperBound(v.major, v.minor + 1, 0));
    }
  } else if (op.empty() || op == "=" || op == "==") {
    out->push_back({Op::kEq, v});
  } else if (op == ">=") {
    out->push_back({Op::kGe, v});
  } else if (op == ">") {
    out->push_back({Op::kGt, v});
  } else if (op == "<=") {
    out->push_back({Op::kLe, v});
  } else {
    out->push_back({Op::kLt, v});
  }
  return Status::Ok();
}

// npm's rule: a pre-release version satisfies a set only if some comparator of the set names a
// pre-release of the same MAJOR.MINOR.PATCH.
bool SatisfiesSet(const std::vector<Comparator>& set, const Version& v) {
  for (const Comparator& c : set) {
    if (!Test(c, v)) return false;
  }
  if (v.pre.empty()) return true;
  for (const Comparator& c : set) {
    if (!c.v.pre.empty() && c.v.major == v.major && c.v.minor == v.minor && c.v.patch == v.patch) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool IsSemver(const std::string& version) {
  Version v;
  return ParseVersion(version, /*allow_partial=*/false, /*allow_v=*/false, &v);
}

Result<bool> VersionSatisfies(const std::string& version, const std::string& constraint) {
  // Parse the whole constraint first so a malformed one is reported whatever the version.
  std::vector<std::vector<Comparator>> alternatives;
  std::string_view rest = constraint;
  while (true) {
    size_t bar = rest.find("||");
    std::string_view part = rest.substr(0, bar);
    std::vector<Comparator> set;
    std::vector<std::string> tokens = Tokens(part);
    bool has_alternatives = constraint.find("||") != std::string::npos;
    if (tokens.empty() && has_alternatives) {
      return Malformed(constraint, "empty alternative around \"||\"");
    }
    for (const std::string& t : tokens) {
      MLOS_RETURN_IF_ERROR(ParseComparator(constraint, t, &set));
    }
    alternatives.push_back(std::move(set));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 2);
  }
  Version v;
  if (!ParseVersion(version, /*allow_partial=*/true, /*allow_v=*/true, &v)) {
    // Not a version at all ("latest", a commit): only an unconstrained dependency accepts it.
    for (const auto& set : alternatives) {
      if (set.empty()) return true;
    }
    return false;
  }
  for (const auto& set : alternatives) {
    if (SatisfiesSet(set, v)) return true;
  }
  return false;
}

}  // namespace mlos::mpf
