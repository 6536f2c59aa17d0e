// The scheduler's mechanism: order of waiting calls, slots per priority level, deadlines while
// queued, kernel classes, the service-time estimate behind deadline-aware admission. The order
// itself is policy (policy_test.cc); here real threads wait and run.
#include "core/scheduler.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace mlos::core {
namespace {

using namespace std::chrono_literals;

// A call that blocks until Open(): holds a slot for as long as the test wants.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Waits until `n` calls are queued in `s` (threads start several times slower in a sanitizer
// build on busy CPUs: a longer wait there, the same checks).
#ifdef MLOS_SANITIZER_BUILD
constexpr int kQueueWaitMs = 20000;
#else
constexpr int kQueueWaitMs = 2000;
#endif
void WaitQueued(const Scheduler& s, uint64_t n) {
  for (int i = 0; i < kQueueWaitMs; ++i) {
    uint64_t q = 0;
    for (const QueueDepth& d : s.Depths()) q += d.depth;
    if (q >= n) return;
    std::this_thread::sleep_for(1ms);
  }
  FAIL() << "calls never queued";
}

// Holds one of `s`'s slots with a call of `model` at `priority` from construction until Release()
// (or destruction); the constructor returns once the call has the slot, so what the test starts
// next queues behind it however late the holder's thread started.
class SlotHolder {
 public:
  SlotHolder(Scheduler& s, std::string model, int priority)
      : thread_([this, &s, model = std::move(model), priority] {
          uint64_t w = 0;
          EXPECT_TRUE(s.Run(model, priority, std::nullopt, [&] {
            holding_.Open();
            gate_.Wait();
            return Status::Ok();
          }, &w).ok());
        }) {
    holding_.Wait();
  }
  ~SlotHolder() { Release(); }
  void Release() {
    gate_.Open();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Gate gate_;
  Gate holding_;
  std::thread thread_;
};

SchedulerOptions Options(int slots) {
  SchedulerOptions o;
  o.slots = slots;
  o.aging = 0us;
  return o;
}

TEST(SchedulerTest, WaitingCallsRunByPriorityThenArrival) {
  Scheduler s(Options(1));
  // The holder is at the most urgent level, so every other call waits for its slot.
  SlotHolder holder(s, "m", 1);
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> callers;
  const std::pair<const char*, int> calls[] = {{"p9", 9}, {"p5a", 5}, {"p1", 1}, {"p5b", 5}};
  uint64_t queued = 0;
  for (const auto& [name, prio] : calls) {
    callers.emplace_back([&, name = std::string(name), prio = prio] {
      uint64_t wait = 0;
      EXPECT_TRUE(s.Run("m", prio, std::nullopt,
                        [&] {
                          std::lock_guard<std::mutex> l(mu);
                          order.push_back(name);
                          return Status::Ok();
                        },
                        &wait)
                      .ok());
    });
    WaitQueued(s, ++queued);  // arrival order is the order above
  }
  holder.Release();
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(order, (std::vector<std::string>{"p1", "p5a", "p5b", "p9"}));
}

TEST(SchedulerTest, AnUrgentCallStartsWhileLowPriorityOnesFillTheSlots) {
  Scheduler s(Options(1));
  SlotHolder low(s, "batch", 10);
  // Another priority-10 call waits for the slot...
  std::atomic<bool> second_ran{false};
  std::thread low2([&] {
    uint64_t w = 0;
    EXPECT_TRUE(s.Run("batch", 10, std::nullopt, [&] { second_ran = true; return Status::Ok(); }, &w).ok());
  });
  WaitQueued(s, 1);
  // ...while a priority-1 call runs at once: less urgent calls do not hold its slot.
  uint64_t wait = 123;
  bool ran = false;
  EXPECT_TRUE(s.Run("interactive", 1, std::nullopt, [&] { ran = true; return Status::Ok(); }, &wait).ok());
  EXPECT_TRUE(ran);
  EXPECT_LT(wait, 10000u);
  EXPECT_FALSE(second_ran.load());
  low.Release();
  low2.join();
  EXPECT_TRUE(second_ran.load());
}

TEST(SchedulerTest, DeadlinePassingInTheQueueFailsWithoutRunning) {
  Scheduler s(Options(1));
  SlotHolder holder(s, "m", 5);
  bool ran = false;
  uint64_t wait = 0;
  Status st = s.Run("m", 5, Scheduler::Clock::now() + 30ms, [&] { ran = true; return Status::Ok(); }, &wait);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  EXPECT_NE(st.message().find("queued for a CPU slot"), std::string::npos) << st.message();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(s.Depths().empty());
}

TEST(SchedulerTest, AgedLowPriorityCallRunsBeforeANewerUrgentOne) {
  SchedulerOptions o = Options(1);
  o.aging = 10ms;  // one level per 10 ms
  Scheduler s(o);
  SlotHolder holder(s, "m", 1);
  std::mutex mu;
  std::vector<int> order;
  auto call = [&](int prio) {
    uint64_t w = 0;
    EXPECT_TRUE(s.Run("m", prio, std::nullopt,
                      [&] {
                        std::lock_guard<std::mutex> l(mu);
                        order.push_back(prio);
                        return Status::Ok();
                      },
                      &w)
                    .ok());
  };
  std::thread old_low(call, 10);
  WaitQueued(s, 1);
  std::this_thread::sleep_for(150ms);  // aged from 10 to 1
  std::thread fresh_urgent(call, 2);
  WaitQueued(s, 2);
  holder.Release();
  old_low.join();
  fresh_urgent.join();
  EXPECT_EQ(order, (std::vector<int>{10, 2}));
}

TEST(SchedulerTest, KernelClassesRunLowPriorityCallsOnIdleThreads) {
  SchedulerOptions o = Options(2);
  o.batch_priority = 6;
  o.idle_priority = 10;
  Scheduler s(o);
  for (const std::string& w : s.warnings()) std::printf("kernel refused: %s\n", w.c_str());
  const long caller = syscall(SYS_gettid);
  auto probe = [&](int prio, long* tid, int* policy) {
    uint64_t w = 0;
    EXPECT_TRUE(s.Run("m", prio, std::nullopt,
                      [&] {
                        *tid = syscall(SYS_gettid);
                        *policy = sched_getscheduler(0);
                        return Status::Ok();
                      },
                      &w)
                    .ok());
  };
  long tid = 0;
  int policy = -1;
  probe(1, &tid, &policy);
  EXPECT_EQ(tid, caller);  // normal class: on the caller's thread, no handoff
  EXPECT_EQ(policy, SCHED_OTHER);
  if (!s.warnings().empty()) GTEST_SKIP() << "the kernel refused a scheduling class here";
  probe(7, &tid, &policy);
  EXPECT_NE(tid, caller);
  EXPECT_EQ(policy, SCHED_BATCH);
  probe(10, &tid, &policy);
  EXPECT_NE(tid, caller);
  EXPECT_EQ(policy, SCHED_IDLE);
}

TEST(SchedulerTest, FifoModeIgnoresPriorities) {
  SchedulerOptions o = Options(1);
  o.fifo = true;
  Scheduler s(o);
  EXPECT_EQ(s.Normalise(1), o.default_priority);
  EXPECT_EQ(s.Normalise(10, 3), o.default_priority);
}

TEST(SchedulerTest, NormaliseUsesTheModelDefaultThenTheServerDefault) {
  Scheduler s(Options(1));
  EXPECT_EQ(s.Normalise(0), 5);
  EXPECT_EQ(s.Normalise(0, 2), 2);
  EXPECT_EQ(s.Normalise(3, 2), 3);
  EXPECT_EQ(s.Normalise(99), 10);
}

TEST(SchedulerTest, PredictsFromTheLearntServiceTimeAndTheQueueAhead) {
  Scheduler s(Options(1));
  int64_t service = -1;
  size_t ahead = 99;
  EXPECT_EQ(s.PredictUs("m", 5, &service, &ahead), 0);
  EXPECT_EQ(service, 0);  // nothing learnt: admission predicts nothing
  uint64_t w = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Run("m", 5, std::nullopt, [] { std::this_thread::sleep_for(20ms); return Status::Ok(); }, &w).ok());
  }
  EXPECT_EQ(s.PredictUs("m", 5, &service, &ahead), service);  // idle: just the call itself
  EXPECT_GE(service, 19000);
  EXPECT_LT(service, 200000);
  SlotHolder holder(s, "m", 5);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      uint64_t x = 0;
      (void)s.Run("m", 5, std::nullopt, [] { return Status::Ok(); }, &x);
    });
    WaitQueued(s, static_cast<uint64_t>(i + 1));
  }
  const int64_t predicted = s.PredictUs("m", 5, &service, &ahead);
  EXPECT_EQ(ahead, 3u);
  EXPECT_GE(predicted, 3 * 19000 + service);  // 3 queued (~20 ms each) + its own
  // A more urgent call is not behind them.
  EXPECT_EQ(s.PredictUs("m", 1, &service, &ahead), service);
  EXPECT_EQ(ahead, 0u);
  holder.Release();
  for (std::thread& t : ts) t.join();
}

