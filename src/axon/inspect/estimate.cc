#include "axon/inspect/estimate.h"

#include <algorithm>

namespace mlos::axon {
namespace {

uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
// a * num / den, exactly, saturating.
uint64_t Scale(uint64_t a, uint64_t num, uint64_t den) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * num / den;
  return r > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(r);
}

}  // namespace

uint64_t EstimateOnnxMemoryBytes(const OnnxModelInfo& info) {
  uint64_t weights = std::max(info.initializer_bytes, info.file_size);
  return SatAdd(Scale(weights, 3, 2), kOnnxRuntimeOverheadBytes);
}

uint64_t EstimateGgufKvCacheBytes(const GgufInfo& info) {
  if (info.block_count == 0 || info.embedding_length == 0) return 0;
  uint64_t ctx = info.context_length == 0 ? kGgufMaxEstimateContext
                                          : std::min(info.context_length, kGgufMaxEstimateContext);
  uint64_t width = info.embedding_length;
  if (info.head_count > 0 && info.head_count_kv > 0) {
    width = std::max<uint64_t>(Scale(width, info.head_count_kv, info.head_count), 1);
  }
  return SatMul(SatMul(SatMul(2 * 2, info.block_count), ctx), width);
}

uint64_t EstimateGgufMemoryBytes(const GgufInfo& info) {
  return SatAdd(SatAdd(info.total_tensor_bytes, EstimateGgufKvCacheBytes(info)),
                kGgufRuntimeOverheadBytes);
}

uint64_t EstimateFileMemoryBytes(uint64_t file_size) {
  return Scale(file_size, 6, 5);
}

double BytesToGiBRoundedUp(uint64_t bytes) {
  // Hundredths of a GiB, rounded up in integers (no floating-point rounding surprises).
  constexpr uint64_t kGiB = 1ull << 30;
  unsigned __int128 hundredths = (static_cast<unsigned __int128>(bytes) * 100 + kGiB - 1) / kGiB;
  return static_cast<double>(static_cast<uint64_t>(hundredths)) / 100.0;
}

}  // namespace mlos::axon
