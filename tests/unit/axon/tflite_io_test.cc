// InspectTfliteBytes / InspectTflite: the real MediaPipe hand landmark models (when
// scripts/setup.sh fetched them) against the IO the TFLite runtime reports for them, and
// FlatBuffers built here byte by byte: every field the reader uses, then wrong identifiers, every
// truncation, offsets and vtables pointing outside, huge vector lengths, bad tensor types and
// indices, and random corruption (never a crash or a read outside the span).
#include "axon/inspect/tflite_io.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// ---- a small FlatBuffer writer (front to back: every offset points forward) -----------------

struct Obj;
using ObjPtr = std::shared_ptr<Obj>;

struct Field {
  int index = 0;
  std::vector<uint8_t> scalar;  // an inline scalar, or
  ObjPtr ref;                   // an offset to another object
};

struct Obj {
  enum Kind { kTable, kScalars, kString, kTables } kind = kTable;
  std::string label;           // the writer records where labelled objects land
  std::vector<Field> fields;   // kTable
  std::vector<uint8_t> bytes;  // kScalars (raw elements) and kString (characters)
  uint32_t count = 0;          // kScalars: number of elements
  std::vector<ObjPtr> items;   // kTables
};

template <typename T>
Field Scalar(int index, T value) {
  Field f;
  f.index = index;
  f.scalar.resize(sizeof(T));
  std::memcpy(f.scalar.data(), &value, sizeof(T));
  return f;
}

Field Ref(int index, ObjPtr obj) {
  Field f;
  f.index = index;
  f.ref = std::move(obj);
  return f;
}

ObjPtr Table(std::vector<Field> fields, std::string label = "") {
  auto o = std::make_shared<Obj>();
  o->kind = Obj::kTable;
  o->fields = std::move(fields);
  o->label = std::move(label);
  return o;
}

ObjPtr Ints(const std::vector<int32_t>& v, std::string label = "") {
  auto o = std::make_shared<Obj>();
  o->kind = Obj::kScalars;
  o->count = static_cast<uint32_t>(v.size());
  o->bytes.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(o->bytes.data(), v.data(), v.size() * 4);
  o->label = std::move(label);
  return o;
}

ObjPtr Bytes(size_t n, std::string label = "") {
  auto o = std::make_shared<Obj>();
  o->kind = Obj::kScalars;
  o->count = static_cast<uint32_t>(n);
  o->bytes.assign(n, 0xab);
  o->label = std::move(label);
  return o;
}

ObjPtr Str(const std::string& s, std::string label = "") {
  auto o = std::make_shared<Obj>();
  o->kind = Obj::kString;
  o->bytes.assign(s.begin(), s.end());
  o->label = std::move(label);
  return o;
}

ObjPtr Tables(std::vector<ObjPtr> items, std::string label = "") {
  auto o = std::make_shared<Obj>();
  o->kind = Obj::kTables;
  o->items = std::move(items);
  o->label = std::move(label);
  return o;
}

class Writer {
 public:
  // The file: root offset, "TFL3", then the root table and everything below it.
  std::vector<uint8_t> Finish(const Obj& root) {
    out_.assign(8, 0);
    std::memcpy(out_.data() + 4, "TFL3", 4);
    Patch(0, Emit(root));
    return out_;
  }
  // Where a labelled object starts (a table's soffset, a vector's length).
  size_t At(const std::string& label) const { return at_.at(label); }

