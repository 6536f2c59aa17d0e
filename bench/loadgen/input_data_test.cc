// Checks of bench/loadgen/input_data and dtype: --input-data files decoded to the exact bytes
// each datatype sends (flat, nested and bare 0-d data, BYTES, the 16-bit floats), the JSON the
// http-json target renders from them, --shape parsing, and one-line errors that name the file,
// the input and the field. Files under `argv[1]` (bench/loadgen/testdata) and a temp dir.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dtype.h"
#include "input_data.h"

namespace {

using namespace mlos::bench;

int failures = 0;
#define EXPECT(c)                                                          \
  do {                                                                     \
    if (!(c)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

std::string tmp_dir;

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = tmp_dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The error LoadInputData throws for `text`, "" when it does not throw.
std::string LoadError(const std::string& text) {
  try {
    LoadInputData(Write("case.json", text));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

bool Contains(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return true;
  std::fprintf(stderr, "  '%s' does not contain '%s'\n", s.c_str(), part.c_str());
  return false;
}

template <typename T>
std::vector<uint8_t> Bytes(std::initializer_list<T> values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

const GivenTensor* Find(const InputData& d, const std::string& name) {
  for (const GivenTensor& g : d.inputs) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

void TestEveryDatatype(const std::string& testdata) {
  const InputData d = LoadInputData(testdata + "/dtypes.json");
  EXPECT(d.inputs.size() == 14);
  EXPECT((d.outputs == std::vector<std::string>{"out_string", "out_int64", "out_float16"}));
  auto bytes = [&](const char* name) {
    const GivenTensor* g = Find(d, name);
    EXPECT(g && g->shape == std::vector<int64_t>{2});
    return g ? g->bytes : std::vector<uint8_t>{};
  };
  EXPECT(bytes("in_float32") == Bytes<float>({1.5f, -3.4e38f}));
  EXPECT(bytes("in_float64") == Bytes<double>({1e-300, -2.0}));
  EXPECT(bytes("in_float16") == Bytes<uint16_t>({0x3800, 0xFBFF}));  // 0.5, -65504
  EXPECT(bytes("in_bfloat16") == Bytes<uint16_t>({0x3F80, 0xBC00}));  // 1, -2^-7
  EXPECT(bytes("in_int8") == Bytes<int8_t>({-128, 127}));
  EXPECT(bytes("in_int16") == Bytes<int16_t>({-32768, 32767}));
  EXPECT(bytes("in_int32") == Bytes<int32_t>({INT32_MIN, INT32_MAX}));
  EXPECT(bytes("in_int64") == Bytes<int64_t>({INT64_MIN, INT64_MAX}));
  EXPECT(bytes("in_uint8") == Bytes<uint8_t>({0, 255}));
  EXPECT(bytes("in_uint16") == Bytes<uint16_t>({0, 65535}));
  EXPECT(bytes("in_uint32") == Bytes<uint32_t>({0, UINT32_MAX}));
  EXPECT(bytes("in_uint64") == Bytes<uint64_t>({0, UINT64_MAX}));
  EXPECT(bytes("in_bool") == Bytes<uint8_t>({1, 0}));
  const GivenTensor* s = Find(d, "in_string");
  EXPECT(s && s->dtype == DtypeOfKServe("BYTES") && s->bytes.empty());
  EXPECT(s && (s->strings ==
                std::vector<std::string>{"hello", "gr\xC3\xBC\xC3\x9F" "e \"quoted\""}));
  // The BYTES encoding and the JSON the http-json target sends.
  EXPECT((EncodeBytesElements({"ab", ""}) ==
          std::vector<uint8_t>{2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0}));
  if (s) {
    EXPECT(ValuesJson(*s->dtype, s->bytes, s->strings) ==
           "[\"hello\",\"gr\xC3\xBC\xC3\x9F" "e \\\"quoted\\\"\"]");
  }
  const GivenTensor* f16 = Find(d, "in_float16");
  if (f16) EXPECT(ValuesJson(*f16->dtype, f16->bytes, {}) == "[0.5,-65504]");
  const GivenTensor* b = Find(d, "in_bool");
  if (b) EXPECT(ValuesJson(*b->dtype, b->bytes, {}) == "[true,false]");
  const GivenTensor* u64 = Find(d, "in_uint64");
  if (u64) EXPECT(ValuesJson(*u64->dtype, u64->bytes, {}) == "[0,18446744073709551615]");
  const GivenTensor* i64 = Find(d, "in_int64");
  if (i64) {
    EXPECT(ValuesJson(*i64->dtype, i64->bytes, {}) ==
           "[-9223372036854775808,9223372036854775807]");
  }
}

void TestShapes(const std::string& testdata) {
  // Nested data, a state tensor given flat, a 0-d input as [v] and as a bare value.
  const InputData d = LoadInputData(testdata + "/stateful.json");
  const GivenTensor* in = Find(d, "input");
  EXPECT(in && in->shape == (std::vector<int64_t>{1, 5}));
  EXPECT(in && in->bytes == Bytes<float>({0.5f, -0.25f, 1.0f, 0.125f, -1.5f}));
  const GivenTensor* state = Find(d, "state");
  EXPECT(state && state->shape == (std::vector<int64_t>{2, 1, 8}) && state->bytes.size() == 64);
  const GivenTensor* sr = Find(d, "sr");
  EXPECT(sr && sr->shape.empty() && sr->bytes == Bytes<int64_t>({16000}));
  EXPECT(d.outputs.empty());
  const InputData bare = LoadInputData(testdata + "/sr_only.json");
  EXPECT(bare.inputs.size() == 1 && bare.inputs[0].shape.empty() &&
         bare.inputs[0].bytes == Bytes<int64_t>({8000}));
  EXPECT(bare.outputs == std::vector<std::string>{"stateN"});
  // Nested and flat give the same bytes; empty tensors have no data.
  const InputData nested = LoadInputData(Write("nested.json", R"({"inputs": [
      {"name": "a", "shape": [2,2], "datatype": "INT32", "data": [[1,2],[3,4]]},
      {"name": "b", "shape": [2,2], "datatype": "INT32", "data": [1,2,3,4]},
      {"name": "e", "shape": [0,3], "datatype": "FP32", "data": []}]})"));
  EXPECT(nested.inputs[0].bytes == nested.inputs[1].bytes);
  EXPECT(nested.inputs[0].bytes == Bytes<int32_t>({1, 2, 3, 4}));
  EXPECT(nested.inputs[2].bytes.empty() && nested.inputs[2].shape == (std::vector<int64_t>{0, 3}));
}

void TestHalfConversions() {
  EXPECT(FloatToHalf(1.0f) == 0x3C00);
  EXPECT(FloatToHalf(-2.0f) == 0xC000);
  EXPECT(FloatToHalf(65504.0f) == 0x7BFF);
  EXPECT(FloatToHalf(65520.0f) == 0x7C00);       // rounds to infinity
  EXPECT(FloatToHalf(5.9604645e-8f) == 0x0001);  // the smallest subnormal
  EXPECT(FloatToHalf(1.0009765625f) == 0x3C01);
  EXPECT(FloatToHalf(1.00048828125f) == 0x3C00);  // a tie: to even
  EXPECT(FloatToHalf(1.00146484375f) == 0x3C02);  // a tie: to even (up)
  EXPECT(HalfToFloat(0x3555) == 0.333251953125f);
  EXPECT(HalfToFloat(0x0001) == 5.9604645e-8f);
  EXPECT(FloatToBFloat16(1.0f) == 0x3F80);
  EXPECT(FloatToBFloat16(3.14159265f) == 0x4049);
  EXPECT(BFloat16ToFloat(0xC000) == -2.0f);
}

void TestErrors(const std::string& testdata) {
  std::string e;
  try {
    LoadInputData(tmp_dir + "/missing.json");
  } catch (const std::runtime_error& x) {
    e = x.what();
  }
  EXPECT(Contains(e, "--input-data " + tmp_dir + "/missing.json: cannot read it: No such file"));
  try {
    LoadInputData(testdata + "/err_malformed.json");
    e = "";
  } catch (const std::runtime_error& x) {
    e = x.what();
  }
  EXPECT(Contains(e, "err_malformed.json: not valid JSON: parse error at line 2"));
  EXPECT(e.find('\n') == std::string::npos);
  EXPECT(Contains(LoadError("[1]"), "the body is an array"));
  EXPECT(Contains(LoadError("{}"), "\"inputs\" must be an array"));
  // One input: `fields` inside {"inputs": [{...}]}.
  auto input_error = [](const std::string& fields) {
    return LoadError("{\"inputs\": [{" + fields + "}]}");
  };
  EXPECT(Contains(input_error(R"("shape":[1],"datatype":"FP32","data":[1])"),
                  "case.json: inputs[0]: \"name\" must be a non-empty string"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"FP8","data":[1])"),
                  "inputs[0] ('x'): \"datatype\" \"FP8\" is not one of BOOL, UINT8"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[-1],"datatype":"FP32","data":[1])"),
                  "inputs[0] ('x'): shape[0] is -1, dims must be integers >= 0"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"FP32")"),
                  "inputs[0] ('x'): no \"data\""));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"FP32","data":[1]},
                               {"name":"x","shape":[1],"datatype":"FP32","data":[1])"),
                  "inputs[1] ('x'): input 'x' is given twice"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[3],"datatype":"INT8","data":[1,2,300])"),
                  "inputs[0] ('x'): data[2]: 300 is out of INT8's range"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"UINT32","data":[-1])"),
                  "data[0]: -1 is out of UINT32's range"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"FP16","data":[70000])"),
                  "data[0]: 70000 is out of FP16's range"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"INT64","data":[1.5])"),
                  "data[0]: 1.5 is not an integer (INT64)"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"BOOL","data":["yes"])"),
                  "data[0]: \"yes\" is not true or false (BOOL)"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"BYTES","data":[1])"),
                  "data[0]: 1 is not a string (BYTES)"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[1],"datatype":"FP32","data":["1"])"),
                  "data[0]: \"1\" is not a number (FP32)"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[],"datatype":"FP32","data":true)"),
                  "inputs[0] ('x'): data: true is not a number (FP32)"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[2],"datatype":"FP32","data":5)"),
                  "\"data\" is a number, not an array"));
  EXPECT(Contains(input_error(R"("name":"x","shape":[2,1],"datatype":"FP32","data":[[1],2])"),
                  "data[1] has a number, shape [2,1] wants 1 at dim 1"));
  EXPECT(Contains(LoadError(R"({"inputs":[],"outputs":[{"name":"y"},{"name":"y"}]})"),
                  "outputs[1]: output 'y' is named twice"));
  try {
    LoadInputData(testdata + "/err_nested.json");
    e = "";
  } catch (const std::runtime_error& x) {
    e = x.what();
  }
  EXPECT(Contains(e, "inputs[0] ('input'): data[1] has 2 elements, shape [2,3] wants 3 at dim 1"));
  try {
    LoadInputData(testdata + "/err_count.json");
    e = "";
  } catch (const std::runtime_error& x) {
    e = x.what();
  }
  EXPECT(Contains(e, "inputs[0] ('input'): \"data\" has 4 values, shape [1,5] has 5"));
}

