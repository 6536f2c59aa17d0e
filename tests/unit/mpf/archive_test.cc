// Pack/Unpack of .axon archives, and every trick a hostile archive can play. Hostile archives are
// built here with libarchive's writer, so each one is exactly the bytes under test.
#include "mpf/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/package_verify.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

void WriteFile(const fs::path& p, const std::string& data, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
  ::chmod(p.c_str(), mode);
}

std::string Slurp(const fs::path& p) {
  auto r = ReadFile(p);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
  return out;
}

struct Decl {
  std::string path;
  uint64_t size;
  std::string sha256;
};
Decl DeclFor(const std::string& path, const std::string& content) {
  return {path, content.size(), Sha256Hex(content)};
}

std::string ManifestYaml(const std::vector<Decl>& files) {
  std::string y =
      "apiVersion: axon.mlos.io/v1\n"
      "kind: Model\n"
      "metadata:\n"
      "  name: test-model\n"
      "  namespace: local\n"
      "  version: 1.0.0\n"
      "spec:\n"
      "  framework:\n"
      "    name: onnx\n"
      "  format:\n"
      "    type: onnx\n"
      "    execution_format: onnx\n";
  if (files.empty()) return y + "    files: []\n";
  y += "    files:\n";
  for (const Decl& d : files) {
    y += "      - path: \"" + d.path + "\"\n        size: " + std::to_string(d.size) +
         "\n        sha256: \"" + d.sha256 + "\"\n";
  }
  return y;
}

enum class Type { kFile, kDir, kSymlink, kHardlink, kChar, kFifo };
struct TarEntry {
  std::string path;
  Type type = Type::kFile;
  std::string data;       // kFile
  std::string link;       // kSymlink, kHardlink
  uint64_t zeros = 0;     // kFile: this many zero bytes instead of data
  mode_t perm = 0644;
};
TarEntry File(std::string p, std::string d) {
  return {std::move(p), Type::kFile, std::move(d), "", 0, 0644};
}
TarEntry Zeros(std::string p, uint64_t n) { return {std::move(p), Type::kFile, "", "", n, 0644}; }
TarEntry Special(std::string p, Type t) { return {std::move(p), t, "", "", 0, 0644}; }
TarEntry Dir(std::string p) { return Special(std::move(p), Type::kDir); }
TarEntry Symlink(std::string p, std::string t) {
  return {std::move(p), Type::kSymlink, "", std::move(t), 0, 0644};
}
TarEntry Hardlink(std::string p, std::string t) {
  return {std::move(p), Type::kHardlink, "", std::move(t), 0, 0644};
}

enum class Comp { kZstd, kGzip, kNone };

void WriteTar(const fs::path& out, const std::vector<TarEntry>& entries, Comp comp = Comp::kZstd) {
  struct archive* a = archive_write_new();
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  if (comp == Comp::kZstd) {
    ASSERT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    archive_write_set_filter_option(a, "zstd", "compression-level", "1");
  } else if (comp == Comp::kGzip) {
    ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  }
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK) << archive_error_string(a);
  std::string zeros(1 << 20, '\0');
  for (const TarEntry& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, t.path.c_str());
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_perm(e, t.perm);
    switch (t.type) {
      case Type::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, t.zeros ? static_cast<la_int64_t>(t.zeros)
                                          : static_cast<la_int64_t>(t.data.size()));
        break;
      case Type::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case Type::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_copy_symlink(e, t.link.c_str());
        break;
      case Type::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_copy_hardlink(e, t.link.c_str());
        archive_entry_set_size(e, 0);
        break;
      case Type::kChar:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, makedev(1, 3));
        break;
      case Type::kFifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    ASSERT_GE(archive_write_header(a, e), ARCHIVE_WARN) << archive_error_string(a);
    if (t.type == Type::kFile) {
      if (t.zeros) {
        for (uint64_t left = t.zeros; left > 0;) {
          size_t n = std::min<uint64_t>(left, zeros.size());
          ASSERT_EQ(archive_write_data(a, zeros.data(), n), static_cast<la_ssize_t>(n));
          left -= n;
        }
      } else if (!t.data.empty()) {
        ASSERT_EQ(archive_write_data(a, t.data.data(), t.data.size()),
                  static_cast<la_ssize_t>(t.data.size()));
      }
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlos-archive-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    work_ = root_ / "work";
    fs::create_directories(work_);
    archive_ = work_ / "pkg.axon";
    dest_ = work_ / "out";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A package directory with a few kinds of files.
  fs::path MakePackageDir() {
    fs::path d = root_ / "src";
    WriteFile(d / "manifest.yaml", ManifestYaml({}));
    WriteFile(d / "model.onnx", std::string(5000, 'm'));
    WriteFile(d / "tokenizer/vocab.txt", "hello\nworld\n");
    WriteFile(d / "tokenizer/deep/merges.txt", "a b\n");
    WriteFile(d / "run.sh", "#!/bin/sh\necho hi\n", 0755);
    WriteFile(d / ".gitattributes", "*.onnx filter=lfs\n");
    WriteFile(d / ".axon/cache/blob", "not packaged");
    WriteFile(d / ".axon_metadata.json", "{}");
    WriteFile(d / "manifest.sig", "old signature");
    fs::create_symlink("model.onnx", d / "alias.onnx");
    fs::create_symlink("../model.onnx", d / "tokenizer/model-link.onnx");
    return d;
  }

  // After a refused Unpack: nothing at dest, nothing left beside it, nothing written outside.
  void ExpectNothingLeft() {
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
    EXPECT_EQ(Listing(work_), (std::set<std::string>{"pkg.axon"}));
    EXPECT_EQ(Listing(root_), (std::set<std::string>{"work"}));
  }

  Status UnpackStatus(const UnpackOptions& o = {}) {
    auto r = Unpack(archive_, dest_, o);
    return r.status();
  }

  fs::path root_, work_, archive_, dest_;
};

