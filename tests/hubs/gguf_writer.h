// Test helper: writes small, valid GGUF v3 files (little endian, alignment 32) with chosen
// metadata and tensors (data zero-filled), for describe, selection and install tests.
//
//   std::string bytes = mlos::hubtest::GgufWriter()
//       .Str("general.architecture", "llama")
//       .U32("llama.context_length", 2048)
//       .Tensor("token_embd.weight", {64, 32}, 8 /* Q8_0 */)
//       .Bytes();
//
// Header-only; uses axon's ggml type table for tensor sizes.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "axon/inspect/gguf.h"

namespace mlos::hubtest {

class GgufWriter {
 public:
  // GGUF value types.
  enum : uint32_t { kU32 = 4, kI32 = 5, kBool = 7, kString = 8, kArray = 9, kU64 = 10 };

  GgufWriter& Str(const std::string& key, const std::string& v) {
    Key(key, kString);
    PutStr(&kv_, v);
    return Count();
  }
  GgufWriter& U32(const std::string& key, uint32_t v) {
    Key(key, kU32);
    Le(&kv_, v);
    return Count();
  }
  GgufWriter& I32(const std::string& key, int32_t v) {
    Key(key, kI32);
    Le(&kv_, v);
    return Count();
  }
  GgufWriter& U64(const std::string& key, uint64_t v) {
    Key(key, kU64);
    Le(&kv_, v);
    return Count();
  }
  GgufWriter& Bool(const std::string& key, bool v) {
    Key(key, kBool);
    kv_.push_back(v ? 1 : 0);
    return Count();
  }
  GgufWriter& StrArray(const std::string& key, const std::vector<std::string>& v) {
    Key(key, kArray);
    Le(&kv_, uint32_t{kString});
    Le(&kv_, uint64_t{v.size()});
    for (const auto& s : v) PutStr(&kv_, s);
    return Count();
  }
  // A tensor of ggml type `type` (0 F32, 1 F16, 8 Q8_0, 12 Q4_K, ...); dims ne[0] first (ne[0]
  // must be a multiple of the type's block size).
  GgufWriter& Tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type) {
    uint64_t block = 1, block_bytes = 4;
    axon::GgmlTypeBlock(type, &block, &block_bytes);
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    uint64_t bytes = n / block * block_bytes;
    PutStr(&tensors_, name);
    Le(&tensors_, static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) Le(&tensors_, d);
    Le(&tensors_, type);
    Le(&tensors_, data_size_);
    data_size_ += (bytes + 31) / 32 * 32;
    ++n_tensors_;
    return *this;
  }

  std::string Bytes() const {
    std::string out = "GGUF";
    Le(&out, uint32_t{3});
    Le(&out, n_tensors_);
    Le(&out, n_kv_);
    out += kv_;
    out += tensors_;
    out.append((32 - out.size() % 32) % 32, '\0');
    out.append(data_size_, '\0');
    return out;
  }

  void WriteTo(const std::filesystem::path& path) const {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << Bytes();
  }

 private:
  template <typename T>
  static void Le(std::string* out, T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out->append(buf, sizeof(T));
  }
  static void PutStr(std::string* out, const std::string& s) {
    Le(out, uint64_t{s.size()});
    *out += s;
  }
  void Key(const std::string& key, uint32_t type) {
    PutStr(&kv_, key);
    Le(&kv_, type);
  }
  GgufWriter& Count() {
    ++n_kv_;
    return *this;
  }

  std::string kv_, tensors_;
  uint64_t n_kv_ = 0, n_tensors_ = 0, data_size_ = 0;
};

}  // namespace mlos::hubtest
