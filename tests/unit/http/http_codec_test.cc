// Pure parts of the HTTP front-end: JSON writer, percent-decoding, status mapping, shape
// inference, JSON tensor decoding, the original-API and KServe codecs.
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/http/http_status.h"
#include "api/common/json_writer.h"
#include "api/http/kserve_codec.h"
#include "api/common/model_json.h"
#include "api/http/native_codec.h"
#include "api/http/tensor_json.h"
#include "api/http/url.h"
#include "core/policy.h"

namespace mlos::http {
namespace {

using core::DataType;
using nlohmann::json;
using api::ParseRegisterRequest;
using core::policy::ValidateModelId;

core::Tensor MakeTensor(std::string name, core::DataType dtype,
                        std::vector<int64_t> shape = {}) {
  core::Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

std::vector<float> Floats(const core::Tensor& t) {
  std::vector<float> v(t.byte_size() / 4);
  std::memcpy(v.data(), t.bytes(), v.size() * 4);
  return v;
}

TEST(JsonWriter, WritesNestedValuesAndEscapes) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("a\"b");
  w.BeginArray();
  w.Int(-3);
  w.UInt(7);
  w.Bool(true);
  w.Null();
  w.String("x\n\x01");
  w.EndArray();
  w.Key("o");
  w.BeginObject();
  w.EndObject();
  w.Key("f");
  w.Float(0.1f);
  w.Key("nan");
  w.Double(std::nan(""));
  w.EndObject();
  EXPECT_EQ(out, R"({"a\"b":[-3,7,true,null,"x\n\u0001"],"o":{},"f":0.1,"nan":null})");
  EXPECT_NO_THROW(json::parse(out));
}

TEST(JsonWriter, FloatsRoundTripBitExact) {
  const float values[] = {1.0f / 3, 3.4028235e38f, 1.17549435e-38f, -0.0f, 123456.789f, 1e-45f};
  for (float f : values) {
    std::string out;
    JsonWriter w(out);
    w.Float(f);
    const float back = static_cast<float>(json::parse(out).get<double>());
    EXPECT_EQ(std::memcmp(&back, &f, 4), 0) << out;
  }
}

TEST(PercentDecode, DecodesStrictly) {
  EXPECT_EQ(*PercentDecode("hf%2Fbert-base-uncased%40latest"), "hf/bert-base-uncased@latest");
  EXPECT_EQ(*PercentDecode("a%2fb"), "a/b");
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");
  EXPECT_FALSE(PercentDecode("a%2").ok());
  EXPECT_FALSE(PercentDecode("a%").ok());
  EXPECT_FALSE(PercentDecode("a%zz").ok());
  EXPECT_FALSE(PercentDecode("a%00b").ok());
}

TEST(ModelId, RejectsTraversalAndNul) {
  EXPECT_TRUE(ValidateModelId("hf/bert@1.0.0").ok());
  EXPECT_FALSE(ValidateModelId("hf/../etc@1").ok());
  EXPECT_FALSE(ValidateModelId("..").ok());
  EXPECT_FALSE(ValidateModelId("/abs").ok());
  EXPECT_FALSE(ValidateModelId(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateModelId("").ok());
}

TEST(SplitPath, SkipsEmptySegmentsAndQuery) {
  auto s = SplitPath("//models/a%2Fb//inference?x=1#f");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], "models");
  EXPECT_EQ(s[1], "a%2Fb");
  EXPECT_EQ(s[2], "inference");
  EXPECT_EQ(QueryString("/a?x=1#f"), "x=1");
}

TEST(QueryUInt, ReadsTheLastValueInRange) {
  EXPECT_EQ(*QueryUInt("/audit", "limit", 1, 1000, 100), 100u);
  EXPECT_EQ(*QueryUInt("/audit?limit=7", "limit", 1, 1000, 100), 7u);
  EXPECT_EQ(*QueryUInt("/audit?x=1&limit=5&limit=9#limit=0", "limit", 1, 1000, 100), 9u);
  EXPECT_EQ(*QueryUInt("/audit?limits=0&limit", "limit", 1, 1000, 100), 100u);
  for (const char* bad : {"/audit?limit=", "/audit?limit=0", "/audit?limit=1001",
                          "/audit?limit=-1", "/audit?limit=+1", "/audit?limit=1x",
                          "/audit?limit=18446744073709551616"}) {
    auto r = QueryUInt(bad, "limit", 1, 1000, 100);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(), "query parameter 'limit' must be an integer from 1 to 1000");
  }
}

