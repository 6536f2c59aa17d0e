// DescribeModel for GGUF files written in the test: spec.llm from the metadata (with and without
// a chat template, BERT-family and pooling embedding models, split sets) and the IO schema.
#include "axon/describe.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../../hubs/gguf_writer.h"
#include "axon/inspect/gguf.h"
#include "axon/inspect/gguf_llm.h"
#include "mpf/manifest.h"

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;
using hubtest::GgufWriter;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14;
const char* kTemplate = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}";

// A small llama-like model: 2 blocks of Q4_K weights, F32 norms, a Q6_K output.
GgufWriter Llama() {
  GgufWriter w;
  w.Str("general.architecture", "llama")
      .Str("general.name", "tiny")
      .U32("llama.context_length", 2048)
      .U32("llama.embedding_length", 256)
      .U32("llama.block_count", 2)
      .U32("llama.attention.head_count", 4)
      .Str("tokenizer.ggml.model", "llama")
      .StrArray("tokenizer.ggml.tokens", {"<s>", "</s>", "a"});
  return w;
}

void AddLlamaTensors(GgufWriter* w) {
  w->Tensor("token_embd.weight", {256, 8}, kQ4_K)
      .Tensor("blk.0.attn_norm.weight", {256}, kF32)
      .Tensor("blk.0.attn_q.weight", {256, 256}, kQ4_K)
      .Tensor("blk.1.attn_q.weight", {256, 256}, kQ4_K)
      .Tensor("output.weight", {256, 8}, kQ6_K);
}

class DescribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mlos-describe-" + std::string(t->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the files and describes a manifest whose execution file is the first one.
  mpf::Manifest Describe(const std::vector<std::pair<std::string, GgufWriter>>& files,
                         std::vector<std::string>* notes) {
    mpf::Manifest m;
    m.metadata.name = "m";
    m.metadata.namespace_ = "local";
    m.metadata.version = "1.0.0";
    m.framework.name = "gguf";
    m.format.execution_format = "gguf";
    for (const auto& [path, w] : files) {
      w.WriteTo(dir_ / path);
      m.format.files.push_back({path, fs::file_size(dir_ / path), std::string(64, 'a')});
    }
    m.format.execution_files.push_back({files.front().first, "gguf", "single"});
    DescribeModel(dir_, &m, notes);
    Status st = mpf::ValidateManifest(m, {.strict = true});
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto back = mpf::ParseManifest(mpf::EmitManifest(m), {.strict = true});
    EXPECT_TRUE(back.ok()) << back.status().ToString();
    if (back.ok()) {
      EXPECT_EQ(back->llm.has_value(), m.llm.has_value());
      if (back->llm && m.llm) {
        EXPECT_EQ(back->llm->chat_template, m.llm->chat_template);
      }
    }
    return m;
  }

  fs::path dir_;
};

TEST_F(DescribeTest, GeneratorWithChatTemplate) {
  GgufWriter w = Llama();
  w.U32("general.file_type", 15)  // Q4_K_M
      .Str("tokenizer.chat_template", kTemplate);
  AddLlamaTensors(&w);
  std::vector<std::string> notes;
  mpf::Manifest m = Describe({{"tiny.Q4_K_M.gguf", w}}, &notes);
  ASSERT_TRUE(m.llm.has_value());
  EXPECT_EQ(m.llm->architecture, "llama");
  EXPECT_EQ(m.llm->context_length, 2048u);
  EXPECT_EQ(m.llm->embedding_length, 256u);
  EXPECT_EQ(m.llm->parameter_count, 256u * 8 + 256 + 2 * 256 * 256 + 256 * 8);  // sum of tensors
  EXPECT_EQ(m.llm->quantization, "Q4_K_M");
  EXPECT_EQ(m.llm->chat_template, kTemplate);
  EXPECT_FALSE(m.llm->embedding);
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "prompt");
  EXPECT_EQ(m.io.inputs[0].dtype, "string");
  EXPECT_EQ(m.io.inputs[0].shape, std::vector<int64_t>{-1});
  ASSERT_EQ(m.io.outputs.size(), 1u);
  EXPECT_EQ(m.io.outputs[0].name, "text");
  EXPECT_EQ(m.io.outputs[0].shape, std::vector<int64_t>{-1});
  EXPECT_EQ(m.framework.version, "llama");
  EXPECT_THAT(m.metadata.tags, ::testing::Contains("Q4_K_M"));
  EXPECT_GT(m.requirements.memory_min_gb, 0);
  EXPECT_TRUE(notes.empty()) << notes.front();
}

