// service::LiveStats (GET /stats/live, the web console): the one-minute window by model, its
// quantiles, the per-second series, ring reuse and expiry, concurrent recording.
#include "service/live_stats.h"

#include <cmath>
#include <numeric>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace mlos::service {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;  // a Unix time in ms, on a second boundary

const LiveModelStats* Find(const LiveSnapshot& s, const std::string& model) {
  for (const LiveModelStats& m : s.models) {
    if (m.model == model) return &m;
  }
  return nullptr;
}

TEST(LiveStatsTest, BucketsCoverTheRangeInOrder) {
  EXPECT_EQ(LiveStats::BucketOf(0), 0);
  EXPECT_EQ(LiveStats::BucketOf(-1), 0);
  EXPECT_EQ(LiveStats::BucketOf(NAN), 0);
  EXPECT_EQ(LiveStats::BucketOf(1e6), LiveStats::kLatencyBuckets - 1);  // clamped
  int last = 0;
  for (double s = 1e-6; s < 100; s *= 1.05) {
    const int b = LiveStats::BucketOf(s);
    EXPECT_GE(b, last) << s;
    last = b;
    // The bucket's value is within one bucket width (2^(1/4)) of what went in.
    const double v = LiveStats::BucketValue(b);
    EXPECT_LT(std::abs(std::log2(v / s)), 1.0 / LiveStats::kBucketsPerOctave) << s;
  }
}

TEST(LiveStatsTest, EmptySnapshotHasAFullSeries) {
  LiveStats live;
  const LiveSnapshot s = live.Snapshot(kT0 + 500);
  EXPECT_TRUE(s.models.empty());
  EXPECT_EQ(s.window_s, 60);
  ASSERT_EQ(s.series.size(), 60u);
  EXPECT_EQ(s.series.back().unix_s, kT0 / 1000);
  EXPECT_EQ(s.series.front().unix_s, kT0 / 1000 - 59);
  for (const LivePoint& p : s.series) {
    EXPECT_EQ(p.requests, 0u);
    EXPECT_FALSE(p.p50_ms.has_value());
  }
  EXPECT_EQ(s.total.requests, 0u);
  EXPECT_FALSE(s.total.p99_ms.has_value());
}

TEST(LiveStatsTest, CountsRatesAndQuantilesOverTheWindow) {
  LiveStats live;
  // 1..100 ms, spread over the last 50 seconds; every 10th fails.
  for (int i = 1; i <= 100; ++i) {
    live.Record("ns/a@1", i % 10 != 0, i / 1000.0, kT0 - (i % 50) * 1000 + 10);
  }
  const LiveSnapshot s = live.Snapshot(kT0 + 999);
  const LiveModelStats* a = Find(s, "ns/a@1");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->requests, 100u);
  EXPECT_EQ(a->errors, 10u);
  EXPECT_EQ(a->requests_total, 100u);
  EXPECT_EQ(a->errors_total, 10u);
  EXPECT_DOUBLE_EQ(a->requests_per_s, 100.0 / 60);
  ASSERT_TRUE(a->p50_ms && a->p99_ms);
  EXPECT_NEAR(*a->p50_ms, 50, 50 * 0.1);
  EXPECT_NEAR(*a->p99_ms, 99, 99 * 0.1);
  EXPECT_LE(*a->p99_ms, 100.0);  // clamped to the largest seen
  // The series adds up to the window, each request in its second.
  uint64_t sum = 0;
  for (const LivePoint& p : s.series) sum += p.requests;
  EXPECT_EQ(sum, 100u);
  EXPECT_EQ(s.series.back().requests, 2u);  // i = 50 and 100: this second
  EXPECT_EQ(s.series[59 - 49].requests, 2u);  // i = 49 and 99: 49 s ago
  EXPECT_EQ(s.total.requests, 100u);
  EXPECT_EQ(s.total.errors, 10u);
}

TEST(LiveStatsTest, OneRequestIsItsOwnQuantiles) {
  LiveStats live;
  live.Record("m", true, 0.0033, kT0);
  const LiveSnapshot s = live.Snapshot(kT0 + 100);
  ASSERT_EQ(s.models.size(), 1u);
  EXPECT_NEAR(*s.models[0].p50_ms, 3.3, 1e-9);
  EXPECT_NEAR(*s.models[0].p99_ms, 3.3, 1e-9);
  EXPECT_NEAR(*s.series.back().p99_ms, 3.3, 1e-9);
}