TEST(HttpStatus, MapsEveryCode) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 413);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(json::parse(ErrorBody("bad \"x\""))["error"], "bad \"x\"");
}

TEST(InferFlatShape, FollowsTheRules) {
  EXPECT_EQ(*InferFlatShape({-1, 16}, 32, "x"), (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(*InferFlatShape({-1}, 5, "x"), (std::vector<int64_t>{5}));
  EXPECT_EQ(*InferFlatShape({1, 4}, 4, "x"), (std::vector<int64_t>{1, 4}));
  // More than one unknown dim: which one takes the elements would be a guess.
  for (const std::vector<int64_t>& schema :
       {std::vector<int64_t>{-1, -1, 3}, std::vector<int64_t>{-1, 3, -1, -1}}) {
    auto guess = InferFlatShape(schema, 12, "x");
    ASSERT_FALSE(guess.ok());
    EXPECT_EQ(guess.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(guess.status().message().find("more than one unknown dimension"), std::string::npos)
        << guess.status().message();
    EXPECT_NE(guess.status().message().find("input_shapes"), std::string::npos);
  }
  EXPECT_EQ(*InferFlatShape({}, 1, "x"), (std::vector<int64_t>{}));
  auto bad = InferFlatShape({-1, 16}, 17, "input");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'input'"), std::string::npos);
  EXPECT_FALSE(InferFlatShape({1, 4}, 5, "x").ok());
}

TEST(DecodeJsonTensorData, NestedAndTyped) {
  core::Tensor t;
  t.name = "x";
  t.dtype = DataType::kFloat32;
  std::vector<int64_t> shape;
  ASSERT_TRUE(DecodeJsonTensorData(json::parse("[[1,2,3],[4,5,6]]"), t, shape).ok());
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Floats(t), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  core::Tensor r = MakeTensor("r", DataType::kFloat32);
  EXPECT_FALSE(DecodeJsonTensorData(json::parse("[[1,2],[3]]"), r, shape).ok());
  core::Tensor s = MakeTensor("s", DataType::kFloat32);
  auto st = DecodeJsonTensorData(json::parse(R"([1,"a"])"), s, shape);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'s'"), std::string::npos);

  core::Tensor i = MakeTensor("i", DataType::kInt64);
  ASSERT_TRUE(DecodeJsonTensorData(json::parse("[1,-2,3.0]"), i, shape).ok());
  int64_t iv[3];
  std::memcpy(iv, i.data.data(), 24);
  EXPECT_EQ(iv[1], -2);
  EXPECT_EQ(iv[2], 3);
  core::Tensor i2 = MakeTensor("i2", DataType::kInt32);
  EXPECT_FALSE(DecodeJsonTensorData(json::parse("[1.5]"), i2, shape).ok());
  core::Tensor u8 = MakeTensor("u8", DataType::kUInt8);
  EXPECT_FALSE(DecodeJsonTensorData(json::parse("[256]"), u8, shape).ok());
  core::Tensor b = MakeTensor("b", DataType::kBool);
  ASSERT_TRUE(DecodeJsonTensorData(json::parse("[true,false,1]"), b, shape).ok());
  EXPECT_EQ(b.data, (std::vector<uint8_t>{1, 0, 1}));
  core::Tensor str = MakeTensor("str", DataType::kString);
  ASSERT_TRUE(DecodeJsonTensorData(json::parse(R"(["a","bc"])"), str, shape).ok());
  EXPECT_EQ(str.strings, (std::vector<std::string>{"a", "bc"}));
  core::Tensor sc = MakeTensor("sc", DataType::kFloat32);
  ASSERT_TRUE(DecodeJsonTensorData(json::parse("2.5"), sc, shape).ok());
  EXPECT_TRUE(shape.empty());
}

TEST(HalfFloat, RoundTrips) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f, 5.9604645e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f);
  }
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.5f)), 1.5f);
}

