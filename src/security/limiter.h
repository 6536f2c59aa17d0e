// Quotas and rate limits: token buckets (requests per second with a burst) and concurrency
// caps, per principal (from config: a default, per-role and per-principal overrides) and per
// model (the manifest's security.quotas, for every caller); and a cap on bytes per request.
//
// A refusal is kResourceExhausted whose message names the limit ("principal 'bob': rate limit
// 5 requests/s (burst 10) exceeded"); rate refusals carry retry_after_s() (whole seconds until
// a token is back, at least 1), concurrency refusals retry_after_s() = 1. Nothing is consumed
// by a refused request.
//
// Thread-safety: Admit and Ticket destruction may run on any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "security/policy.h"

namespace mlos::security {

// 0 in a field = unlimited.
struct Limit {
  double rate = 0;              // requests per second (token bucket refill)
  double burst = 0;             // bucket size; 0 with a rate = max(1, rate)
  int concurrency = 0;          // requests in flight
  uint64_t max_request_bytes = 0;  // input tensor bytes per request
  bool Unlimited() const { return rate <= 0 && concurrency <= 0 && max_request_bytes == 0; }
};

// security.limits: which Limit applies to a principal. The most specific entry wins as a whole
// (principal, else role, else default).
struct LimitsConfig {
  Limit defaults;
  std::map<std::string, Limit> roles;       // by RoleName
  std::map<std::string, Limit> principals;  // by principal name
  const Limit& For(const std::string& principal, Role role) const;
  bool Unlimited() const;  // every entry unlimited
};

// What a model allows everyone together (manifest security.quotas).
struct ModelQuota {
  double rate = 0;       // requests per second; burst = max(1, rate)
  int concurrency = 0;
  bool Unlimited() const { return rate <= 0 && concurrency <= 0; }
};

class Limiter {
 public:
  explicit Limiter(LimitsConfig config);
  ~Limiter();
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // Holds the concurrency slots of one admitted request; releases them when destroyed.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket();

   private:
    friend class Limiter;
    struct Slot;
    Slot* principal_ = nullptr;
    Slot* model_ = nullptr;
  };

  // Checks bytes, then concurrency, then rate, for the principal's limit and the model's quota;
  // consumes a token from each bucket and takes a slot from each cap only when all pass.
  // `model_id` "" skips the model quota.
  Result<Ticket> Admit(const std::string& principal, Role role, const std::string& model_id,
                       const ModelQuota& model_quota, uint64_t request_bytes);

  const LimitsConfig& config() const { return config_; }

 private:
  struct State;
  const LimitsConfig config_;
  std::unique_ptr<State> state_;
};

}  // namespace mlos::security
