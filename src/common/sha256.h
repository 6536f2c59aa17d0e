// SHA-256 over bytes, streams and files (OpenSSL EVP).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos {

// Incremental hasher. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Returns the lowercase hex digest; the hasher must not be updated afterwards.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
// Hashes a file; also returns its size through size_out when given.
Result<std::string> Sha256File(const std::filesystem::path& path, uint64_t* size_out = nullptr);
// True when s is 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace mlos