TEST(NativeCodec, RegisterRequestFields) {
  auto r = ParseRegisterRequest(
      R"({"model_id":"hf/m@1","name":"m","framework":"onnx","model_path":"/p"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->path, "/p");
  EXPECT_EQ(r->framework, "onnx");
  auto missing = ParseRegisterRequest(R"({"path":"/p"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("model_id"), std::string::npos);
  auto wrong = ParseRegisterRequest(R"({"model_id":"a@1","path":5})");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'path'"), std::string::npos);
  EXPECT_FALSE(ParseRegisterRequest("{").ok());
  EXPECT_FALSE(ParseRegisterRequest("[]").ok());
}

TEST(NativeCodec, InputShapesShapeFlatArrays) {
  // PP-OCR's detector input: [-1, 3, -1, -1].
  const std::vector<core::TensorInfo> schema = {{"x", DataType::kFloat32, {-1, 3, -1, -1}}};
  std::string flat = "[";
  for (int i = 0; i < 24; ++i) flat += (i ? "," : "") + std::to_string(i);
  flat += "]";
  auto refused = ParseNamedInputs(R"({"x":)" + flat + "}", schema);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("send nested arrays"), std::string::npos);
  auto r = ParseNamedInputs(R"({"x":)" + flat + R"(,"input_shapes":{"x":[1,3,2,4]}})", schema);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{1, 3, 2, 4}));
  EXPECT_EQ((*r)[0].data.size(), 24u * 4);
  // The {"inputs": ...} form takes input_shapes beside it too.
  auto wrapped = ParseNamedInputs(
      R"({"inputs":{"x":)" + flat + R"(},"input_shapes":{"x":[2,3,4,1]}})", schema);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().message();
  EXPECT_EQ((*wrapped)[0].shape, (std::vector<int64_t>{2, 3, 4, 1}));
  // Errors name the field.
  auto count = ParseNamedInputs(R"({"x":)" + flat + R"(,"input_shapes":{"x":[1,3,2,2]}})",
                                schema);
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("input_shapes gives [1, 3, 2, 2]"), std::string::npos)
      << count.status().message();
  auto unknown = ParseNamedInputs(R"({"x":)" + flat + R"(,"input_shapes":{"y":[24]}})", schema);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("input_shapes.y"), std::string::npos);
  auto negative = ParseNamedInputs(R"({"x":[1],"input_shapes":{"x":[-1]}})", schema);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("non-negative"), std::string::npos);
  EXPECT_FALSE(ParseNamedInputs(R"({"x":[1],"input_shapes":[1]})", schema).ok());
}

TEST(NativeCodec, NamedInputsShapedBySchema) {
  std::vector<core::TensorInfo> schema = {{"input", DataType::kFloat32, {-1, 16}},
                                          {"ids", DataType::kInt64, {-1}}};
  std::string body = R"({"input":[)";
  for (int i = 0; i < 32; ++i) body += (i ? "," : "") + std::to_string(i);
  body += R"(],"ids":[1,2,3]})";
  auto r = ParseNamedInputs(body, schema);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  const core::Tensor& input = (*r)[0].name == "input" ? (*r)[0] : (*r)[1];
  const core::Tensor& ids = (*r)[0].name == "input" ? (*r)[1] : (*r)[0];
  EXPECT_EQ(input.shape, (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(ids.dtype, DataType::kInt64);
  EXPECT_EQ(ids.shape, (std::vector<int64_t>{3}));

  auto nested = ParseNamedInputs(R"({"inputs":{"input":[[1,2],[3,4]]}})", schema);
  ASSERT_TRUE(nested.ok()) << nested.status().message();
  EXPECT_EQ((*nested)[0].shape, (std::vector<int64_t>{2, 2}));  // the core checks dims

  auto unknown = ParseNamedInputs(R"({"nope":[1]})", schema);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos);
  auto indivisible = ParseNamedInputs(R"({"input":[1,2,3]})", schema);
  ASSERT_FALSE(indivisible.ok());
  EXPECT_NE(indivisible.status().message().find("'input'"), std::string::npos);
  EXPECT_FALSE(ParseNamedInputs("not json", schema).ok());
  EXPECT_FALSE(ParseNamedInputs("{}", schema).ok());
}

TEST(NativeCodec, EncodesInferenceResponse) {
  core::InferResponse resp;
  resp.model_id = "hf/m@1";
  resp.model_version = "1";
  resp.inference_time_us = 12;
  core::Tensor t = MakeTensor("y", DataType::kFloat32, {1, 2});
  const float v[2] = {0.5f, -1.25f};
  t.data.resize(8);
  std::memcpy(t.data.data(), v, 8);
  resp.outputs.push_back(t);
  std::string out;
  EncodeInferenceResponse(resp, out);
  json j = json::parse(out);
  EXPECT_EQ(j["status"], "success");
  EXPECT_EQ(j["model_id"], "hf/m@1");
  EXPECT_EQ(j["outputs"]["y"], json::parse("[0.5,-1.25]"));
  EXPECT_EQ(j["output_shapes"]["y"], json::parse("[1,2]"));
  EXPECT_EQ(j["output_dtypes"]["y"], "float32");
}

TEST(KServeCodec, ParsesJsonRequest) {
  auto r = ParseKServeInferRequest(
      R"({"id":"42","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}],
          "outputs":[{"name":"y","parameters":{"binary_data":true}}]})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, "42");
  ASSERT_EQ(r->inputs.size(), 1u);
  EXPECT_EQ(r->inputs[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Floats(r->inputs[0]), (std::vector<float>{1, 2, 3, 4}));
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_TRUE(*r->outputs[0].binary);
}

