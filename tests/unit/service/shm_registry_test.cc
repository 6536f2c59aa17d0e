// ShmRegistry: bounds, sealing, refcounted mappings, system (shm_open) regions, owners.
#include "service/shm_registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace mlos::service {
namespace {

int SealedMemfd(size_t size, unsigned seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) {
  int fd = ::memfd_create("shm-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  if (seals) {
    EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, seals), 0);
  }
  return fd;
}

TEST(ShmRegistry, MemfdRegionResolvesAndIsShared) {
  ShmRegistry reg;
  int fd = SealedMemfd(8192);
  int mine = ::dup(fd);
  ASSERT_TRUE(reg.RegisterFd("r", fd, 4096, 64, "conn-1").ok());
  auto v = reg.Resolve("r", 8, 16);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->size, 16u);
  std::memcpy(v->data, "hello, region!!", 16);
  char buf[16];
  ASSERT_EQ(::pread(mine, buf, 16, 4096 + 8), 16);
  EXPECT_EQ(std::string(buf, 15), "hello, region!!");
  ::close(mine);
  auto list = reg.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, "memfd");
  EXPECT_EQ((*list)[0].owner, "conn-1");
  EXPECT_EQ((*list)[0].offset, 4096u);
  EXPECT_EQ((*list)[0].byte_size, 64u);
}

TEST(ShmRegistry, BoundsAreChecked) {
  ShmRegistry reg;
  ASSERT_TRUE(reg.RegisterFd("r", SealedMemfd(4096), 0, 32, "").ok());
  EXPECT_TRUE(reg.Resolve("r", 0, 32).ok());
  auto r = reg.Resolve("r", 8, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "shared memory region \"r\": offset 8 + size 64 exceeds its 32 bytes");
  EXPECT_FALSE(reg.Resolve("r", 33, 0).ok());
  EXPECT_FALSE(reg.Resolve("r", UINT64_MAX, 2).ok());
  EXPECT_FALSE(reg.Resolve("r", 2, UINT64_MAX).ok());
  EXPECT_EQ(reg.Resolve("nope", 0, 1).status().code(), StatusCode::kNotFound);
  // A region beyond the object's size is refused at registration.
  auto st = reg.RegisterFd("big", SealedMemfd(4096), 4000, 200, "");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  EXPECT_EQ(reg.RegisterFd("zero", SealedMemfd(4096), 0, 0, "").code(),
            StatusCode::kInvalidArgument);
}

TEST(ShmRegistry, UnsealedMemfdIsRefused) {
  ShmRegistry reg;
  auto st = reg.RegisterFd("r", SealedMemfd(4096, 0), 0, 64, "");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("F_SEAL_SHRINK"), std::string::npos) << st.message();
  // Growing-only seals are not enough.
  EXPECT_FALSE(reg.RegisterFd("r", SealedMemfd(4096, F_SEAL_GROW), 0, 64, "").ok());
  EXPECT_TRUE(reg.RegisterFd("r", SealedMemfd(4096, F_SEAL_SHRINK), 0, 64, "").ok());
}

TEST(ShmRegistry, DuplicateAndUnknownNames) {
  ShmRegistry reg;
  ASSERT_TRUE(reg.RegisterFd("r", SealedMemfd(4096), 0, 64, "").ok());
  EXPECT_EQ(reg.RegisterFd("r", SealedMemfd(4096), 0, 64, "").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(reg.Unregister("x").code(), StatusCode::kNotFound);
  EXPECT_EQ(reg.List("x").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(reg.Unregister("r").ok());
  EXPECT_EQ(reg.Resolve("r", 0, 1).status().code(), StatusCode::kNotFound);
}

TEST(ShmRegistry, UnregisterWhileInUseKeepsMemoryValid) {
  ShmRegistry reg;
  ASSERT_TRUE(reg.RegisterFd("r", SealedMemfd(4096), 0, 4096, "").ok());
  auto v = reg.Resolve("r", 0, 4096);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(reg.Unregister("r").ok());
  // Still mapped: writing and reading must not fault.
  std::memset(v->data, 0x5a, 4096);
  EXPECT_EQ(v->data[4095], 0x5a);
  ShmView moved = std::move(*v);
  EXPECT_EQ(moved.data[0], 0x5a);
}

TEST(ShmRegistry, UnregisterOwnedByDropsOnlyThatOwner) {
  ShmRegistry reg;
  ASSERT_TRUE(reg.RegisterFd("a", SealedMemfd(4096), 0, 64, "c1").ok());
  ASSERT_TRUE(reg.RegisterFd("b", SealedMemfd(4096), 0, 64, "c2").ok());
  reg.UnregisterOwnedBy("c1");
  auto list = reg.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "b");
}

TEST(ShmRegistry, SystemRegions) {
  const std::string key = "/mlos-shm-test-" + std::to_string(::getpid());
  int fd = ::shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  void* mine = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(mine, MAP_FAILED);
  ShmRegistry reg;
  ASSERT_TRUE(reg.RegisterSystem("sys", key, 100, 1000).ok());
  auto v = reg.Resolve("sys", 10, 4);
  ASSERT_TRUE(v.ok()) << v.status().message();
  std::memcpy(v->data, "abcd", 4);
  EXPECT_EQ(std::memcmp(static_cast<char*>(mine) + 110, "abcd", 4), 0);
  auto list = reg.List("sys");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)[0].key, key);
  EXPECT_EQ((*list)[0].owner, "");

  EXPECT_EQ(reg.RegisterSystem("missing", "/mlos-no-such-object", 0, 8).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(reg.RegisterSystem("bad", "a/b", 0, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.RegisterSystem("", key, 0, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.RegisterSystem("e", "", 0, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.RegisterSystem("z", key, 0, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.RegisterSystem("beyond", key, 8000, 1000).code(), StatusCode::kInvalidArgument);
  // Shrinking the object under a system region makes Resolve refuse instead of SIGBUS.
  ASSERT_EQ(::ftruncate(fd, 50), 0);
  EXPECT_EQ(reg.Resolve("sys", 0, 4).status().code(), StatusCode::kInvalidArgument);
  ::munmap(mine, 8192);
  ::close(fd);
  ::shm_unlink(key.c_str());
}

}  // namespace
}  // namespace mlos::service
