// What the fuzz targets share: the input as a string_view, a byte-taking cursor for targets that
// split one input into several values, and a per-process scratch file for parsers that read a
// path.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace mlos::fuzz {

inline std::string_view View(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Takes leading bytes off the input: fixed-width integers (0 once exhausted) and the rest.
class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}
  uint8_t U8() { return static_cast<uint8_t>(Take<uint8_t>()); }
  uint32_t U32() { return Take<uint32_t>(); }
  uint64_t U64() { return Take<uint64_t>(); }
  // Up to `max` bytes, the length given by the next byte.
  std::string_view Str(size_t max = 255) {
    size_t n = U8();
    if (n > max) n = max;
    if (n > in_.size()) n = in_.size();
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string_view Rest() const { return in_; }
  bool empty() const { return in_.empty(); }

 private:
  template <typename T>
  T Take() {
    T v = 0;
    const size_t n = in_.size() < sizeof v ? in_.size() : sizeof v;
    std::memcpy(&v, in_.data(), n);
    in_.remove_prefix(n);
    return v;
  }
  std::string_view in_;
};

// A directory of this process's own under $TMPDIR (default /tmp), created on first use and
// removed at exit. The path is never destroyed: the exit handler runs after static destructors
// registered later would have run.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* d = new std::filesystem::path(std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                                        ("mlos-fuzz-" + std::to_string(::getpid())));
    std::filesystem::remove_all(*d);
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return d;
  }();
  return *dir;
}

// Writes the input to ScratchDir()/name (truncating) and returns the path.
inline std::filesystem::path WriteScratchFile(const std::string& name, std::string_view bytes) {
  std::filesystem::path p = ScratchDir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the scratch disk is full: not a finding, but nothing can be tested
  return p;
}

}  // namespace mlos::fuzz
