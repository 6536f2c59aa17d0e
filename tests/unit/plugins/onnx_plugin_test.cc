// The ONNX Runtime SMI plugin, loaded with dlopen as mlosd loads it, over the fixture models
// (tests/fixtures/make_models.py): handshake, IO metadata, every dtype bit-exact, scalars and
// empty tensors, output subsets, every validation error, outputs bit-exact against ONNX Runtime
// called directly, cancellation, concurrency, the optimised-model cache (ORT-format copies,
// fallbacks) and sessions of one file sharing its mapping (smi_memory_info shared_key).
#include <dlfcn.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mlos/smi.h"
#include "smi_test_host.h"

namespace {

namespace fs = std::filesystem;
using namespace mlos_plugin_test;  // NOLINT: the test host's helpers

const std::string kPluginPath = std::string(MLOS_BINARY_DIR) + "/lib/mlos/plugins/libmlos_onnx.so";
const fs::path kFixtures = fs::path(MLOS_BINARY_DIR) / "fixtures";

smi_plugin_get_api_fn GetApiFn() { return LoadPluginApi(kPluginPath); }

struct Result {
  int code = 0;
  std::string message;
};

class OnnxPluginTest : public PluginTest {
 protected:
  void SetUp() override {
    OpenPlugin(kPluginPath, "mlos_onnx_plugin_");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(fs::exists(kFixtures / "mlp.onnx")) << "fixtures missing in " << kFixtures;
    smi_error* e = api_->plugin_init(R"({"intra_op_threads": 1, "log_level": "fatal"})", &plugin_);
    ASSERT_EQ(e, nullptr) << api_->error_message(e);
  }

  Result TryLoad(const fs::path& path, smi_model** model, const char* options = nullptr,
                 const char* cache_dir = nullptr) {
    const std::string p = path.string(), d = path.parent_path().string();
    smi_model_load_params params{};
    params.size = sizeof params;
    params.model_dir = d.c_str();
    params.model_path = p.c_str();
    params.model_id = "test/model@1";
    params.options_json = options;
    params.cache_dir = cache_dir;
    smi_error* e = api_->model_load(plugin_, &params, model);
    if (!e) {
      models_.push_back(*model);
      return {};
    }
    Result r{api_->error_code(e), api_->error_message(e)};
    api_->error_free(e);
    return r;
  }

  smi_model* Load(const std::string& fixture, const char* options = nullptr,
                  const char* cache_dir = nullptr) {
    smi_model* model = nullptr;
    const fs::path path = fs::path(fixture).is_absolute() ? fs::path(fixture) : kFixtures / fixture;
    Result r = TryLoad(path, &model, options, cache_dir);
    EXPECT_EQ(r.code, 0) << r.message;
    return model;
  }

  void Unload(smi_model* model) {
    api_->model_unload(model);
    std::erase(models_, model);
  }

  Result Infer(smi_model* model, const std::vector<smi_tensor>& inputs, Outputs& outputs,
               std::vector<const char*> names = {}, uint64_t request_id = 1) {
    auto [code, message] =
        mlos_plugin_test::RunInfer(api_, model, inputs, outputs, std::move(names), request_id);
    return {code, std::move(message)};
  }

  const smi_tensor* Input(smi_model* m, uint32_t i) {
    const smi_tensor* t = nullptr;
    smi_error* e = api_->model_input(m, i, &t);
    EXPECT_EQ(e, nullptr);
    api_->error_free(e);
    return t;
  }
  const smi_tensor* OutputAt(smi_model* m, uint32_t i) {
    const smi_tensor* t = nullptr;
    smi_error* e = api_->model_output(m, i, &t);
    EXPECT_EQ(e, nullptr);
    api_->error_free(e);
    return t;
  }

  static std::vector<int64_t> Dims(const smi_tensor* t) {
    return std::vector<int64_t>(t->dims, t->dims + t->rank);
  }

};

// Deterministic pseudo-random floats in [-2, 2).
std::vector<float> Floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t x = seed;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(x >> 8) / static_cast<float>(1u << 24) * 4.f - 2.f;
  }
  return v;
}

TEST_F(OnnxPluginTest, Handshake) {
  smi_plugin_get_api_fn get_api = GetApiFn();
  EXPECT_EQ(get_api(99, 0), nullptr);
  EXPECT_EQ(get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR + 1), api_);
  EXPECT_EQ(api_->abi_major, SMI_VERSION_MAJOR);
  const smi_plugin_info* info = api_->get_info();
  EXPECT_STREQ(info->name, "onnx");
  EXPECT_STREQ(info->execution_formats[0], "onnx");
  EXPECT_EQ(info->execution_formats[1], nullptr);
  EXPECT_EQ(std::string(info->framework), std::string("onnxruntime ") + Ort::GetVersionString());
  EXPECT_TRUE(info->capabilities & SMI_CAP_THREAD_SAFE_INFER);
  EXPECT_TRUE(info->capabilities & SMI_CAP_CANCEL);
  EXPECT_TRUE(info->capabilities & SMI_CAP_DEVICE_CPU);
  EXPECT_EQ(api_->model_generate, nullptr);
}

