// Prometheus metrics for GET /metrics (text format from prometheus-cpp's Registry and
// TextSerializer; no separate exposer port), fed by the service for every protocol, and the
// core::CoreObserver that feeds the model-side metrics.
//
//   mlos_requests_total{model,protocol,code}       counter, inference requests by status code
//                                                  ("OK", "INVALID_ARGUMENT", ...)
//   mlos_request_errors_total{model,protocol}      counter, failed inference requests
//   mlos_request_duration_seconds{model,protocol}  histogram, time per request from when the
//                                                  front-end had it to the answer
//   mlos_queue_duration_seconds{model}             histogram, from the core
//   mlos_model_load_duration_seconds{model}        histogram, from the core
//   mlos_batch_requests{model}                     histogram, requests per batched plugin call
//   mlos_model_state{model,state}                  gauge, 1 for the current state
//   mlos_model_memory_bytes{model}                 gauge, refreshed at scrape time
//   mlos_model_load_seconds{kind}                  histogram, load time: "cold" (first load in this
//                                                  process) or "warm" (a reload)
//   mlos_evictions_total{model}                    counter, unloads by the server (memory, keep_alive)
//   mlos_worker_restarts_total{model,reason}       counter, sandboxed workers restarted after
//                                                  dying: reason "signal", "oom", "exit", "hang"
//   mlos_rejected_total{reason}                    counter, refused by the resource manager:
//                                                  "deadline" or "memory"
//   mlos_queue_depth{model,priority}               gauge, calls waiting for a CPU slot
//   mlos_memory_budget_bytes, mlos_memory_used_bytes  gauges, the budget and the accounting
//   mlos_generations_active{model}                 gauge, generations in progress (an aborted
//                                                  stream leaves it within one token)
//   mlos_prompt_tokens_total{model}, mlos_generated_tokens_total{model}  counters, LLM usage
//   mlos_time_to_first_token_seconds{model}        histogram, request received -> first token
//   mlos_security_denials_total{protocol,action,reason}  counter, calls refused by security:
//                                                  reason "unauthenticated", "permission_denied",
//                                                  "rate_limited" (quota or rate limit)
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"
#include "core/core.h"
#include "service/live_stats.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace mlos::service {

class Metrics : public core::CoreObserver {
 public:
  Metrics();
  ~Metrics() override;

  // One finished inference request. `model` is the resolved id ("unknown" when the model could
  // not be resolved: keeps label cardinality bounded); `protocol` "http", "grpc" or "ipc".
  void RecordRequest(std::string_view model, const char* protocol, StatusCode code,
                     double seconds);

  // The last minute of requests by model (GET /stats/live, the web console), fed by
  // RecordRequest.
  const LiveStats& live() const { return live_; }

  // Generations: one started / ended (the active gauge), and the usage of one that ran.
  // `model` is a resolved id.
  void GenerationStarted(const std::string& model);
  void GenerationEnded(const std::string& model);
  void RecordGeneration(const std::string& model, uint64_t prompt_tokens,
                        uint64_t completion_tokens, double first_token_seconds);

  // One call refused by security (Service::Deny).
  void RecordDenial(const char* protocol, const char* action, StatusCode code);

  // Connections of a front-end (`protocol` "http" or "ipc"): `event` is "opened", "closed",
  // "refused" (over the connection limit) or "timed_out" (a request head or frame stalled).
  void RecordConnection(const char* protocol, const char* event);

  // Refreshes per-model gauges from `models` (and the memory and queue gauges from `stats`)
  // and renders the text exposition format.
  std::string Render(const std::vector<core::ModelStatus>& models,
                     const core::CoreStats* stats = nullptr);

  // core::CoreObserver
  void OnInfer(const std::string& model_id, const char* protocol, bool ok, uint64_t queue_us,
               uint64_t infer_us) override;
  void OnLoad(const std::string& model_id, bool ok, double load_ms) override;
  void OnBatch(const std::string& model_id, size_t requests, int64_t rows) override;
  void OnStateChange(const std::string& model_id, core::ModelState state) override;
  void OnLoadKind(const std::string& model_id, bool warm, double load_ms) override;
  void OnEvict(const std::string& model_id, const char* reason) override;
  void OnReject(const std::string& model_id, const char* reason) override;
  void OnWorkerRestart(const std::string& model_id, const char* reason) override;

 private:
  struct RequestSeries {
    prometheus::Counter* requests_ok;  // code="OK"
    prometheus::Counter* errors;
    prometheus::Histogram* duration;
    LiveStats::Model* live;  // the model's ring in live_
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  RequestSeries& Series(std::string_view model, const char* protocol);
  RequestSeries& LookupSeries(std::string_view model, const char* protocol);
  prometheus::Counter& FailedRequests(std::string_view model, const char* protocol,
                                      StatusCode code);
  void SetState(const std::string& model_id, core::ModelState state);

  const uint64_t instance_;  // unique per Metrics object in the process
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Histogram>* queue_;
  prometheus::Family<prometheus::Histogram>* load_;
  prometheus::Family<prometheus::Histogram>* batch_;
  prometheus::Family<prometheus::Gauge>* state_;
  prometheus::Family<prometheus::Gauge>* memory_;
  prometheus::Family<prometheus::Counter>* denials_;
  prometheus::Family<prometheus::Gauge>* connections_open_;
  prometheus::Family<prometheus::Counter>* connections_dropped_;
  prometheus::Family<prometheus::Histogram>* load_kind_;
  prometheus::Family<prometheus::Counter>* evictions_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* worker_restarts_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Gauge>* generations_active_;
  prometheus::Family<prometheus::Counter>* prompt_tokens_;
  prometheus::Family<prometheus::Counter>* generated_tokens_;
  prometheus::Family<prometheus::Histogram>* first_token_;
  prometheus::Gauge* budget_;
  prometheus::Gauge* used_;
  std::unordered_map<std::string, prometheus::Gauge*> depth_series_;  // guarded by state_mu_

  std::shared_mutex mu_;
  // key: model + '\n' + protocol
  std::unordered_map<std::string, RequestSeries, StringHash, std::equal_to<>> series_;
  std::mutex state_mu_;
  std::unordered_map<std::string, core::ModelState> states_;  // last state set per model
  LiveStats live_;
};

}  // namespace mlos::service