 private:
  void Align(size_t a) {
    while (out_.size() % a != 0) out_.push_back(0);
  }
  void Put(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <typename T>
  void PutValue(T v) {
    Put(&v, sizeof v);
  }
  // The uoffset at `slot` points at `target`.
  void Patch(size_t slot, size_t target) {
    const uint32_t v = static_cast<uint32_t>(target - slot);
    std::memcpy(out_.data() + slot, &v, 4);
  }

  size_t Emit(const Obj& o) {
    size_t pos = 0;
    switch (o.kind) {
      case Obj::kScalars:
        Align(4);
        pos = out_.size();
        PutValue<uint32_t>(o.count);
        Put(o.bytes.data(), o.bytes.size());
        break;
      case Obj::kString:
        Align(4);
        pos = out_.size();
        PutValue<uint32_t>(static_cast<uint32_t>(o.bytes.size()));
        Put(o.bytes.data(), o.bytes.size());
        PutValue<uint8_t>(0);
        break;
      case Obj::kTables: {
        Align(4);
        pos = out_.size();
        PutValue<uint32_t>(static_cast<uint32_t>(o.items.size()));
        const size_t slots = out_.size();
        out_.resize(out_.size() + 4 * o.items.size(), 0);
        for (size_t i = 0; i < o.items.size(); ++i) Patch(slots + 4 * i, Emit(*o.items[i]));
        break;
      }
      case Obj::kTable: {
        int max_index = -1;
        for (const Field& f : o.fields) max_index = std::max(max_index, f.index);
        std::map<int, uint16_t> field_offset;
        uint16_t table_size = 4;
        for (const Field& f : o.fields) {
          field_offset[f.index] = table_size;
          table_size = static_cast<uint16_t>(table_size +
                                             (f.ref ? 4 : std::max<size_t>(4, f.scalar.size())));
        }
        Align(4);
        const size_t vtable = out_.size();
        PutValue<uint16_t>(static_cast<uint16_t>(4 + 2 * (max_index + 1)));
        PutValue<uint16_t>(table_size);
        for (int i = 0; i <= max_index; ++i)
          PutValue<uint16_t>(field_offset.count(i) ? field_offset[i] : 0);
        Align(4);
        pos = out_.size();
        PutValue<int32_t>(static_cast<int32_t>(pos - vtable));
        out_.resize(pos + table_size, 0);
        for (const Field& f : o.fields)
          if (!f.ref)
            std::memcpy(out_.data() + pos + field_offset[f.index], f.scalar.data(),
                        f.scalar.size());
        for (const Field& f : o.fields)
          if (f.ref) Patch(pos + field_offset[f.index], Emit(*f.ref));
        break;
      }
    }
    if (!o.label.empty()) at_[o.label] = pos;
    return pos;
  }

  std::vector<uint8_t> out_;
  std::map<std::string, size_t> at_;
};

// ---- TFLite models in that writer -------------------------------------------------------------

constexpr int8_t kFloat32 = 0, kInt32 = 2, kUint8 = 3, kInt64 = 4, kString = 5, kBool = 6,
                 kComplex64 = 8, kInt8 = 9, kResource = 13, kVariant = 14;

struct TensorDef {
  std::string name;
  int8_t type = kFloat32;
  std::vector<int32_t> shape;
  std::optional<std::vector<int32_t>> signature;
};

struct ModelDef {
  uint32_t version = 3;
  std::string description = "built in a test";
  std::vector<TensorDef> tensors;
  std::vector<int32_t> inputs, outputs;
  std::vector<size_t> buffer_sizes = {0, 100, 28};  // buffer 0: the empty sentinel
  std::string min_runtime_version = "2.3.0";        // "" = no metadata
  bool with_subgraph = true;
};

ObjPtr TensorObj(const TensorDef& t, size_t i) {
  std::vector<Field> fields = {Ref(0, Ints(t.shape, "shape" + std::to_string(i))),
                               Scalar<int8_t>(1, t.type), Scalar<uint32_t>(2, 0)};
  if (!t.name.empty()) fields.push_back(Ref(3, Str(t.name)));
  if (t.signature) fields.push_back(Ref(7, Ints(*t.signature, "signature" + std::to_string(i))));
  return Table(std::move(fields), "tensor" + std::to_string(i));
}

ObjPtr ModelObj(const ModelDef& d) {
  std::vector<ObjPtr> tensors;
  for (size_t i = 0; i < d.tensors.size(); ++i) tensors.push_back(TensorObj(d.tensors[i], i));
  std::vector<ObjPtr> subgraphs;
  if (d.with_subgraph)
    subgraphs.push_back(Table({Ref(0, Tables(tensors, "tensors")), Ref(1, Ints(d.inputs, "inputs")),
                               Ref(2, Ints(d.outputs, "outputs")), Ref(4, Str("main"))},
                              "subgraph"));
  std::vector<ObjPtr> buffers;
  for (size_t i = 0; i < d.buffer_sizes.size(); ++i)
    buffers.push_back(Table({Ref(0, Bytes(d.buffer_sizes[i]))}, "buffer" + std::to_string(i)));
  std::vector<Field> fields = {Scalar<uint32_t>(0, d.version),
                               Ref(2, Tables(subgraphs, "subgraphs")), Ref(3, Str(d.description))};
  if (!d.min_runtime_version.empty()) {
    auto data = std::make_shared<Obj>();
    data->kind = Obj::kScalars;
    data->bytes.assign(d.min_runtime_version.begin(), d.min_runtime_version.end());
    data->bytes.resize(16, 0);  // padded with NULs, as the converter writes it
    data->count = 16;
    buffers.push_back(Table({Ref(0, data)}));
  }
  fields.push_back(Ref(4, Tables(buffers, "buffers")));
  if (!d.min_runtime_version.empty())
    fields.push_back(
        Ref(6, Tables({Table({Ref(0, Str("min_runtime_version")),
                              Scalar<uint32_t>(1, static_cast<uint32_t>(buffers.size() - 1))})},
                      "metadata")));
  return Table(std::move(fields), "model");
}

// Two inputs (one with a dynamic batch in its shape_signature), two outputs.
ModelDef SmallModel() {
  ModelDef d;
  d.tensors = {{"image", kUint8, {1, 8, 8, 3}, std::vector<int32_t>{-1, 8, 8, 3}},
               {"weights", kFloat32, {4, 4}, std::nullopt},
               {"count", kInt32, {}, std::nullopt},
               {"scores", kFloat32, {1, 10}, std::vector<int32_t>{-1, 10}},
               {"serving_default_label:0", kInt64, {1}, std::nullopt}};
  d.inputs = {0, 2};
  d.outputs = {3, 4};
  return d;
}

std::vector<uint8_t> Build(const ModelDef& d, Writer* w = nullptr) {
  Writer local;
  return (w ? *w : local).Finish(*ModelObj(d));
}

Result<TfliteInfo> Inspect(const std::vector<uint8_t>& b) {
  return InspectTfliteBytes(b);
}

void PutU32(std::vector<uint8_t>* b, size_t at, uint32_t v) {
  std::memcpy(b->data() + at, &v, 4);
}

// ---- the real models ------------------------------------------------------------------------

fs::path RealModel(const std::string& name) {
  return fs::path(MLOS_SOURCE_DIR) / "third_party" / "tflite" / "models" / name;
}

TEST(TfliteIoTest, HandLandmarkModelsAsTheRuntimeSeesThem) {
  // The TFLite 2.9 C API reports, for both files: input_1 float32 [1,224,224,3]; outputs
  // Identity [1,63], Identity_1 [1,1], Identity_2 [1,1], Identity_3 [1,63].
  for (const char* name : {"hand_landmark_lite.tflite", "hand_landmark_full.tflite"}) {
    SCOPED_TRACE(name);
    const fs::path p = RealModel(name);
    if (!fs::exists(p)) GTEST_SKIP() << p << " is missing (scripts/setup.sh fetches it)";
    auto info = InspectTflite(p);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->schema_version, 3u);
    EXPECT_EQ(info->subgraph_count, 1u);
    EXPECT_EQ(info->description, "MLIR Converted.");
    EXPECT_EQ(info->min_runtime_version, "1.14.0");
    EXPECT_EQ(info->file_size, fs::file_size(p));
    EXPECT_GT(info->buffer_bytes, info->file_size * 9 / 10);  // nearly all of it is weights
    EXPECT_LE(info->buffer_bytes, info->file_size);
    ASSERT_EQ(info->inputs.size(), 1u);
    EXPECT_EQ(info->inputs[0].spec.name, "input_1");
    EXPECT_EQ(info->inputs[0].spec.dtype, "float32");
    EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{1, 224, 224, 3}));
    const std::vector<std::pair<std::string, std::vector<int64_t>>> outputs = {
        {"Identity", {1, 63}},
        {"Identity_1", {1, 1}},
        {"Identity_2", {1, 1}},
        {"Identity_3", {1, 63}}};
    ASSERT_EQ(info->outputs.size(), outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      EXPECT_EQ(info->outputs[i].spec.name, outputs[i].first);
      EXPECT_EQ(info->outputs[i].spec.dtype, "float32");
      EXPECT_EQ(info->outputs[i].spec.shape, outputs[i].second);
    }
    mpf::Io io = TfliteIo(*info);
    ASSERT_EQ(io.outputs.size(), 4u);
    EXPECT_EQ(io.outputs[3].name, "Identity_3");
  }
}

