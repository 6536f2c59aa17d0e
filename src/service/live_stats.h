// Live request statistics over the last minute, for the web console (GET /stats/live): per
// model, requests, errors, requests/s and the p50/p99 latency of the requests that finished in
// the window, and a per-second series (requests, errors, p50, p99) for the console's charts.
//
// Each model has a ring of one-second buckets (kWindowSeconds of them, indexed by the Unix
// second); a bucket holds a count, an error count and a log-scale latency histogram (4 buckets
// per octave from 1 µs: an estimate within ~9%, clamped to the smallest and largest latency
// seen in the buckets it comes from). Recording is lock-free on the hot path (relaxed atomics);
// a model's mutex is taken only when a bucket is reused for a new second (once per second per
// model) and when a model is first seen.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mlos::service {

struct LiveModelStats {
  std::string model;
  uint64_t requests = 0;       // finished in the window (errors included)
  uint64_t errors = 0;         // failed in the window
  double requests_per_s = 0;   // requests / the window's length in seconds
  std::optional<double> p50_ms, p99_ms;  // none without a request in the window
  uint64_t requests_total = 0;  // since the process started
  uint64_t errors_total = 0;
};

// One second of the series, all (visible) models together.
struct LivePoint {
  int64_t unix_s = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::optional<double> p50_ms, p99_ms;
};

struct LiveSnapshot {
  int64_t now_unix_ms = 0;
  int window_s = 0;
  std::vector<LiveModelStats> models;  // by model id
  LiveModelStats total;                // every model in `models` together (model "")
  std::vector<LivePoint> series;       // window_s points, oldest first, the last one is `now`
  // Filled by the service (not by LiveStats): the resource manager's accounting.
  uint64_t memory_budget_bytes = 0;
  uint64_t memory_used_bytes = 0;
};

class LiveStats {
 public:
  static constexpr int kWindowSeconds = 60;
  static constexpr int kBucketsPerOctave = 4;
  static constexpr int kLatencyBuckets = 27 * kBucketsPerOctave + 1;  // 1 µs .. ~134 s, + over

  class Model;  // one model's ring (stable address for the process's lifetime)

  LiveStats();
  ~LiveStats();
  LiveStats(const LiveStats&) = delete;
  LiveStats& operator=(const LiveStats&) = delete;

  // The model's ring, created on first use. Never removed: callers may keep the pointer.
  Model& For(std::string_view model);
  // Records one finished request of `model` at `now_unix_ms`.
  static void Record(Model& model, bool ok, double seconds, int64_t now_unix_ms);
  void Record(std::string_view model, bool ok, double seconds, int64_t now_unix_ms) {
    Record(For(model), ok, seconds, now_unix_ms);
  }

  // The window ending at `now_unix_ms` (the current, partly elapsed, second included), over
  // the models `visible` accepts (every model when it is empty); models without any request
  // since start are left out.
  LiveSnapshot Snapshot(int64_t now_unix_ms,
                        const std::function<bool(const std::string&)>& visible = {}) const;

  static int64_t NowUnixMs();
  // The latency histogram's bucket for `seconds`, and a bucket's representative value (the
  // geometric middle of its bounds), in seconds. Exposed for tests.
  static int BucketOf(double seconds);
  static double BucketValue(int bucket);

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Model>> models_;
};

}  // namespace mlos::service