TEST_F(OnnxPluginTest, BadConfigIsRejected) {
  smi_plugin* p = nullptr;
  smi_error* e = api_->plugin_init(R"({"graph_optimization_level": "max"})", &p);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(api_->error_message(e),
               "onnx plugin config: graph_optimization_level: must be one of disable, basic, "
               "extended, layout, all");
  EXPECT_EQ(p, nullptr);
  api_->error_free(e);
  e = api_->plugin_init(R"({"log_level": "loud"})", &p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(api_->error_message(e),
               "onnx plugin config: log_level: must be one of verbose, info, warning, error, "
               "fatal");
  api_->error_free(e);
  e = api_->plugin_init(R"({"intra_op_threads": -1})", &p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(api_->error_message(e),
               "onnx plugin config: intra_op_threads: must be an integer from 0 to 1024");
  api_->error_free(e);
  // The daemon's per-plugin map form is accepted.
  e = api_->plugin_init(R"({"onnx": {"inter_op_threads": 2, "optimized_model_cache": false}})", &p);
  ASSERT_EQ(e, nullptr) << api_->error_message(e);
  api_->plugin_shutdown(p);

  smi_model* m = nullptr;
  Result r = TryLoad(kFixtures / "mlp.onnx", &m, R"({"optimized_model_cache": "yes"})");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "model options: optimized_model_cache: must be a bool");
}

TEST_F(OnnxPluginTest, LoadErrors) {
  smi_model* m = nullptr;
  Result r = TryLoad(dir_ / "missing.onnx", &m);
  EXPECT_EQ(r.code, SMI_ERROR_NOT_FOUND);
  EXPECT_EQ(r.message, "model file not found: " + (dir_ / "missing.onnx").string());
  std::ofstream(dir_ / "garbage.onnx") << "this is not a protobuf";
  r = TryLoad(dir_ / "garbage.onnx", &m);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.message.find("onnxruntime cannot load"), std::string::npos) << r.message;
  EXPECT_EQ(m, nullptr);
}

// A tiny ONNX model, protobuf-encoded by hand: one node from input "x" to output "y".
// x_type/y_type are encoded TypeProto messages.
std::string Varint(uint64_t v) {
  std::string out;
  do {
    out.push_back(static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0)));
    v >>= 7;
  } while (v);
  return out;
}
std::string Bytes(int field, const std::string& payload) {
  return Varint(static_cast<uint64_t>(field) << 3 | 2) + Varint(payload.size()) + payload;
}
std::string Int(int field, uint64_t v) {
  return Varint(static_cast<uint64_t>(field) << 3) + Varint(v);
}
std::string TensorType(int elem_type) {  // TypeProto{tensor_type{elem_type, shape [2]}}
  return Bytes(1, Int(1, static_cast<uint64_t>(elem_type)) + Bytes(2, Bytes(1, Int(1, 2))));
}
std::string SequenceType(const std::string& elem) {
  return Bytes(4, Bytes(1, elem));
}
std::string TinyModel(const std::string& op, const std::string& x_type, const std::string& y_type,
                      uint64_t ir_version = 7, uint64_t opset = 13) {
  const std::string node = Bytes(1, "x") + Bytes(2, "y") + Bytes(4, op);
  const std::string graph = Bytes(1, node) + Bytes(2, "g") +
                            Bytes(11, Bytes(1, "x") + Bytes(2, x_type)) +
                            Bytes(12, Bytes(1, "y") + Bytes(2, y_type));
  return Int(1, ir_version) + Bytes(7, graph) + Bytes(8, Bytes(1, "") + Int(2, opset));
}

TEST_F(OnnxPluginTest, UnsupportedIoTypesNameTheTensor) {
  // float8e4m3fn: ONNX Runtime runs it (Identity, opset 19, IR 9); SMI has no such dtype.
  const int kFloat8E4M3FN = 17, kFloat = 1;
  std::ofstream(dir_ / "float8.onnx", std::ios::binary)
      << TinyModel("Identity", TensorType(kFloat8E4M3FN), TensorType(kFloat8E4M3FN), 9, 19);
  smi_model* m = nullptr;
  Result r = TryLoad(dir_ / "float8.onnx", &m);
  EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED);
  EXPECT_EQ(r.message, "input \"x\": element type float8e4m3fn is not supported");

  std::ofstream(dir_ / "sequence.onnx", std::ios::binary)
      << TinyModel("SequenceConstruct", TensorType(kFloat), SequenceType(TensorType(kFloat)));
  r = TryLoad(dir_ / "sequence.onnx", &m);
  EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED);
  EXPECT_EQ(r.message, "output \"y\": ONNX type sequence is not supported");
  EXPECT_EQ(m, nullptr);

  // The same encoder with a supported type loads: the failures above are the types'.
  std::ofstream(dir_ / "float.onnx", std::ios::binary)
      << TinyModel("Identity", TensorType(kFloat), TensorType(kFloat));
  r = TryLoad(dir_ / "float.onnx", &m);
  EXPECT_EQ(r.code, 0) << r.message;
}

