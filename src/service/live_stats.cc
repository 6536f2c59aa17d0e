#include "service/live_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace mlos::service {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

using Histogram = std::array<uint64_t, LiveStats::kLatencyBuckets>;

// Sums of some buckets: what a percentile is computed from.
struct Accumulator {
  uint64_t count = 0, errors = 0;
  uint64_t min_ns = std::numeric_limits<uint64_t>::max(), max_ns = 0;
  Histogram hist{};

  void Add(const Accumulator& o) {
    count += o.count;
    errors += o.errors;
    min_ns = std::min(min_ns, o.min_ns);
    max_ns = std::max(max_ns, o.max_ns);
    for (size_t i = 0; i < hist.size(); ++i) hist[i] += o.hist[i];
  }

  // The q-quantile in milliseconds (nearest rank), none when empty.
  std::optional<double> QuantileMs(double q) const {
    if (count == 0) return std::nullopt;
    const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count)));
    uint64_t seen = 0;
    int bucket = LiveStats::kLatencyBuckets - 1;
    for (int i = 0; i < LiveStats::kLatencyBuckets; ++i) {
      seen += hist[static_cast<size_t>(i)];
      if (seen >= rank) {
        bucket = i;
        break;
      }
    }
    double s = LiveStats::BucketValue(bucket);
    s = std::clamp(s, static_cast<double>(min_ns) / 1e9, static_cast<double>(max_ns) / 1e9);
    return s * 1e3;
  }
};

}  // namespace

class LiveStats::Model {
 public:
  struct Bucket {
    std::atomic<int64_t> second{std::numeric_limits<int64_t>::min()};
    std::atomic<uint32_t> count{0}, errors{0};
    std::atomic<uint64_t> min_ns{std::numeric_limits<uint64_t>::max()}, max_ns{0};
    std::array<std::atomic<uint32_t>, kLatencyBuckets> hist{};

    // The bucket's counts if it holds `second`.
    bool Read(int64_t want, Accumulator& out) const {
      if (second.load(std::memory_order_acquire) != want) return false;
      out.count = count.load(std::memory_order_relaxed);
      out.errors = errors.load(std::memory_order_relaxed);
      out.min_ns = min_ns.load(std::memory_order_relaxed);
      out.max_ns = max_ns.load(std::memory_order_relaxed);
      for (size_t i = 0; i < hist.size(); ++i) out.hist[i] = hist[i].load(std::memory_order_relaxed);
      return out.count > 0;
    }
  };

  explicit Model(std::string id) : id_(std::move(id)) {}

  void Record(bool ok, double seconds, int64_t now_unix_ms) {
    requests_total_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) errors_total_.fetch_add(1, std::memory_order_relaxed);
    const int64_t sec = FloorDiv(now_unix_ms, 1000);
    Bucket& b = ring_[static_cast<size_t>(sec - FloorDiv(sec, kWindowSeconds) * kWindowSeconds)];
    if (b.second.load(std::memory_order_acquire) != sec) {
      std::lock_guard lock(mu_);
      const int64_t held = b.second.load(std::memory_order_relaxed);
      // A request stamped before the second the bucket already holds (a late thread, a clock
      // step back) is counted in the totals only.
      if (held > sec) return;
      if (held < sec) {
        b.count.store(0, std::memory_order_relaxed);
        b.errors.store(0, std::memory_order_relaxed);
        b.min_ns.store(std::numeric_limits<uint64_t>::max(), std::memory_order_relaxed);
        b.max_ns.store(0, std::memory_order_relaxed);
        for (auto& h : b.hist) h.store(0, std::memory_order_relaxed);
        b.second.store(sec, std::memory_order_release);
      }
    }
    const uint64_t ns = seconds > 0 ? static_cast<uint64_t>(std::llround(seconds * 1e9)) : 0;
    b.hist[static_cast<size_t>(BucketOf(seconds))].fetch_add(1, std::memory_order_relaxed);
    if (!ok) b.errors.fetch_add(1, std::memory_order_relaxed);
    uint64_t cur = b.min_ns.load(std::memory_order_relaxed);
    while (ns < cur && !b.min_ns.compare_exchange_weak(cur, ns, std::memory_order_relaxed)) {
    }
    cur = b.max_ns.load(std::memory_order_relaxed);
    while (ns > cur && !b.max_ns.compare_exchange_weak(cur, ns, std::memory_order_relaxed)) {
    }
    // Last: a reader that sees the count sees a bucket it can use (the histogram may lag by a
    // request being recorded right now, which the quantile tolerates).
    b.count.fetch_add(1, std::memory_order_release);
  }

  const std::string& id() const { return id_; }
  const Bucket& bucket(int64_t sec) const {
    return ring_[static_cast<size_t>(sec - FloorDiv(sec, kWindowSeconds) * kWindowSeconds)];
  }
  uint64_t requests_total() const { return requests_total_.load(std::memory_order_relaxed); }
  uint64_t errors_total() const { return errors_total_.load(std::memory_order_relaxed); }

 private:
  const std::string id_;
  std::mutex mu_;
  std::array<Bucket, kWindowSeconds> ring_;
  std::atomic<uint64_t> requests_total_{0}, errors_total_{0};
};

