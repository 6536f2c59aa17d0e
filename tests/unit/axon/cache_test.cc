#include "axon/cache.h"

#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "common/sha256.h"

namespace fs = std::filesystem;

namespace mlos::axon {
namespace {

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "axon-cache-test-");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Publishes a version whose single file holds `content`.
  InstalledVersion AddVersion(Cache& c, const std::string& ns, const std::string& name,
                              const std::string& version, const std::string& content) {
    auto staging = c.MakeStaging(ns, name);
    EXPECT_TRUE(staging.ok());
    fs::path src = dir_ / "src.bin";
    std::ofstream(src, std::ios::binary) << content;
    EXPECT_TRUE(c.AdoptIntoBlob(src, Sha256Hex(content), *staging / "model.bin").ok());
    std::ofstream(*staging / "manifest.yaml") << "x: 1\n";
    InstalledVersion v{ns, name, version, {}, "", "", ""};
    EXPECT_TRUE(WriteInstallMetadata(*staging, v).ok());
    EXPECT_TRUE(c.Publish(*staging, c.VersionDir(ns, name, version)).ok());
    v.dir = c.VersionDir(ns, name, version);
    return v;
  }

  fs::path dir_;
};

TEST_F(CacheTest, LayoutMatchesTheOriginalAxon) {
  Cache c(dir_ / "cache");
  EXPECT_EQ(c.VersionDir("hf", "microsoft/resnet-50", "1.0.0"),
            dir_ / "cache/models/hf/microsoft/resnet-50/1.0.0");
}

TEST_F(CacheTest, FindListAndRefs) {
  Cache c(dir_ / "cache");
  AddVersion(c, "hf", "org/a", "main", "aaa");
  AddVersion(c, "hf", "org/a", "v2", "bbb");
  AddVersion(c, "team", "b", "1.0.0", "ccc");
  auto all = c.List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].Id(), "hf/org/a@main");
  EXPECT_EQ((*all)[2].Id(), "team/b@1.0.0");

  ModelRef latest{"hf", "org/a", "latest", false};
  EXPECT_FALSE(c.Find(latest).ok());
  ASSERT_TRUE(c.SetRef("hf", "org/a", "latest", "v2").ok());
  auto f = c.Find(latest);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->version, "v2");
  // Removing the version drops the refs pointing at it.
  ASSERT_TRUE(c.Remove(*f).ok());
  EXPECT_FALSE(c.Find(latest).ok());
  EXPECT_TRUE(c.Find({"hf", "org/a", "main", true}).ok());
}

TEST_F(CacheTest, IdenticalFilesShareOneBlobAndGcFreesUnreferencedOnes) {
  Cache c(dir_ / "cache");
  auto v1 = AddVersion(c, "hf", "org/a", "1", "same bytes");
  auto v2 = AddVersion(c, "hf", "org/a", "2", "same bytes");
  struct stat a {}, b {};
  ASSERT_EQ(::stat((v1.dir / "model.bin").c_str(), &a), 0);
  ASSERT_EQ(::stat((v2.dir / "model.bin").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);  // the blob + two versions

  ASSERT_TRUE(c.Remove(v1).ok());
  auto gc = c.CollectGarbage(0);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->blobs_removed, 0u);  // still used by v2
  ASSERT_TRUE(c.Remove(v2).ok());
  gc = c.CollectGarbage(0);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_FALSE(c.HasBlob(Sha256Hex("same bytes"), 10));
}

TEST_F(CacheTest, GcKeepsPartialsInUseAndRemovesStaleOnes) {
  Cache c(dir_ / "cache");
  fs::create_directories(c.root() / "partial");
  std::ofstream(c.PartialPath("busy")) << "xx";
  std::ofstream(c.PartialPath("stale")) << "yyyy";
  auto busy_lock = FileLock::Acquire(c.root() / "partial" / "busy.lock");
  ASSERT_TRUE(busy_lock.ok());
  auto gc = c.CollectGarbage(0);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->partials_removed, 1u);
  EXPECT_EQ(gc->partial_bytes_freed, 4u);
  EXPECT_TRUE(fs::exists(c.PartialPath("busy")));
  EXPECT_FALSE(fs::exists(c.PartialPath("stale")));
  // Young partials survive a gc with an age limit.
  std::ofstream(c.PartialPath("young")) << "z";
  gc = c.CollectGarbage(3600);
  ASSERT_TRUE(gc.ok());
  EXPECT_TRUE(fs::exists(c.PartialPath("young")));
}

