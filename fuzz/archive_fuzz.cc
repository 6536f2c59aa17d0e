// .axon archive reading (mpf::ReadManifestFromArchive, VerifyArchive, Unpack) over arbitrary
// bytes, with the same safety checks as `axon install`. After an Unpack that succeeded, the
// scratch directory must hold only the archive and the destination, and every link in the
// destination must resolve inside it; after one that failed, only the archive.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "mpf/archive.h"

namespace fs = std::filesystem;

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "archive_fuzz: %s\n", what.c_str());
  std::abort();
}

void CheckScratch(const fs::path& archive, const fs::path& dest, bool unpacked) {
  for (const auto& e : fs::directory_iterator(mlos::fuzz::ScratchDir())) {
    if (e.path() == archive || (unpacked && e.path() == dest)) continue;
    Fail("left behind: " + e.path().string());
  }
  if (!unpacked) return;
  const fs::path root = fs::canonical(dest);
  for (const auto& e : fs::recursive_directory_iterator(dest)) {
    if (!e.is_symlink()) continue;
    std::error_code ec;
    const fs::path target = fs::weakly_canonical(e.path(), ec);
    const std::string rel = ec ? "" : target.lexically_relative(root).string();
    if (ec || rel.empty() || rel.starts_with("..")) Fail("link escapes: " + e.path().string());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path archive = mlos::fuzz::WriteScratchFile("in.axon", mlos::fuzz::View(data, size));
  const fs::path dest = mlos::fuzz::ScratchDir() / "out";
  mlos::mpf::UnpackOptions options;
  options.max_bytes = 8 << 20;  // keep expansion bombs cheap
  options.max_entries = 1000;
  options.fsync = false;
  (void)mlos::mpf::ReadManifestFromArchive(archive);
  std::string manifest_yaml;
  (void)mlos::mpf::VerifyArchive(archive, options, &manifest_yaml);
  auto unpacked = mlos::mpf::Unpack(archive, dest, options);
  CheckScratch(archive, dest, unpacked.ok());
  fs::remove_all(dest);
  return 0;
}