TEST_F(DescribeTest, GeneratorWithoutChatTemplateOrFileType) {
  GgufWriter w = Llama();
  w.U64("general.parameter_count", 1100048384)
      .Tensor("token_embd.weight", {256, 8}, kQ8_0)
      .Tensor("blk.0.attn_q.weight", {256, 64}, kQ8_0)
      .Tensor("blk.0.attn_norm.weight", {256}, kF32)
      .Tensor("output.weight", {256, 8}, kF16);
  std::vector<std::string> notes;
  mpf::Manifest m = Describe({{"model.gguf", w}}, &notes);
  ASSERT_TRUE(m.llm.has_value());
  EXPECT_EQ(m.llm->parameter_count, 1100048384u);  // general.parameter_count wins
  EXPECT_EQ(m.llm->quantization, "Q8_0");           // the dominant weight type
  EXPECT_EQ(m.llm->chat_template, "");
  EXPECT_FALSE(m.llm->embedding);
  EXPECT_EQ(m.io.inputs[0].name, "prompt");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0], HasSubstr("no tokenizer.chat_template"));
  std::string yaml = mpf::EmitManifest(m);
  EXPECT_THAT(yaml, HasSubstr("chat_template: \"\""));
}

TEST_F(DescribeTest, BertArchitectureIsAnEmbeddingModel) {
  GgufWriter w;
  w.Str("general.architecture", "bert")
      .U32("bert.context_length", 512)
      .U32("bert.embedding_length", 384)
      .U32("general.file_type", 1)  // F16
      .Tensor("token_embd.weight", {384, 16}, kF16)
      .Tensor("blk.0.attn_q.weight", {384, 384}, kF16);
  std::vector<std::string> notes;
  mpf::Manifest m = Describe({{"bge-small-f16.gguf", w}}, &notes);
  ASSERT_TRUE(m.llm.has_value());
  EXPECT_TRUE(m.llm->embedding);
  EXPECT_EQ(m.llm->architecture, "bert");
  EXPECT_EQ(m.llm->quantization, "F16");
  EXPECT_EQ(m.llm->embedding_length, 384u);
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "text");
  EXPECT_EQ(m.io.inputs[0].dtype, "string");
  EXPECT_EQ(m.io.inputs[0].shape, std::vector<int64_t>{-1});
  ASSERT_EQ(m.io.outputs.size(), 1u);
  EXPECT_EQ(m.io.outputs[0].name, "embedding");
  EXPECT_EQ(m.io.outputs[0].dtype, "float32");
  EXPECT_EQ(m.io.outputs[0].shape, (std::vector<int64_t>{-1, 384}));
  EXPECT_TRUE(notes.empty());  // no chat template note for an embedding model
}

TEST_F(DescribeTest, PoolingTypeMakesAnEmbeddingModel) {
  struct Case {
    const char* arch;
    int pooling;  // -2: key absent
    bool embedding;
  };
  const Case cases[] = {{"qwen3", 3, true},  {"qwen3", 1, true},      {"qwen3", 2, true},
                        {"qwen3", 0, false}, {"qwen3", 4, false},     {"qwen3", -2, false},
                        {"nomic-bert", -2, true}, {"jina-bert-v2", 0, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.arch) + " pooling " + std::to_string(c.pooling));
    GgufWriter w;
    w.Str("general.architecture", c.arch)
        .U32(std::string(c.arch) + ".embedding_length", 32)
        .Tensor("token_embd.weight", {32, 4}, kF32);
    if (c.pooling >= -1) w.I32(std::string(c.arch) + ".pooling_type", c.pooling);
    std::vector<std::string> notes;
    mpf::Manifest m = Describe({{"m.gguf", w}}, &notes);
    ASSERT_TRUE(m.llm.has_value());
    EXPECT_EQ(m.llm->embedding, c.embedding);
    EXPECT_EQ(m.io.outputs[0].name, c.embedding ? "embedding" : "text");
    EXPECT_EQ(m.llm->quantization, "F32");
    EXPECT_EQ(m.llm->parameter_count, 128u);
  }
}

TEST_F(DescribeTest, SplitSetCountsEveryShard) {
  GgufWriter first = Llama();
  first.U32("general.file_type", 7)  // Q8_0
      .U32("split.count", 2)
      .Tensor("token_embd.weight", {256, 8}, kQ8_0);
  GgufWriter second;
  second.U32("split.count", 2).Tensor("output.weight", {256, 16}, kQ8_0);
  std::vector<std::string> notes;
  mpf::Manifest m = Describe({{"m-Q8_0-00001-of-00002.gguf", first},
                              {"m-Q8_0-00002-of-00002.gguf", second}},
                             &notes);
  ASSERT_TRUE(m.llm.has_value());
  EXPECT_EQ(m.llm->parameter_count, 256u * 8 + 256 * 16);
  EXPECT_EQ(m.llm->quantization, "Q8_0");
}

TEST_F(DescribeTest, UnreadableGgufIsANoteNotAFailure) {
  fs::path p = dir_ / "bad.gguf";
  {
    GgufWriter w;
    w.Str("general.architecture", "llama");
    std::string bytes = w.Bytes();
    bytes[0] = 'X';
    std::ofstream(p, std::ios::binary) << bytes;
  }
  mpf::Manifest m;
  m.format.files.push_back({"bad.gguf", fs::file_size(p), ""});
  m.format.execution_files.push_back({"bad.gguf", "gguf", "single"});
  std::vector<std::string> notes;
  DescribeModel(dir_, &m, &notes);
  EXPECT_FALSE(m.llm.has_value());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0], HasSubstr("bad magic"));
}