TEST(TfliteIoTest, EveryTruncationOfTheRealModelHeadIsAnError) {
  const fs::path p = RealModel("hand_landmark_lite.tflite");
  if (!fs::exists(p)) GTEST_SKIP() << p << " is missing";
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  ASSERT_TRUE(Inspect(bytes).ok());
  // The model table and its vectors sit near the start; cutting there must fail cleanly.
  for (size_t n = 0; n < 4096; n += 7) {
    auto r = InspectTfliteBytes(std::span<const uint8_t>(bytes.data(), n));
    EXPECT_FALSE(r.ok()) << n;
  }
}

// ---- built models ---------------------------------------------------------------------------

TEST(TfliteIoTest, ReadsEveryFieldOfABuiltModel) {
  const ModelDef d = SmallModel();
  const auto bytes = Build(d);
  auto info = Inspect(bytes);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->schema_version, 3u);
  EXPECT_EQ(info->description, "built in a test");
  EXPECT_EQ(info->min_runtime_version, "2.3.0");
  EXPECT_EQ(info->subgraph_count, 1u);
  EXPECT_EQ(info->tensor_count, 5u);
  EXPECT_EQ(info->buffer_count, 4u);
  EXPECT_EQ(info->buffer_bytes, 100u + 28u + 16u);
  EXPECT_EQ(info->file_size, bytes.size());

  ASSERT_EQ(info->inputs.size(), 2u);
  EXPECT_EQ(info->inputs[0].spec.name, "image");
  EXPECT_EQ(info->inputs[0].spec.dtype, "uint8");
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{-1, 8, 8, 3}));  // the signature
  EXPECT_TRUE(info->inputs[0].has_shape_signature);
  EXPECT_EQ(info->inputs[0].tensor_index, 0);
  EXPECT_EQ(info->inputs[1].spec.name, "count");
  EXPECT_EQ(info->inputs[1].spec.dtype, "int32");
  EXPECT_TRUE(info->inputs[1].spec.shape.empty());  // a scalar
  EXPECT_FALSE(info->inputs[1].has_shape_signature);

  ASSERT_EQ(info->outputs.size(), 2u);
  EXPECT_EQ(info->outputs[0].spec.name, "scores");
  EXPECT_EQ(info->outputs[0].spec.shape, (std::vector<int64_t>{-1, 10}));
  EXPECT_EQ(info->outputs[1].spec.name, "serving_default_label:0");
  EXPECT_EQ(info->outputs[1].spec.dtype, "int64");
  EXPECT_EQ(info->outputs[1].spec.shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(info->outputs[1].tensor_index, 4);
}

