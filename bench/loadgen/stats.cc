#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mlos::bench {

LatencySummary Summarise(std::vector<uint32_t>& v) {
  LatencySummary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {  // the smallest sample with at least q of them at or below it
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.max = v.back();
  double sum = 0;
  for (uint32_t x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

std::string LatencyJson(const LatencySummary& s) {
  char b[160];
  std::snprintf(b, sizeof b, "{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u,\"mean\":%.1f}", s.p50,
                s.p90, s.p99, s.max, s.mean);
  return b;
}

}  // namespace mlos::bench