TEST_F(OnnxPluginTest, Metadata) {
  smi_model* id = Load("identity_f32.onnx");
  ASSERT_NE(id, nullptr);
  ASSERT_EQ(api_->model_input_count(id), 1u);
  ASSERT_EQ(api_->model_output_count(id), 1u);
  EXPECT_STREQ(Input(id, 0)->name, "input");
  EXPECT_EQ(Input(id, 0)->dtype, SMI_DTYPE_FLOAT32);
  EXPECT_EQ(Dims(Input(id, 0)), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(Input(id, 0)->data, nullptr);
  EXPECT_STREQ(OutputAt(id, 0)->name, "output");
  const smi_tensor* t = nullptr;
  smi_error* e = api_->model_input(id, 1, &t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_NOT_FOUND);
  api_->error_free(e);

  smi_model* add = Load("add.onnx");
  ASSERT_NE(add, nullptr);
  ASSERT_EQ(api_->model_input_count(add), 2u);
  EXPECT_STREQ(Input(add, 0)->name, "a");
  EXPECT_STREQ(Input(add, 1)->name, "b");
  EXPECT_EQ(Dims(Input(add, 1)), (std::vector<int64_t>{-1, 3}));
  EXPECT_STREQ(OutputAt(add, 0)->name, "sum");

  smi_model* mlp = Load("mlp.onnx");
  ASSERT_NE(mlp, nullptr);
  ASSERT_EQ(api_->model_output_count(mlp), 2u);
  EXPECT_EQ(Dims(Input(mlp, 0)), (std::vector<int64_t>{-1, 16}));
  EXPECT_STREQ(OutputAt(mlp, 0)->name, "logits");
  EXPECT_STREQ(OutputAt(mlp, 1)->name, "probs");
  EXPECT_EQ(Dims(OutputAt(mlp, 1)), (std::vector<int64_t>{-1, 4}));

  smi_model* se = Load("scalar_and_empty.onnx");
  ASSERT_NE(se, nullptr);
  EXPECT_EQ(Input(se, 0)->rank, 0u);
  EXPECT_EQ(Dims(Input(se, 1)), (std::vector<int64_t>{0, 3}));

  smi_model* c = Load("demo_celsius.onnx");
  ASSERT_NE(c, nullptr);
  EXPECT_STREQ(Input(c, 0)->name, "celsius");
  EXPECT_EQ(Dims(Input(c, 0)), (std::vector<int64_t>{-1}));
  EXPECT_STREQ(OutputAt(c, 0)->name, "fahrenheit");

  smi_memory_info info{};
  info.size = sizeof info;
  ASSERT_EQ(api_->model_memory(mlp, &info), nullptr);
  EXPECT_EQ(info.host_bytes, fs::file_size(kFixtures / "mlp.onnx"));
  EXPECT_EQ(info.device_bytes, 0u);
}

// Every IO dtype, with its MLOS name, its SMI dtype and its element size.
struct DtypeCase {
  const char* name;
  smi_dtype dtype;
};
const DtypeCase kDtypes[] = {
    {"float32", SMI_DTYPE_FLOAT32}, {"float64", SMI_DTYPE_FLOAT64},
    {"float16", SMI_DTYPE_FLOAT16}, {"bfloat16", SMI_DTYPE_BFLOAT16},
    {"int8", SMI_DTYPE_INT8},       {"int16", SMI_DTYPE_INT16},
    {"int32", SMI_DTYPE_INT32},     {"int64", SMI_DTYPE_INT64},
    {"uint8", SMI_DTYPE_UINT8},     {"uint16", SMI_DTYPE_UINT16},
    {"uint32", SMI_DTYPE_UINT32},   {"uint64", SMI_DTYPE_UINT64},
    {"bool", SMI_DTYPE_BOOL},       {"string", SMI_DTYPE_STRING},
};

TEST_F(OnnxPluginTest, EveryDtypeRoundTripsBitExact) {
  smi_model* m = Load("dtypes.onnx");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), std::size(kDtypes));
  std::vector<std::string> in_names, out_names;
  for (const DtypeCase& c : kDtypes) {
    in_names.push_back(std::string("in_") + c.name);
    out_names.push_back(std::string("out_") + c.name);
  }
  for (uint32_t i = 0; i < std::size(kDtypes); ++i) {
    EXPECT_EQ(Input(m, i)->name, in_names[i]);
    EXPECT_EQ(Input(m, i)->dtype, kDtypes[i].dtype) << in_names[i];
    EXPECT_EQ(Dims(Input(m, i)), std::vector<int64_t>{2});
    EXPECT_EQ(OutputAt(m, i)->name, out_names[i]);
    EXPECT_EQ(OutputAt(m, i)->dtype, kDtypes[i].dtype);
  }

  // Two elements of each numeric type with awkward bit patterns (NaN payloads, -0, extremes).
  std::vector<std::vector<uint8_t>> data;
  for (const DtypeCase& c : kDtypes) {
    const uint64_t size = smi_dtype_size(c.dtype);
    std::vector<uint8_t> bytes(2 * size);
    for (size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<uint8_t>(0x7F + 37 * b);
    if (c.dtype == SMI_DTYPE_BOOL) bytes = {1, 0};
    data.push_back(bytes);
  }
  const std::string with_nul("nul\0inside", 10);
  const std::string utf8 = "h\xC3\xA9llo \xF0\x9F\x98\x80";
  smi_string strings[2] = {{with_nul.data(), with_nul.size()}, {utf8.data(), utf8.size()}};
  std::vector<smi_tensor> inputs;
  for (size_t i = 0; i < std::size(kDtypes); ++i) {
    if (kDtypes[i].dtype == SMI_DTYPE_STRING) {
      inputs.push_back(Tensor(in_names[i].c_str(), SMI_DTYPE_STRING, {2}, strings, sizeof strings));
    } else {
      inputs.push_back(
          Tensor(in_names[i].c_str(), kDtypes[i].dtype, {2}, data[i].data(), data[i].size()));
    }
  }
  // All outputs (a string among them: copied after the run).
  Outputs all;
  Result r = Infer(m, inputs, all);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(all.list.size(), std::size(kDtypes));
  for (size_t i = 0; i < std::size(kDtypes); ++i) {
    const Output& o = all.list[i];
    EXPECT_EQ(o.name, out_names[i]);
    EXPECT_EQ(o.dtype, kDtypes[i].dtype);
    EXPECT_EQ(o.dims, std::vector<int64_t>{2});
    if (kDtypes[i].dtype == SMI_DTYPE_STRING) {
      EXPECT_EQ(o.byte_size, with_nul.size() + utf8.size());
      EXPECT_EQ(o.strings, (std::vector<std::string>{with_nul, utf8}));
    } else {
      EXPECT_EQ(o.bytes, data[i]) << o.name;
    }
  }
  // Numeric outputs only (all static: bound to the host's buffers before the run), reversed.
  std::vector<const char*> numeric;
  for (size_t i = std::size(kDtypes) - 1; i-- > 0;) numeric.push_back(out_names[i].c_str());
  Outputs bound;
  r = Infer(m, inputs, bound, numeric);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(bound.list.size(), numeric.size());
  for (size_t j = 0; j < numeric.size(); ++j) {
    const size_t i = std::size(kDtypes) - 2 - j;
    EXPECT_EQ(bound.list[j].name, out_names[i]);
    EXPECT_EQ(bound.list[j].bytes, data[i]) << out_names[i];
  }
}

