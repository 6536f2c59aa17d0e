// Limiter: bursts and refusals with Retry-After, per-principal isolation, concurrency tickets,
// per-model quotas across principals, the bytes cap, and which Limit applies. Rates are either
// tiny (one token per 1000 s: nothing refills during a test) or huge, so nothing depends on
// timing.
#include "security/limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mlos::security {
namespace {

constexpr double kTinyRate = 0.001;  // one request per 1000 s

Limit RateLimit(double burst, int concurrency = 0) {
  Limit l;
  l.rate = kTinyRate;
  l.burst = burst;
  l.concurrency = concurrency;
  return l;
}

LimitsConfig Defaults(const Limit& l) {
  LimitsConfig c;
  c.defaults = l;
  return c;
}

const ModelQuota kNoQuota;

TEST(LimiterTest, UnlimitedAlwaysAdmits) {
  Limiter limiter{LimitsConfig{}};
  EXPECT_TRUE(limiter.config().Unlimited());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.Admit("bob", Role::kUser, "ns/m@1", kNoQuota, 1ull << 40).ok());
  }
}

TEST(LimiterTest, BurstThenRefusalWithRetryAfter) {
  Limiter limiter(Defaults(RateLimit(3)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  auto refused = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "principal 'bob': rate limit 0.001 requests/s (burst 3) exceeded");
  EXPECT_GE(refused.status().retry_after_s(), 1u);
  EXPECT_LE(refused.status().retry_after_s(), 1000u);
  // Still refused: refusals consume nothing, but nothing refilled either.
  EXPECT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
}

TEST(LimiterTest, OtherPrincipalUnaffected) {
  Limiter limiter(Defaults(RateLimit(1)));
  ASSERT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  ASSERT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  EXPECT_TRUE(limiter.Admit("carol", Role::kUser, "", kNoQuota, 0).ok());
  EXPECT_FALSE(limiter.Admit("carol", Role::kUser, "", kNoQuota, 0).ok());
}

TEST(LimiterTest, BurstDefaultsToRateAndAtLeastOne) {
  Limit l;
  l.rate = kTinyRate;  // burst 0 -> max(1, rate) = 1
  Limiter limiter(Defaults(l));
  ASSERT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  auto refused = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "principal 'bob': rate limit 0.001 requests/s (burst 1) exceeded");
}

TEST(LimiterTest, HugeRateAdmitsMany) {
  Limit l;
  l.rate = 1e9;
  Limiter limiter(Defaults(l));
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  }
}

TEST(LimiterTest, ConcurrencyTicketsReleaseOnDestruction) {
  Limit l;
  l.concurrency = 2;
  Limiter limiter(Defaults(l));
  auto t1 = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  auto t2 = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_TRUE(t1.ok() && t2.ok());
  auto refused = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), "principal 'bob': concurrency limit 2 exceeded");
  EXPECT_EQ(refused.status().retry_after_s(), 1u);
  EXPECT_TRUE(limiter.Admit("carol", Role::kUser, "", kNoQuota, 0).ok());

  {
    Limiter::Ticket gone = std::move(*t1);  // moving keeps the slot
    EXPECT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  }
  auto t3 = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_TRUE(t3.ok());
  EXPECT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
  // Move-assigning over a held ticket releases the old slot.
  *t2 = Limiter::Ticket();
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
}

TEST(LimiterTest, RefusalConsumesNothing) {
  Limiter limiter(Defaults(RateLimit(/*burst=*/2, /*concurrency=*/1)));
  {
    auto held = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);  // token 1 of 2
    ASSERT_TRUE(held.ok());
    for (int i = 0; i < 5; ++i) {
      auto r = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("concurrency"), std::string::npos);
    }
  }
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());  // token 2 of 2
  auto r = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("rate limit"), std::string::npos);
}

TEST(LimiterTest, ModelQuotaAcrossPrincipals) {
  Limiter limiter{LimitsConfig{}};
  ModelQuota q;
  q.rate = kTinyRate;  // burst max(1, rate) = 1
  ASSERT_TRUE(limiter.Admit("alice", Role::kUser, "ns/m@1", q, 0).ok());
  auto refused = limiter.Admit("bob", Role::kAdmin, "ns/m@1", q, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "model 'ns/m@1': rate limit 0.001 requests/s (burst 1) exceeded");
  EXPECT_GE(refused.status().retry_after_s(), 1u);
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "ns/other@1", q, 0).ok());
  // No model named: no model quota.
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "", q, 0).ok());
}

