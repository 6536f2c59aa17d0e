// The model of a package's entries and its symlink rules, shared by Pack and the scanner.
#include "mpf/archive_internal.h"

#include <cstring>

namespace mlos::mpf::internal {
namespace {

constexpr int kMaxSymlinkHops = 40;

// True when no component after comps[i] names anything ("" and "." do not).
bool IsLastComponent(const std::vector<std::string>& comps, size_t i) {
  for (size_t j = i + 1; j < comps.size(); ++j) {
    if (!comps[j].empty() && comps[j] != ".") return false;
  }
  return true;
}

// One hop: joins the target of the symlink node `n` at `cur` to cur's directory, checking that
// every component before the last is a directory of the package. Errors name `link`, the
// symlink the resolution started from.
Result<std::string> FollowSymlink(const std::map<std::string, Node>& nodes,
                                  const std::string& link, const std::string& cur,
                                  const Node& n) {
  if (!n.target.empty() && n.target.front() == '/') {
    return InvalidArgument(link + ": symlink target " + Quote(n.target) + " is absolute");
  }
  std::vector<std::string> stack;
  std::string dir = DirName(cur);
  if (!dir.empty()) stack = SplitPath(dir);
  std::vector<std::string> comps = SplitPath(n.target);
  for (size_t i = 0; i < comps.size(); ++i) {
    const std::string& c = comps[i];
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) {
        return InvalidArgument(link + ": symlink target escapes the package");
      }
      stack.pop_back();
      continue;
    }
    stack.push_back(c);
    if (!IsLastComponent(comps, i)) {
      auto d = nodes.find(JoinPath(stack, stack.size()));
      if (d == nodes.end() || !IsDirKind(d->second.kind)) {
        return InvalidArgument(link + ": symlink target " + Quote(n.target) +
                               " goes through something that is not a directory of the package");
      }
    }
  }
  return JoinPath(stack, stack.size());
}

}  // namespace

std::string Errno(int e) { return std::strerror(e); }

Status EntryError(StatusCode code, const std::string& name, const std::string& what) {
  return Status(code, "archive entry " + Quote(name) + ": " + what);
}

std::string ArchiveError(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown error";
}

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    out.push_back(p.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string JoinPath(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string DirName(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

std::optional<std::string> LexicalJoin(const std::string& dir, const std::string& target) {
  std::vector<std::string> stack;
  if (!dir.empty()) stack = SplitPath(dir);
  for (const std::string& c : SplitPath(target)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) return std::nullopt;
      stack.pop_back();
    } else {
      stack.push_back(c);
    }
  }
  return JoinPath(stack, stack.size());
}

Result<std::string> ResolveSymlink(const std::map<std::string, Node>& nodes,
                                   const std::string& link) {
  std::string cur = link;
  for (int hop = 0; hop < kMaxSymlinkHops; ++hop) {
    auto it = nodes.find(cur);
    if (it == nodes.end()) return NotFound(link + ": symlink target does not exist in the package");
    const Node& n = it->second;
    if (n.kind == Kind::kFile) return cur;
    if (n.kind == Kind::kHardlink) return n.target;
    if (n.kind != Kind::kSymlink) {
      return InvalidArgument(link + ": symlink does not resolve to a regular file of the package");
    }
    MLOS_ASSIGN_OR_RETURN(cur, FollowSymlink(nodes, link, cur, n));
  }
  return InvalidArgument(link + ": too many levels of symbolic links");
}

}  // namespace mlos::mpf::internal
