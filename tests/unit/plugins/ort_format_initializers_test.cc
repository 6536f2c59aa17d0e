// The ONNX plugin's ORT-format reader (plugins/onnx/ort_format_initializers.cc, compiled into
// this test): the initializers of a real ORT-format file saved by ONNX Runtime, and no read
// outside the bytes for truncated or corrupted files.
#include "ort_format_initializers.h"

#include <unistd.h>

#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using mlos::onnx_plugin::OrtFormatInitializer;
using mlos::onnx_plugin::ReadOrtFormatInitializers;

const fs::path kFixtures = fs::path(MLOS_BINARY_DIR) / "fixtures";

// The fixture model `name` optimised ("all") and saved by ONNX Runtime in ORT format.
std::vector<uint8_t> SaveAsOrtFormat(const std::string& name) {
  static Ort::Env env(ORT_LOGGING_LEVEL_FATAL, "ort_format_initializers_test");
  const fs::path out = fs::temp_directory_path() /
                       ("mlos_ort_format_" + std::to_string(::getpid()) + "_" + name + ".ort");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  options.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  options.SetOptimizedModelFilePath(out.c_str());
  options.AddConfigEntry("session.save_model_format", "ORT");
  Ort::Session session(env, (kFixtures / name).c_str(), options);
  std::ifstream in(out, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
  fs::remove(out);
  return bytes;
}

// Every initializer read lies within bytes[0, size) and is consistent with its dims.
void ExpectWithin(const std::vector<OrtFormatInitializer>& found, const uint8_t* bytes,
                  size_t size) {
  for (const OrtFormatInitializer& i : found) {
    const auto* data = static_cast<const uint8_t*>(i.data);
    ASSERT_GE(data, bytes) << i.name;
    ASSERT_LE(i.byte_size, size) << i.name;
    ASSERT_LE(data + i.byte_size, bytes + size) << i.name;
    EXPECT_FALSE(i.name.empty());
    EXPECT_GT(i.byte_size, 0u);
  }
}

TEST(OrtFormatInitializers, ReadsTheWeightsOfARealFile) {
  const std::vector<uint8_t> bytes = SaveAsOrtFormat("mlp.onnx");
  ASSERT_GT(bytes.size(), 8u);
  std::vector<OrtFormatInitializer> found;
  ASSERT_TRUE(ReadOrtFormatInitializers(bytes.data(), bytes.size(), &found));
  ExpectWithin(found, bytes.data(), bytes.size());
  // mlp.onnx: input [batch,16] -> MatMul 16x32 -> ... -> 4 logits; all float weights.
  size_t floats = 0;
  bool has_16x32 = false;
  for (const OrtFormatInitializer& i : found) {
    uint64_t count = 1;
    for (int64_t d : i.dims) count *= static_cast<uint64_t>(d);
    if (i.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      ++floats;
      EXPECT_EQ(i.byte_size, count * 4) << i.name;
    }
    if (i.dims == std::vector<int64_t>{16, 32}) has_16x32 = true;
  }
  EXPECT_GE(floats, 2u);
  EXPECT_TRUE(has_16x32);
}

TEST(OrtFormatInitializers, RejectsWhatIsNotOrtFormat) {
  std::vector<OrtFormatInitializer> found;
  const std::string garbage = "this is not a flatbuffer at all";
  EXPECT_FALSE(ReadOrtFormatInitializers(reinterpret_cast<const uint8_t*>(garbage.data()),
                                         garbage.size(), &found));
  EXPECT_FALSE(ReadOrtFormatInitializers(nullptr, 0, &found));
  std::ifstream in(kFixtures / "mlp.onnx", std::ios::binary);
  const std::vector<uint8_t> onnx((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  EXPECT_FALSE(ReadOrtFormatInitializers(onnx.data(), onnx.size(), &found));
  EXPECT_TRUE(found.empty());
}

TEST(OrtFormatInitializers, TruncatedFilesStayInBounds) {
  const std::vector<uint8_t> bytes = SaveAsOrtFormat("mlp.onnx");
  for (size_t length = 0; length < bytes.size(); ++length) {
    // A copy of exactly `length` bytes, so a read past it would leave the allocation.
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(length));
    std::vector<OrtFormatInitializer> found;
    ReadOrtFormatInitializers(prefix.data(), prefix.size(), &found);
    ExpectWithin(found, prefix.data(), prefix.size());
    if (HasFatalFailure()) return;
  }
}

TEST(OrtFormatInitializers, CorruptedFilesStayInBounds) {
  const std::vector<uint8_t> bytes = SaveAsOrtFormat("dtypes.onnx");
  const std::vector<uint8_t> mlp = SaveAsOrtFormat("mlp.onnx");
  uint32_t x = 12345;
  auto next = [&x] {
    x = x * 1664525u + 1013904223u;
    return x >> 8;
  };
  for (const std::vector<uint8_t>* original : {&bytes, &mlp}) {
    for (int round = 0; round < 3000; ++round) {
      std::vector<uint8_t> copy = *original;
      const int flips = 1 + static_cast<int>(next() % 4);
      for (int f = 0; f < flips; ++f) {
        // Offsets and vtables sit in the first and last parts; weights in the middle.
        copy[next() % copy.size()] = static_cast<uint8_t>(next());
      }
      std::vector<OrtFormatInitializer> found;
      ReadOrtFormatInitializers(copy.data(), copy.size(), &found);
      ExpectWithin(found, copy.data(), copy.size());
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
