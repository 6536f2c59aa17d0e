#include "common/fs.h"
#include "common/sha256.h"

#include <gtest/gtest.h>

namespace mlos {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex("ABC"));
}

TEST(FsTest, SafeRelativePaths) {
  EXPECT_TRUE(IsSafeRelativePath("model.onnx"));
  EXPECT_TRUE(IsSafeRelativePath("a/b/c.bin"));
  EXPECT_FALSE(IsSafeRelativePath(""));
  EXPECT_FALSE(IsSafeRelativePath("/etc/passwd"));
  EXPECT_FALSE(IsSafeRelativePath("../x"));
  EXPECT_FALSE(IsSafeRelativePath("a/../../x"));
  EXPECT_FALSE(IsSafeRelativePath("a//b"));
  EXPECT_FALSE(IsSafeRelativePath("./a"));
}

TEST(FsTest, AtomicWriteAndHashFile) {
  auto dir = MakeTempDir(std::filesystem::temp_directory_path(), "mlos-fs-test-");
  ASSERT_TRUE(dir.ok());
  auto p = *dir / "f.txt";
  ASSERT_TRUE(WriteFileAtomic(p, "abc").ok());
  uint64_t size = 0;
  auto h = Sha256File(p, &size);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, Sha256Hex("abc"));
  EXPECT_EQ(size, 3u);
  EXPECT_EQ(*ReadFile(p), "abc");
  EXPECT_FALSE(Sha256File(*dir / "missing").ok());
  std::filesystem::remove_all(*dir);
}

TEST(FsTest, LockIsExclusive) {
  auto dir = MakeTempDir(std::filesystem::temp_directory_path(), "mlos-lock-test-");
  ASSERT_TRUE(dir.ok());
  auto a = FileLock::Acquire(*dir / "x.lock");
  ASSERT_TRUE(a.ok());
  auto b = FileLock::TryAcquire(*dir / "x.lock");
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  std::filesystem::remove_all(*dir);
}

}  // namespace
}  // namespace mlos
