// --input/--output values, io.yaml sidecars and how both apply over a described IO schema.
#include "axon/inspect/sidecar_io.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

mpf::TensorSpec T(const std::string& name, const std::string& dtype, std::vector<int64_t> shape) {
  mpf::TensorSpec t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

TEST(ParseShapeTextTest, Forms) {
  const std::vector<std::pair<std::string, std::vector<int64_t>>> good = {
      {"-1,3,224,224", {-1, 3, 224, 224}},
      {"[-1,3,224,224]", {-1, 3, 224, 224}},
      {" [ -1 , 3 ] ", {-1, 3}},
      {"7", {7}},
      {"0", {0}},
      {"", {}},
      {"[]", {}},
      {"scalar", {}},
      {"Scalar", {}}};
  for (const auto& [text, want] : good) {
    auto s = ParseShapeText(text);
    ASSERT_TRUE(s.ok()) << text << ": " << s.status().ToString();
    EXPECT_EQ(*s, want) << text;
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"1,,2", "dimension 1 \"\" is not an integer"},
      {"1,2,", "dimension 2 \"\" is not an integer"},
      {"1,x", "dimension 1 \"x\" is not an integer"},
      {"-2", "dimension 0 is -2 (expected -1 for dynamic, or >= 0)"},
      {"[1,2", "unbalanced brackets"},
      {"1,2]", "unbalanced brackets"},
      {"1.5", "is not an integer"},
      {"99999999999999999999", "is not an integer"}};
  for (const auto& [text, want] : bad) {
    auto s = ParseShapeText(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.status().message(), HasSubstr(want)) << text;
  }
}

TEST(ParseTensorFlagTest, NameDtypeShape) {
  auto t = ParseTensorFlag("--input", "x:float32:-1,3,224,224");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "x");
  EXPECT_EQ(t->dtype, "float32");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{-1, 3, 224, 224}));

  // Names may carry ':' (TensorFlow names such as "serving_default_x:0").
  t = ParseTensorFlag("--input", "serving_default_x:0:int64:[1]");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "serving_default_x:0");
  EXPECT_EQ(t->dtype, "int64");
  EXPECT_EQ(t->shape, std::vector<int64_t>{1});

  for (const char* scalar : {"n:int32:", "n:int32:scalar", "n:int32:[]"}) {
    t = ParseTensorFlag("--output", scalar);
    ASSERT_TRUE(t.ok()) << scalar;
    EXPECT_TRUE(t->shape.empty()) << scalar;
  }
}