TEST(TfliteIoTest, MetadataAndOptionalFieldsMayBeAbsent) {
  ModelDef d = SmallModel();
  d.min_runtime_version = "";
  d.description = "";
  d.buffer_sizes = {};
  auto info = Inspect(Build(d));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->min_runtime_version, "");
  EXPECT_EQ(info->buffer_bytes, 0u);
  EXPECT_EQ(info->inputs.size(), 2u);
}

TEST(TfliteIoTest, TypesMapToMpfDtypes) {
  const std::map<int, std::string> want = {
      {0, "float32"}, {1, "float16"}, {2, "int32"},  {3, "uint8"}, {4, "int64"},
      {5, "string"},  {6, "bool"},    {7, "int16"},  {9, "int8"},  {10, "float64"},
      {12, "uint64"}, {15, "uint32"}, {16, "uint16"}};
  for (int t = -2; t < 40; ++t) {
    auto it = want.find(t);
    EXPECT_EQ(TfliteTypeToDtype(t), it == want.end() ? "" : it->second) << t;
  }
  EXPECT_EQ(TfliteTypeName(8), "COMPLEX64");
  EXPECT_EQ(TfliteTypeName(11), "COMPLEX128");
  EXPECT_EQ(TfliteTypeName(13), "RESOURCE");
  EXPECT_EQ(TfliteTypeName(14), "VARIANT");
  EXPECT_EQ(TfliteTypeName(99), "TYPE_99");

  // Each supported type read back from a file.
  for (int8_t type : {kFloat32, kInt32, kUint8, kInt64, kString, kBool, kInt8}) {
    ModelDef d = SmallModel();
    d.tensors[0].type = type;
    auto info = Inspect(Build(d));
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->inputs[0].spec.dtype, TfliteTypeToDtype(type));
  }
}

