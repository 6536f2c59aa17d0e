// The web console's data (docs/console.md): live statistics over the last minute and the
// recent audit events. Everything else the console shows comes from the existing operations.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <unordered_set>

#include "service/metrics.h"
#include "service/service.h"

namespace mlos::service {
namespace {

// The last `limit` complete lines of `path` (at most `max_bytes` read from its end), oldest
// first; nothing when the file cannot be read.
std::deque<std::string> TailLines(const std::filesystem::path& path, size_t limit,
                                  size_t max_bytes) {
  std::deque<std::string> lines;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return lines;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  const uint64_t from = size > max_bytes ? size - max_bytes : 0;
  std::string buf(size - from, '\0');
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got,
                              static_cast<off_t>(from + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  size_t start = 0;
  if (from > 0) {  // the first line is cut: skip it
    start = buf.find('\n');
    if (start == std::string::npos) return lines;
    ++start;
  }
  while (start < buf.size()) {
    const size_t eol = buf.find('\n', start);
    if (eol == std::string::npos) break;  // a line still being written
    if (eol > start) lines.emplace_back(buf.substr(start, eol - start));
    if (lines.size() > limit) lines.pop_front();
    start = eol + 1;
  }
  return lines;
}

}  // namespace

Result<LiveSnapshot> Service::LiveStatistics(const RequestContext& ctx) {
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, Check(ctx, security::Action::kMetadata));
  if (!metrics_) return NotFound("metrics are disabled");
  std::function<bool(const std::string&)> visible;
  std::unordered_set<std::string> seen;
  if (who && who->role != security::Role::kAdmin) {
    // Only the models the caller may see (never "unknown": failures it cannot attribute).
    for (const core::ModelStatus& s : core_.List()) {
      if (guard_->MaySee(*who, {s.name, s.id, &s.policy->principals, &s.policy->roles})) {
        seen.insert(s.id);
      }
    }
    visible = [&seen](const std::string& id) { return seen.count(id) > 0; };
  }
  LiveSnapshot snap = metrics_->live().Snapshot(LiveStats::NowUnixMs(), visible);
  const core::CoreStats stats = core_.Stats();
  snap.memory_budget_bytes = stats.memory_budget_bytes;
  snap.memory_used_bytes = stats.memory_used_bytes;
  return snap;
}

Result<std::vector<std::string>> Service::RecentAudit(const RequestContext& ctx, size_t limit) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kAudit).status());
  std::vector<std::string> out;
  if (!guard_ || !guard_->audit_log() || limit == 0) return out;
  // Records are on disk when Record returns (audit.h), so the file is the whole story; a log
  // that just rotated continues in <path>.1.
  const std::filesystem::path path = guard_->audit_log()->path();
  constexpr size_t kMaxBytes = 1 << 20;
  std::deque<std::string> lines = TailLines(path, limit, kMaxBytes);
  if (lines.size() < limit) {
    std::filesystem::path older = path;
    older += ".1";
    std::deque<std::string> before = TailLines(older, limit - lines.size(), kMaxBytes);
    lines.insert(lines.begin(), before.begin(), before.end());
  }
  out.assign(std::make_move_iterator(lines.begin()), std::make_move_iterator(lines.end()));
  return out;
}

}  // namespace mlos::service