LiveStats::LiveStats() = default;
LiveStats::~LiveStats() = default;

int64_t LiveStats::NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int LiveStats::BucketOf(double seconds) {
  const double us = seconds * 1e6;
  if (!(us >= 1.0)) return 0;  // also NaN
  const int b = 1 + static_cast<int>(std::floor(std::log2(us) * kBucketsPerOctave));
  return std::min(b, kLatencyBuckets - 1);
}

double LiveStats::BucketValue(int bucket) {
  if (bucket <= 0) return 0.5e-6;
  return std::exp2((bucket - 0.5) / kBucketsPerOctave) * 1e-6;
}

LiveStats::Model& LiveStats::For(std::string_view model) {
  const std::string key(model);
  {
    std::shared_lock lock(mu_);
    if (auto it = models_.find(key); it != models_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = models_[key];
  if (!slot) slot = std::make_unique<Model>(key);
  return *slot;
}

void LiveStats::Record(Model& model, bool ok, double seconds, int64_t now_unix_ms) {
  model.Record(ok, seconds, now_unix_ms);
}

LiveSnapshot LiveStats::Snapshot(int64_t now_unix_ms,
                                 const std::function<bool(const std::string&)>& visible) const {
  LiveSnapshot snap;
  snap.now_unix_ms = now_unix_ms;
  snap.window_s = kWindowSeconds;
  const int64_t now_s = FloorDiv(now_unix_ms, 1000);
  const int64_t first = now_s - kWindowSeconds + 1;
  std::vector<Accumulator> seconds(kWindowSeconds);
  std::vector<const Model*> models;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, m] : models_) {
      if (!visible || visible(id)) models.push_back(m.get());
    }
  }
  std::sort(models.begin(), models.end(),
            [](const Model* a, const Model* b) { return a->id() < b->id(); });
  Accumulator one, all;
  for (const Model* m : models) {
    LiveModelStats s;
    s.model = m->id();
    s.requests_total = m->requests_total();
    s.errors_total = m->errors_total();
    if (s.requests_total == 0) continue;
    Accumulator window;
    for (int64_t sec = first; sec <= now_s; ++sec) {
      if (!m->bucket(sec).Read(sec, one)) continue;
      window.Add(one);
      seconds[static_cast<size_t>(sec - first)].Add(one);
    }
    all.Add(window);
    snap.total.requests_total += s.requests_total;
    snap.total.errors_total += s.errors_total;
    s.requests = window.count;
    s.errors = window.errors;
    s.requests_per_s = static_cast<double>(window.count) / kWindowSeconds;
    s.p50_ms = window.QuantileMs(0.50);
    s.p99_ms = window.QuantileMs(0.99);
    snap.models.push_back(std::move(s));
  }
  snap.total.requests = all.count;
  snap.total.errors = all.errors;
  snap.total.requests_per_s = static_cast<double>(all.count) / kWindowSeconds;
  snap.total.p50_ms = all.QuantileMs(0.50);
  snap.total.p99_ms = all.QuantileMs(0.99);
  snap.series.reserve(kWindowSeconds);
  for (int i = 0; i < kWindowSeconds; ++i) {
    const Accumulator& a = seconds[static_cast<size_t>(i)];
    LivePoint p;
    p.unix_s = first + i;
    p.requests = a.count;
    p.errors = a.errors;
    p.p50_ms = a.QuantileMs(0.50);
    p.p99_ms = a.QuantileMs(0.99);
    snap.series.push_back(p);
  }
  return snap;
}

}  // namespace mlos::service