TEST(TfliteIoTest, UnsupportedTypesNameTheTensor) {
  for (int8_t type :
       {kComplex64, kResource, kVariant, int8_t{11}, int8_t{17}, int8_t{99}, int8_t{-1}}) {
    ModelDef d = SmallModel();
    d.tensors[3].type = type;  // the first output
    auto info = Inspect(Build(d));
    ASSERT_FALSE(info.ok()) << int(type);
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(info.status().message(), HasSubstr("output \"scores\" (tensor 3)"));
    EXPECT_THAT(info.status().message(),
                HasSubstr("unsupported element type " + TfliteTypeName(type)));
  }
}

TEST(TfliteIoTest, ShapeSignatureWinsAndBadDimensionsAreErrors) {
  ModelDef d = SmallModel();
  d.tensors[0].signature = std::vector<int32_t>{};  // empty beside a shape: says nothing
  auto info = Inspect(Build(d));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{1, 8, 8, 3}));
  EXPECT_FALSE(info->inputs[0].has_shape_signature);

  d = SmallModel();
  d.tensors[0].signature = std::vector<int32_t>{-1, -1, -1, 3};
  info = Inspect(Build(d));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{-1, -1, -1, 3}));

  // A signature of another rank than the shape is ignored (as the tflite plugin does).
  d = SmallModel();
  d.tensors[0].signature = std::vector<int32_t>{-1, 8};
  info = Inspect(Build(d));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->inputs[0].spec.shape, (std::vector<int64_t>{1, 8, 8, 3}));
  EXPECT_FALSE(info->inputs[0].has_shape_signature);

  d = SmallModel();
  d.tensors[2].shape = {2, -7};
  info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("input \"count\" (tensor 2): dimension 1 is -7"));
}

TEST(TfliteIoTest, StructuralErrors) {
  ModelDef d = SmallModel();
  d.inputs = {0, 5};  // there are 5 tensors
  auto info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(),
              HasSubstr("input 1 refers to tensor 5, but the subgraph has 5 tensors"));

  d = SmallModel();
  d.outputs = {-1};
  info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("output 0 refers to tensor -1"));

  // Unnamed tensors get the plugin's names: their role and position.
  d = SmallModel();
  d.tensors[3].name = "";
  d.tensors[2].name = "";
  info = Inspect(Build(d));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->inputs[1].spec.name, "input_1");
  EXPECT_EQ(info->outputs[0].spec.name, "output_0");

  // Two inputs with one name: the manifest could not tell them apart.
  d = SmallModel();
  d.inputs = {0, 2, 0};
  info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("inputs 0 and 2 are both named \"image\""));
  d = SmallModel();
  d.tensors[4].name = "scores";
  info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("outputs 0 and 1 are both named \"scores\""));
  d = SmallModel();
  d.outputs = {0};  // an input that is also an output: allowed, the lists are separate
  EXPECT_TRUE(Inspect(Build(d)).ok());

  d = SmallModel();
  d.with_subgraph = false;
  info = Inspect(Build(d));
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("no subgraphs"));
}

