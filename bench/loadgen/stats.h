// Latency samples (microseconds, exact) and their summary for mlos-bench's JSON line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlos::bench {

struct LatencySummary {
  uint64_t count = 0;
  uint32_t p50 = 0, p90 = 0, p99 = 0, max = 0;
  double mean = 0;
};

// Nearest-rank percentiles of `samples_us` (sorted in place).
LatencySummary Summarise(std::vector<uint32_t>& samples_us);

// {"p50":..,"p90":..,"p99":..,"max":..,"mean":..}
std::string LatencyJson(const LatencySummary& s);

}  // namespace mlos::bench