void TestShapeFlag() {
  ShapeFlag s = ParseShapeFlag("input=1,512");
  EXPECT(s.name == "input" && s.shape == (std::vector<int64_t>{1, 512}));
  s = ParseShapeFlag("sr=");
  EXPECT(s.name == "sr" && s.shape.empty());
  s = ParseShapeFlag("a=b=0");  // the last '=' splits: names may hold one
  EXPECT(s.name == "a=b" && s.shape == std::vector<int64_t>{0});
  for (const char* bad : {"input", "=1,2", "x=1,,2", "x=1,", "x=-1", "x=1.5", "x= 1", "x=a"}) {
    std::string e;
    try {
      ParseShapeFlag(bad);
    } catch (const std::runtime_error& x) {
      e = x.what();
    }
    EXPECT(Contains(e, "--shape"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s TESTDATA_DIR\n", argv[0]);
    return 2;
  }
  char dir[] = "/tmp/mlos-bench-input-XXXXXX";
  if (!::mkdtemp(dir)) return 2;
  tmp_dir = dir;
  try {
    TestEveryDatatype(argv[1]);
    TestShapes(argv[1]);
    TestHalfConversions();
    TestErrors(argv[1]);
    TestShapeFlag();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    ++failures;
  }
  std::filesystem::remove_all(tmp_dir);
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
