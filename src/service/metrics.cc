#include "service/metrics.h"

#include <atomic>
#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace mlos::service {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,   10.0};
  return kBuckets;
}

const prometheus::Histogram::BucketBoundaries& LoadBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0};
  return kBuckets;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1, 2, 4, 8, 16, 32, 64, 128};
  return kBuckets;
}

constexpr core::ModelState kAllStates[] = {
    core::ModelState::kRegistered, core::ModelState::kLoading,   core::ModelState::kReady,
    core::ModelState::kUnloading,  core::ModelState::kUnloaded,  core::ModelState::kFailed};

}  // namespace

namespace {
std::atomic<uint64_t> next_instance{1};
}  // namespace

Metrics::Metrics() : instance_(next_instance.fetch_add(1)), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("mlos_requests_total")
                   .Help("Inference requests answered, by model, protocol and status code")
                   .Register(*registry_);
  errors_ = &prometheus::BuildCounter()
                 .Name("mlos_request_errors_total")
                 .Help("Inference requests that failed, by model and protocol")
                 .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("mlos_request_duration_seconds")
                   .Help("Inference request time in the front-end, by model and protocol")
                   .Register(*registry_);
  queue_ = &prometheus::BuildHistogram()
                .Name("mlos_queue_duration_seconds")
                .Help("Time inference requests waited before running, by model")
                .Register(*registry_);
  load_ = &prometheus::BuildHistogram()
               .Name("mlos_model_load_duration_seconds")
               .Help("Model load time, by model")
               .Register(*registry_);
  batch_ = &prometheus::BuildHistogram()
                .Name("mlos_batch_requests")
                .Help("Requests merged into each plugin call by dynamic batching, by model")
                .Register(*registry_);
  state_ = &prometheus::BuildGauge()
                .Name("mlos_model_state")
                .Help("1 for the model's current lifecycle state")
                .Register(*registry_);
  memory_ = &prometheus::BuildGauge()
                 .Name("mlos_model_memory_bytes")
                 .Help("Memory a loaded model uses, in bytes")
                 .Register(*registry_);
  load_kind_ = &prometheus::BuildHistogram()
                    .Name("mlos_model_load_seconds")
                    .Help("Model load time by kind: cold (first load in this process) or warm (a reload)")
                    .Register(*registry_);
  evictions_ = &prometheus::BuildCounter()
                    .Name("mlos_evictions_total")
                    .Help("Models the server unloaded by itself (memory budget or keep_alive), by model")
                    .Register(*registry_);
  rejected_ = &prometheus::BuildCounter()
                   .Name("mlos_rejected_total")
                   .Help("Requests refused by the resource manager: deadline (cannot be met) or memory (cannot be loaded)")
                   .Register(*registry_);
  worker_restarts_ = &prometheus::BuildCounter()
                          .Name("mlos_worker_restarts_total")
                          .Help("Sandboxed model workers restarted after dying, by model and reason: signal, oom, exit or hang (killed by the watchdog)")
                          .Register(*registry_);
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("mlos_queue_depth")
                      .Help("Calls waiting for a CPU slot in the scheduler, by model and priority")
                      .Register(*registry_);
  generations_active_ = &prometheus::BuildGauge()
                             .Name("mlos_generations_active")
                             .Help("Text generations in progress, by model")
                             .Register(*registry_);
  prompt_tokens_ = &prometheus::BuildCounter()
                        .Name("mlos_prompt_tokens_total")
                        .Help("Prompt tokens of finished generations, by model")
                        .Register(*registry_);
  generated_tokens_ = &prometheus::BuildCounter()
                           .Name("mlos_generated_tokens_total")
                           .Help("Tokens generated, by model")
                           .Register(*registry_);
  first_token_ = &prometheus::BuildHistogram()
                      .Name("mlos_time_to_first_token_seconds")
                      .Help("From a generation request's arrival to its first token, by model")
                      .Register(*registry_);
  auto& memory_totals = prometheus::BuildGauge()
                            .Name("mlos_memory_budget_bytes")
                            .Help("The memory budget of the process (0 = none)")
                            .Register(*registry_);
  budget_ = &memory_totals.Add({});
  used_ = &prometheus::BuildGauge()
               .Name("mlos_memory_used_bytes")
               .Help("Memory in use by the accounting: the process base plus loaded models (shared weights once)")
               .Register(*registry_)
               .Add({});
  denials_ = &prometheus::BuildCounter()
                  .Name("mlos_security_denials_total")
                  .Help("Calls refused by authentication, authorization or quotas")
                  .Register(*registry_);
  connections_open_ = &prometheus::BuildGauge()
                           .Name("mlos_connections_open")
                           .Help("Open client connections by front-end")
                           .Register(*registry_);
  connections_dropped_ = &prometheus::BuildCounter()
                              .Name("mlos_connections_dropped_total")
                              .Help("Connections refused over the connection limit or closed "
                                    "because a request head or frame stalled")
                              .Register(*registry_);
}

