#include "mpf/package_verify.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/sha256.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

class PackageVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlos-verify-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "pkg";
    WriteFile(dir_ / "manifest.yaml", "not parsed here");
    WriteFile(dir_ / "model.onnx", "model-bytes");
    WriteFile(dir_ / "x.bin", "xxxx");
    WriteFile(dir_ / "sub/tok.json", "{}");
    for (const char* p : {"model.onnx", "x.bin", "sub/tok.json"}) {
      uint64_t size = 0;
      auto sha = Sha256File(dir_ / p, &size);
      ASSERT_TRUE(sha.ok());
      m_.format.files.push_back(FileEntry{p, size, *sha});
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_, dir_;
  Manifest m_;
};

TEST_F(PackageVerifyTest, GoodPackageVerifies) {
  std::vector<std::string> problems;
  Status s = VerifyPackageDir(dir_, m_, {.report_undeclared = true}, &problems);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(problems.empty());
}

TEST_F(PackageVerifyTest, NamesEveryBadFile) {
  WriteFile(dir_ / "model.onnx", "model-bytez");  // same size, other hash
  fs::remove(dir_ / "x.bin");
  WriteFile(dir_ / "sub/tok.json", "{\"a\":1}");
  std::vector<std::string> problems;
  Status s = VerifyPackageDir(dir_, m_, {}, &problems);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "model.onnx: sha256 mismatch (expected " + m_.format.files[0].sha256 +
                             ", got " + Sha256Hex("model-bytez") + ")");
  EXPECT_EQ(problems[1], "x.bin: missing");
  EXPECT_EQ(problems[2], "sub/tok.json: size mismatch (expected 2, got 7)");
  EXPECT_EQ(s.message(), problems[0] + "; " + problems[1] + "; " + problems[2]);
}

TEST_F(PackageVerifyTest, SymlinksMustStayInside) {
  WriteFile(root_ / "outside.bin", "xxxx");
  fs::remove(dir_ / "x.bin");
  fs::create_symlink("../outside.bin", dir_ / "x.bin");
  std::vector<std::string> problems;
  EXPECT_FALSE(VerifyPackageDir(dir_, m_, {}, &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "x.bin: resolves outside the package");

  fs::remove(dir_ / "x.bin");
  WriteFile(dir_ / "real/x.bin", "xxxx");
  fs::create_symlink("real/x.bin", dir_ / "x.bin");
  EXPECT_TRUE(VerifyPackageDir(dir_, m_).ok());

  fs::remove(dir_ / "x.bin");
  fs::create_symlink("real", dir_ / "x.bin");
  problems.clear();
  EXPECT_FALSE(VerifyPackageDir(dir_, m_, {}, &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "x.bin: not a regular file");
}

TEST_F(PackageVerifyTest, UnsafeDeclaredPath) {
  m_.format.files.push_back(FileEntry{"../outside.bin", 1, ""});
  std::vector<std::string> problems;
  EXPECT_FALSE(VerifyPackageDir(dir_, m_, {}, &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "../outside.bin: unsafe path");
}

TEST_F(PackageVerifyTest, LegacyEmptyHashChecksSizeOnly) {
  m_.format.files[1].sha256.clear();
  WriteFile(dir_ / "x.bin", "yyyy");
  EXPECT_TRUE(VerifyPackageDir(dir_, m_).ok());
}

TEST_F(PackageVerifyTest, ReportsUndeclaredOnlyWhenAsked) {
  WriteFile(dir_ / "extra.txt", "e");
  WriteFile(dir_ / ".axon/state", "ignored");
  WriteFile(dir_ / ".axon_metadata.json", "{}");
  WriteFile(dir_ / "manifest.sig", "sig");
  EXPECT_TRUE(VerifyPackageDir(dir_, m_).ok());
  std::vector<std::string> problems;
  Status s = VerifyPackageDir(dir_, m_, {.report_undeclared = true}, &problems);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(problems, std::vector<std::string>{"extra.txt: not declared in the manifest"});
}

TEST_F(PackageVerifyTest, ListPackageFilesRules) {
  WriteFile(dir_ / ".axon/state", "ignored");
  WriteFile(dir_ / "sub/.git/HEAD", "ignored");
  WriteFile(dir_ / ".gitattributes", "kept");
  WriteFile(dir_ / ".axon_metadata.json", "{}");
  WriteFile(dir_ / "sub/manifest.yaml", "kept: only the top-level one is skipped");
  fs::create_symlink("model.onnx", dir_ / "alias");
  auto files = ListPackageFiles(dir_);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(*files, (std::vector<std::string>{".gitattributes", "alias", "model.onnx",
                                              "sub/manifest.yaml", "sub/tok.json", "x.bin"}));
  EXPECT_EQ(ListPackageFiles(root_ / "nope").status().code(), StatusCode::kNotFound);
}

TEST_F(PackageVerifyTest, MissingDirectory) {
  Status s = VerifyPackageDir(root_ / "nope", m_);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlos::mpf
