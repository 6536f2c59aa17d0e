#include "axon/inspect/onnx_io.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;

fs::path Fixture(const std::string& name) {
  return fs::path(MLOS_BINARY_DIR) / "fixtures" / name;
}

// A scratch directory per test, removed afterwards.
class OnnxIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mlos-onnx-io-" + std::string(t->name()) + "-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path WriteModel(const std::string& name, const onnx::ModelProto& m) {
    return Write(name, m.SerializeAsString());
  }

  fs::path dir_;
};

onnx::ValueInfoProto TensorValue(const std::string& name, int elem, std::vector<int64_t> dims) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  return v;
}

onnx::ModelProto BaseModel() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  m.mutable_graph()->set_name("g");
  return m;
}

TEST_F(OnnxIoTest, IdentityF32) {
  auto info = InspectOnnx(Fixture("identity_f32.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 1u);
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->inputs[0].spec.name, "input");
  EXPECT_EQ(info->inputs[0].spec.dtype, "float32");
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(info->inputs[0].rank_known);
  EXPECT_EQ(info->outputs[0].spec.name, "output");
  EXPECT_EQ(info->outputs[0].spec.shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(info->ir_version, 7);
  ASSERT_EQ(info->opsets.size(), 1u);
  EXPECT_EQ(info->opsets[0].domain, "");
  EXPECT_EQ(info->opsets[0].version, 13);
  EXPECT_EQ(info->producer_name, "mlos-fixtures");
  EXPECT_EQ(info->producer_version, "1");
  EXPECT_EQ(info->graph_name, "identity_f32");
  EXPECT_EQ(info->doc_string, "Identity on float32 [1,4]");
  EXPECT_EQ(info->initializer_bytes, 0u);
  EXPECT_EQ(info->initializer_count, 0u);
  EXPECT_FALSE(info->uses_external_data);
  EXPECT_EQ(info->file_size, fs::file_size(Fixture("identity_f32.onnx")));
}

TEST_F(OnnxIoTest, AddHasDynamicBatch) {
  auto info = InspectOnnx(Fixture("add.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 2u);
  EXPECT_EQ(info->inputs[0].spec.name, "a");
  EXPECT_EQ(info->inputs[1].spec.name, "b");
  for (const auto& in : info->inputs) {
    EXPECT_EQ(in.spec.dtype, "float32");
    EXPECT_EQ(in.spec.shape, (std::vector<int64_t>{-1, 3}));
    EXPECT_EQ(in.dim_params, (std::vector<std::string>{"batch", ""}));
  }
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->outputs[0].spec.name, "sum");
  EXPECT_EQ(info->outputs[0].spec.shape, (std::vector<int64_t>{-1, 3}));
}

TEST_F(OnnxIoTest, MlpCountsInitializers) {
  auto info = InspectOnnx(Fixture("mlp.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 1u);  // weights are not inputs
  EXPECT_EQ(info->inputs[0].spec.name, "input");
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{-1, 16}));
  ASSERT_EQ(info->outputs.size(), 2u);
  EXPECT_EQ(info->outputs[0].spec.name, "logits");
  EXPECT_EQ(info->outputs[1].spec.name, "probs");
  EXPECT_EQ(info->outputs[1].spec.shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(info->initializer_count, 4u);
  EXPECT_EQ(info->initializer_bytes, (16u * 32 + 32 + 32 * 4 + 4) * 4);
  EXPECT_FALSE(info->uses_external_data);
}

TEST_F(OnnxIoTest, DtypesCoversEveryManifestType) {
  auto info = InspectOnnx(Fixture("dtypes.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const std::vector<std::string> dtypes = {"float32", "float64", "float16", "bfloat16", "int8",
                                           "int16",   "int32",   "int64",   "uint8",    "uint16",
                                           "uint32",  "uint64",  "bool",    "string"};
  ASSERT_EQ(info->inputs.size(), dtypes.size());
  ASSERT_EQ(info->outputs.size(), dtypes.size());
  for (size_t i = 0; i < dtypes.size(); ++i) {
    EXPECT_EQ(info->inputs[i].spec.name, "in_" + dtypes[i]);
    EXPECT_EQ(info->inputs[i].spec.dtype, dtypes[i]);
    EXPECT_TRUE(mpf::IsKnownDtype(info->inputs[i].spec.dtype)) << dtypes[i];
    EXPECT_EQ(info->inputs[i].spec.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(info->outputs[i].spec.name, "out_" + dtypes[i]);
    EXPECT_EQ(info->outputs[i].spec.dtype, dtypes[i]);
  }
}

TEST_F(OnnxIoTest, ScalarAndZeroSizeDims) {
  auto info = InspectOnnx(Fixture("scalar_and_empty.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 2u);
  EXPECT_EQ(info->inputs[0].spec.name, "scalar");
  EXPECT_TRUE(info->inputs[0].spec.shape.empty());
  EXPECT_TRUE(info->inputs[0].rank_known);
  EXPECT_EQ(info->inputs[1].spec.name, "empty");
  EXPECT_EQ(info->inputs[1].spec.shape, (std::vector<int64_t>{0, 3}));
  ASSERT_EQ(info->outputs.size(), 2u);
  EXPECT_TRUE(info->outputs[0].spec.shape.empty());
  EXPECT_EQ(info->outputs[1].spec.shape, (std::vector<int64_t>{0, 3}));
}

TEST_F(OnnxIoTest, DemoCelsius) {
  auto info = InspectOnnx(Fixture("demo_celsius.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 1u);
  EXPECT_EQ(info->inputs[0].spec.name, "celsius");
  EXPECT_EQ(info->inputs[0].spec.dtype, "float32");
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{-1}));
  EXPECT_EQ(info->inputs[0].dim_params, (std::vector<std::string>{"n"}));
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->outputs[0].spec.name, "fahrenheit");
  EXPECT_EQ(info->graph_name, "celsius_to_fahrenheit");
  EXPECT_EQ(info->doc_string, "MLOS demo: Celsius to Fahrenheit");
  EXPECT_EQ(info->initializer_bytes, 8u);  // two float32 scalars

  mpf::Io io = OnnxIo(*info);
  ASSERT_EQ(io.inputs.size(), 1u);
  ASSERT_EQ(io.outputs.size(), 1u);
  EXPECT_EQ(io.inputs[0].name, "celsius");
  EXPECT_EQ(io.outputs[0].name, "fahrenheit");
  EXPECT_EQ(io.outputs[0].shape, (std::vector<int64_t>{-1}));
}

TEST_F(OnnxIoTest, InitializersListedAsInputsAreExcluded) {
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  *g->add_input() = TensorValue("x", onnx::TensorProto_DataType_FLOAT, {2});
  *g->add_input() = TensorValue("w", onnx::TensorProto_DataType_FLOAT, {2});
  *g->add_output() = TensorValue("y", onnx::TensorProto_DataType_FLOAT, {2});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto_DataType_FLOAT);
  w->add_dims(2);
  w->add_float_data(1);
  w->add_float_data(2);
  auto info = InspectOnnx(WriteModel("m.onnx", m));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 1u);
  EXPECT_EQ(info->inputs[0].spec.name, "x");
  EXPECT_EQ(info->initializer_bytes, 8u);
}

TEST_F(OnnxIoTest, UnknownRankAndUnsetDims) {
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("anything");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_INT64);
  auto* out = g->add_output();
  *out = TensorValue("y", onnx::TensorProto_DataType_UINT8, {3});
  out->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();  // unset dim
  auto info = InspectOnnx(WriteModel("m.onnx", m));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->inputs[0].rank_known);
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{-1}));
  EXPECT_EQ(info->inputs[0].spec.dtype, "int64");
  EXPECT_EQ(info->outputs[0].spec.shape, (std::vector<int64_t>{3, -1}));
}

TEST_F(OnnxIoTest, UnsupportedTypesNameTheTensor) {
  onnx::ModelProto m = BaseModel();
  *m.mutable_graph()->add_input() = TensorValue("z", onnx::TensorProto_DataType_COMPLEX64, {2});
  auto info = InspectOnnx(WriteModel("c.onnx", m));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("input 'z'"), std::string::npos)
      << info.status().message();
  EXPECT_NE(info.status().message().find("COMPLEX64"), std::string::npos)
      << info.status().message();

  onnx::ModelProto s = BaseModel();
  auto* out = s.mutable_graph()->add_output();
  out->set_name("seq");
  out->mutable_type()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  info = InspectOnnx(WriteModel("s.onnx", s));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("output 'seq'"), std::string::npos);
  EXPECT_NE(info.status().message().find("sequence"), std::string::npos);
}

