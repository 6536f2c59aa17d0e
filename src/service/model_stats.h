// Per-model inference statistics for the KServe/Triton statistics extension
// (GET /v2/models[/NAME[/versions/V]]/stats, gRPC ModelStatistics): counts and cumulative
// nanoseconds of successful and failed requests, of their time queued and of their time in
// the model, per model version. Service::Infer records every request it finishes.
//
// Thread-safety: every method may be called concurrently; recording is a shared lock and a
// few relaxed atomic additions (an exclusive lock only the first time a model is seen).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace mlos::service {

struct StatDuration {
  uint64_t count = 0;
  uint64_t ns = 0;
};

// One model version's statistics, in the extension's terms. mlosd measures a request's
// decoding and encoding as part of `success` only: compute_input and compute_output count the
// successful requests with 0 ns, and compute_infer is the time inside the model (the plugin
// call). Each request counts as one execution (execution_count == inference_count).
struct ModelStatistics {
  std::string name;     // "ns/name"
  std::string version;  // "1.0.0"
  uint64_t last_inference_ms = 0;  // wall clock (ms since the epoch) of the last success; 0: none
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  StatDuration success, fail, queue, compute_input, compute_infer, compute_output;
};

class ModelStatsTable {
 public:
  // `model_id` is a resolved "ns/name@version". `total_ns`: from receipt to the answer.
  void RecordSuccess(const std::string& model_id, uint64_t total_ns, uint64_t queue_ns,
                     uint64_t infer_ns);
  void RecordFailure(const std::string& model_id, uint64_t total_ns);
  // The statistics of `model_id` (all zero when it has seen no request); name and version are
  // split from the id.
  ModelStatistics Get(const std::string& model_id) const;

 private:
  struct Entry {
    std::atomic<uint64_t> last_ms{0};
    std::atomic<uint64_t> ok{0}, ok_ns{0}, fail{0}, fail_ns{0}, queue_ns{0}, infer_ns{0};
  };
  Entry& Find(const std::string& model_id);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace mlos::service