TEST(ParseTensorFlagTest, ErrorsNameTheFlagAndTheValue) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"x", "--input \"x\": expected name:dtype:shape"},
      {"x:float32", "--input \"x:float32\": expected name:dtype:shape"},
      {":float32:1", "--input \":float32:1\": the tensor name is empty"},
      {"x:float33:1",
       "--input \"x:float33:1\": unknown dtype \"float33\" (expected one of float32"},
      {"x::1", "--input \"x::1\": the dtype is empty"},
      {"x:float32:1,a", "--input \"x:float32:1,a\": shape: dimension 1 \"a\" is not an integer"},
      {"x:float32:-3", "--input \"x:float32:-3\": shape: dimension 0 is -3"}};
  for (const auto& [value, want] : bad) {
    auto t = ParseTensorFlag("--input", value);
    ASSERT_FALSE(t.ok()) << value;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message().rfind(want, 0), 0u) << t.status().message();
    EXPECT_EQ(t.status().message().find('\n'), std::string::npos);
  }
  auto twice = ParseTensorFlags("--output", {"y:float32:1", "z:int8:2", "y:float16:3"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(),
              HasSubstr("--output \"y:float16:3\": tensor \"y\" is given twice"));
  auto both = ParseTensorFlags("--output", {"y:float32:1", "z:int8:2"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 2u);
  EXPECT_TRUE(ParseTensorFlags("--input", {})->empty());
}

TEST(IoSidecarTest, ParsesTheManifestForm) {
  auto io = ParseIoSidecar(R"(
inputs:
  - {name: x, dtype: float32, shape: [-1, 3, 224, 224]}
  - name: mask
    dtype: bool
    shape: [-1, 224, 224]
    description: pixels to keep
outputs:
  - {name: logits, dtype: float32, shape: [-1, 1000]}
  - {name: count, dtype: int64, shape: []}
)",
                           "model.io.yaml");
  ASSERT_TRUE(io.ok()) << io.status().ToString();
  ASSERT_EQ(io->inputs.size(), 2u);
  EXPECT_EQ(io->inputs[0].name, "x");
  EXPECT_EQ(io->inputs[0].shape, (std::vector<int64_t>{-1, 3, 224, 224}));
  EXPECT_EQ(io->inputs[1].dtype, "bool");
  EXPECT_EQ(io->inputs[1].description, "pixels to keep");
  ASSERT_EQ(io->outputs.size(), 2u);
  EXPECT_TRUE(io->outputs[1].shape.empty());

  auto only_inputs = ParseIoSidecar("inputs: [{name: x, dtype: int8, shape: [4]}]\n", "io.yaml");
  ASSERT_TRUE(only_inputs.ok()) << only_inputs.status().ToString();
  EXPECT_TRUE(only_inputs->outputs.empty());
}

TEST(IoSidecarTest, ErrorsNameTheFileAndTheField) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"inputs: [{name: x, dtype: float33, shape: [1]}]",
       "io.yaml: inputs[0].dtype: unknown dtype \"float33\""},
      {"inputs: [{dtype: float32, shape: [1]}]", "io.yaml: inputs[0].name: required"},
      {"outputs: [{name: y, shape: [1]}]", "io.yaml: outputs[0].dtype: required"},
      {"outputs: [{name: y, dtype: int8}]", "io.yaml: outputs[0].shape: required"},
      {"outputs: [{name: y, dtype: int8, shape: 4}]",
       "io.yaml: outputs[0].shape: required, a list"},
      {"outputs: [{name: y, dtype: int8, shape: [1, x]}]",
       "io.yaml: outputs[0].shape: dimension 1 \"x\" is not an integer"},
      {"outputs: [{name: y, dtype: int8, shape: [-5]}]",
       "io.yaml: outputs[0].shape: dimension 0 is -5"},
      {"outputs: [{name: y, dtype: int8, shape: [[1]]}]",
       "io.yaml: outputs[0].shape[0]: expected an integer"},
      {"outputs: [{name: y, dtype: int8, shape: [1], shap: [2]}]",
       "io.yaml: outputs[0]: unknown key \"shap\""},
      {"outputs: [{name: y, dtype: int8, shape: [1]}, {name: y, dtype: int8, shape: [2]}]",
       "io.yaml: outputs[1].name: \"y\" is listed twice"},
      {"outputs: [x]", "io.yaml: outputs[0]: expected a mapping"},
      {"outputs: {name: y}", "io.yaml: outputs: expected a list"},
      {"input: []", "io.yaml: unknown key \"input\" (expected inputs and outputs)"},
      {"[1, 2]", "io.yaml: expected a mapping with inputs: and outputs:"},
      {"", "io.yaml: expected a mapping"},
      {"inputs: []\noutputs: []", "io.yaml: lists no inputs and no outputs"},
      {"inputs: [{name: x\n", "io.yaml: not valid YAML"}};
  for (const auto& [yaml, want] : bad) {
    auto io = ParseIoSidecar(yaml, "io.yaml");
    ASSERT_FALSE(io.ok()) << yaml;
    EXPECT_EQ(io.status().code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_EQ(io.status().message().rfind(want, 0), 0u) << yaml << "\n" << io.status().message();
    EXPECT_EQ(io.status().message().find('\n'), std::string::npos) << io.status().message();
  }
}

