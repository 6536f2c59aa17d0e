#include "axon/inspect/gguf.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;

fs::path Fixture(const std::string& name) {
  return fs::path(MLOS_BINARY_DIR) / "fixtures" / name;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Little-endian GGUF byte builder for hand-made (often malformed) files.
struct Bytes {
  std::string b;
  template <typename T>
  Bytes& Le(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    b.append(buf, sizeof(T));
    return *this;
  }
  Bytes& U32(uint32_t v) { return Le(v); }
  Bytes& U64(uint64_t v) { return Le(v); }
  Bytes& Str(const std::string& s) {
    U64(s.size());
    b += s;
    return *this;
  }
  Bytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b += "GGUF";
    return U32(version).U64(n_tensors).U64(n_kv);
  }
  Bytes& Pad(size_t align) {
    b.append((align - b.size() % align) % align, '\0');
    return *this;
  }
};

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mlos-gguf-" + std::string(t->name()) + "-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  // Expects an InvalidArgument error whose message contains `needle`.
  void ExpectError(const std::string& bytes, const std::string& needle) {
    auto info = InspectGguf(Write("bad.gguf", bytes));
    ASSERT_FALSE(info.ok()) << "expected an error containing '" << needle << "'";
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(info.status().message().find(needle), std::string::npos) << info.status().message();
  }

  fs::path dir_;
};

TEST_F(GgufTest, TinyFixture) {
  auto info = InspectGguf(Fixture("tiny.gguf"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->version, 3u);
  EXPECT_EQ(info->file_size, fs::file_size(Fixture("tiny.gguf")));
  EXPECT_EQ(info->alignment, 32u);
  EXPECT_EQ(info->data_offset % 32, 0u);
  EXPECT_EQ(info->architecture, "llama");
  EXPECT_EQ(info->name, "tiny-llama-fixture");
  EXPECT_EQ(info->context_length, 256u);
  EXPECT_EQ(info->embedding_length, 64u);
  EXPECT_EQ(info->block_count, 2u);
  EXPECT_EQ(info->head_count, 4u);
  EXPECT_EQ(info->head_count_kv, 4u);
  EXPECT_TRUE(info->has_file_type);
  EXPECT_EQ(info->file_type, 15u);
  EXPECT_EQ(info->file_type_name, "Q4_K_M");
  EXPECT_EQ(info->quantization_version, 2u);
  EXPECT_EQ(info->tokenizer_model, "llama");
  EXPECT_EQ(info->vocab_size, 16u);

  EXPECT_EQ(info->tensor_count, 4u);
  ASSERT_EQ(info->tensors.size(), 4u);
  EXPECT_EQ(info->tensors[0].name, "token_embd.weight");
  EXPECT_EQ(info->tensors[0].dims, (std::vector<uint64_t>{64, 16}));
  EXPECT_EQ(info->tensors[0].ggml_type, 0u);
  EXPECT_EQ(info->tensors[0].offset, 0u);
  EXPECT_EQ(info->tensors[0].bytes, 4096u);
  EXPECT_EQ(info->tensors[1].name, "output_norm.weight");
  EXPECT_EQ(info->tensors[1].offset, 4096u);
  EXPECT_EQ(info->tensors[1].bytes, 256u);
  EXPECT_EQ(info->tensors[2].name, "blk.0.attn_norm.weight");
  EXPECT_EQ(GgmlTypeName(info->tensors[2].ggml_type), "F16");
  EXPECT_EQ(info->tensors[2].bytes, 128u);
  EXPECT_EQ(info->tensors[3].name, "blk.0.ffn_up.weight");
  EXPECT_EQ(GgmlTypeName(info->tensors[3].ggml_type), "Q8_0");
  EXPECT_EQ(info->tensors[3].dims, (std::vector<uint64_t>{64, 2}));
  EXPECT_EQ(info->tensors[3].bytes, 4u * 34);
  EXPECT_TRUE(info->all_tensor_types_known);
  EXPECT_EQ(info->total_tensor_bytes, 4096u + 256 + 128 + 136);

  const auto& md = info->metadata;
  EXPECT_EQ(md.size(), 22u);
  EXPECT_EQ(md.at("general.architecture"), "llama");
  EXPECT_EQ(md.at("llama.context_length"), "256");
  EXPECT_EQ(md.at("general.file_type"), "15");
  EXPECT_EQ(md.at("tokenizer.ggml.add_bos_token"), "true");
  EXPECT_EQ(md.at("general.signed_check"), "-7");
  EXPECT_EQ(md.at("general.precise_check"), "0.25");
  EXPECT_EQ(md.at("llama.rope.freq_base"), "10000");
  EXPECT_EQ(md.at("tokenizer.ggml.tokens"),
            "[\"<unk>\", \"<s>\", \"</s>\", \"tok0\", \"tok1\", \"tok2\", \"tok3\", \"tok4\", "
            "... (16 items)]");
  EXPECT_EQ(md.at("tokenizer.ggml.token_type").rfind("[2, 3, 3, 1,", 0), 0u);
}

TEST_F(GgufTest, Version2IsAccepted) {
  std::string bytes = ReadAll(Fixture("tiny.gguf"));
  bytes[4] = 2;  // v2 and v3 share the layout (v3 added big-endian files)
  auto info = InspectGguf(Write("v2.gguf", bytes));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->version, 2u);
}