TEST_F(ArchiveTest, PackUnpackRoundTrip) {
  fs::path src = MakePackageDir();
  auto m = Pack(src, archive_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();

  std::vector<std::string> paths;
  for (const FileEntry& f : m->format.files) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{".gitattributes", "alias.onnx", "model.onnx",
                                             "run.sh", "tokenizer/deep/merges.txt",
                                             "tokenizer/model-link.onnx", "tokenizer/vocab.txt"}));
  for (const FileEntry& f : m->format.files) {
    uint64_t size = 0;
    auto sha = Sha256File(src / f.path, &size);
    ASSERT_TRUE(sha.ok());
    EXPECT_EQ(f.sha256, *sha) << f.path;
    EXPECT_EQ(f.size, size) << f.path;
  }

  auto first = ReadManifestFromArchive(archive_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, EmitManifest(*m));

  auto v = VerifyArchive(archive_);
  ASSERT_TRUE(v.ok()) << v.status().ToString();

  auto u = Unpack(archive_, dest_);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->Id(), "local/test-model@1.0.0");
  EXPECT_EQ(Slurp(dest_ / "manifest.yaml"), *first);
  for (const FileEntry& f : m->format.files) {
    auto sha = Sha256File(dest_ / f.path);
    ASSERT_TRUE(sha.ok()) << f.path;
    EXPECT_EQ(*sha, f.sha256) << f.path;
  }
  EXPECT_TRUE(fs::is_symlink(dest_ / "alias.onnx"));
  EXPECT_EQ(fs::read_symlink(dest_ / "alias.onnx"), "model.onnx");
  EXPECT_FALSE(fs::exists(dest_ / ".axon"));
  EXPECT_FALSE(fs::exists(dest_ / ".axon_metadata.json"));
  EXPECT_FALSE(fs::exists(dest_ / "manifest.sig"));
  struct stat st;
  ASSERT_EQ(::stat((dest_ / "run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((dest_ / "model.onnx").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(dest_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_TRUE(VerifyPackageDir(dest_, *u, {.report_undeclared = true}).ok());
  // No temp dirs left beside dest.
  EXPECT_EQ(Listing(work_), (std::set<std::string>{"out", "pkg.axon"}));
}

TEST_F(ArchiveTest, PackIsDeterministic) {
  fs::path src = MakePackageDir();
  ASSERT_TRUE(Pack(src, work_ / "a.axon").ok());
  // Touch everything: mtimes must not matter.
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_symlink()) {
      fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(5));
    }
  }
  ASSERT_TRUE(Pack(src, work_ / "b.axon").ok());
  std::string a = Slurp(work_ / "a.axon"), b = Slurp(work_ / "b.axon");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  // zstd magic
  ASSERT_GE(a.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(a[0]), 0x28u);
  EXPECT_EQ(static_cast<unsigned char>(a[1]), 0xB5u);
}