TEST(KServeCodec, RejectsBadRequestsNamingTheField) {
  auto expect_error = [](std::string_view body, std::string_view needle) {
    auto r = ParseKServeInferRequest(body, std::nullopt);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error("{", "malformed");
  expect_error(R"({"inputs":5})", "inputs");
  expect_error(R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})", "name");
  expect_error(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]})",
               "FP99");
  expect_error(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1]}]})", "'x'");
  expect_error(R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
               "shape");
  expect_error(R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":["a"]}]})",
               "'x'");
}

TEST(KServeCodec, BinaryInputsAndOutputs) {
  const std::string header =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},)"
      R"({"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}],)"
      R"("parameters":{"binary_data_output":true}})";
  std::string body = header;
  const float x[2] = {1.5f, -2.0f};
  body.append(reinterpret_cast<const char*>(x), 8);
  const uint32_t l1 = 3, l2 = 0;
  body.append(reinterpret_cast<const char*>(&l1), 4);
  body += "abc";
  body.append(reinterpret_cast<const char*>(&l2), 4);
  auto r = ParseKServeInferRequest(body, header.size());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Floats(r->inputs[0]), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(r->inputs[1].strings, (std::vector<std::string>{"abc", ""}));
  EXPECT_TRUE(r->binary_output_default);

  EXPECT_FALSE(ParseKServeInferRequest(body + "x", header.size()).ok());   // unclaimed bytes
  EXPECT_FALSE(ParseKServeInferRequest(body.substr(0, body.size() - 1), header.size()).ok());
  EXPECT_FALSE(ParseKServeInferRequest(body, body.size() + 1).ok());

  core::InferResponse resp;
  resp.model_name = "ns/m";
  resp.model_version = "1";
  core::Tensor y = MakeTensor("y", DataType::kFloat32, {2});
  y.data.resize(8);
  std::memcpy(y.data.data(), x, 8);
  resp.outputs.push_back(y);
  std::string out;
  uint64_t header_len = 0;
  EncodeKServeInferResponse(*r, resp, out, &header_len);
  ASSERT_GT(header_len, 0u);
  ASSERT_EQ(out.size(), header_len + 8);
  json j = json::parse(out.substr(0, header_len));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(std::memcmp(out.data() + header_len, x, 8), 0);

  KServeInferRequest plain;
  out.clear();
  EncodeKServeInferResponse(plain, resp, out, &header_len);
  EXPECT_EQ(header_len, 0u);
  j = json::parse(out);
  EXPECT_EQ(j["model_name"], "ns/m");
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["data"], json::parse("[1.5,-2.0]"));
}

}  // namespace
}  // namespace mlos::http