TEST(TfliteIoTest, WrongIdentifierIsNotATfliteModel) {
  auto bytes = Build(SmallModel());
  bytes[7] = '4';
  auto info = Inspect(bytes);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(info.status().message(), HasSubstr("file identifier \"TFL4\""));
  bytes[4] = 0x01;
  EXPECT_THAT(Inspect(bytes).status().message(), HasSubstr("\"\\x01FL4\""));
  // An ONNX-looking or empty input.
  EXPECT_THAT(Inspect({0x08, 0x07, 0x12, 0x04}).status().message(), HasSubstr("too short"));
  EXPECT_FALSE(Inspect({}).ok());
}

TEST(TfliteIoTest, EveryTruncationIsAnError) {
  const auto bytes = Build(SmallModel());
  ASSERT_TRUE(Inspect(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    // A copy of exactly n bytes, so that a read past the end is a read outside the allocation.
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto info = Inspect(cut);
    ASSERT_FALSE(info.ok()) << "a " << n << "-byte prefix of " << bytes.size() << " was accepted";
    EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument) << n;
    EXPECT_EQ(info.status().message().find('\n'), std::string::npos);
  }
}

TEST(TfliteIoTest, OffsetsPointingOutsideAreErrors) {
  Writer w;
  const auto good = Build(SmallModel(), &w);
  auto bytes = good;
  PutU32(&bytes, 0, 0xfffffff0u);  // the root table
  EXPECT_THAT(Inspect(bytes).status().message(), HasSubstr("root: points to offset"));

  bytes = good;
  PutU32(&bytes, 0, static_cast<uint32_t>(bytes.size() - 2));  // a table in the last 2 bytes
  EXPECT_THAT(Inspect(bytes).status().message(),
              HasSubstr("truncated or corrupt TFLite file: model"));

  // The model's soffset sends its vtable before the file or past its end.
  const size_t model = w.At("model");
  for (int32_t soffset : {static_cast<int32_t>(model + 1), -0x7fffffff,
                          static_cast<int32_t>(model) - static_cast<int32_t>(good.size())}) {
    bytes = good;
    std::memcpy(bytes.data() + model, &soffset, 4);
    auto info = Inspect(bytes);
    ASSERT_FALSE(info.ok()) << soffset;
    EXPECT_THAT(info.status().message(), HasSubstr("model: vtable")) << soffset;
  }

  // A vtable claiming to be odd-sized, too small, or larger than what is left.
  const size_t subgraph = w.At("subgraph");
  int32_t sg_soffset = 0;
  std::memcpy(&sg_soffset, good.data() + subgraph, 4);
  const size_t sg_vtable = subgraph - static_cast<size_t>(sg_soffset);
  for (uint16_t vsize : {uint16_t{3}, uint16_t{2}, uint16_t{0xfffe}}) {
    bytes = good;
    std::memcpy(bytes.data() + sg_vtable, &vsize, 2);
    auto info = Inspect(bytes);
    ASSERT_FALSE(info.ok()) << vsize;
    EXPECT_THAT(info.status().message(), HasSubstr("subgraphs[0]: bad vtable")) << vsize;
  }
  // A table size running past the end.
  bytes = good;
  const uint16_t huge_table = 0xffff;
  std::memcpy(bytes.data() + sg_vtable + 2, &huge_table, 2);
  EXPECT_THAT(Inspect(bytes).status().message(), HasSubstr("runs past the end"));

  // An element of the tensors vector pointing past the end.
  bytes = good;
  const size_t first_tensor_slot = w.At("tensors") + 4;
  PutU32(&bytes, first_tensor_slot, static_cast<uint32_t>(bytes.size()));
  EXPECT_THAT(Inspect(bytes).status().message(),
              HasSubstr("subgraphs[0].tensors[0] (input 0): points to offset"));
}