TEST_F(ArchiveTest, PackIntoThePackageDirSkipsTheOutput) {
  fs::path src = MakePackageDir();
  ASSERT_TRUE(Pack(src, src / "model.axon").ok());
  auto m = Pack(src, src / "model.axon");  // second time the output exists inside dir
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (const FileEntry& f : m->format.files) EXPECT_NE(f.path, "model.axon");
  EXPECT_TRUE(Unpack(src / "model.axon", dest_).ok());
}

TEST_F(ArchiveTest, PackRefusesEscapingSymlinks) {
  fs::path src = root_ / "src";
  WriteFile(src / "manifest.yaml", ManifestYaml({}));
  WriteFile(root_ / "secret", "s");
  fs::create_symlink("../secret", src / "bad");
  auto m = Pack(src, archive_);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("bad: symlink target \"../secret\" escapes"),
            std::string::npos) << m.status().message();
  fs::remove(src / "bad");
  fs::create_symlink(root_ / "secret", src / "abs");
  m = Pack(src, archive_);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("is absolute"), std::string::npos) << m.status().message();
  EXPECT_FALSE(fs::exists(archive_));
  EXPECT_EQ(Listing(work_), std::set<std::string>{});
}

TEST_F(ArchiveTest, PackRefusesInvalidManifest) {
  fs::path src = root_ / "src";
  WriteFile(src / "manifest.yaml", "apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata: {}\n");
  WriteFile(src / "a.bin", "a");
  auto m = Pack(src, archive_);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("metadata.name"), std::string::npos)
      << m.status().message();
  EXPECT_EQ(Listing(work_), std::set<std::string>{});
}

TEST_F(ArchiveTest, TarGzWithDotSlashNamesIsAccepted) {
  std::string a = "alpha", b = "beta";
  WriteTar(archive_,
           {Dir("./"), File("./manifest.yaml", ManifestYaml({DeclFor("a.bin", a),
                                                              DeclFor("d/b.bin", b)})),
            File("./a.bin", a), Dir("./d/"), File("./d/b.bin", b)},
           Comp::kGzip);
  auto u = Unpack(archive_, dest_);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Slurp(dest_ / "a.bin"), a);
  EXPECT_EQ(Slurp(dest_ / "d/b.bin"), b);
  auto first = ReadManifestFromArchive(archive_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
}

TEST_F(ArchiveTest, PlainTarAndSignatureEntryAccepted) {
  std::string a = "alpha";
  WriteTar(archive_, {File("manifest.yaml", ManifestYaml({DeclFor("a.bin", a)})),
                      File("manifest.sig", "sig"), File("a.bin", a)},
           Comp::kNone);
  auto u = Unpack(archive_, dest_);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Slurp(dest_ / "manifest.sig"), "sig");
}

TEST_F(ArchiveTest, HardLinkToEarlierFileAccepted) {
  std::string a = "alpha";
  WriteTar(archive_, {File("manifest.yaml", ManifestYaml({DeclFor("a.bin", a),
                                                          DeclFor("b.bin", a)})),
                      File("a.bin", a), Hardlink("b.bin", "a.bin")});
  auto u = Unpack(archive_, dest_);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Slurp(dest_ / "b.bin"), a);
}

TEST_F(ArchiveTest, DestinationMustNotExist) {
  fs::path src = MakePackageDir();
  ASSERT_TRUE(Pack(src, archive_).ok());
  fs::create_directories(dest_);
  WriteFile(dest_ / "keep", "k");
  auto u = Unpack(archive_, dest_);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Listing(dest_), std::set<std::string>{"keep"});
  EXPECT_EQ(Listing(work_), (std::set<std::string>{"out", "pkg.axon"}));
}

TEST_F(ArchiveTest, ManifestNotFirstIsRefused) {
  std::string a = "alpha";
  WriteTar(archive_, {File("a.bin", a), File("manifest.yaml", ManifestYaml({DeclFor("a.bin", a)}))});
  auto r = ReadManifestFromArchive(archive_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("manifest.yaml must be the first entry"), std::string::npos);
  EXPECT_NE(r.status().message().find("\"a.bin\""), std::string::npos);
  Status s = UnpackStatus();
  EXPECT_NE(s.message().find("manifest.yaml must be the first entry"), std::string::npos)
      << s.message();
  ExpectNothingLeft();
}

