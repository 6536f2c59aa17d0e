#include "core/state_machine.h"

#include <utility>

namespace mlos::core {

const char* ModelStateName(ModelState s) {
  switch (s) {
    case ModelState::kRegistered: return "REGISTERED";
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnloading: return "UNLOADING";
    case ModelState::kUnloaded: return "UNLOADED";
    case ModelState::kFailed: return "FAILED";
  }
  return "UNKNOWN";
}

const char* IsolationName(Isolation i) {
  switch (i) {
    case Isolation::kInProcess: return "in_process";
    case Isolation::kProcess: return "process";
    case Isolation::kStrict: return "strict";
  }
  return "in_process";
}

std::optional<Isolation> ParseIsolation(const std::string& text) {
  if (text == "in_process" || text == "none") return Isolation::kInProcess;
  if (text == "process") return Isolation::kProcess;
  if (text == "strict") return Isolation::kStrict;
  return std::nullopt;
}

const char* LifecycleEventName(LifecycleEvent e) {
  switch (e) {
    case LifecycleEvent::kLoad: return "load";
    case LifecycleEvent::kLoaded: return "loaded";
    case LifecycleEvent::kLoadFailed: return "load_failed";
    case LifecycleEvent::kLoadRefused: return "load_refused";
    case LifecycleEvent::kUnload: return "unload";
    case LifecycleEvent::kUnloaded: return "unloaded";
    case LifecycleEvent::kLoadWithdrawn: return "load_withdrawn";
    case LifecycleEvent::kCrashed: return "crashed";
  }
  return "unknown";
}

std::optional<ModelState> NextState(ModelState from, LifecycleEvent event) {
  using S = ModelState;
  using E = LifecycleEvent;
  switch (event) {
    case E::kLoad:
      if (from == S::kRegistered || from == S::kUnloaded || from == S::kFailed) return S::kLoading;
      return std::nullopt;
    case E::kLoaded:
      if (from == S::kLoading) return S::kReady;
      return std::nullopt;
    case E::kLoadFailed:
      if (from == S::kLoading) return S::kFailed;
      return std::nullopt;
    case E::kLoadRefused:
      if (from == S::kRegistered || from == S::kUnloaded || from == S::kFailed) return S::kFailed;
      return std::nullopt;
    case E::kUnload:
      if (from == S::kReady) return S::kUnloading;
      if (from == S::kFailed) return S::kUnloaded;
      return std::nullopt;
    case E::kUnloaded:
      if (from == S::kUnloading) return S::kUnloaded;
      return std::nullopt;
    case E::kCrashed:
      if (from == S::kReady) return S::kFailed;
      return std::nullopt;
    case E::kLoadWithdrawn:
      if (from == S::kLoading) return S::kUnloaded;
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ModelState> Lifecycle::Apply(LifecycleEvent event, std::string reason) {
  std::optional<ModelState> next = NextState(state_, event);
  if (!next) return std::nullopt;
  state_ = *next;
  reason_ = std::move(reason);
  return next;
}

}  // namespace mlos::core