TEST(LimiterTest, ModelConcurrencyAcrossPrincipals) {
  Limiter limiter{LimitsConfig{}};
  ModelQuota q;
  q.concurrency = 2;
  auto a = limiter.Admit("alice", Role::kUser, "ns/m@1", q, 0);
  auto b = limiter.Admit("bob", Role::kUser, "ns/m@1", q, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  auto refused = limiter.Admit("carol", Role::kUser, "ns/m@1", q, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "model 'ns/m@1': concurrency limit 2 exceeded");
  EXPECT_EQ(refused.status().retry_after_s(), 1u);
  *a = Limiter::Ticket();
  EXPECT_TRUE(limiter.Admit("carol", Role::kUser, "ns/m@1", q, 0).ok());
}

TEST(LimiterTest, ModelRefusalConsumesNoPrincipalToken) {
  Limiter limiter(Defaults(RateLimit(1)));
  ModelQuota q;
  q.concurrency = 1;
  auto held = limiter.Admit("alice", Role::kUser, "ns/m@1", q, 0);
  ASSERT_TRUE(held.ok());
  auto refused = limiter.Admit("bob", Role::kUser, "ns/m@1", q, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("model 'ns/m@1'"), std::string::npos);
  // bob's single token is still there.
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "ns/n@1", q, 0).ok());
}

TEST(LimiterTest, BytesPerRequest) {
  Limit l = RateLimit(1);
  l.max_request_bytes = 100;
  Limiter limiter(Defaults(l));
  auto refused = limiter.Admit("bob", Role::kUser, "", kNoQuota, 101);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "principal 'bob': request of 101 bytes exceeds the limit of 100 bytes per request");
  EXPECT_EQ(refused.status().retry_after_s(), 0u);
  // The refusal took no token: the one in the bucket is still there.
  EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 100).ok());
}

TEST(LimiterTest, BytesOnlyLimit) {
  Limit l;
  l.max_request_bytes = 10;
  Limiter limiter(Defaults(l));
  EXPECT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 11).ok());
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 10).ok());
  }
}

TEST(LimitsConfigTest, MostSpecificEntryWinsAsAWhole) {
  LimitsConfig c;
  c.defaults = RateLimit(1);
  c.roles["admin"] = Limit{};  // unlimited
  c.roles["user"] = RateLimit(5);
  c.principals["bob"] = RateLimit(3);
  EXPECT_FALSE(c.Unlimited());
  EXPECT_EQ(c.For("anyone", Role::kReader).burst, 1);
  EXPECT_EQ(c.For("anyone", Role::kUser).burst, 5);
  EXPECT_TRUE(c.For("root", Role::kAdmin).Unlimited());
  EXPECT_EQ(c.For("bob", Role::kAdmin).burst, 3);  // principal over role
  EXPECT_EQ(c.For("bob", Role::kReader).burst, 3);

  Limiter limiter(c);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(limiter.Admit("root", Role::kAdmin, "", kNoQuota, 0).ok());
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("bob", Role::kAdmin, "", kNoQuota, 0).ok());
  auto refused = limiter.Admit("bob", Role::kAdmin, "", kNoQuota, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "principal 'bob': rate limit 0.001 requests/s (burst 3) exceeded");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(limiter.Admit("ann", Role::kUser, "", kNoQuota, 0).ok());
  EXPECT_FALSE(limiter.Admit("ann", Role::kUser, "", kNoQuota, 0).ok());
}

TEST(LimitsConfigTest, UnlimitedOnlyWhenEveryEntryIs) {
  LimitsConfig c;
  EXPECT_TRUE(c.Unlimited());
  c.roles["user"] = Limit{};
  EXPECT_TRUE(c.Unlimited());
  c.principals["bob"].concurrency = 1;
  EXPECT_FALSE(c.Unlimited());
  c.principals["bob"] = Limit{};
  c.roles["user"].max_request_bytes = 1;
  EXPECT_FALSE(c.Unlimited());
}

TEST(LimiterTest, ConcurrencyCapHoldsUnderContention) {
  Limit l;
  l.concurrency = 3;
  Limiter limiter(Defaults(l));
  std::atomic<int> in_flight{0}, max_seen{0}, admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto ticket = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
        if (!ticket.ok()) continue;
        ++admitted;
        const int now = ++in_flight;
        int seen = max_seen.load();
        while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
        }
        --in_flight;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(max_seen.load(), 3);
  EXPECT_GT(admitted.load(), 0);
  // Every slot came back.
  std::vector<Limiter::Ticket> held;
  for (int i = 0; i < 3; ++i) {
    auto t = limiter.Admit("bob", Role::kUser, "", kNoQuota, 0);
    ASSERT_TRUE(t.ok());
    held.push_back(std::move(*t));
  }
  EXPECT_FALSE(limiter.Admit("bob", Role::kUser, "", kNoQuota, 0).ok());
}

}  // namespace
}  // namespace mlos::security