TEST_F(ArchiveTest, NotATarIsRefused) {
  WriteFile(archive_, std::string(4096, 'x'));
  Status s = UnpackStatus();
  EXPECT_FALSE(s.ok());
  ExpectNothingLeft();
  EXPECT_FALSE(ReadManifestFromArchive(archive_).ok());
}

struct TrickCase {
  const char* name;
  std::vector<TarEntry> entries;  // after manifest.yaml
  std::vector<Decl> declared;
  std::string expect;             // substring of the error
};

void PrintTo(const TrickCase& c, std::ostream* os) { *os << c.name; }

class TrickTest : public ArchiveTest, public ::testing::WithParamInterface<TrickCase> {};

TEST_P(TrickTest, IsRefusedAndLeavesNothing) {
  const TrickCase& c = GetParam();
  std::vector<TarEntry> entries{File("manifest.yaml", ManifestYaml(c.declared))};
  for (TarEntry e : c.entries) {
    // "@ROOT@" in a name or link stands for the test's temp root (absolute paths outside).
    for (std::string* s : {&e.path, &e.link}) {
      size_t at = s->find("@ROOT@");
      if (at != std::string::npos) s->replace(at, 6, root_.string());
    }
    entries.push_back(e);
  }
  WriteTar(archive_, entries);
  Status s = UnpackStatus();
  ASSERT_FALSE(s.ok()) << c.name;
  EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.name << ": " << s.message();
  ExpectNothingLeft();
  // The same archive fails verification without extraction too.
  auto v = VerifyArchive(archive_);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(), s.message());
}

const std::string kA = "alpha";
const std::string kShaA = Sha256Hex(kA);

INSTANTIATE_TEST_SUITE_P(
    Archives, TrickTest,
    ::testing::Values(
        TrickCase{"traversal", {File("../evil", kA)}, {{"a", 5, kShaA}},
                  "archive entry \"../evil\": unsafe path"},
        TrickCase{"deep_traversal", {File("a/../../evil", kA)}, {}, "\"a/../../evil\": unsafe"},
        TrickCase{"absolute", {File("@ROOT@/abs-evil", kA)}, {}, "abs-evil\": unsafe path"},
        TrickCase{"symlink_absolute", {Symlink("passwd", "/etc/passwd")},
                  {{"passwd", 5, kShaA}},
                  "archive entry \"passwd\": symlink target \"/etc/passwd\" is absolute"},
        TrickCase{"symlink_escapes", {Dir("d"), Symlink("d/a", "../../x")},
                  {{"d/a", 5, kShaA}}, "\"d/a\": symlink target \"../../x\" escapes the package"},
        TrickCase{"symlink_dir_outside_then_file",
                  {Symlink("link", "../.."), File("link/file", kA)},
                  {{"link", 5, kShaA}, {"link/file", 5, kShaA}}, "escapes the package"},
        TrickCase{"file_through_symlink_dir",
                  {Dir("sub"), Symlink("link", "sub"), File("link/file", kA)},
                  {{"link", 5, kShaA}, {"link/file", 5, kShaA}},
                  "\"link/file\": parent \"link\" is not a directory"},
        TrickCase{"symlink_to_dir_declared",
                  {Dir("sub"), File("sub/a", kA), Symlink("link", "sub")},
                  {{"sub/a", 5, kShaA}, {"link", 5, kShaA}},
                  "link: symlink does not resolve to a regular file"},
        TrickCase{"symlink_through_symlink_dotdot",
                  {File("x", kA), Symlink("s", "."), Symlink("t", "s/../x")},
                  {{"x", 5, kShaA}, {"t", 5, kShaA}, {"s", 5, kShaA}},
                  "goes through something that is not a directory"},
        TrickCase{"hardlink_outside", {Hardlink("h", "../../etc/passwd")}, {{"h", 5, kShaA}},
                  "\"h\": hard link to unsafe path \"../../etc/passwd\""},
        TrickCase{"hardlink_absolute", {Hardlink("h", "/etc/passwd")}, {{"h", 5, kShaA}},
                  "hard link to unsafe path \"/etc/passwd\""},
        TrickCase{"hardlink_to_later", {Hardlink("h", "a"), File("a", kA)},
                  {{"h", 5, kShaA}, {"a", 5, kShaA}},
                  "hard link target \"a\" is not an earlier regular file"},
        TrickCase{"hardlink_to_manifest", {Hardlink("h", "manifest.yaml")}, {{"h", 5, kShaA}},
                  "is not an earlier regular file"},
        TrickCase{"char_device", {Special("null", Type::kChar)}, {},
                  "\"null\": character device entries are not allowed"},
        TrickCase{"fifo", {Special("pipe", Type::kFifo)}, {},
                  "\"pipe\": fifo entries are not allowed"},
        TrickCase{"duplicate", {File("a", kA), File("a", kA)}, {{"a", 5, kShaA}},
                  "archive entry \"a\": duplicate entry"},
        TrickCase{"duplicate_manifest", {File("a", kA), File("manifest.yaml", "x")},
                  {{"a", 5, kShaA}}, "\"manifest.yaml\": duplicate entry"},
        TrickCase{"file_then_dir_same_name", {File("a", kA), Dir("a")}, {{"a", 5, kShaA}},
                  "archive entry \"a/\": duplicate entry"},
        TrickCase{"undeclared", {File("a", kA), File("extra.bin", "x")}, {{"a", 5, kShaA}},
                  "archive entry \"extra.bin\": not declared in the manifest"},
        TrickCase{"missing", {File("a", kA)}, {{"a", 5, kShaA}, {"b.bin", 3, kShaA}},
                  "b.bin: missing from the archive"},
        TrickCase{"sha_mismatch", {File("a.bin", "alphx")}, {{"a.bin", 5, kShaA}},
                  "a.bin: sha256 mismatch (expected " + kShaA + ", got " + Sha256Hex("alphx")},
        TrickCase{"too_short", {File("a.bin", "alp")}, {{"a.bin", 5, kShaA}},
                  "a.bin: size mismatch (expected 5, got 3)"},
        TrickCase{"too_long", {File("a.bin", "alphabet")}, {{"a.bin", 5, kShaA}},
                  "\"a.bin\": size mismatch (expected 5, got 8)"},
        TrickCase{"declared_as_file_is_dir", {Dir("a.bin")}, {{"a.bin", 5, kShaA}},
                  "a.bin: is a directory in the archive"}),
    [](const ::testing::TestParamInfo<TrickCase>& info) { return std::string(info.param.name); });

