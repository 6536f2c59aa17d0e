// The lifecycle transition table, exhaustively.
#include "core/state_machine.h"

#include <gtest/gtest.h>

#include <string>

namespace mlos::core {
namespace {

using S = ModelState;
using E = LifecycleEvent;

TEST(StateMachineTest, Names) {
  EXPECT_STREQ(ModelStateName(S::kRegistered), "REGISTERED");
  EXPECT_STREQ(ModelStateName(S::kLoading), "LOADING");
  EXPECT_STREQ(ModelStateName(S::kReady), "READY");
  EXPECT_STREQ(ModelStateName(S::kUnloading), "UNLOADING");
  EXPECT_STREQ(ModelStateName(S::kUnloaded), "UNLOADED");
  EXPECT_STREQ(ModelStateName(S::kFailed), "FAILED");
  EXPECT_STREQ(LifecycleEventName(E::kLoadRefused), "load_refused");
}

TEST(StateMachineTest, FullTable) {
  const S states[] = {S::kRegistered, S::kLoading, S::kReady,
                      S::kUnloading,  S::kUnloaded, S::kFailed};
  const E events[] = {E::kLoad,        E::kLoaded, E::kLoadFailed,
                      E::kLoadRefused, E::kUnload, E::kUnloaded, E::kLoadWithdrawn};
  struct Allowed {
    S from;
    E event;
    S to;
  } allowed[] = {
      {S::kRegistered, E::kLoad, S::kLoading}, {S::kUnloaded, E::kLoad, S::kLoading},
      {S::kFailed, E::kLoad, S::kLoading},     {S::kLoading, E::kLoaded, S::kReady},
      {S::kLoading, E::kLoadFailed, S::kFailed}, {S::kReady, E::kUnload, S::kUnloading},
      {S::kFailed, E::kUnload, S::kUnloaded},  {S::kUnloading, E::kUnloaded, S::kUnloaded},
      {S::kRegistered, E::kLoadRefused, S::kFailed}, {S::kUnloaded, E::kLoadRefused, S::kFailed},
      {S::kFailed, E::kLoadRefused, S::kFailed},   {S::kLoading, E::kLoadWithdrawn, S::kUnloaded},
  };
  for (S from : states) {
    for (E ev : events) {
      std::optional<S> want;
      for (const Allowed& a : allowed) {
        if (a.from == from && a.event == ev) want = a.to;
      }
      EXPECT_EQ(NextState(from, ev), want)
          << ModelStateName(from) << " --" << LifecycleEventName(ev) << "-->";
    }
  }
}

TEST(StateMachineTest, LifecycleChangesOnlyThroughTheTable) {
  Lifecycle l;
  EXPECT_EQ(l.state(), S::kRegistered);
  // Illegal: refused, nothing changes (neither the state nor the reason).
  EXPECT_EQ(l.Apply(E::kLoaded), std::nullopt);
  EXPECT_EQ(l.Apply(E::kUnload, "x"), std::nullopt);
  EXPECT_EQ(l.state(), S::kRegistered);
  EXPECT_EQ(l.reason(), "");
  EXPECT_EQ(l.Apply(E::kLoad), S::kLoading);
  EXPECT_EQ(l.Apply(E::kLoad), std::nullopt);  // already loading
  EXPECT_EQ(l.Apply(E::kLoadFailed, "bad weights"), S::kFailed);
  EXPECT_EQ(l.reason(), "bad weights");
  EXPECT_EQ(l.Apply(E::kUnloaded), std::nullopt);
  EXPECT_EQ(l.reason(), "bad weights");
  EXPECT_EQ(l.Apply(E::kUnload), S::kUnloaded);  // clears the failure
  EXPECT_EQ(l.reason(), "");
  EXPECT_EQ(l.Apply(E::kLoad), S::kLoading);
  EXPECT_EQ(l.Apply(E::kLoaded), S::kReady);
  EXPECT_EQ(l.Apply(E::kLoadRefused, "no plugin"), std::nullopt);  // not while READY
  EXPECT_EQ(l.state(), S::kReady);
  EXPECT_EQ(l.Apply(E::kUnload), S::kUnloading);
  EXPECT_EQ(l.Apply(E::kUnloaded), S::kUnloaded);
}

TEST(StateMachineTest, Predicates) {
  EXPECT_TRUE(Serving(S::kReady));
  EXPECT_FALSE(Serving(S::kLoading));
  EXPECT_TRUE(Transitioning(S::kLoading));
  EXPECT_TRUE(Transitioning(S::kUnloading));
  EXPECT_FALSE(Transitioning(S::kFailed));
}

}  // namespace
}  // namespace mlos::core
