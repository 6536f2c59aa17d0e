// Limiter (see limiter.h): token buckets and in-flight counters per principal and per model,
// in maps under one mutex. Entries are never erased, so a Ticket's Slot pointers stay valid
// for the Limiter's lifetime (tickets must not outlive the Limiter). A Ticket releases its
// slots with an atomic decrement, without the mutex.
#include "security/limiter.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace mlos::security {

struct Limiter::Ticket::Slot {
  std::atomic<int> in_flight{0};
};

namespace {

using Clock = std::chrono::steady_clock;

// "5", "0.5", "0.001": the shortest form that reads back as `v`.
std::string FormatNumber(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// A token bucket; `tokens` starts full on first use.
struct Bucket {
  double tokens = 0;
  Clock::time_point last{};
  bool started = false;

  // Adds what `rate` refilled since the last call, up to `burst`.
  void Refill(double rate, double burst, Clock::time_point now) {
    if (!started) {
      tokens = burst;
      started = true;
    } else if (now > last) {
      tokens += std::chrono::duration<double>(now - last).count() * rate;
    }
    tokens = std::min(tokens, burst);
    last = now;
  }

  // Whole seconds (>= 1) until one token is back.
  uint32_t RetryAfter(double rate) const {
    const double wait = std::ceil((1.0 - tokens) / rate);
    if (!(wait < static_cast<double>(std::numeric_limits<uint32_t>::max()))) {
      return std::numeric_limits<uint32_t>::max();
    }
    return std::max<uint32_t>(1, static_cast<uint32_t>(wait));
  }
};

}  // namespace

// Per principal or per model: its bucket (guarded by State::mu) and in-flight counter.
struct Limiter::State {
  struct Entry {
    Bucket bucket;
    Ticket::Slot slot;
  };

  // Refuses when `entry` already has `cap` requests in flight (cap 0 = no cap). `scope` is
  // "principal" or "model", `name` the principal or model id (for the message).
  static Status CheckConcurrency(const Entry& entry, int cap, const char* scope,
                                 const std::string& name) {
    if (cap <= 0 || entry.slot.in_flight.load(std::memory_order_acquire) < cap) {
      return Status::Ok();
    }
    return ResourceExhausted(std::string(scope) + " '" + name + "': concurrency limit " +
                             std::to_string(cap) + " exceeded")
        .WithRetryAfter(1);
  }

  // Refills `entry`'s bucket (holding at most `capacity` tokens) and refuses when it holds
  // less than one token (rate 0 = no rate limit). `burst` is the configured burst, for the
  // message.
  static Status CheckRate(Entry& entry, double rate, double capacity, double burst,
                          const char* scope, const std::string& name, Clock::time_point now) {
    if (rate <= 0) return Status::Ok();
    entry.bucket.Refill(rate, capacity, now);
    if (entry.bucket.tokens >= 1.0) return Status::Ok();
    return ResourceExhausted(std::string(scope) + " '" + name + "': rate limit " +
                             FormatNumber(rate) + " requests/s (burst " + FormatNumber(burst) +
                             ") exceeded")
        .WithRetryAfter(entry.bucket.RetryAfter(rate));
  }

  std::mutex mu;
  std::unordered_map<std::string, Entry> principals;  // guarded by mu; never erased
  std::unordered_map<std::string, Entry> models;      // guarded by mu; never erased
};

const Limit& LimitsConfig::For(const std::string& principal, Role role) const {
  if (!principals.empty()) {
    auto it = principals.find(principal);
    if (it != principals.end()) return it->second;
  }
  if (!roles.empty()) {
    auto it = roles.find(RoleName(role));
    if (it != roles.end()) return it->second;
  }
  return defaults;
}

bool LimitsConfig::Unlimited() const {
  const auto unlimited = [](const auto& entry) { return entry.second.Unlimited(); };
  return defaults.Unlimited() && std::all_of(roles.begin(), roles.end(), unlimited) &&
         std::all_of(principals.begin(), principals.end(), unlimited);
}

Limiter::Limiter(LimitsConfig config)
    : config_(std::move(config)), state_(std::make_unique<State>()) {}
Limiter::~Limiter() = default;

Limiter::Ticket::Ticket(Ticket&& other) noexcept
    : principal_(std::exchange(other.principal_, nullptr)),
      model_(std::exchange(other.model_, nullptr)) {}

Limiter::Ticket& Limiter::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Ticket old(std::move(*this));  // releases this ticket's slots on return
    principal_ = std::exchange(other.principal_, nullptr);
    model_ = std::exchange(other.model_, nullptr);
  }
  return *this;
}

Limiter::Ticket::~Ticket() {
  if (principal_) principal_->in_flight.fetch_sub(1, std::memory_order_release);
  if (model_) model_->in_flight.fetch_sub(1, std::memory_order_release);
  principal_ = nullptr;
  model_ = nullptr;
}

Result<Limiter::Ticket> Limiter::Admit(const std::string& principal, Role role,
                                       const std::string& model_id, const ModelQuota& model_quota,
                                       uint64_t request_bytes) {
  const Limit& limit = config_.For(principal, role);
  const bool model_limited = !model_id.empty() && !model_quota.Unlimited();
  if (limit.Unlimited() && !model_limited) return Ticket();

  if (limit.max_request_bytes > 0 && request_bytes > limit.max_request_bytes) {
    return ResourceExhausted("principal '" + principal + "': request of " +
                             std::to_string(request_bytes) + " bytes exceeds the limit of " +
                             std::to_string(limit.max_request_bytes) + " bytes per request");
  }
  const bool principal_limited = limit.rate > 0 || limit.concurrency > 0;
  if (!principal_limited && !model_limited) return Ticket();

  // A configured burst below one would never admit anything: the bucket holds at least one.
  const double principal_burst = limit.burst > 0 ? limit.burst : std::max(1.0, limit.rate);
  const double principal_capacity = std::max(1.0, principal_burst);
  const double model_burst = std::max(1.0, model_quota.rate);
  const Clock::time_point now = Clock::now();

  std::lock_guard<std::mutex> lock(state_->mu);
  State::Entry* p = principal_limited ? &state_->principals.try_emplace(principal).first->second
                                      : nullptr;
  State::Entry* m = model_limited ? &state_->models.try_emplace(model_id).first->second : nullptr;
  if (p) {
    MLOS_RETURN_IF_ERROR(State::CheckConcurrency(*p, limit.concurrency, "principal", principal));
  }
  if (m) {
    MLOS_RETURN_IF_ERROR(State::CheckConcurrency(*m, model_quota.concurrency, "model", model_id));
  }
  if (p) {
    MLOS_RETURN_IF_ERROR(State::CheckRate(*p, limit.rate, principal_capacity, principal_burst,
                                          "principal", principal, now));
  }
  if (m) {
    MLOS_RETURN_IF_ERROR(State::CheckRate(*m, model_quota.rate, model_burst, model_burst, "model",
                                          model_id, now));
  }

  Ticket ticket;
  if (p) {
    if (limit.rate > 0) p->bucket.tokens -= 1.0;
    p->slot.in_flight.fetch_add(1, std::memory_order_relaxed);
    ticket.principal_ = &p->slot;
  }
  if (m) {
    if (model_quota.rate > 0) m->bucket.tokens -= 1.0;
    m->slot.in_flight.fetch_add(1, std::memory_order_relaxed);
    ticket.model_ = &m->slot;
  }
  return ticket;
}

}  // namespace mlos::security