TEST_F(ArchiveTest, ZstdBombIsRefusedQuickly) {
  // A declared 1 KiB file whose entry expands to 100 MB.
  Decl d{"weights.bin", 1024, Sha256Hex(std::string(1024, '\0'))};
  WriteTar(archive_, {File("manifest.yaml", ManifestYaml({d})),
                      Zeros("weights.bin", 100ull << 20)});
  EXPECT_LT(fs::file_size(archive_), 1u << 20);  // it really is a bomb
  auto t0 = std::chrono::steady_clock::now();
  Status s = UnpackStatus();
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("\"weights.bin\": size mismatch (expected 1024"), std::string::npos)
      << s.message();
  EXPECT_LT(took, std::chrono::seconds(2));
  ExpectNothingLeft();
}

TEST_F(ArchiveTest, TotalSizeLimitIsEnforcedWhileStreaming) {
  // The manifest declares a big file honestly; the caller's limit is lower.
  Decl d{"weights.bin", 64ull << 20, Sha256Hex("irrelevant")};
  WriteTar(archive_, {File("manifest.yaml", ManifestYaml({d})),
                      Zeros("weights.bin", 64ull << 20)});
  UnpackOptions o;
  o.max_total_bytes = 4ull << 20;
  auto t0 = std::chrono::steady_clock::now();
  Status s = UnpackStatus(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("archive expands to more than 4194304 bytes"), std::string::npos)
      << s.message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  ExpectNothingLeft();
  // The hard cap wins over a generous max_total_bytes.
  o.max_total_bytes = 1ull << 40;
  o.max_bytes = 1ull << 20;
  s = UnpackStatus(o);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  ExpectNothingLeft();
}

TEST_F(ArchiveTest, EntryCountBombIsRefused) {
  std::vector<TarEntry> entries{File("manifest.yaml", ManifestYaml({}))};
  for (int i = 0; i < 300; ++i) entries.push_back(Dir("d" + std::to_string(i)));
  WriteTar(archive_, entries);
  UnpackOptions o;
  o.max_entries = 100;
  Status s = UnpackStatus(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("more than 100 entries"), std::string::npos) << s.message();
  ExpectNothingLeft();
  // Within the default limit it unpacks.
  EXPECT_TRUE(UnpackStatus().ok());
}

}  // namespace
}  // namespace mlos::mpf
