// Memory estimates for a manifest's spec.requirements.compute.memory, from inspected models.
//
// Rough, conservative figures for admission and for `axon info`; not a measurement. Formulas:
//
//   ONNX:  max(initializer_bytes, file_size) * 1.5 + 64 MiB
//          (weights, plus ONNX Runtime's copies and arena, plus the runtime itself)
//   GGUF:  total_tensor_bytes + kv_cache + 256 MiB, where
//          kv_cache = 2 (K and V) * block_count * ctx * kv_width * 2 bytes (f16 cache),
//          ctx      = min(context_length, 4096) (4096 when context_length is absent),
//          kv_width = embedding_length * head_count_kv / head_count when both head counts are
//                     present (grouped-query attention), else embedding_length
//          (256 MiB: llama.cpp's compute buffers and the runtime)
//   other: file_size * 1.2
//
// All arithmetic saturates at UINT64_MAX instead of overflowing.
#pragma once

#include <cstdint>

#include "axon/inspect/gguf.h"
#include "axon/inspect/onnx_io.h"

namespace mlos::axon {

inline constexpr uint64_t kOnnxRuntimeOverheadBytes = 64ull << 20;
inline constexpr uint64_t kGgufRuntimeOverheadBytes = 256ull << 20;
inline constexpr uint64_t kGgufMaxEstimateContext = 4096;

uint64_t EstimateOnnxMemoryBytes(const OnnxModelInfo& info);
uint64_t EstimateGgufMemoryBytes(const GgufInfo& info);
uint64_t EstimateFileMemoryBytes(uint64_t file_size);

// The KV-cache part of EstimateGgufMemoryBytes (0 without block_count or embedding_length).
uint64_t EstimateGgufKvCacheBytes(const GgufInfo& info);

// Bytes as GiB (2^30), rounded up to 2 decimals: 1 byte -> 0.01, 1 GiB -> 1.00,
// 1.5 GiB + 1 byte -> 1.51, 0 -> 0.
double BytesToGiBRoundedUp(uint64_t bytes);

}  // namespace mlos::axon
