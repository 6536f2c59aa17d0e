#include "service/model_stats.h"

#include <chrono>
#include <mutex>

namespace mlos::service {

ModelStatsTable::Entry& ModelStatsTable::Find(const std::string& model_id) {
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(model_id);
    if (it != entries_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = entries_[model_id];
  if (!slot) slot = std::make_unique<Entry>();
  return *slot;
}

void ModelStatsTable::RecordSuccess(const std::string& model_id, uint64_t total_ns,
                                    uint64_t queue_ns, uint64_t infer_ns) {
  Entry& e = Find(model_id);
  constexpr auto relaxed = std::memory_order_relaxed;
  e.ok.fetch_add(1, relaxed);
  e.ok_ns.fetch_add(total_ns, relaxed);
  e.queue_ns.fetch_add(queue_ns, relaxed);
  e.infer_ns.fetch_add(infer_ns, relaxed);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  e.last_ms.store(static_cast<uint64_t>(now.count()), relaxed);
}

void ModelStatsTable::RecordFailure(const std::string& model_id, uint64_t total_ns) {
  Entry& e = Find(model_id);
  e.fail.fetch_add(1, std::memory_order_relaxed);
  e.fail_ns.fetch_add(total_ns, std::memory_order_relaxed);
}

ModelStatistics ModelStatsTable::Get(const std::string& model_id) const {
  ModelStatistics s;
  const size_t at = model_id.find('@');
  s.name = model_id.substr(0, at);
  if (at != std::string::npos) s.version = model_id.substr(at + 1);
  std::shared_lock lock(mu_);
  auto it = entries_.find(model_id);
  if (it == entries_.end()) return s;
  const Entry& e = *it->second;
  constexpr auto relaxed = std::memory_order_relaxed;
  const uint64_t ok = e.ok.load(relaxed);
  s.last_inference_ms = e.last_ms.load(relaxed);
  s.inference_count = s.execution_count = ok;
  s.success = {ok, e.ok_ns.load(relaxed)};
  s.fail = {e.fail.load(relaxed), e.fail_ns.load(relaxed)};
  s.queue = {ok, e.queue_ns.load(relaxed)};
  s.compute_input = {ok, 0};
  s.compute_infer = {ok, e.infer_ns.load(relaxed)};
  s.compute_output = {ok, 0};
  return s;
}

}  // namespace mlos::service