TEST_F(OnnxPluginTest, ScalarAndEmpty) {
  smi_model* m = Load("scalar_and_empty.onnx");
  ASSERT_NE(m, nullptr);
  float scalar = 2.5f;
  Outputs out;
  Result r = Infer(m,
                   {Tensor("scalar", SMI_DTYPE_FLOAT32, {}, &scalar, 4),
                    Tensor("empty", SMI_DTYPE_FLOAT32, {0, 3}, nullptr, 0)},
                   out);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(out.list.size(), 2u);
  EXPECT_EQ(out.list[0].name, "scalar_out");
  EXPECT_TRUE(out.list[0].dims.empty());
  EXPECT_EQ(out.list[0].values<float>(), std::vector<float>{2.5f});
  EXPECT_EQ(out.list[1].name, "empty_out");
  EXPECT_EQ(out.list[1].dims, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(out.list[1].byte_size, 0u);
}

TEST_F(OnnxPluginTest, IdentityAndCelsius) {
  smi_model* m = Load("identity_f32.onnx");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = {1.f, -0.f, NAN, 3.4e38f};
  Outputs out;
  ASSERT_EQ(Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {1, 4}, x.data(), 16)}, out).code, 0);
  ASSERT_EQ(out.list.size(), 1u);
  EXPECT_EQ(out.list[0].dims, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(std::memcmp(out.list[0].bytes.data(), x.data(), 16), 0);

  smi_model* c = Load("demo_celsius.onnx");
  ASSERT_NE(c, nullptr);
  std::vector<float> celsius = {0.f, 100.f, -40.f};
  Outputs f;
  ASSERT_EQ(Infer(c, {Tensor("celsius", SMI_DTYPE_FLOAT32, {3}, celsius.data(), 12)}, f).code, 0);
  EXPECT_EQ(f.list[0].name, "fahrenheit");
  EXPECT_EQ(f.list[0].values<float>(), (std::vector<float>{32.f, 212.f, -40.f}));
  // A zero-length batch.
  Outputs none;
  ASSERT_EQ(Infer(c, {Tensor("celsius", SMI_DTYPE_FLOAT32, {0}, nullptr, 0)}, none).code, 0);
  EXPECT_EQ(none.list[0].dims, std::vector<int64_t>{0});
}

TEST_F(OnnxPluginTest, OutputSubsetInRequestOrder) {
  smi_model* m = Load("mlp.onnx");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Floats(2 * 16, 7);
  const smi_tensor in = Tensor("input", SMI_DTYPE_FLOAT32, {2, 16}, x.data(), x.size() * 4);
  Outputs probs;
  ASSERT_EQ(Infer(m, {in}, probs, {"probs"}).code, 0);
  ASSERT_EQ(probs.list.size(), 1u);
  EXPECT_EQ(probs.list[0].name, "probs");
  EXPECT_EQ(probs.list[0].dims, (std::vector<int64_t>{2, 4}));
  float total = 0;
  for (float p : probs.list[0].values<float>()) total += p;
  EXPECT_NEAR(total, 2.f, 1e-5);
  Outputs both;
  ASSERT_EQ(Infer(m, {in}, both, {"probs", "logits"}).code, 0);
  ASSERT_EQ(both.list.size(), 2u);
  EXPECT_EQ(both.list[0].name, "probs");
  EXPECT_EQ(both.list[1].name, "logits");
  EXPECT_EQ(both.list[0].bytes, probs.list[0].bytes);
}

