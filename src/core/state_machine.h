// The model lifecycle state machine: the one table of legal transitions. The core asks it
// before every state change, so an illegal move is a bug caught in one place.
//
//   REGISTERED --load--> LOADING --loaded--> READY --unload--> UNLOADING --unloaded--> UNLOADED
//                           \--failed--> FAILED                                        |
//   FAILED / UNLOADED --load--> LOADING  <---------------------------------------------/
//   FAILED --unload--> UNLOADED (clears the failure)
#pragma once

#include <optional>

#include "core/core.h"

namespace mlos::core {

enum class LifecycleEvent { kLoad, kLoaded, kLoadFailed, kUnload, kUnloaded };
const char* LifecycleEventName(LifecycleEvent e);

// The state after `event` in state `from`; nullopt when the event is not allowed there.
std::optional<ModelState> NextState(ModelState from, LifecycleEvent event);

// True when requests can run (READY).
inline bool Serving(ModelState s) { return s == ModelState::kReady; }
// True while a transition is in progress (LOADING, UNLOADING): callers wait for it to end.
inline bool Transitioning(ModelState s) {
  return s == ModelState::kLoading || s == ModelState::kUnloading;
}

}  // namespace mlos::core