TEST(SchedulerTest, AdmissionRefusesACallWhoseDeadlineTheQueueMakesUnreachable) {
  SchedulerOptions o = Options(1);
  std::vector<std::string> refused;
  o.on_deadline_refused = [&](const std::string& m) { refused.push_back(m); };
  Scheduler s(o);
  uint64_t w = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Run("m", 5, std::nullopt, [] { std::this_thread::sleep_for(20ms); return Status::Ok(); }, &w).ok());
  }
  SlotHolder holder(s, "m", 5);
  std::vector<std::thread> queued;
  for (int i = 0; i < 3; ++i) {
    queued.emplace_back([&] {
      uint64_t x = 0;
      (void)s.Run("m", 5, std::nullopt, [] { return Status::Ok(); }, &x);
    });
    WaitQueued(s, static_cast<uint64_t>(i + 1));
  }
  bool ran = false;
  const auto t0 = Scheduler::Clock::now();
  Status st = s.Run("m", 5, t0 + 30ms, [&] { ran = true; return Status::Ok(); }, &w, /*admit=*/true);
  const auto took = Scheduler::Clock::now() - t0;
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_NE(st.message().find("deadline cannot be met"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("3 calls ahead"), std::string::npos) << st.message();
  EXPECT_EQ(st.retry_after_s(), 1u);
  EXPECT_FALSE(ran);
  EXPECT_LT(took, 5ms);
  EXPECT_EQ(refused, std::vector<std::string>{"m"});
  // Without admission the same call would wait (and here miss its deadline in the queue).
  EXPECT_EQ(s.Run("m", 5, Scheduler::Clock::now() + 30ms, [] { return Status::Ok(); }, &w).code(),
            StatusCode::kDeadlineExceeded);
  // A more urgent call is not behind them: admitted.
  EXPECT_TRUE(s.Run("m", 1, Scheduler::Clock::now() + 200ms, [] { return Status::Ok(); }, &w, true).ok());
  holder.Release();
  for (std::thread& t : queued) t.join();
}

TEST(SchedulerTest, ParsesCpuLists) {
  EXPECT_EQ(*ParseCpuList("0-3,6", "x"), (std::vector<int>{0, 1, 2, 3, 6}));
  EXPECT_EQ(*ParseCpuList("1", "x"), (std::vector<int>{1}));
  for (const char* bad : {"", "a", "3-1", "1,,2", "-1", "0-", "99999"}) {
    auto r = ParseCpuList(bad, "resources.cpu_sets.batch");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("resources.cpu_sets.batch"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace mlos::core
