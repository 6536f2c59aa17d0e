// The model lifecycle state machine: the one table of legal transitions (NextState) and the one
// type that holds a model's state (Lifecycle). Lifecycle's state can only change through
// Apply(), which asks the table, so an illegal move is refused in one place and leaves the
// state as it was.
//
//   REGISTERED --load--> LOADING --loaded--> READY --unload--> UNLOADING --unloaded--> UNLOADED
//                           \--load_failed--> FAILED                                   |
//   FAILED / UNLOADED --load--> LOADING  <---------------------------------------------/
//   REGISTERED / UNLOADED / FAILED --load_refused--> FAILED (cannot be loaded at all: no plugin
//                                                   serves its format, unreadable at restore)
//   FAILED --unload--> UNLOADED (clears the failure)
//   LOADING --load_withdrawn--> UNLOADED (it loaded but did not fit the memory budget: released
//                                         before serving, and it may fit later)
//   READY --crashed--> FAILED (its sandboxed worker died; the core restarts it: FAILED --load-->)
#pragma once

#include <optional>
#include <string>

#include "core/core.h"

namespace mlos::core {

enum class LifecycleEvent {
  kLoad, kLoaded, kLoadFailed, kLoadRefused, kUnload, kUnloaded, kLoadWithdrawn, kCrashed
};
const char* LifecycleEventName(LifecycleEvent e);

// The state after `event` in state `from`; nullopt when the event is not allowed there.
std::optional<ModelState> NextState(ModelState from, LifecycleEvent event);

// True when requests can run (READY).
inline bool Serving(ModelState s) { return s == ModelState::kReady; }
// True while a transition is in progress (LOADING, UNLOADING): callers wait for it to end.
inline bool Transitioning(ModelState s) {
  return s == ModelState::kLoading || s == ModelState::kUnloading;
}

// A model's lifecycle state and the reason of its last transition (why FAILED). Starts
// REGISTERED. Not thread-safe: the owner guards it (CoreImpl: under its mutex).
class Lifecycle {
 public:
  ModelState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  // Moves to NextState(state(), event) and records `reason` (cleared when empty). Returns the
  // new state, or nullopt and changes nothing when the table does not allow `event` here.
  std::optional<ModelState> Apply(LifecycleEvent event, std::string reason = "");

 private:
  ModelState state_ = ModelState::kRegistered;
  std::string reason_;
};

}  // namespace mlos::core