void Metrics::RecordConnection(const char* protocol, const char* event) {
  const std::string_view e = event;
  if (e == "opened") {
    connections_open_->Add({{"protocol", protocol}}).Increment();
  } else if (e == "closed") {
    connections_open_->Add({{"protocol", protocol}}).Decrement();
  } else {
    connections_dropped_->Add({{"protocol", protocol}, {"reason", event}}).Increment();
  }
}

void Metrics::GenerationStarted(const std::string& model) {
  generations_active_->Add({{"model", model}}).Increment();
}

void Metrics::GenerationEnded(const std::string& model) {
  generations_active_->Add({{"model", model}}).Decrement();
}

void Metrics::RecordGeneration(const std::string& model, uint64_t prompt_tokens,
                               uint64_t completion_tokens, double first_token_seconds) {
  prompt_tokens_->Add({{"model", model}}).Increment(static_cast<double>(prompt_tokens));
  generated_tokens_->Add({{"model", model}}).Increment(static_cast<double>(completion_tokens));
  if (first_token_seconds > 0) {
    first_token_->Add({{"model", model}}, LatencyBuckets()).Observe(first_token_seconds);
  }
}

void Metrics::RecordDenial(const char* protocol, const char* action, StatusCode code) {
  const char* reason = code == StatusCode::kUnauthenticated    ? "unauthenticated"
                       : code == StatusCode::kPermissionDenied ? "permission_denied"
                                                               : "rate_limited";
  denials_->Add({{"protocol", protocol}, {"action", action}, {"reason", reason}}).Increment();
}

Metrics::~Metrics() = default;

Metrics::RequestSeries& Metrics::Series(std::string_view model, const char* protocol) {
  // Every request asks for its series: a thread's last answer is almost always the next one
  // (series are never removed, so the pointer stays valid for the Metrics' lifetime).
  struct Last {
    uint64_t owner = 0;  // Metrics::instance_ (an address could be reused by a later Metrics)
    const char* protocol = nullptr;
    std::string model;
    RequestSeries* series = nullptr;
  };
  thread_local Last last;
  if (last.owner == instance_ && last.protocol == protocol && last.model == model) {
    return *last.series;
  }
  RequestSeries& found = LookupSeries(model, protocol);
  last = {instance_, protocol, std::string(model), &found};
  return found;
}

