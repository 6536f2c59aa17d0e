#include "core/policy.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>

#include "mpf/manifest.h"

namespace mlos::core::policy {
namespace {

bool AllChars(std::string_view s, const char* extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(extra, c) != nullptr;
  });
}

bool ValidSegment(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.size() <= 128 && AllChars(s, "._-");
}

struct Semver {
  uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> pre;
};

bool Digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ParseSemver(std::string s, Semver* out) {
  if (!mpf::IsSemver(s)) return false;
  size_t plus = s.find('+');
  if (plus != std::string::npos) s.resize(plus);
  size_t dash = s.find('-');
  std::string core = s.substr(0, dash);
  if (dash != std::string::npos) {
    std::string pre = s.substr(dash + 1);
    size_t start = 0;
    while (true) {
      size_t dot = pre.find('.', start);
      out->pre.push_back(pre.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  uint64_t* f[3] = {&out->major, &out->minor, &out->patch};
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t dot = core.find('.', start);
    std::string part = core.substr(start, dot - start);
    if (!Digits(part)) return false;
    *f[i] = std::stoull(part);
    start = dot + 1;
  }
  return true;
}

int Cmp(uint64_t a, uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

int CompareIdent(const std::string& a, const std::string& b) {
  bool an = Digits(a), bn = Digits(b);
  if (an && bn) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  } else if (an != bn) {
    return an ? -1 : 1;
  }
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int CompareSemver(const Semver& a, const Semver& b) {
  if (int c = Cmp(a.major, b.major)) return c;
  if (int c = Cmp(a.minor, b.minor)) return c;
  if (int c = Cmp(a.patch, b.patch)) return c;
  if (a.pre.empty() || b.pre.empty()) {
    if (a.pre.empty() && b.pre.empty()) return 0;
    return a.pre.empty() ? 1 : -1;
  }
  for (size_t i = 0; i < a.pre.size() && i < b.pre.size(); ++i) {
    if (int c = CompareIdent(a.pre[i], b.pre[i])) return c;
  }
  return Cmp(a.pre.size(), b.pre.size());
}

bool Registered(const NameSnapshot& snap, const std::string& version) {
  return std::any_of(snap.versions.begin(), snap.versions.end(),
                     [&](const VersionEntry& v) { return v.version == version; });
}

}  // namespace

Status ValidateModelId(std::string_view id, std::string_view what) {
  const std::string w(what);
  if (id.empty()) return InvalidArgument(w + " is empty");
  for (char c : id) {
    if (c == '\0') return InvalidArgument(w + " contains a NUL byte");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgument(w + " contains a control character");
    }
    if (c == '\\') return InvalidArgument(w + " contains a backslash");
  }
  if (id.find("..") != std::string_view::npos) {
    return InvalidArgument(w + " '" + std::string(id) + "' contains '..'");
  }
  if (id.front() == '/') return InvalidArgument(w + " '" + std::string(id) + "' starts with '/'");
  return Status::Ok();
}

Result<ModelRef> ParseModelRef(const std::string& ref, const std::string& version_override) {
  MLOS_RETURN_IF_ERROR(ValidateModelId(ref, "model reference"));
  if (!version_override.empty()) {
    MLOS_RETURN_IF_ERROR(ValidateModelId(version_override, "model version"));
  }
  ModelRef out;
  size_t at = ref.find('@');
  out.name = ref.substr(0, at);
  if (at != std::string::npos) {
    out.requested = ref.substr(at + 1);
    if (out.requested.find('@') != std::string::npos) {
      return InvalidArgument("invalid model reference \"" + ref + "\" (more than one '@')");
    }
    if (out.requested.empty()) {
      return InvalidArgument("invalid model reference \"" + ref + "\" (empty version after '@')");
    }
  }
  if (out.name.empty()) return InvalidArgument("invalid model reference \"" + ref + "\" (no name)");
  if (!version_override.empty()) out.requested = version_override;
  return out;
}

Status ValidateRegistrationId(std::string_view id_view, std::string_view what) {
  MLOS_RETURN_IF_ERROR(ValidateModelId(id_view, what));
  const std::string id(id_view), w(what);
  const std::string expected = " (expected \"namespace/name@version\")";
  size_t at = id.find('@');
  if (at == std::string::npos || id.find('@', at + 1) != std::string::npos) {
    return InvalidArgument(w + " \"" + id + "\" is not of the form" + expected);
  }
  std::string name = id.substr(0, at), version = id.substr(at + 1);
  if (name.find('/') == std::string::npos) {
    return InvalidArgument(w + " \"" + id + "\" has no namespace" + expected);
  }
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    std::string seg = name.substr(start, slash - start);
    if (!ValidSegment(seg)) {
      return InvalidArgument(w + " \"" + id + "\": bad segment \"" + seg +
                             "\" (letters, digits, '.', '_', '-'; no empty, \".\" or \"..\")");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (version.empty() || version == "." || version == ".." || version.size() > 128 ||
      !AllChars(version, "._+-")) {
    return InvalidArgument(w + " \"" + id + "\": bad version \"" + version +
                           "\" (letters, digits, '.', '_', '+', '-')");
  }
  return Status::Ok();
}

int CompareVersions(const std::string& a, const std::string& b) {
  Semver sa, sb;
  bool a_ok = ParseSemver(a, &sa), b_ok = ParseSemver(b, &sb);
  if (a_ok && b_ok) return CompareSemver(sa, sb);
  if (a_ok != b_ok) return a_ok ? 1 : -1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string LatestVersion(const std::vector<VersionEntry>& versions) {
  const VersionEntry* best_semver = nullptr;
  const VersionEntry* newest = nullptr;
  for (const VersionEntry& v : versions) {
    if (!newest || v.seq > newest->seq) newest = &v;
    if (!mpf::IsSemver(v.version)) continue;
    if (!best_semver || CompareVersions(v.version, best_semver->version) > 0) best_semver = &v;
  }
  if (best_semver) return best_semver->version;
  return newest ? newest->version : "";
}

Result<std::string> ResolveVersion(const std::string& name, const NameSnapshot& snap,
                                   const std::string& requested) {
  if (snap.versions.empty()) return NotFound("model " + name + " is not registered");
  if (requested.empty()) {
    if (!snap.defaults.current.empty() && Registered(snap, snap.defaults.current)) {
      return snap.defaults.current;
    }
    return LatestVersion(snap.versions);
  }
  if (Registered(snap, requested)) return requested;
  auto alias = snap.aliases.find(requested);
  if (alias != snap.aliases.end() && Registered(snap, alias->second)) return alias->second;
  if (requested == "latest") return LatestVersion(snap.versions);
  return NotFound("model " + name + "@" + requested + " is not registered");
}

std::optional<store::DefaultRecord> NextDefaultOnRollback(const store::DefaultRecord& defaults,
                                                          const std::set<std::string>& registered) {
  for (size_t i = defaults.history.size(); i-- > 0;) {
    const std::string& v = defaults.history[i];
    if (v == defaults.current || registered.count(v) == 0) continue;
    store::DefaultRecord next;
    next.current = v;
    next.history.assign(defaults.history.begin(), defaults.history.begin() + i);
    return next;
  }
  return std::nullopt;
}

store::DefaultRecord DefaultsAfterSet(const store::DefaultRecord& defaults,
                                      const std::string& version) {
  store::DefaultRecord next = defaults;
  if (defaults.current == version) return next;
  if (!defaults.current.empty()) next.history.push_back(defaults.current);
  next.current = version;
  return next;
}

store::DefaultRecord DefaultsAfterRegister(const store::DefaultRecord& defaults,
                                           const std::string& version) {
  if (!defaults.current.empty()) return defaults;
  store::DefaultRecord next = defaults;
  next.current = version;
  return next;
}

store::DefaultRecord DefaultsAfterUnregister(const store::DefaultRecord& defaults,
                                             const std::string& removed,
                                             const std::vector<VersionEntry>& remaining) {
  store::DefaultRecord next;
  for (const std::string& v : defaults.history) {
    if (v != removed) next.history.push_back(v);
  }
  if (defaults.current != removed) {
    next.current = defaults.current;
    return next;
  }
  std::set<std::string> reg;
  for (const VersionEntry& v : remaining) reg.insert(v.version);
  store::DefaultRecord probe{"", next.history};
  if (auto back = NextDefaultOnRollback(probe, reg)) return *back;
  next.current = LatestVersion(remaining);
  next.history.clear();
  return next;
}

Result<std::vector<std::string>> LoadOrder(const DepGraph& graph, const std::string& root) {
  std::vector<std::string> order, stack;
  std::set<std::string> done, on_stack;
  std::function<Status(const std::string&)> visit = [&](const std::string& id) -> Status {
    if (done.count(id)) return Status::Ok();
    if (on_stack.count(id)) {
      std::string cycle;
      auto it = std::find(stack.begin(), stack.end(), id);
      for (; it != stack.end(); ++it) cycle += *it + " -> ";
      return FailedPrecondition("dependency cycle: " + cycle + id);
    }
    on_stack.insert(id);
    stack.push_back(id);
    auto deps = graph.find(id);
    if (deps != graph.end()) {
      for (const std::string& d : deps->second) MLOS_RETURN_IF_ERROR(visit(d));
    }
    stack.pop_back();
    on_stack.erase(id);
    done.insert(id);
    order.push_back(id);
    return Status::Ok();
  };
  MLOS_RETURN_IF_ERROR(visit(root));
  return order;
}

std::vector<std::string> UnloadOrder(const DepGraph& graph) {
  std::vector<std::string> order;  // dependencies first
  std::set<std::string> done, on_stack;
  std::function<void(const std::string&)> visit = [&](const std::string& id) {
    if (done.count(id) || on_stack.count(id)) return;  // on_stack: a cycle, cut here
    on_stack.insert(id);
    auto deps = graph.find(id);
    if (deps != graph.end()) {
      for (const std::string& d : deps->second) visit(d);
    }
    on_stack.erase(id);
    done.insert(id);
    order.push_back(id);
  };
  for (const auto& [id, deps] : graph) visit(id);
  std::reverse(order.begin(), order.end());
  return order;
}

Result<std::string> ResolveDependency(const std::string& name, const NameSnapshot* snap,
                                      const std::string& constraint) {
  std::string what = constraint.empty() ? name : name + " (" + constraint + ")";
  if (!snap || snap->versions.empty()) {
    return FailedPrecondition("dependency " + what + " is not registered");
  }
  auto ok = [&](const std::string& v) -> Result<bool> {
    return mpf::VersionSatisfies(v, constraint);
  };
  if (!snap->defaults.current.empty() && Registered(*snap, snap->defaults.current)) {
    MLOS_ASSIGN_OR_RETURN(bool sat, ok(snap->defaults.current));
    if (sat) return snap->defaults.current;
  }
  std::string best;
  for (const VersionEntry& v : snap->versions) {
    MLOS_ASSIGN_OR_RETURN(bool sat, ok(v.version));
    if (sat && (best.empty() || CompareVersions(v.version, best) > 0)) best = v.version;
  }
  if (best.empty()) {
    return FailedPrecondition("dependency " + what + ": no registered version satisfies it");
  }
  return best;
}

std::vector<std::string> ChooseEvictionVictims(const std::vector<EvictionCandidate>& candidates,
                                               uint64_t bytes_needed) {
  if (bytes_needed == 0) return {};
  std::vector<const EvictionCandidate*> c;
  for (const EvictionCandidate& e : candidates) {
    if (!e.pinned) c.push_back(&e);
  }
  std::sort(c.begin(), c.end(), [](const EvictionCandidate* a, const EvictionCandidate* b) {
    bool a_idle = a->in_flight == 0, b_idle = b->in_flight == 0;
    if (a_idle != b_idle) return a_idle;
    if (a->last_used_ms != b->last_used_ms) return a->last_used_ms < b->last_used_ms;
    if (a->memory_bytes != b->memory_bytes) return a->memory_bytes > b->memory_bytes;
    return a->id < b->id;
  });
  std::vector<std::string> out;
  uint64_t freed = 0;
  for (const EvictionCandidate* e : c) {
    out.push_back(e->id);
    freed += e->memory_bytes;
    if (freed >= bytes_needed) return out;
  }
  return {};
}

int EffectivePriority(int priority, int64_t waited_us, int64_t aging_us) {
  if (aging_us <= 0 || waited_us <= 0) return std::max(1, priority);
  const int64_t steps = waited_us / aging_us;
  return static_cast<int>(std::max<int64_t>(1, static_cast<int64_t>(priority) - steps));
}

bool RunsBefore(const QueuedCall& a, const QueuedCall& b, int64_t now_us, int64_t aging_us) {
  const int pa = EffectivePriority(a.priority, now_us - a.enqueued_us, aging_us);
  const int pb = EffectivePriority(b.priority, now_us - b.enqueued_us, aging_us);
  if (pa != pb) return pa < pb;
  if (a.deadline_us != b.deadline_us) {
    if (a.deadline_us == 0) return false;
    if (b.deadline_us == 0) return true;
    return a.deadline_us < b.deadline_us;
  }
  return a.seq < b.seq;
}

int NextToRun(const std::vector<QueuedCall>& queue, int64_t now_us, int64_t aging_us) {
  int best = -1;
  for (size_t i = 0; i < queue.size(); ++i) {
    if (best < 0 || RunsBefore(queue[i], queue[static_cast<size_t>(best)], now_us, aging_us)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

bool MayStart(const std::vector<int>& running, int priority, int slots) {
  int busy = 0;
  for (int p = 1; p <= priority && p < static_cast<int>(running.size()); ++p) busy += running[p];
  return busy < slots;
}

int64_t PredictLatencyUs(int64_t ahead_us, int64_t service_us, int slots) {
  return std::max<int64_t>(0, ahead_us) / std::max(1, slots) + std::max<int64_t>(0, service_us);
}

}  // namespace mlos::core::policy