TEST_F(GgufTest, TruncatedFilesAreErrorsNotCrashes) {
  std::string bytes = ReadAll(Fixture("tiny.gguf"));
  auto full = InspectGguf(Fixture("tiny.gguf"));
  ASSERT_TRUE(full.ok());
  const auto& last = full->tensors.back();
  const size_t needed = full->data_offset + last.offset + last.bytes;  // the rest is padding
  // Every byte of the fixed header, then a prime stride through metadata, tensor infos, data.
  for (size_t cut = 0; cut < needed; cut += (cut < 40 ? 1 : 13)) {
    auto info = InspectGguf(Write("cut.gguf", bytes.substr(0, cut)));
    ASSERT_FALSE(info.ok()) << "cut at " << cut;
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << cut;
  }
  auto info = InspectGguf(Write("cut.gguf", bytes.substr(0, needed)));
  EXPECT_TRUE(info.ok()) << info.status().ToString();
}

TEST_F(GgufTest, CorruptedBytesNeverCrash) {
  const std::string bytes = ReadAll(Fixture("tiny.gguf"));
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string mutated = bytes;
    for (int j = 0; j < 4; ++j) {
      size_t at = rng() % 1024 % mutated.size();  // mostly the header region
      mutated[at] = static_cast<char>(rng() & 0xff);
    }
    auto info = InspectGguf(Write("mutated.gguf", mutated));
    if (info.ok()) {
      EXPECT_LE(info->total_tensor_bytes, info->file_size);
    }
  }
}

TEST_F(GgufTest, HugeLengthsAreRejectedBeforeAllocating) {
  // A key claiming 2^62 bytes.
  const std::string pad(16, '\0');  // so the KV count itself is plausible
  ExpectError(Bytes().Header(0, 1).U64(1ull << 62).b + pad, "exceeds the limit");
  // A key of 1000 bytes in a short file.
  ExpectError(Bytes().Header(0, 1).U64(1000).b + pad, "truncated at offset 32");
  // A string value of 2 MiB (over the 1 MiB cap).
  ExpectError(Bytes().Header(0, 1).Str("k").U32(8).U64(2u << 20).b, "string length 2097152");
  // An array of 2^40 uint8 and one of 5M uint32 in a tiny file.
  ExpectError(Bytes().Header(0, 1).Str("k").U32(9).U32(0).U64(1ull << 40).b, "array length");
  ExpectError(Bytes().Header(0, 1).Str("k").U32(9).U32(4).U64(5'000'000).b, "does not fit");
  // Counts larger than the file could hold.
  ExpectError(Bytes().Header(0, 1ull << 60).b, "metadata count");
  ExpectError(Bytes().Header(1ull << 60, 0).b, "tensor count");
  // Too many dimensions, and a tensor beyond the end of the file.
  ExpectError(Bytes().Header(1, 0).Str("t").U32(100).b + std::string(64, '\0'), "dimensions");
  ExpectError(Bytes().Header(1, 0).Str("t").U32(1).U64(64).U32(0).U64(1024).Pad(32).b +
                  std::string(256, '\0'),
              "tensor 't' needs bytes");
  // A misaligned offset and a row that is not a whole number of blocks.
  ExpectError(
      Bytes().Header(1, 0).Str("t").U32(1).U64(4).U32(0).U64(3).Pad(32).b + std::string(64, '\0'),
      "not aligned");
  ExpectError(
      Bytes().Header(1, 0).Str("t").U32(1).U64(33).U32(8).U64(0).Pad(32).b + std::string(128, '\0'),
      "block size 32");
  // Unknown value types, nesting, duplicate keys, bad alignment.
  ExpectError(Bytes().Header(0, 1).Str("k").U32(13).U32(0).b, "unknown value type 13");
  Bytes nested;
  nested.Header(0, 1).Str("k").U32(9);               // an array
  for (int i = 0; i < 6; ++i) nested.U32(9).U64(1);  // of one array of one array of ...
  ExpectError(nested.b + std::string(64, '\0'), "nested");
  ExpectError(Bytes().Header(0, 2).Str("k").U32(4).U32(1).Str("k").U32(4).U32(2).b, "duplicate");
  ExpectError(Bytes().Header(0, 1).Str("general.alignment").U32(4).U32(24).b, "power of two");
}