// A TFLite execution file: the IO of subgraph 0, the runtime version, the description and a
// memory estimate (the real hand landmark model; scripts/setup.sh fetches it).
TEST_F(DescribeTest, TfliteIoFromTheFlatbuffer) {
  const fs::path model =
      fs::path(MLOS_SOURCE_DIR) / "third_party" / "tflite" / "models" / "hand_landmark_lite.tflite";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is missing (scripts/setup.sh fetches it)";
  fs::create_directories(dir_ / "1");
  fs::copy_file(model, dir_ / "1" / "hand.tflite");
  mpf::Manifest m;
  m.metadata.name = "hand";
  m.metadata.namespace_ = "local";
  m.metadata.version = "1.0.0";
  m.framework.name = "tflite";
  m.format.type = "tflite";
  m.format.execution_format = "tflite";
  m.format.files.push_back({"1/hand.tflite", fs::file_size(model), std::string(64, 'a')});
  m.format.execution_files.push_back({"1/hand.tflite", "tflite", "single"});
  std::vector<std::string> notes;
  DescribeModel(dir_, &m, &notes);
  EXPECT_TRUE(notes.empty()) << notes.front();
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "input_1");
  EXPECT_EQ(m.io.inputs[0].dtype, "float32");
  EXPECT_EQ(m.io.inputs[0].shape, (std::vector<int64_t>{1, 224, 224, 3}));
  ASSERT_EQ(m.io.outputs.size(), 4u);
  EXPECT_EQ(m.io.outputs[0].name, "Identity");
  EXPECT_EQ(m.io.outputs[0].shape, (std::vector<int64_t>{1, 63}));
  EXPECT_EQ(m.framework.version, "1.14.0");  // its min_runtime_version metadata
  EXPECT_EQ(m.metadata.description, "MLIR Converted.");
  // ~2 MiB * 1.2, rounded up to hundredths of a GiB.
  EXPECT_DOUBLE_EQ(m.requirements.memory_min_gb, 0.01);
  EXPECT_GT(m.requirements.storage_min_gb, 0);
  Status st = mpf::ValidateManifest(m, {.strict = true});
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(DescribeTest, UnreadableTfliteIsANoteNotAFailure) {
  std::ofstream(dir_ / "bad.tflite", std::ios::binary) << std::string("\x1c\0\0\0TFL3", 8)
                                                       << std::string(100, '\xff');
  mpf::Manifest m;
  m.metadata.description = "kept";
  m.format.execution_format = "tflite";
  m.format.files.push_back({"bad.tflite", fs::file_size(dir_ / "bad.tflite"), ""});
  m.format.execution_files.push_back({"bad.tflite", "tflite", "single"});
  std::vector<std::string> notes;
  DescribeModel(dir_, &m, &notes);
  EXPECT_TRUE(m.io.inputs.empty());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0], HasSubstr("could not read the TFLite model bad.tflite: "));
  EXPECT_THAT(notes[0], HasSubstr("truncated or corrupt TFLite file"));
  EXPECT_EQ(m.metadata.description, "kept");
  EXPECT_GT(m.requirements.memory_min_gb, 0);  // still estimated from the file size
}

// TorchScript has no typed signature: DescribeModel leaves spec.io to the installer.
TEST_F(DescribeTest, TorchScriptGetsAMemoryEstimateButNoIo) {
  std::ofstream(dir_ / "m.pt", std::ios::binary) << std::string(4096, 'x');
  mpf::Manifest m;
  m.format.execution_format = "torchscript";
  m.format.files.push_back({"m.pt", 4096, ""});
  m.format.execution_files.push_back({"m.pt", "torchscript", "single"});
  std::vector<std::string> notes;
  DescribeModel(dir_, &m, &notes);
  EXPECT_TRUE(notes.empty());
  EXPECT_TRUE(m.io.inputs.empty());
  EXPECT_TRUE(m.io.outputs.empty());
  EXPECT_DOUBLE_EQ(m.requirements.memory_min_gb, 0.01);
}

TEST(GgufLlmTest, QuantizationFallsBackToTheDominantType) {
  GgufInfo info;
  info.has_file_type = true;
  info.file_type = 99;
  info.file_type_name = GgufFileTypeName(99);  // "FTYPE_99": not a name to record
  info.tensors.push_back({"a", {32, 4}, kQ4_K, 0, 0});
  info.tensors.push_back({"b", {32, 64}, kQ6_K, 0, 0});
  info.tensors.push_back({"norm", {4096}, kF32, 0, 0});  // 1-D tensors do not count
  EXPECT_EQ(GgufQuantization(info), "Q6_K");
  info.tensors.clear();
  EXPECT_EQ(GgufQuantization(info), "");
  EXPECT_TRUE(IsEmbeddingArchitecture("nomic-bert"));
  EXPECT_FALSE(IsEmbeddingArchitecture("llama"));
}

}  // namespace
}  // namespace mlos::axon
