// Lifecycle policy: pure functions of a state snapshot. They decide which version a request
// gets, what a rollback switches to, in which order models load and which models to evict; the
// core (the mechanism) performs what they decide. No locks, no I/O: table-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace mlos::core::policy {

// A parsed model reference: "ns/name", "ns/name@version" or "ns/name@alias".
struct ModelRef {
  std::string name;       // "ns/name"
  std::string requested;  // "" = the default version
};

// Checks a model id, name, version or reference taken from a request (a URL, a body, a frame):
// non-empty, no NUL, control character or backslash, no ".." and no leading '/' (ids become
// paths in places). kInvalidArgument naming `what`, exactly:
//   "<what> is empty", "<what> contains a NUL byte", "<what> contains a control character",
//   "<what> contains a backslash", "<what> '<id>' contains '..'", "<what> '<id>' starts with '/'".
// The one implementation: every front-end and the core use it.
Status ValidateModelId(std::string_view id, std::string_view what = "model id");

// Splits at '@'; `version_override` (InferRequest::version), when non-empty, replaces the part
// after '@'. kInvalidArgument when ValidateModelId refuses the reference ("model reference") or
// the override ("model version"), on an empty name or several '@'.
Result<ModelRef> ParseModelRef(const std::string& ref, const std::string& version_override = "");

// The stricter form a registration id must have, "ns/name@version": ValidateModelId(id, what)
// first (same messages), then namespace and name segments of letters, digits, '.', '_', '-'
// (no empty, "." or ".." segments) and a version of letters, digits, '.', '_', '+', '-';
// kInvalidArgument whose message starts with `what`.
Status ValidateRegistrationId(std::string_view id, std::string_view what = "model id");

// -1, 0, 1. Semantic versions compare by semver precedence; any semver sorts above a
// non-semver; two non-semvers compare as strings.
int CompareVersions(const std::string& a, const std::string& b);

struct VersionEntry {
  std::string version;
  int64_t seq = 0;  // registration order
};

// `latest`: the highest semantic version; when no version is semver, the most recently
// registered. "" when there are none.
std::string LatestVersion(const std::vector<VersionEntry>& versions);

// What the registry knows about one model name.
struct NameSnapshot {
  std::vector<VersionEntry> versions;
  store::DefaultRecord defaults;
  std::map<std::string, std::string> aliases;  // alias -> version
};

// The version a request for `requested` gets: "" -> the default (the latest when no default is
// set); an exact registered version; a user alias; "latest" (unless a user alias of that name
// exists) -> LatestVersion. kNotFound naming the model otherwise.
Result<std::string> ResolveVersion(const std::string& name, const NameSnapshot& snap,
                                   const std::string& requested);

// Rollback: the most recent entry of the history that is still registered and differs from
// the current default, with the history cut before it. nullopt when there is none.
std::optional<store::DefaultRecord> NextDefaultOnRollback(const store::DefaultRecord& defaults,
                                                          const std::set<std::string>& registered);

// SetDefault: `version` becomes current, the old current (if any, and different) is pushed.
store::DefaultRecord DefaultsAfterSet(const store::DefaultRecord& defaults,
                                      const std::string& version);

// A registration: the first version of a name becomes its default.
store::DefaultRecord DefaultsAfterRegister(const store::DefaultRecord& defaults,
                                           const std::string& version);

// Unregistering `removed`: it leaves the history; if it was current, the previous default
// still registered takes over, else the latest of `remaining`, else none.
store::DefaultRecord DefaultsAfterUnregister(const store::DefaultRecord& defaults,
                                             const std::string& removed,
                                             const std::vector<VersionEntry>& remaining);

// Dependencies by id. LoadOrder returns the ids to load for `root`, dependencies first, each
// once, `root` last. A dependency cycle is kFailedPrecondition naming it:
// `dependency cycle: a@1 -> b@1 -> a@1`. An id missing from the graph has no dependencies.
using DepGraph = std::map<std::string, std::vector<std::string>>;
Result<std::vector<std::string>> LoadOrder(const DepGraph& graph, const std::string& root);
// The order to unload every model of the graph (shutdown): dependents before their
// dependencies, each id (keys and the ids they name) once; unrelated ids in reverse id order.
// Never fails: the ids of a cycle (which registration refuses) still appear once.
std::vector<std::string> UnloadOrder(const DepGraph& graph);

// Picks the version of `name` that satisfies `constraint` for a dependency: the default when it
// satisfies, else the highest satisfying version. kFailedPrecondition when none does, or when
// the name is not registered; kInvalidArgument for a malformed constraint.
Result<std::string> ResolveDependency(const std::string& name, const NameSnapshot* snap,
                                      const std::string& constraint);

// Eviction. Candidates are loaded models; pinned ones (in use, a dependency of a loaded model,
// or the one being loaded) are never chosen.
struct EvictionCandidate {
  std::string id;
  uint64_t memory_bytes = 0;
  uint64_t in_flight = 0;       // requests running now
  int64_t last_used_ms = 0;     // steady clock; smaller = longer ago
  bool pinned = false;
};
// Frees at least `bytes_needed`: idle models (no requests in flight) before busy ones, least
// recently used first; among equally old ones the larger first. Stops as soon as enough is
// freed. Returns {} when even all unpinned candidates do not free enough.
std::vector<std::string> ChooseEvictionVictims(const std::vector<EvictionCandidate>& candidates,
                                               uint64_t bytes_needed);

// Scheduling. Priorities run from 1 (most urgent) to `levels`; a request waiting for a plugin
// call moves up one level per `aging_us` waited (never above 1), so a low priority is never
// starved forever. aging_us <= 0: no aging.
int EffectivePriority(int priority, int64_t waited_us, int64_t aging_us);

struct QueuedCall {
  uint64_t seq = 0;          // arrival order
  int priority = 0;          // 1 = most urgent
  int64_t enqueued_us = 0;   // steady clock
  int64_t deadline_us = 0;   // steady clock; 0 = none
};
// The order of waiting calls at `now_us`: effective priority first, then the earliest deadline
// (calls without one after those with one), then arrival. True when `a` goes before `b`.
bool RunsBefore(const QueuedCall& a, const QueuedCall& b, int64_t now_us, int64_t aging_us);
// The index in `queue` of the call to run next, or -1 when `queue` is empty.
int NextToRun(const std::vector<QueuedCall>& queue, int64_t now_us, int64_t aging_us);
// Whether a call at (effective) priority `priority` may start: fewer than `slots` calls of that
// priority or a more urgent one are running (`running[p]` = calls running at priority p, index
// 0 unused). Less urgent running calls do not count: the kernel runs them at a lower class.
bool MayStart(const std::vector<int>& running, int priority, int slots);

// Deadline-aware admission: the predicted latency of a new call of `service_us` that has
// `ahead_us` of work queued or running before it on `slots` slots.
int64_t PredictLatencyUs(int64_t ahead_us, int64_t service_us, int slots);

}  // namespace mlos::core::policy
