// Message buffers: uninitialised growth, contents kept on request, the pool's reuse and its
// bound on idle memory.
#include "common/buffer.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mlos {
namespace {

TEST(Buffer, ResizeKeepsContentsWhenAsked) {
  Buffer b;
  b.Append("hello", 5);
  EXPECT_EQ(b.view(), "hello");
  b.Resize(3 << 20);  // past the pool threshold: a new mapping, the prefix copied
  EXPECT_EQ(b.size(), size_t{3} << 20);
  EXPECT_EQ(std::string(b.data(), 5), "hello");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  b.Resize(2);
  EXPECT_EQ(b.view(), "he");
  b.Clear();
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, AppendGrowsByDoubling) {
  Buffer b;
  std::string expect;
  for (int i = 0; i < 20000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    b.Append(piece);
    expect += piece;
  }
  EXPECT_EQ(b.view(), expect);
  EXPECT_GE(b.capacity(), b.size());
  EXPECT_LE(b.capacity(), 2 * b.size() + 64);
}

TEST(Buffer, ReserveKeepsTheSize) {
  Buffer b;
  b.Append("abc", 3);
  b.Reserve(5 << 20);
  EXPECT_EQ(b.view(), "abc");
  EXPECT_GE(b.capacity(), size_t{5} << 20);
}

TEST(Buffer, MoveTransfersOwnership) {
  Buffer a(4 << 20);
  std::memset(a.data(), 7, a.size());
  char* p = a.data();
  Buffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.size(), 0u);
  Buffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.data()[123], 7);
}

TEST(BufferPool, ReleasedLargeBufferIsReusedForTheNextOfSimilarSize) {
  char* first = nullptr;
  {
    Buffer b(8 << 20);
    first = b.data();
  }
  const BufferPoolStats before = GetBufferPoolStats();
  Buffer again(7 << 20);
  const BufferPoolStats after = GetBufferPoolStats();
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(after.reused, before.reused + 1);
  EXPECT_EQ(after.allocated, before.allocated);
}

TEST(BufferPool, NeverServesAFarLargerBuffer) {
  { Buffer big(64 << 20); }
  const BufferPoolStats before = GetBufferPoolStats();
  Buffer small(2 << 20);  // 64 MB is over four times 2 MB: a new mapping
  EXPECT_EQ(GetBufferPoolStats().allocated, before.allocated + 1);
  EXPECT_LT(small.capacity(), size_t{8} << 20);
}

TEST(BufferPool, IdleMemoryStaysUnderTheLimit) {
  {
    std::vector<Buffer> many;
    for (int i = 0; i < 6; ++i) many.emplace_back(size_t{96} << 20);  // 576 MB in use
  }
  const BufferPoolStats s = GetBufferPoolStats();
  EXPECT_LE(s.idle_bytes, kPoolRetainBytes);
  EXPECT_GT(s.idle_buffers, 0u);
}

TEST(Buffer, SmallBuffersDoNotUseThePool) {
  const BufferPoolStats before = GetBufferPoolStats();
  { Buffer b(1000); }
  const BufferPoolStats after = GetBufferPoolStats();
  EXPECT_EQ(after.idle_buffers, before.idle_buffers);
  EXPECT_EQ(after.allocated, before.allocated);
}

}  // namespace
}  // namespace mlos