TEST_F(OnnxPluginTest, ValidationErrors) {
  smi_model* m = Load("identity_f32.onnx");
  ASSERT_NE(m, nullptr);
  std::vector<float> x(4);
  std::vector<int64_t> xi(4);
  auto check = [&](const std::vector<smi_tensor>& inputs, int code, const std::string& message,
                   std::vector<const char*> names = {}) {
    Outputs out;
    Result r = Infer(m, inputs, out, names);
    EXPECT_EQ(r.code, code) << message;
    EXPECT_EQ(r.message, message);
    EXPECT_TRUE(out.list.empty()) << "no output allocated on a validation error";
  };
  const smi_tensor good = Tensor("input", SMI_DTYPE_FLOAT32, {1, 4}, x.data(), 16);
  check({}, SMI_ERROR_INVALID_ARGUMENT, "missing input \"input\"");
  check({good, Tensor("x", SMI_DTYPE_FLOAT32, {1, 4}, x.data(), 16)}, SMI_ERROR_INVALID_ARGUMENT,
        "unknown input \"x\"");
  check({good, good}, SMI_ERROR_INVALID_ARGUMENT, "duplicate input \"input\"");
  check({Tensor("input", SMI_DTYPE_INT64, {1, 4}, xi.data(), 32)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": expected float32, got int64");
  check({Tensor("input", SMI_DTYPE_FLOAT32, {4}, x.data(), 16)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": expected rank 2, got 1");
  check({Tensor("input", SMI_DTYPE_FLOAT32, {1, 3}, x.data(), 12)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": dim 1 must be 4, got 3");
  check({Tensor("input", SMI_DTYPE_FLOAT32, {1, -4}, x.data(), 16)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": dim 1 is negative (-4)");
  check({Tensor("input", SMI_DTYPE_FLOAT32, {1, 4}, x.data(), 12)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": byte_size 12 does not match dims (expected 16)");
  check({Tensor("input", SMI_DTYPE_FLOAT32, {1, 4}, nullptr, 16)}, SMI_ERROR_INVALID_ARGUMENT,
        "input \"input\": data is NULL");
  check({good}, SMI_ERROR_NOT_FOUND, "unknown output \"logits\"", {"logits"});
  check({good}, SMI_ERROR_INVALID_ARGUMENT, "duplicate output \"output\"", {"output", "output"});

  // Symbolic dims accept any size; the runtime reports inconsistent ones.
  smi_model* add = Load("add.onnx");
  ASSERT_NE(add, nullptr);
  std::vector<float> a(6), b(9);
  Outputs out;
  Result r = Infer(add,
                   {Tensor("a", SMI_DTYPE_FLOAT32, {2, 3}, a.data(), 24),
                    Tensor("b", SMI_DTYPE_FLOAT32, {3, 3}, b.data(), 36)},
                   out);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.message.find("onnxruntime"), std::string::npos) << r.message;

  // Strings: byte_size counts smi_string entries.
  smi_model* d = Load("dtypes.onnx");
  ASSERT_NE(d, nullptr);
  smi_string s[2] = {{"a", 1}, {nullptr, 3}};
  std::vector<smi_tensor> inputs;
  std::vector<std::string> names;
  for (const DtypeCase& c : kDtypes) names.push_back(std::string("in_") + c.name);
  std::vector<uint8_t> zeros(16);
  for (size_t i = 0; i < std::size(kDtypes); ++i) {
    inputs.push_back(kDtypes[i].dtype == SMI_DTYPE_STRING
                         ? Tensor(names[i].c_str(), SMI_DTYPE_STRING, {2}, s, sizeof s)
                         : Tensor(names[i].c_str(), kDtypes[i].dtype, {2}, zeros.data(),
                                  2 * smi_dtype_size(kDtypes[i].dtype)));
  }
  Outputs so;
  r = Infer(d, inputs, so);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "input \"in_string\": string 1 has NULL data");
}

TEST_F(OnnxPluginTest, HostRefusingAllocationIsResourceExhausted) {
  smi_model* m = Load("mlp.onnx");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Floats(16, 3);
  Outputs out;
  out.on_alloc = [](const char* name) { return std::string(name) == "probs" ? 1 : 0; };
  Result r = Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {1, 16}, x.data(), 64)}, out);
  EXPECT_EQ(r.code, SMI_ERROR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.message, "output \"probs\": the host refused to allocate 16 bytes");
}

// ONNX Runtime run directly with the plugin's session options (intra_op_threads 1, level all).
std::vector<std::vector<float>> ReferenceMlp(const std::vector<float>& x, int64_t batch) {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "onnx_plugin_test");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  options.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  Ort::Session session(env, (kFixtures / "mlp.onnx").c_str(), options);
  auto cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const int64_t shape[] = {batch, 16};
  Ort::Value in =
      Ort::Value::CreateTensor<float>(cpu, const_cast<float*>(x.data()), x.size(), shape, 2);
  const char* in_names[] = {"input"};
  const char* out_names[] = {"logits", "probs"};
  auto outs = session.Run(Ort::RunOptions{}, in_names, &in, 1, out_names, 2);
  std::vector<std::vector<float>> result;
  for (auto& o : outs) {
    const float* p = o.GetTensorData<float>();
    result.emplace_back(p, p + o.GetTensorTypeAndShapeInfo().GetElementCount());
  }
  return result;
}

TEST_F(OnnxPluginTest, MlpBitExactAgainstOnnxRuntime) {
  smi_model* m = Load("mlp.onnx");
  ASSERT_NE(m, nullptr);
  for (int64_t batch : {1, 3, 64}) {
    std::vector<float> x = Floats(static_cast<size_t>(batch) * 16, static_cast<uint32_t>(batch));
    auto expected = ReferenceMlp(x, batch);
    Outputs out;
    Result r =
        Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {batch, 16}, x.data(), x.size() * 4)}, out);
    ASSERT_EQ(r.code, 0) << r.message;
    ASSERT_EQ(out.list.size(), 2u);
    EXPECT_EQ(out.list[0].dims, (std::vector<int64_t>{batch, 4}));
    ASSERT_EQ(out.list[0].bytes.size(), expected[0].size() * 4);
    EXPECT_EQ(std::memcmp(out.list[0].bytes.data(), expected[0].data(), expected[0].size() * 4), 0)
        << "logits, batch " << batch;
    EXPECT_EQ(std::memcmp(out.list[1].bytes.data(), expected[1].data(), expected[1].size() * 4), 0)
        << "probs, batch " << batch;
  }
}