TEST_F(GgufTest, HeaderErrors) {
  ExpectError("", "bad magic");
  ExpectError("GGU", "bad magic");
  ExpectError("GGML\3\0\0\0", "bad magic");
  ExpectError(Bytes().Header(0, 0, 1).b, "unsupported GGUF version 1");
  ExpectError(Bytes().Header(0, 0, 4).b, "unsupported GGUF version 4");
  ExpectError("GGUF\3\0", "truncated at offset 4");
  auto missing = InspectGguf(dir_ / "missing.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(GgufTest, MinimalAndUnknownTensorTypes) {
  auto empty = InspectGguf(Write("empty.gguf", Bytes().Header(0, 0).b));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->tensor_count, 0u);
  EXPECT_FALSE(empty->has_file_type);
  EXPECT_EQ(empty->file_type_name, "");
  EXPECT_EQ(empty->architecture, "");

  // ggml type 200 is unknown: its size falls back to the data section.
  std::string bytes = Bytes().Header(1, 0).Str("t").U32(2).U64(8).U64(8).U32(200).U64(0).Pad(32).b +
                      std::string(96, '\0');
  auto info = InspectGguf(Write("unknown.gguf", bytes));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->all_tensor_types_known);
  EXPECT_EQ(info->total_tensor_bytes, 96u);
  EXPECT_EQ(info->tensors[0].bytes, 0u);

  // Per-layer head counts (an array) give their maximum; nested arrays print.
  std::string arr = Bytes()
                        .Header(0, 3)
                        .Str("general.architecture")
                        .U32(8)
                        .Str("x")
                        .Str("x.attention.head_count_kv")
                        .U32(9)
                        .U32(5)
                        .U64(3)
                        .U32(2)
                        .U32(8)
                        .U32(4)
                        .Str("nested")
                        .U32(9)
                        .U32(9)
                        .U64(1)
                        .U32(0)
                        .U64(2)
                        .Le<uint8_t>(7)
                        .Le<uint8_t>(9)
                        .b;
  info = InspectGguf(Write("arr.gguf", arr));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->head_count_kv, 8u);
  EXPECT_EQ(info->metadata.at("x.attention.head_count_kv"), "[2, 8, 4]");
  EXPECT_EQ(info->metadata.at("nested"), "[[7, 9]]");
}

TEST(GgmlTypesTest, NamesAndSizes) {
  uint64_t block = 0, bytes = 0;
  ASSERT_TRUE(GgmlTypeBlock(12, &block, &bytes));  // Q4_K
  EXPECT_EQ(block, 256u);
  EXPECT_EQ(bytes, 144u);
  ASSERT_TRUE(GgmlTypeBlock(30, &block, &bytes));  // BF16
  EXPECT_EQ(bytes, 2u);
  EXPECT_FALSE(GgmlTypeBlock(4, &block, &bytes));  // removed Q4_2
  EXPECT_FALSE(GgmlTypeBlock(1000, &block, &bytes));
  EXPECT_EQ(GgmlTypeName(14), "Q6_K");
  EXPECT_EQ(GgmlTypeName(2), "Q4_0");
  EXPECT_EQ(GgufFileTypeName(0), "F32");
  EXPECT_EQ(GgufFileTypeName(1), "F16");
  EXPECT_EQ(GgufFileTypeName(15), "Q4_K_M");
  EXPECT_EQ(GgufFileTypeName(7), "Q8_0");
  EXPECT_EQ(GgufFileTypeName(32), "BF16");
  EXPECT_EQ(GgufFileTypeName(5), "FTYPE_5");
  EXPECT_EQ(GgufFileTypeName(999), "FTYPE_999");
}

}  // namespace
}  // namespace mlos::axon
