#include "axon/inspect/estimate.h"

#include <filesystem>

#include <gtest/gtest.h>

namespace mlos::axon {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

TEST(EstimateTest, Onnx) {
  OnnxModelInfo info;
  info.file_size = 1000;
  info.initializer_bytes = 0;
  EXPECT_EQ(EstimateOnnxMemoryBytes(info), 1500 + 64 * kMiB);
  info.initializer_bytes = 4 * kGiB;  // external data: weights larger than the file
  EXPECT_EQ(EstimateOnnxMemoryBytes(info), 6 * kGiB + 64 * kMiB);
  info.initializer_bytes = UINT64_MAX;
  EXPECT_EQ(EstimateOnnxMemoryBytes(info), UINT64_MAX);
}

TEST(EstimateTest, OnnxFixture) {
  auto info = InspectOnnx(std::filesystem::path(MLOS_BINARY_DIR) / "fixtures" / "mlp.onnx");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  uint64_t est = EstimateOnnxMemoryBytes(*info);
  EXPECT_GT(est, 64 * kMiB);
  EXPECT_LT(est, 65 * kMiB);
  EXPECT_EQ(BytesToGiBRoundedUp(est), 0.07);
}

TEST(EstimateTest, GgufKvCache) {
  GgufInfo info;
  info.total_tensor_bytes = 4 * kGiB;
  info.block_count = 32;
  info.embedding_length = 4096;
  info.context_length = 32768;  // capped at 4096
  // No head counts: full width. 2 * 32 * 4096 * 4096 * 2 bytes = 2 GiB.
  EXPECT_EQ(EstimateGgufKvCacheBytes(info), 2 * kGiB);
  EXPECT_EQ(EstimateGgufMemoryBytes(info), 6 * kGiB + 256 * kMiB);
  // Grouped-query attention: 8 of 32 heads carry K/V.
  info.head_count = 32;
  info.head_count_kv = 8;
  EXPECT_EQ(EstimateGgufKvCacheBytes(info), kGiB / 2);
  // A short context is used as is; a missing one counts as 4096.
  info.context_length = 1024;
  EXPECT_EQ(EstimateGgufKvCacheBytes(info), kGiB / 8);
  info.context_length = 0;
  EXPECT_EQ(EstimateGgufKvCacheBytes(info), kGiB / 2);
  info.block_count = 0;
  EXPECT_EQ(EstimateGgufKvCacheBytes(info), 0u);
  info.block_count = UINT64_MAX;
  EXPECT_EQ(EstimateGgufMemoryBytes(info), UINT64_MAX);
}

TEST(EstimateTest, GgufFixture) {
  auto info = InspectGguf(std::filesystem::path(MLOS_BINARY_DIR) / "fixtures" / "tiny.gguf");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  // 2 * 2 blocks * 256 ctx * 64 width * 2 bytes.
  EXPECT_EQ(EstimateGgufKvCacheBytes(*info), 2u * 2 * 256 * 64 * 2);
  EXPECT_EQ(EstimateGgufMemoryBytes(*info), 4616u + 131072 + 256 * kMiB);
}

TEST(EstimateTest, OtherFiles) {
  EXPECT_EQ(EstimateFileMemoryBytes(0), 0u);
  EXPECT_EQ(EstimateFileMemoryBytes(1000), 1200u);
  EXPECT_EQ(EstimateFileMemoryBytes(10 * kGiB), 12 * kGiB);
  EXPECT_EQ(EstimateFileMemoryBytes(UINT64_MAX), UINT64_MAX);
}

TEST(EstimateTest, GiBRounding) {
  EXPECT_EQ(BytesToGiBRoundedUp(0), 0.0);
  EXPECT_EQ(BytesToGiBRoundedUp(1), 0.01);
  EXPECT_EQ(BytesToGiBRoundedUp(kGiB), 1.0);
  EXPECT_EQ(BytesToGiBRoundedUp(kGiB + 1), 1.01);
  EXPECT_EQ(BytesToGiBRoundedUp(kGiB + kGiB / 2), 1.5);
  EXPECT_EQ(BytesToGiBRoundedUp(kGiB + kGiB / 2 + 1), 1.51);
  EXPECT_EQ(BytesToGiBRoundedUp(7 * kGiB + 256 * kMiB), 7.25);
  EXPECT_GT(BytesToGiBRoundedUp(UINT64_MAX), 1.7e10);
}

}  // namespace
}  // namespace mlos::axon