TEST_F(OnnxPluginTest, ConcurrentInfersOnOneSession) {
  smi_model* m = Load("mlp.onnx");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Floats(8 * 16, 11);
  const auto expected = ReferenceMlp(x, 8);
  std::atomic<int> matches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Outputs out;
        Result r = Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {8, 16}, x.data(), x.size() * 4)},
                         out, {"probs"}, static_cast<uint64_t>(t * 100 + i));
        if (r.code == 0 && out.list[0].values<float>() == expected[1]) ++matches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(matches, 100);
}

TEST_F(OnnxPluginTest, CancelStopsTheRun) {
  smi_model* m = Load("identity_f32.onnx");
  ASSERT_NE(m, nullptr);
  api_->model_cancel(m, 77);  // not running: a no-op
  std::vector<float> x = {1, 2, 3, 4};
  const smi_tensor in = Tensor("input", SMI_DTYPE_FLOAT32, {1, 4}, x.data(), 16);
  Outputs ok;
  ASSERT_EQ(Infer(m, {in}, ok, {}, 77).code, 0);

  // The static output is allocated after the request is registered and before the run starts:
  // cancelling from the alloc callback is a deterministic "cancel while running".
  Outputs out;
  out.on_alloc = [&](const char*) {
    api_->model_cancel(m, 78);
    return 0;
  };
  Result r = Infer(m, {in}, out, {}, 78);
  EXPECT_EQ(r.code, SMI_ERROR_CANCELLED);
  EXPECT_EQ(r.message, "request 78 cancelled");
  // Another request id is unaffected.
  Outputs other;
  other.on_alloc = [&](const char*) {
    api_->model_cancel(m, 1000);
    return 0;
  };
  EXPECT_EQ(Infer(m, {in}, other, {}, 79).code, 0);
}

TEST_F(OnnxPluginTest, CancelALongRunFromAnotherThread) {
  smi_model* m = Load("mlp.onnx");
  ASSERT_NE(m, nullptr);
  const int64_t batch = 1 << 17;
  std::vector<float> x = Floats(static_cast<size_t>(batch) * 16, 5);
  const smi_tensor in = Tensor("input", SMI_DTYPE_FLOAT32, {batch, 16}, x.data(), x.size() * 4);
  // The run has several nodes and the terminate flag is checked between them; retry a few
  // times in case a run finishes before the cancel lands.
  bool cancelled = false;
  for (int attempt = 0; attempt < 10 && !cancelled; ++attempt) {
    std::atomic<bool> done{false};
    const uint64_t id = 500 + attempt;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + attempt));
      while (!done) {
        api_->model_cancel(m, id);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    Outputs out;
    Result r = Infer(m, {in}, out, {}, id);
    done = true;
    canceller.join();
    if (r.code == SMI_ERROR_CANCELLED) {
      cancelled = true;
      EXPECT_EQ(r.message, "request " + std::to_string(id) + " cancelled");
    } else {
      EXPECT_EQ(r.code, 0) << r.message;
    }
  }
  EXPECT_TRUE(cancelled);
  // The model still works afterwards.
  std::vector<float> small = Floats(16, 9);
  Outputs out;
  EXPECT_EQ(Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {1, 16}, small.data(), 64)}, out).code, 0);
}

// The cache files in `dir` (none when it does not exist).
std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// True when `path` holds an ORT-format model (flatbuffer identifier "ORTM" at byte 4).
bool IsOrtFormat(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  return in.read(head, sizeof head) && std::memcmp(head + 4, "ORTM", 4) == 0;
}

smi_memory_info Memory(const smi_plugin_api* api, smi_model* m) {
  smi_memory_info info{};
  info.size = sizeof info;
  smi_error* e = api->model_memory(m, &info);
  EXPECT_EQ(e, nullptr);
  api->error_free(e);
  return info;
}