TEST_F(CacheTest, PublishReplacesAVersionAtomicallyAndStagingIsCleaned) {
  Cache c(dir_ / "cache");
  AddVersion(c, "hf", "org/a", "main", "old");
  AddVersion(c, "hf", "org/a", "main", "new");  // update: exchange
  auto sha = Sha256File(c.VersionDir("hf", "org/a", "main") / "model.bin");
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, Sha256Hex("new"));
  // Published versions are readable by other users (a sandboxed worker runs as one).
  EXPECT_EQ(fs::status(c.VersionDir("hf", "org/a", "main")).permissions() & fs::perms::all,
            fs::perms(0755));
  // A staging dir left by a killed install is removed by CleanStaging (under the model lock).
  auto s = c.MakeStaging("hf", "org/a");
  ASSERT_TRUE(s.ok());
  std::ofstream(*s / "half.bin") << "x";
  EXPECT_EQ(c.CleanStaging("hf", "org/a"), 1u);
  EXPECT_FALSE(fs::exists(*s));
  auto all = c.List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

// The states a kill -9 leaves between an install's publish and its ref, or in an uninstall
// between removing the version and its refs (tests/torture): readers and the next writer see
// the version and its ref together or neither.
TEST_F(CacheTest, RefsAfterAKilledWriter) {
  Cache c(dir_ / "cache");
  AddVersion(c, "t", "m", "1.0.0", "one");
  ASSERT_TRUE(c.SetRef("t", "m", "latest", "1.0.0").ok());
  const fs::path refs = c.ModelDir("t", "m") / ".refs";
  ModelRef latest{"t", "m", "latest", false};
  // Killed after publishing 2.0.0, before its pending ref replaced latest: 2.0.0 is latest.
  AddVersion(c, "t", "m", "2.0.0", "two");
  std::ofstream(refs / ".pending-latest") << "2.0.0\n";
  auto found = c.Find(latest);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->version, "2.0.0");
  c.RecoverRefs("t", "m");
  EXPECT_FALSE(fs::exists(refs / ".pending-latest"));
  EXPECT_EQ(c.Find(latest)->version, "2.0.0");
  // Killed before publishing 3.0.0: its pending ref is ignored, then dropped.
  std::ofstream(refs / ".pending-latest") << "3.0.0\n";
  std::ofstream(refs / ".latest.tmpAbC123") << "3.0";  // a killed atomic write
  EXPECT_EQ(c.Find(latest)->version, "2.0.0");
  c.RecoverRefs("t", "m");
  EXPECT_FALSE(fs::exists(refs / ".pending-latest"));
  EXPECT_FALSE(fs::exists(refs / ".latest.tmpAbC123"));
  EXPECT_EQ(c.Find(latest)->version, "2.0.0");
  // Publish with a ref: version and ref together.
  auto staging = c.MakeStaging("t", "m");
  ASSERT_TRUE(staging.ok());
  std::ofstream(*staging / "manifest.yaml") << "x: 1\n";
  ASSERT_TRUE(WriteInstallMetadata(*staging, {"t", "m", "4.0.0", {}, "", "", ""}).ok());
  ASSERT_TRUE(c.Publish(*staging, c.VersionDir("t", "m", "4.0.0"), "latest").ok());
  EXPECT_EQ(c.Find(latest)->version, "4.0.0");
  EXPECT_FALSE(fs::exists(refs / ".pending-latest"));
  // An uninstall killed after the version went: the ref to it reads as none and is dropped.
  fs::remove_all(c.VersionDir("t", "m", "4.0.0"));
  EXPECT_FALSE(c.Find(latest).ok());
  c.RecoverRefs("t", "m");
  EXPECT_FALSE(fs::exists(refs / "latest"));
}

// A local install killed while copying a file into partial/ leaves its copy-* dir: gc takes
// it once it is older than the partial age (a running install's copy is younger).
TEST_F(CacheTest, GcRemovesCopiesAKilledInstallLeft) {
  Cache c(dir_ / "cache");
  const fs::path copy = dir_ / "cache/partial/copy-AbC123";
  fs::create_directories(copy);
  std::ofstream(copy / "f") << "0123456789";
  auto kept = c.CollectGarbage(3600);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(fs::exists(copy));
  auto r = c.CollectGarbage(0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->partials_removed, 1u);
  EXPECT_EQ(r->partial_bytes_freed, 10u);
  EXPECT_FALSE(fs::exists(copy));
}

}  // namespace
}  // namespace mlos::axon
