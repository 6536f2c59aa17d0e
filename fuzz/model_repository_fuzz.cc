// mlosd's model repository scanner (mlosd::ScanRepository) over a directory tree built from the
// input: up to 32 entries, each a directory or an empty file at a path of 1 to 3 names taken
// from the input, the file names ending in a model, package or manifest name the scanner looks
// for. The first byte picks the spec form: DIR, or NAME=DIR. Every item must lie inside the
// repository and every name the scanner makes itself (local/NAME@VERSION) must be a valid
// registration id.
#include <cstdio>
#include <cstdlib>

#include "apps/mlosd/model_repository.h"
#include "core/policy.h"
#include "fuzz/fuzz_util.h"

namespace fs = std::filesystem;

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "model_repository_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string Component(mlos::fuzz::Cursor& in) {
  std::string s(in.Str(16));
  for (char& c : s) {
    if (c == '/' || c == '\0') c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kEndings[] = {"",      ".onnx", ".GGUF", ".pt",   ".tflite",
                                         ".axon", ".tgz",  ".tar.gz", ".txt"};
  mlos::fuzz::Cursor in(mlos::fuzz::View(data, size));
  const uint8_t mode = in.U8();
  // A spec is a command-line or YAML string: no NUL (the system calls would stop at it).
  std::string name = mode & 1 ? std::string(in.Str(32)) : "";
  for (char& c : name) {
    if (c == '\0') c = '_';
  }
  const fs::path repo = mlos::fuzz::ScratchDir() / "repo";
  fs::remove_all(repo);
  fs::create_directories(repo);
  for (int i = 0; i < 32 && !in.empty(); ++i) {
    const uint8_t kind = in.U8();
    fs::path p = repo;
    const int depth = 1 + kind % 3;
    for (int d = 0; d < depth; ++d) p /= Component(in);
    std::error_code ec;
    if (kind & 0x80) {
      fs::create_directories(p, ec);
      continue;
    }
    const int ending = (kind >> 2) % 10;
    if (ending == 9) p = p.parent_path() / "manifest.yaml";
    else p += kEndings[ending];
    fs::create_directories(p.parent_path(), ec);
    if (!ec) std::ofstream(p).put('x');
  }
  std::vector<std::string> skipped;
  const std::string spec = mode & 1 ? name + "=" + repo.string() : repo.string();
  for (const mlos::mlosd::RepositoryItem& item : mlos::mlosd::ScanRepository(spec, &skipped)) {
    const std::string rel = item.source.lexically_relative(repo).string();
    if (rel.empty() || rel.starts_with("..")) Fail("item outside the repository: " + rel);
    if (mode & 1 || item.name.empty()) continue;  // NAME=DIR: the operator's name, as given
    if (!mlos::core::policy::ValidateRegistrationId(item.name).ok()) {
      Fail("the scanner made an invalid model id: " + item.name);
    }
  }
  return 0;
}