TEST(TfliteIoTest, HugeVectorLengthsAreErrors) {
  Writer w;
  const auto good = Build(SmallModel(), &w);
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"tensors", "subgraphs[0].tensors: vector of 4294967295 elements"},
      {"inputs", "subgraphs[0].inputs: vector of 4294967295"},
      {"outputs", "subgraphs[0].outputs: vector of 4294967295"},
      {"subgraphs", "model.subgraphs: vector of 4294967295"},
      {"buffers", "model.buffers: vector of 4294967295"},
      {"metadata", "model.metadata: vector of 4294967295"},
      {"shape0", "subgraphs[0].tensors[0] (input 0).shape: vector of 4294967295"},
      {"signature3", "subgraphs[0].tensors[3] (output 0).shape_signature: vector of 4294967295"}};
  for (const auto& [label, want] : vectors) {
    for (uint32_t length : {0xffffffffu, 0x40000000u, static_cast<uint32_t>(good.size())}) {
      auto bytes = good;
      PutU32(&bytes, w.At(label), length);
      auto info = Inspect(bytes);
      ASSERT_FALSE(info.ok()) << label << " " << length;
      if (length == 0xffffffffu) {
        EXPECT_THAT(info.status().message(), HasSubstr(want));
      }
      EXPECT_THAT(info.status().message(), HasSubstr("runs past the end")) << label;
    }
  }
}

TEST(TfliteIoTest, ExternalBufferDataMustLieInTheFile) {
  // Models over 2 GiB keep buffers after the FlatBuffer: Buffer.offset / Buffer.size.
  auto model_with = [](uint64_t offset, uint64_t size) {
    ModelDef d = SmallModel();
    d.min_runtime_version = "";
    ObjPtr root = ModelObj(d);
    for (Field& f : root->fields)
      if (f.index == 4)
        f.ref->items.push_back(Table({Scalar<uint64_t>(1, offset), Scalar<uint64_t>(2, size)}));
    return Writer().Finish(*root);
  };
  auto bytes = model_with(16, 64);
  auto info = Inspect(bytes);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->buffer_bytes, 100u + 28u + 64u);
  EXPECT_EQ(info->buffer_count, 4u);

  for (auto [offset, size] : std::vector<std::pair<uint64_t, uint64_t>>{
           {16, 1u << 30}, {1u << 30, 4}, {~0ull - 2, 8}, {16, ~0ull}}) {
    info = Inspect(model_with(offset, size));
    ASSERT_FALSE(info.ok()) << offset << "+" << size;
    EXPECT_THAT(info.status().message(), HasSubstr("buffers[3]: external data"));
  }
  // offset 0 and 1 mean "no external data" (the schema: valid only if > 1).
  info = Inspect(model_with(1, 1u << 30));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->buffer_bytes, 128u);
}

TEST(TfliteIoTest, RandomCorruptionNeverCrashes) {
  const auto good = Build(SmallModel());
  std::mt19937 rng(20240611);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t at = 8 + rng() % (bytes.size() - 8);  // keep the identifier: reach the parser
      bytes[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
    auto info = Inspect(bytes);
    if (info.ok()) {
      ++accepted;
      for (const auto& t : info->inputs) EXPECT_FALSE(t.spec.name.empty());
    } else {
      EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
    }
  }
  // Flipping bytes in weights or unread fields leaves a readable model now and then.
  EXPECT_GT(accepted, 0);
}

// ---- the file wrapper -----------------------------------------------------------------------

class TfliteFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mlos-tflite-io-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  fs::path dir_;
};

TEST_F(TfliteFileTest, ReadsAFileAndPrefixesErrorsWithItsPath) {
  const auto bytes = Build(SmallModel());
  auto info = InspectTflite(Write("m.tflite", bytes));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->inputs.size(), 2u);
  EXPECT_EQ(info->file_size, bytes.size());

  const fs::path cut = Write("cut.tflite", std::vector<uint8_t>(bytes.begin(), bytes.begin() + 40));
  auto bad = InspectTflite(cut);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind(cut.string() + ": truncated or corrupt TFLite file", 0),
            0u)
      << bad.status().message();

  auto empty = InspectTflite(Write("empty.tflite", {}));
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.tflite: not a TFLite model"));

  EXPECT_EQ(InspectTflite(dir_ / "missing.tflite").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(InspectTflite(dir_).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlos::axon