TEST(LiveStatsTest, RequestsLeaveTheWindowAfterAMinute) {
  LiveStats live;
  live.Record("m", false, 0.001, kT0 + 250);
  EXPECT_EQ(live.Snapshot(kT0 + 59'999).models.at(0).requests, 1u);
  const LiveSnapshot later = live.Snapshot(kT0 + 60'000);
  ASSERT_EQ(later.models.size(), 1u);  // still known: totals since start
  EXPECT_EQ(later.models[0].requests, 0u);
  EXPECT_EQ(later.models[0].errors, 0u);
  EXPECT_EQ(later.models[0].errors_total, 1u);
  EXPECT_FALSE(later.models[0].p50_ms.has_value());
}

TEST(LiveStatsTest, ABucketIsReusedForItsNextMinute) {
  LiveStats live;
  for (int i = 0; i < 5; ++i) live.Record("m", true, 0.010, kT0);
  // The same slot of the ring, a minute later: the old second is gone.
  live.Record("m", true, 0.020, kT0 + 60'000);
  const LiveSnapshot s = live.Snapshot(kT0 + 60'500);
  EXPECT_EQ(s.models.at(0).requests, 1u);
  EXPECT_NEAR(*s.models.at(0).p50_ms, 20, 1e-9);
  EXPECT_EQ(s.models.at(0).requests_total, 6u);
  // A late request for the old second no longer lands in the window.
  live.Record("m", true, 0.5, kT0 + 10);
  const LiveSnapshot again = live.Snapshot(kT0 + 60'500);
  EXPECT_EQ(again.models.at(0).requests, 1u);
  EXPECT_EQ(again.models.at(0).requests_total, 7u);
}

TEST(LiveStatsTest, VisibleFiltersModelsAndTheSeries) {
  LiveStats live;
  live.Record("team/a@1", true, 0.001, kT0);
  live.Record("other/b@1", true, 0.001, kT0);
  live.Record("other/b@1", true, 0.001, kT0);
  const LiveSnapshot s =
      live.Snapshot(kT0 + 1, [](const std::string& id) { return id.rfind("team/", 0) == 0; });
  ASSERT_EQ(s.models.size(), 1u);
  EXPECT_EQ(s.models[0].model, "team/a@1");
  EXPECT_EQ(s.series.back().requests, 1u);
  EXPECT_EQ(s.total.requests, 1u);
  EXPECT_EQ(live.Snapshot(kT0 + 1).series.back().requests, 3u);
}

TEST(LiveStatsTest, ModelsAreSortedById) {
  LiveStats live;
  for (const char* id : {"c@1", "a@1", "b@1"}) live.Record(id, true, 0.001, kT0);
  const LiveSnapshot s = live.Snapshot(kT0);
  ASSERT_EQ(s.models.size(), 3u);
  EXPECT_EQ(s.models[0].model, "a@1");
  EXPECT_EQ(s.models[2].model, "c@1");
}

TEST(LiveStatsTest, ConcurrentRecordingLosesNothing) {
  LiveStats live;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&live, t] {
      LiveStats::Model& m = live.For(t % 2 ? "odd" : "even");
      // Spread over 3 seconds so buckets are reset while others record.
      for (int i = 0; i < kEach; ++i) {
        LiveStats::Record(m, i % 100 != 0, 0.001 * (1 + i % 7), kT0 + (i * 3000LL) / kEach);
      }
    });
  }
  for (auto& t : threads) t.join();
  const LiveSnapshot s = live.Snapshot(kT0 + 2999);
  ASSERT_EQ(s.models.size(), 2u);
  for (const LiveModelStats& m : s.models) {
    EXPECT_EQ(m.requests, 2u * kEach) << m.model;
    EXPECT_EQ(m.errors, 2u * kEach / 100) << m.model;
    EXPECT_EQ(m.requests_total, 2u * kEach);
  }
  uint64_t sum = 0;
  for (const LivePoint& p : s.series) sum += p.requests;
  EXPECT_EQ(sum, uint64_t{kThreads} * kEach);
}

}  // namespace
}  // namespace mlos::service