TEST_F(OnnxIoTest, ExternalDataIsCountedNotRead) {
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  *g->add_input() = TensorValue("x", onnx::TensorProto_DataType_FLOAT16, {4});
  *g->add_output() = TensorValue("y", onnx::TensorProto_DataType_FLOAT16, {4});
  auto* w = g->add_initializer();
  w->set_name("big");
  w->set_data_type(onnx::TensorProto_DataType_FLOAT16);
  w->add_dims(1000);
  w->add_dims(1000);
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto* e = w->add_external_data();
  e->set_key("location");
  e->set_value("weights.bin");  // does not exist: never opened
  auto* w2 = g->add_initializer();
  w2->set_name("big2");
  w2->set_data_type(onnx::TensorProto_DataType_FLOAT);
  w2->add_dims(10);
  w2->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto* e2 = w2->add_external_data();
  e2->set_key("length");
  e2->set_value("40");
  auto* w3 = g->add_initializer();
  w3->set_name("raw");
  w3->set_data_type(onnx::TensorProto_DataType_INT64);
  w3->add_dims(3);
  w3->set_raw_data(std::string(24, '\1'));
  auto* c = g->add_node();  // a Constant node's tensor counts as weights too
  c->set_op_type("Constant");
  c->add_output("k");
  auto* attr = c->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto_AttributeType_TENSOR);
  attr->mutable_t()->set_data_type(onnx::TensorProto_DataType_DOUBLE);
  attr->mutable_t()->add_dims(5);
  attr->mutable_t()->set_raw_data(std::string(40, '\0'));
  auto info = InspectOnnx(WriteModel("ext.onnx", m));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->uses_external_data);
  EXPECT_EQ(info->initializer_count, 3u);
  EXPECT_EQ(info->initializer_bytes, 2'000'000u + 40 + 24 + 40);
  EXPECT_EQ(info->inputs.size(), 1u);
}