TEST(IoSidecarTest, LoadsFromAFile) {
  const fs::path dir = fs::temp_directory_path() / ("mlos-sidecar-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "m.io.yaml") << "outputs: [{name: y, dtype: uint8, shape: [2]}]\n";
  auto io = LoadIoSidecar(dir / "m.io.yaml", "m.io.yaml");
  ASSERT_TRUE(io.ok()) << io.status().ToString();
  EXPECT_EQ(io->outputs[0].dtype, "uint8");
  EXPECT_EQ(LoadIoSidecar(dir / "none.yaml", "none.yaml").status().code(), StatusCode::kNotFound);
  std::ofstream(dir / "big.io.yaml") << std::string(2 << 20, '#');
  EXPECT_THAT(LoadIoSidecar(dir / "big.io.yaml", "big.io.yaml").status().message(),
              HasSubstr("too large"));
  fs::remove_all(dir);
}

TEST(IoSidecarTest, PathsBesideTheModel) {
  EXPECT_EQ(IoSidecarPaths("model.pt"), (std::vector<std::string>{"model.io.yaml", "io.yaml"}));
  EXPECT_EQ(IoSidecarPaths("sub/dir/net.traced.pt"),
            (std::vector<std::string>{"sub/dir/net.traced.io.yaml", "sub/dir/io.yaml"}));
  EXPECT_EQ(IoSidecarPaths("plain"), (std::vector<std::string>{"plain.io.yaml", "io.yaml"}));
  EXPECT_TRUE(IsIoSidecarName("io.yaml"));
  EXPECT_TRUE(IsIoSidecarName("a/IO.YAML"));
  EXPECT_TRUE(IsIoSidecarName("sub/model.io.yaml"));
  EXPECT_FALSE(IsIoSidecarName("config.yaml"));
  EXPECT_FALSE(IsIoSidecarName("radio.yaml"));
  EXPECT_FALSE(IsIoSidecarName(".io.yaml"));
}

TEST(ApplyIoOverrideTest, ReplacesByNameOrAdds) {
  mpf::Io io;
  io.inputs = {T("a", "float32", {-1, 4}), T("b", "int64", {-1})};
  io.inputs[0].description = "from the graph";
  io.outputs = {T("y", "float32", {-1, 2})};
  IoOverride given;
  given.inputs = {T("a", "float32", {8, 4})};
  ASSERT_TRUE(ApplyIoOverride(given, true, "m.onnx", &io).ok());
  ASSERT_EQ(io.inputs.size(), 2u);
  EXPECT_EQ(io.inputs[0].shape, (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(io.inputs[0].description, "from the graph");  // kept when the flag has none
  EXPECT_EQ(io.inputs[1].name, "b");

  // A tensor the model does not have: an error for ONNX/TFLite, added otherwise.
  given = {};
  given.outputs = {T("z", "int8", {1})};
  Status st = ApplyIoOverride(given, true, "m.onnx", &io);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "--output \"z\": m.onnx has no output \"z\" (its outputs: y)");
  given.inputs = {T("q", "int8", {1})};
  st = ApplyIoOverride(given, true, "m.tflite", &io);
  EXPECT_EQ(st.message(), "--input \"q\": m.tflite has no input \"q\" (its inputs: a, b)");

  mpf::Io empty;
  given = {};
  given.inputs = {T("x", "float32", {-1, 4})};
  given.outputs = {T("y", "float32", {-1, 2}), T("n", "int64", {})};
  ASSERT_TRUE(ApplyIoOverride(given, false, "m.pt", &empty).ok());
  ASSERT_EQ(empty.inputs.size(), 1u);
  ASSERT_EQ(empty.outputs.size(), 2u);
  EXPECT_EQ(empty.outputs[1].name, "n");
}

}  // namespace
}  // namespace mlos::axon