TEST_F(OnnxPluginTest, OptimizedModelCache) {
  const fs::path model = dir_ / "model" / "mlp.onnx";
  const fs::path cache = dir_ / "cache";
  fs::create_directories(model.parent_path());
  fs::copy_file(kFixtures / "mlp.onnx", model);
  const std::string cache_dir = cache.string();
  std::vector<float> x = Floats(5 * 16, 21);
  const smi_tensor in = Tensor("input", SMI_DTYPE_FLOAT32, {5, 16}, x.data(), x.size() * 4);

  // Cold: the optimised graph is saved in ORT format, `<16 hex digits>.ort`, and nothing else.
  smi_model* cold = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(cold, nullptr);
  auto files = FilesIn(cache);
  ASSERT_EQ(files.size(), 1u);
  const fs::path ort = files[0];
  EXPECT_EQ(ort.extension(), ".ort");
  EXPECT_EQ(ort.stem().string().size(), 16u);
  EXPECT_TRUE(IsOrtFormat(ort));
  Outputs first;
  ASSERT_EQ(Infer(cold, {in}, first).code, 0);
  // The same results as ONNX Runtime optimising the model itself, bit for bit.
  const auto expected = ReferenceMlp(x, 5);
  ASSERT_EQ(first.list.size(), 2u);
  EXPECT_EQ(first.list[0].values<float>(), expected[0]);
  EXPECT_EQ(first.list[1].values<float>(), expected[1]);
  Unload(cold);

  // Warm: read from the ORT-format copy; same outputs, bit for bit; nothing new written.
  const auto written = fs::last_write_time(ort);
  smi_model* warm = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(warm, nullptr);
  Outputs second;
  ASSERT_EQ(Infer(warm, {in}, second).code, 0);
  ASSERT_EQ(second.list.size(), 2u);
  EXPECT_EQ(second.list[0].bytes, first.list[0].bytes);
  EXPECT_EQ(second.list[1].bytes, first.list[1].bytes);
  EXPECT_EQ(FilesIn(cache), files);
  EXPECT_EQ(fs::last_write_time(ort), written);
  EXPECT_EQ(Memory(api_, warm).shared_bytes, fs::file_size(ort));
  Unload(warm);

  // Proof the warm load reads the cached file: swap in another model's ORT-format copy.
  const fs::path other_cache = dir_ / "other_cache";
  const fs::path add = dir_ / "model" / "add.onnx";
  fs::copy_file(kFixtures / "add.onnx", add);
  const std::string other_cache_dir = other_cache.string();
  Unload(Load(add.string(), nullptr, other_cache_dir.c_str()));
  ASSERT_EQ(FilesIn(other_cache).size(), 1u);
  fs::copy_file(FilesIn(other_cache)[0], ort, fs::copy_options::overwrite_existing);
  smi_model* swapped = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(swapped, nullptr);
  EXPECT_STREQ(Input(swapped, 0)->name, "a");
  Unload(swapped);

  // A corrupt ORT-format copy is dropped and rebuilt from the model (a working load, the same
  // outputs) and replaced by a valid one: garbage, a broken flatbuffer, a truncated copy.
  std::string valid;
  {
    std::ifstream f(ort, std::ios::binary);
    valid.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  for (const std::string& corrupt :
       {std::string("garbage"), std::string("\x10\0\0\0ORTM", 8) + std::string(64, '\xff'),
        valid.substr(0, valid.size() / 2)}) {
    std::ofstream(ort, std::ios::binary | std::ios::trunc) << corrupt;
    smi_model* rebuilt = Load(model.string(), nullptr, cache_dir.c_str());
    ASSERT_NE(rebuilt, nullptr);
    EXPECT_STREQ(Input(rebuilt, 0)->name, "input");
    Outputs third;
    ASSERT_EQ(Infer(rebuilt, {in}, third).code, 0);
    EXPECT_EQ(third.list[1].bytes, first.list[1].bytes);
    EXPECT_NE(Memory(api_, rebuilt).shared_key, 0u);
    Unload(rebuilt);
    EXPECT_EQ(FilesIn(cache), files);
    EXPECT_TRUE(IsOrtFormat(ort));
    EXPECT_GT(fs::file_size(ort), corrupt.size());
  }

  // Without an ORT-format copy, an ONNX copy (`<key>.opt.onnx`, written when ONNX Runtime
  // cannot save ORT format) is read; an unusable one is dropped and the ORT copy rebuilt.
  const fs::path opt_onnx = cache / (ort.stem().string() + ".opt.onnx");
  fs::remove(ort);
  fs::copy_file(kFixtures / "add.onnx", opt_onnx);
  smi_model* from_onnx = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(from_onnx, nullptr);
  EXPECT_STREQ(Input(from_onnx, 0)->name, "a");
  EXPECT_EQ(Memory(api_, from_onnx).shared_key, 0u);
  Unload(from_onnx);
  std::ofstream(opt_onnx, std::ios::trunc) << "garbage";
  smi_model* rebuilt = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_STREQ(Input(rebuilt, 0)->name, "input");
  Unload(rebuilt);
  EXPECT_EQ(FilesIn(cache), files);

  // A changed model file (new mtime) gets a new key; the option can turn the cache off.
  fs::last_write_time(model, written - std::chrono::hours(1));
  ASSERT_NE(Load(model.string(), nullptr, cache_dir.c_str()), nullptr);
  EXPECT_EQ(FilesIn(cache).size(), 2u);
  fs::last_write_time(model, written - std::chrono::hours(2));
  smi_model* off = Load(model.string(), R"({"optimized_model_cache": false})", cache_dir.c_str());
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(Memory(api_, off).shared_key, 0u);
  ASSERT_NE(Load(model.string(), R"({"graph_optimization_level": "disable"})", cache_dir.c_str()),
            nullptr);
  EXPECT_EQ(FilesIn(cache).size(), 2u);
}

TEST_F(OnnxPluginTest, SessionsOfOneFileShareItsMapping) {
  const fs::path model = dir_ / "model" / "mlp.onnx";
  const fs::path copy = dir_ / "copy" / "mlp.onnx";
  const fs::path cache = dir_ / "cache";
  fs::create_directories(model.parent_path());
  fs::create_directories(copy.parent_path());
  fs::copy_file(kFixtures / "mlp.onnx", model);
  fs::copy_file(kFixtures / "mlp.onnx", copy);
  const std::string cache_dir = cache.string();
  std::vector<float> x = Floats(3 * 16, 5);
  const smi_tensor in = Tensor("input", SMI_DTYPE_FLOAT32, {3, 16}, x.data(), x.size() * 4);

  // Two models (e.g. two versions registered from one file) loaded at once: one mapping.
  smi_model* a = Load(model.string(), nullptr, cache_dir.c_str());
  smi_model* b = Load(model.string(), R"({"intra_op_threads": 2})", cache_dir.c_str());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const auto files = FilesIn(cache);
  ASSERT_EQ(files.size(), 1u);
  const smi_memory_info ma = Memory(api_, a), mb = Memory(api_, b);
  EXPECT_NE(ma.shared_key, 0u);
  EXPECT_EQ(ma.shared_key, mb.shared_key);
  EXPECT_EQ(ma.shared_bytes, fs::file_size(files[0]));
  EXPECT_EQ(mb.shared_bytes, ma.shared_bytes);
  EXPECT_EQ(ma.host_bytes, ma.shared_bytes);
  EXPECT_EQ(ma.device_bytes, 0u);

  Outputs out_a, out_b;
  ASSERT_EQ(Infer(a, {in}, out_a).code, 0);
  ASSERT_EQ(Infer(b, {in}, out_b).code, 0);
  EXPECT_EQ(out_a.list[1].bytes, out_b.list[1].bytes);
  // The mapping lives as long as a session uses it.
  Unload(a);
  Outputs after;
  ASSERT_EQ(Infer(b, {in}, after).code, 0);
  EXPECT_EQ(after.list[1].bytes, out_b.list[1].bytes);
  // Reloaded while b holds it: the same mapping again.
  smi_model* c = Load(model.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Memory(api_, c).shared_key, mb.shared_key);
  // Both still compute the same (c's load dropped the mapping's resident pages: they fault back).
  Outputs from_b, from_c;
  ASSERT_EQ(Infer(b, {in}, from_b).code, 0);
  ASSERT_EQ(Infer(c, {in}, from_c).code, 0);
  EXPECT_EQ(from_b.list[1].bytes, out_b.list[1].bytes);
  EXPECT_EQ(from_c.list[1].bytes, out_b.list[1].bytes);

  // Another file (another cache key) is another mapping.
  smi_model* d = Load(copy.string(), nullptr, cache_dir.c_str());
  ASSERT_NE(d, nullptr);
  EXPECT_NE(Memory(api_, d).shared_key, 0u);
  EXPECT_NE(Memory(api_, d).shared_key, mb.shared_key);

  // Without a cache: nothing shared; host_bytes is the model file's size.
  smi_model* plain = Load(model.string());
  ASSERT_NE(plain, nullptr);
  const smi_memory_info mp = Memory(api_, plain);
  EXPECT_EQ(mp.shared_key, 0u);
  EXPECT_EQ(mp.shared_bytes, 0u);
  EXPECT_EQ(mp.host_bytes, fs::file_size(model));

  // A host built before shared_bytes existed passes a smaller size: those fields are not written.
  smi_memory_info old{};
  old.size = offsetof(smi_memory_info, shared_bytes);
  old.shared_bytes = 7;
  old.shared_key = 9;
  ASSERT_EQ(api_->model_memory(c, &old), nullptr);
  EXPECT_EQ(old.host_bytes, mb.host_bytes);
  EXPECT_EQ(old.shared_bytes, 7u);
  EXPECT_EQ(old.shared_key, 9u);
}

TEST_F(OnnxPluginTest, ConcurrentFirstLoadsBuildOneCopy) {
  const fs::path model = dir_ / "model" / "mlp.onnx";
  fs::create_directories(model.parent_path());
  fs::copy_file(kFixtures / "mlp.onnx", model);
  const std::string path = model.string(), dir = model.parent_path().string();
  const std::string cache_dir = (dir_ / "cache").string();
  constexpr int kLoads = 4;
  smi_model* loaded[kLoads] = {};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoads; ++i) {
    threads.emplace_back([&, i] {
      smi_model_load_params params{};
      params.size = sizeof params;
      params.model_dir = dir.c_str();
      params.model_path = path.c_str();
      params.model_id = "test/model@1";
      params.cache_dir = cache_dir.c_str();
      if (smi_error* e = api_->model_load(plugin_, &params, &loaded[i])) {
        ++failures;
        api_->error_free(e);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (smi_model* m : loaded) {
    if (m) models_.push_back(m);
  }
  ASSERT_EQ(failures, 0);
  EXPECT_EQ(FilesIn(dir_ / "cache").size(), 1u);
  const uint64_t key = Memory(api_, loaded[0]).shared_key;
  EXPECT_NE(key, 0u);
  for (smi_model* m : loaded) EXPECT_EQ(Memory(api_, m).shared_key, key);
}

TEST_F(OnnxPluginTest, PerModelOptions) {
  smi_model* m =
      Load("mlp.onnx", R"({"graph_optimization_level": "disable", "intra_op_threads": 2})");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Floats(16, 1);
  Outputs out;
  ASSERT_EQ(Infer(m, {Tensor("input", SMI_DTYPE_FLOAT32, {1, 16}, x.data(), 64)}, out).code, 0);
  const auto expected = ReferenceMlp(x, 1);
  // Unoptimised graphs may round differently from fused ones: compare closely, not bit-exact.
  const auto probs = out.list[1].values<float>();
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(probs[i], expected[1][i], 1e-5);
}

}  // namespace