TEST_F(OnnxIoTest, NotOnnxFilesGiveClearErrors) {
  auto check = [&](const fs::path& p) {
    auto info = InspectOnnx(p);
    ASSERT_FALSE(info.ok()) << p;
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << p;
    EXPECT_EQ(info.status().message().rfind(p.string() + ": not a valid ONNX model: ", 0), 0u)
        << info.status().message();
  };
  check(Write("garbage.onnx", std::string("\xff\xfe\x00\x01garbage bytes here\x07\x08", 24)));
  check(Write("text.onnx", "hello world, this is not a model\n"));
  check(Write("empty.onnx", ""));
  check(Fixture("tiny.gguf"));
  // A protobuf that is not a ModelProto with a graph.
  onnx::ModelProto no_graph;
  no_graph.set_ir_version(7);
  check(WriteModel("nograph.onnx", no_graph));
  onnx::ModelProto no_ir = BaseModel();
  no_ir.clear_ir_version();
  check(WriteModel("noir.onnx", no_ir));
  // A real model cut short.
  std::ifstream in(Fixture("mlp.onnx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t{1}, size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    check(Write("cut" + std::to_string(cut) + ".onnx", bytes.substr(0, cut)));
  }

  auto missing = InspectOnnx(dir_ / "missing.onnx");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(OnnxIoTest, CorruptedBytesNeverCrash) {
  std::ifstream in(Fixture("mlp.onnx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    std::string mutated = bytes;
    for (int j = 0; j < 3; ++j) mutated[rng() % mutated.size()] = static_cast<char>(rng() & 0xff);
    auto info = InspectOnnx(Write("mutated.onnx", mutated));
    if (!info.ok()) {
      EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << info.status().message();
    }
  }
}

TEST(OnnxElemTypeTest, Mapping) {
  EXPECT_EQ(OnnxElemTypeToDtype(onnx::TensorProto_DataType_FLOAT), "float32");
  EXPECT_EQ(OnnxElemTypeToDtype(onnx::TensorProto_DataType_BFLOAT16), "bfloat16");
  EXPECT_EQ(OnnxElemTypeToDtype(onnx::TensorProto_DataType_COMPLEX128), "");
  EXPECT_EQ(OnnxElemTypeToDtype(0), "");
  EXPECT_EQ(OnnxElemTypeSize(onnx::TensorProto_DataType_BOOL), 1u);
  EXPECT_EQ(OnnxElemTypeSize(onnx::TensorProto_DataType_UINT64), 8u);
  EXPECT_EQ(OnnxElemTypeSize(onnx::TensorProto_DataType_STRING), 0u);
}

}  // namespace
}  // namespace mlos::axon