Metrics::RequestSeries& Metrics::LookupSeries(std::string_view model, const char* protocol) {
  std::string key;
  key.reserve(model.size() + 16);
  key.append(model);
  key.push_back('\n');
  key.append(protocol);
  {
    std::shared_lock lock(mu_);
    auto it = series_.find(key);
    if (it != series_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  const prometheus::Labels labels = {{"model", std::string(model)}, {"protocol", protocol}};
  prometheus::Labels ok = labels;
  ok.emplace("code", StatusCodeName(StatusCode::kOk));
  RequestSeries s{&requests_->Add(ok), &errors_->Add(labels),
                  &duration_->Add(labels, LatencyBuckets()), &live_.For(model)};
  return series_.emplace(std::move(key), s).first->second;
}

prometheus::Counter& Metrics::FailedRequests(std::string_view model, const char* protocol,
                                             StatusCode code) {
  // Failures are rare: the family's own lookup (under its lock) is enough.
  return requests_->Add({{"model", std::string(model)},
                         {"protocol", protocol},
                         {"code", StatusCodeName(code)}});
}

void Metrics::RecordRequest(std::string_view model, const char* protocol, StatusCode code,
                            double seconds) {
  RequestSeries& s = Series(model, protocol);
  if (code == StatusCode::kOk) {
    s.requests_ok->Increment();
  } else {
    FailedRequests(model, protocol, code).Increment();
    s.errors->Increment();
  }
  s.duration->Observe(seconds);
  LiveStats::Record(*s.live, code == StatusCode::kOk, seconds, LiveStats::NowUnixMs());
}

void Metrics::OnInfer(const std::string& model_id, const char* /*protocol*/, bool /*ok*/,
                      uint64_t queue_us, uint64_t /*infer_us*/) {
  queue_->Add({{"model", model_id}}, LatencyBuckets()).Observe(static_cast<double>(queue_us) / 1e6);
}

void Metrics::OnLoad(const std::string& model_id, bool /*ok*/, double load_ms) {
  load_->Add({{"model", model_id}}, LoadBuckets()).Observe(load_ms / 1e3);
}

void Metrics::OnBatch(const std::string& model_id, size_t requests, int64_t /*rows*/) {
  batch_->Add({{"model", model_id}}, BatchBuckets()).Observe(static_cast<double>(requests));
}

void Metrics::OnStateChange(const std::string& model_id, core::ModelState state) {
  SetState(model_id, state);
}

void Metrics::SetState(const std::string& model_id, core::ModelState state) {
  std::lock_guard lock(state_mu_);
  auto it = states_.find(model_id);
  if (it != states_.end() && it->second == state) return;
  for (core::ModelState s : kAllStates) {
    state_->Add({{"model", model_id}, {"state", core::ModelStateName(s)}})
        .Set(s == state ? 1.0 : 0.0);
  }
  states_[model_id] = state;
}

void Metrics::OnLoadKind(const std::string& /*model_id*/, bool warm, double load_ms) {
  load_kind_->Add({{"kind", warm ? "warm" : "cold"}}, LoadBuckets()).Observe(load_ms / 1000.0);
}

void Metrics::OnEvict(const std::string& model_id, const char* /*reason*/) {
  evictions_->Add({{"model", model_id}}).Increment();
}

void Metrics::OnReject(const std::string& /*model_id*/, const char* reason) {
  rejected_->Add({{"reason", reason}}).Increment();
}

void Metrics::OnWorkerRestart(const std::string& model_id, const char* reason) {
  worker_restarts_->Add({{"model", model_id}, {"reason", reason}}).Increment();
}

std::string Metrics::Render(const std::vector<core::ModelStatus>& models,
                            const core::CoreStats* stats) {
  for (const core::ModelStatus& m : models) {
    SetState(m.id, m.state);
    memory_->Add({{"model", m.id}}).Set(static_cast<double>(m.memory_bytes));
  }
  if (stats) {
    budget_->Set(static_cast<double>(stats->memory_budget_bytes));
    used_->Set(static_cast<double>(stats->memory_used_bytes));
    // Queues: every series seen so far is set (to 0 when empty now), so a drained queue reads 0.
    std::lock_guard lock(state_mu_);
    for (auto& [key, gauge] : depth_series_) gauge->Set(0);
    for (const core::QueueDepth& q : stats->queues) {
      const std::string key = q.model + '\n' + std::to_string(q.priority);
      auto it = depth_series_.find(key);
      if (it == depth_series_.end()) {
        it = depth_series_
                 .emplace(key, &queue_depth_->Add(
                                   {{"model", q.model}, {"priority", std::to_string(q.priority)}}))
                 .first;
      }
      it->second->Set(static_cast<double>(q.depth));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return std::move(out).str();
}

}  // namespace mlos::service
