// The libtorch SMI plugin, loaded with dlopen as mlosd loads it, over the TorchScript fixtures
// (tests/fixtures/make_torchscript.py): handshake, the IO schema from the manifest, outputs
// against what torch computed in Python for every fixture and dtype (the .npy references),
// tuple / list / dict / single-tensor results, output subsets, every validation error, errors
// raised inside forward, load and manifest errors, the config, memory, concurrent infers.
// Nothing of libtorch is linked here: the references are torch's own outputs, saved by the
// fixture script.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/tensor_file.h"
#include "mlos/smi.h"
#include "smi_test_host.h"

namespace {

namespace fs = std::filesystem;
using namespace mlos_plugin_test;  // NOLINT: the test host's helpers

const std::string kPluginPath = std::string(MLOS_BINARY_DIR) + "/lib/mlos/plugins/libmlos_torch.so";
const fs::path kFixtures = fs::path(MLOS_BINARY_DIR) / "fixtures";

// Every test's plugin config: one intra-op thread, one inter-op thread (libtorch fixes the
// inter-op count at its first setting, so every test asks for the same).
constexpr const char* kConfig = R"({"intra_op_threads": 1, "inter_op_threads": 1})";

struct Result {
  int code = 0;
  std::string message;
};

smi_dtype DtypeFromName(const std::string& name) {
  for (int d = SMI_DTYPE_FLOAT32; d <= SMI_DTYPE_STRING; ++d) {
    if (name == smi_dtype_name(static_cast<smi_dtype>(d))) return static_cast<smi_dtype>(d);
  }
  return SMI_DTYPE_INVALID;
}

// A fixture's io yaml as the JSON of spec.io (the shape the host passes in manifest_json).
nlohmann::json ReadIo(const std::string& stem) {
  const YAML::Node doc = YAML::LoadFile((kFixtures / (stem + ".io.yaml")).string());
  nlohmann::json io = nlohmann::json::object();
  for (const char* key : {"inputs", "outputs"}) {
    nlohmann::json list = nlohmann::json::array();
    for (const YAML::Node& entry : doc[key]) {
      nlohmann::json shape = nlohmann::json::array();
      for (const YAML::Node& d : entry["shape"]) shape.push_back(d.as<int64_t>());
      list.push_back({{"name", entry["name"].as<std::string>()},
                      {"dtype", entry["dtype"].as<std::string>()},
                      {"shape", shape}});
    }
    io[key] = list;
  }
  return io;
}

// A manifest (as JSON) whose spec.io is `io`.
std::string Manifest(const nlohmann::json& io) {
  nlohmann::json m = {{"apiVersion", "axon.mlos.io/v1"},
                      {"kind", "Model"},
                      {"metadata", {{"name", "test"}, {"version", "1.0.0"}}},
                      {"spec", {{"format", {{"execution_format", "torchscript"}}}}}};
  if (!io.is_null()) m["spec"]["io"] = io;
  return m.dump();
}

// A fixture's reference tensor (<stem>.<name>.npy). bfloat16 is stored as its 16-bit patterns.
mlos::client::Tensor ReadNpy(const std::string& stem, const std::string& name) {
  auto t = mlos::client::ReadTensorFile(kFixtures / (stem + "." + name + ".npy"), name);
  EXPECT_TRUE(t.ok()) << stem << "." << name << ": " << t.status().message();
  return t.ok() ? *t : mlos::client::Tensor{};
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  float value;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    value = mant ? NAN : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits |= sign;
  std::memcpy(&value, &bits, 4);
  return value;
}

float Bfloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

// The floating-point values of `bytes` as doubles (empty for integer and bool dtypes).
std::vector<double> AsDoubles(smi_dtype dtype, const std::vector<uint8_t>& bytes) {
  std::vector<double> out;
  const size_t size = smi_dtype_size(dtype);
  for (size_t i = 0; i + size <= bytes.size(); i += size) {
    switch (dtype) {
      case SMI_DTYPE_FLOAT32: {
        float f;
        std::memcpy(&f, &bytes[i], 4);
        out.push_back(f);
        break;
      }
      case SMI_DTYPE_FLOAT64: {
        double d;
        std::memcpy(&d, &bytes[i], 8);
        out.push_back(d);
        break;
      }
      case SMI_DTYPE_FLOAT16:
      case SMI_DTYPE_BFLOAT16: {
        uint16_t h;
        std::memcpy(&h, &bytes[i], 2);
        out.push_back(dtype == SMI_DTYPE_FLOAT16 ? HalfToFloat(h) : Bfloat16ToFloat(h));
        break;
      }
      default:
        return {};
    }
  }
  return out;
}

// Expects `got` to hold torch's reference `want` for an output of `dtype`: the same dims, float
// values within 1e-5 (absolute, or relative for values above 1), other dtypes bit-exact.
void ExpectSameTensor(const Output& got, smi_dtype dtype, const mlos::client::Tensor& want,
                      const std::string& what) {
  EXPECT_EQ(got.dtype, dtype) << what;
  EXPECT_EQ(got.dims, want.shape) << what;
  ASSERT_EQ(got.bytes.size(), want.data.size()) << what;
  const std::vector<double> a = AsDoubles(dtype, got.bytes), b = AsDoubles(dtype, want.data);
  if (a.empty() && !got.bytes.empty()) {
    EXPECT_EQ(got.bytes, want.data) << what;
    return;
  }
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_LE(std::fabs(a[i] - b[i]), 1e-5 * std::max(1.0, std::fabs(b[i])))
        << what << "[" << i << "]: " << a[i] << " vs torch's " << b[i];
  }
}

// The reference inputs of a fixture, as request tensors over their .npy data.
struct Feeds {
  std::vector<mlos::client::Tensor> data;
  std::vector<std::string> names;
  std::vector<smi_tensor> tensors;
};

Feeds ReadFeeds(const std::string& stem, const nlohmann::json& io) {
  Feeds f;
  for (const auto& input : io["inputs"]) {
    f.names.push_back(input["name"].get<std::string>());
    f.data.push_back(ReadNpy(stem, f.names.back()));
  }
  for (size_t i = 0; i < f.data.size(); ++i) {
    const mlos::client::Tensor& t = f.data[i];
    f.tensors.push_back(Tensor(f.names[i].c_str(),
                               DtypeFromName(io["inputs"][i]["dtype"].get<std::string>()), t.shape,
                               t.data.data(), t.data.size()));
  }
  return f;
}

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

class TorchPluginTest : public PluginTest {
 protected:
  void SetUp() override {
#if !defined(MLOS_TORCH_PLUGIN_BUILT) || !defined(MLOS_TORCH_FIXTURES_BUILT)
    GTEST_SKIP() << "built without libtorch (libtorch-dev) or python3-torch for the fixtures";
#endif
    OpenPlugin(kPluginPath, "mlos_torch_plugin_");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(fs::exists(kFixtures / "torch_traced.pt")) << "fixtures missing in " << kFixtures;
    smi_error* e = api_->plugin_init(kConfig, &plugin_);
    ASSERT_EQ(e, nullptr) << api_->error_message(e);
  }

  Result TryLoad(const fs::path& path, const std::string& manifest, smi_model** model,
                 const char* options = nullptr) {
    const std::string p = path.string(), d = path.parent_path().string();
    smi_model_load_params params{};
    params.size = sizeof params;
    params.model_dir = d.c_str();
    params.model_path = p.c_str();
    params.model_id = "test/model@1";
    params.manifest_json = manifest.empty() ? nullptr : manifest.c_str();
    params.options_json = options;
    smi_error* e = api_->model_load(plugin_, &params, model);
    if (!e) {
      models_.push_back(*model);
      return {};
    }
    Result r{api_->error_code(e), api_->error_message(e)};
    api_->error_free(e);
    return r;
  }

  // Loads a fixture with the io of `io_stem` (the fixture's own by default).
  smi_model* Load(const std::string& file, std::string io_stem = "") {
    if (io_stem.empty()) io_stem = fs::path(file).stem().string();
    smi_model* model = nullptr;
    Result r = TryLoad(kFixtures / file, Manifest(ReadIo(io_stem)), &model);
    EXPECT_EQ(r.code, 0) << file << ": " << r.message;
    return model;
  }

  // The load error for `file` with spec.io = `io`.
  Result LoadError(const std::string& file, const nlohmann::json& io) {
    smi_model* model = nullptr;
    Result r = TryLoad(kFixtures / file, Manifest(io), &model);
    EXPECT_NE(r.code, 0) << file << " loaded with io " << io.dump();
    EXPECT_EQ(model, nullptr);
    return r;
  }

  Result Infer(smi_model* model, const std::vector<smi_tensor>& inputs, Outputs& outputs,
               std::vector<const char*> names = {}, uint64_t request_id = 1) {
    auto [code, message] = RunInfer(api_, model, inputs, outputs, std::move(names), request_id);
    return {code, std::move(message)};
  }

  // Runs `model` on the fixture's reference inputs and expects torch's reference outputs, in the
  // manifest's order; the inputs are left as they were.
  void ExpectMatchesTorch(smi_model* model, const std::string& stem) {
    const nlohmann::json io = ReadIo(stem);
    Feeds feeds = ReadFeeds(stem, io);
    const std::vector<mlos::client::Tensor> before = feeds.data;
    Outputs outputs;
    Result r = Infer(model, feeds.tensors, outputs);
    ASSERT_EQ(r.code, 0) << stem << ": " << r.message;
    ASSERT_EQ(outputs.list.size(), io["outputs"].size()) << stem;
    for (size_t i = 0; i < outputs.list.size(); ++i) {
      const std::string name = io["outputs"][i]["name"].get<std::string>();
      EXPECT_EQ(outputs.list[i].name, name) << stem << ": outputs in manifest order";
      ExpectSameTensor(outputs.list[i],
                       DtypeFromName(io["outputs"][i]["dtype"].get<std::string>()),
                       ReadNpy(stem, name), stem + "." + name);
    }
    for (size_t i = 0; i < feeds.data.size(); ++i) {
      EXPECT_EQ(feeds.data[i].data, before[i].data) << stem << ": input " << feeds.names[i];
    }
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

  // plugin_init's error for `config` ({0, ""} when it succeeds; the instance is then shut down).
  Result InitError(const char* config) {
    smi_plugin* p = nullptr;
    smi_error* e = api_->plugin_init(config, &p);
    if (!e) {
      api_->plugin_shutdown(p);
      return {};
    }
    EXPECT_EQ(p, nullptr);
    Result r{api_->error_code(e), api_->error_message(e)};
    api_->error_free(e);
    return r;
  }
};

TEST_F(TorchPluginTest, Handshake) {
  smi_plugin_get_api_fn get_api = LoadPluginApi(kPluginPath);
  EXPECT_EQ(get_api(99, 0), nullptr);
  EXPECT_EQ(get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR + 1), api_);
  EXPECT_EQ(api_->abi_major, SMI_VERSION_MAJOR);
  const smi_plugin_info* info = api_->get_info();
  EXPECT_STREQ(info->name, "torch");
  EXPECT_STREQ(info->execution_formats[0], "torchscript");
  EXPECT_EQ(info->execution_formats[1], nullptr);
  EXPECT_EQ(std::string(info->framework).rfind("libtorch 1.13", 0), 0u) << info->framework;
  EXPECT_TRUE(info->capabilities & SMI_CAP_THREAD_SAFE_INFER);
  EXPECT_TRUE(info->capabilities & SMI_CAP_DEVICE_CPU);
  EXPECT_FALSE(info->capabilities & SMI_CAP_CANCEL);
  EXPECT_FALSE(info->capabilities & SMI_CAP_STREAMING);
  EXPECT_EQ(api_->model_generate, nullptr);
}

TEST_F(TorchPluginTest, SchemaComesFromTheManifest) {
  smi_model* m = Load("torch_scripted.pt");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), 2u);
  ASSERT_EQ(api_->model_output_count(m), 2u);
  EXPECT_STREQ(Input(m, 0)->name, "x");
  EXPECT_EQ(Input(m, 0)->dtype, SMI_DTYPE_FLOAT32);
  EXPECT_EQ(Dims(Input(m, 0)), (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(Input(m, 0)->data, nullptr);
  EXPECT_STREQ(Input(m, 1)->name, "ids");
  EXPECT_EQ(Input(m, 1)->dtype, SMI_DTYPE_INT64);
  EXPECT_STREQ(OutputAt(m, 0)->name, "y");
  EXPECT_STREQ(OutputAt(m, 1)->name, "count");
  EXPECT_EQ(OutputAt(m, 1)->dtype, SMI_DTYPE_INT64);
  EXPECT_EQ(Dims(OutputAt(m, 1)), (std::vector<int64_t>{-1}));
  const smi_tensor* t = nullptr;
  smi_error* e = api_->model_input(m, 2, &t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_NOT_FOUND);
  api_->error_free(e);

  // The names are the manifest's, whatever forward's arguments are called.
  nlohmann::json io = ReadIo("torch_traced");
  io["inputs"][0]["name"] = "features";
  io["outputs"][0]["name"] = "logits";
  smi_model* renamed = nullptr;
  ASSERT_EQ(TryLoad(kFixtures / "torch_traced.pt", Manifest(io), &renamed).code, 0);
  EXPECT_STREQ(Input(renamed, 0)->name, "features");
  EXPECT_STREQ(OutputAt(renamed, 0)->name, "logits");
}

TEST_F(TorchPluginTest, ScriptedTupleMatchesTorch) {
  smi_model* m = Load("torch_scripted.pt");
  ASSERT_NE(m, nullptr);
  ExpectMatchesTorch(m, "torch_scripted");
}

TEST_F(TorchPluginTest, TracedSingleTensorMatchesTorch) {
  smi_model* m = Load("torch_traced.pt");
  ASSERT_NE(m, nullptr);
  ExpectMatchesTorch(m, "torch_traced");
}

TEST_F(TorchPluginTest, DictOutputsMapByKey) {
  // forward returns {"total": ..., "scaled": ...}; the manifest lists scaled, then total.
  smi_model* m = Load("torch_dict.pt");
  ASSERT_NE(m, nullptr);
  ExpectMatchesTorch(m, "torch_dict");
}

TEST_F(TorchPluginTest, EveryDtypeMatchesTorch) {
  smi_model* m = Load("torch_dtypes.pt");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), 8u);
  const smi_dtype want[] = {SMI_DTYPE_FLOAT64, SMI_DTYPE_FLOAT16, SMI_DTYPE_BFLOAT16,
                            SMI_DTYPE_INT8,    SMI_DTYPE_INT16,   SMI_DTYPE_INT32,
                            SMI_DTYPE_UINT8,   SMI_DTYPE_BOOL};
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(Input(m, i)->dtype, want[i]) << Input(m, i)->name;
    EXPECT_EQ(OutputAt(m, i)->dtype, want[i]) << OutputAt(m, i)->name;
  }
  ExpectMatchesTorch(m, "torch_dtypes");
}

TEST_F(TorchPluginTest, LiteInterpreterFilesMatchTorch) {
  smi_model* lite = Load("torch_lite.ptl");
  ASSERT_NE(lite, nullptr);
  ExpectMatchesTorch(lite, "torch_lite");
  smi_model* flatbuffer = Load("torch_lite_flatbuffer.ptl");
  ASSERT_NE(flatbuffer, nullptr);
  ExpectMatchesTorch(flatbuffer, "torch_lite_flatbuffer");
}

TEST_F(TorchPluginTest, OutputSubsetInRequestOrder) {
  smi_model* m = Load("torch_scripted.pt");
  ASSERT_NE(m, nullptr);
  Feeds feeds = ReadFeeds("torch_scripted", ReadIo("torch_scripted"));
  const mlos::client::Tensor y = ReadNpy("torch_scripted", "y");
  const mlos::client::Tensor count = ReadNpy("torch_scripted", "count");

  Outputs only_count;
  Result r = Infer(m, feeds.tensors, only_count, {"count"});
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(only_count.list.size(), 1u);
  ExpectSameTensor(only_count.list[0], SMI_DTYPE_INT64, count, "count");

  Outputs reversed;
  r = Infer(m, feeds.tensors, reversed, {"count", "y"});
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(reversed.list.size(), 2u);
  EXPECT_EQ(reversed.list[0].name, "count");
  EXPECT_EQ(reversed.list[1].name, "y");
  ExpectSameTensor(reversed.list[1], SMI_DTYPE_FLOAT32, y, "y");

  // Of a dict, one key.
  smi_model* d = Load("torch_dict.pt");
  ASSERT_NE(d, nullptr);
  Feeds dict_feeds = ReadFeeds("torch_dict", ReadIo("torch_dict"));
  Outputs total;
  r = Infer(d, dict_feeds.tensors, total, {"total"});
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(total.list.size(), 1u);
  ExpectSameTensor(total.list[0], SMI_DTYPE_FLOAT32, ReadNpy("torch_dict", "total"), "total");

  Outputs bad;
  r = Infer(m, feeds.tensors, bad, {"z"});
  EXPECT_EQ(r.code, SMI_ERROR_NOT_FOUND);
  EXPECT_EQ(r.message, "unknown output \"z\"");
  r = Infer(m, feeds.tensors, bad, {"y", "y"});
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "duplicate output \"y\"");
  EXPECT_TRUE(bad.list.empty());
}

TEST_F(TorchPluginTest, EmptyBatch) {
  smi_model* m = Load("torch_traced.pt");
  ASSERT_NE(m, nullptr);
  Outputs outputs;
  Result r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {0, 16}, nullptr, 0)}, outputs);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(outputs.list.size(), 1u);
  EXPECT_EQ(outputs.list[0].dims, (std::vector<int64_t>{0, 8}));
  EXPECT_EQ(outputs.list[0].byte_size, 0u);
}

TEST_F(TorchPluginTest, ValidationErrors) {
  smi_model* m = Load("torch_scripted.pt");
  ASSERT_NE(m, nullptr);
  const std::vector<float> x = Floats(8, 1);
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> ids32 = {1, 2, 3, 4, 5, 6};
  const smi_tensor good_x = Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, x.data(), 32);
  const smi_tensor good_ids = Tensor("ids", SMI_DTYPE_INT64, {2, 3}, ids.data(), 48);
  auto expect = [&](const std::vector<smi_tensor>& inputs, const std::string& message) {
    Outputs outputs;
    Result r = Infer(m, inputs, outputs);
    EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT) << message;
    EXPECT_EQ(r.message, message);
    EXPECT_TRUE(outputs.list.empty()) << message;
  };
  expect({good_x}, "missing input \"ids\"");
  expect({good_x, good_ids, Tensor("z", SMI_DTYPE_FLOAT32, {1}, x.data(), 4)},
         "unknown input \"z\"");
  expect({good_x, good_x, good_ids}, "duplicate input \"x\"");
  expect({good_x, Tensor("ids", SMI_DTYPE_INT32, {2, 3}, ids32.data(), 24)},
         "input \"ids\": expected int64, got int32");
  expect({Tensor("x", SMI_DTYPE_FLOAT32, {8}, x.data(), 32), good_ids},
         "input \"x\": expected rank 2, got 1");
  expect({Tensor("x", SMI_DTYPE_FLOAT32, {4, 2}, x.data(), 32), good_ids},
         "input \"x\": dim 1 must be 4, got 2");
  expect({Tensor("x", SMI_DTYPE_FLOAT32, {-2, 4}, x.data(), 32), good_ids},
         "input \"x\": dim 0 is negative (-2)");
  expect({Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, x.data(), 28), good_ids},
         "input \"x\": byte_size 28 does not match dims (expected 32)");
  expect({Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, nullptr, 32), good_ids},
         "input \"x\": data is NULL");

  // The same inputs, well formed, run.
  Outputs outputs;
  Result r = Infer(m, {good_ids, good_x}, outputs);
  EXPECT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(outputs.list.size(), 2u);
}

TEST_F(TorchPluginTest, HostRefusingAllocationIsResourceExhausted) {
  smi_model* m = Load("torch_traced.pt");
  ASSERT_NE(m, nullptr);
  Feeds feeds = ReadFeeds("torch_traced", ReadIo("torch_traced"));
  Outputs outputs;
  outputs.on_alloc = [](const char*) { return 1; };
  Result r = Infer(m, feeds.tensors, outputs);
  EXPECT_EQ(r.code, SMI_ERROR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.message, "output \"y\": the host refused to allocate 160 bytes");
}

// Lines in a message.
size_t LineCount(const std::string& s) { return 1 + std::count(s.begin(), s.end(), '\n'); }

TEST_F(TorchPluginTest, ErrorsInsideForwardComeBackAndThePluginGoesOn) {
  // Embedding ids outside [0, 10): the model itself rejects the input.
  smi_model* m = Load("torch_scripted.pt");
  ASSERT_NE(m, nullptr);
  const std::vector<float> x = Floats(8, 2);
  const std::vector<int64_t> ids = {1, 2, 3, 4, 99, 6};
  Outputs outputs;
  Result r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, x.data(), 32),
                       Tensor("ids", SMI_DTYPE_INT64, {2, 3}, ids.data(), 48)},
                   outputs);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "torch: RuntimeError: index out of range in self");
  EXPECT_TRUE(outputs.list.empty());

  // A manifest looser than the model: x [-1, -1] lets [2, 5] through to a linear layer of 16.
  nlohmann::json io = ReadIo("torch_traced");
  io["inputs"][0]["shape"] = {-1, -1};
  smi_model* loose = nullptr;
  ASSERT_EQ(TryLoad(kFixtures / "torch_traced.pt", Manifest(io), &loose).code, 0);
  const std::vector<float> narrow = Floats(10, 3);
  r = Infer(loose, {Tensor("x", SMI_DTYPE_FLOAT32, {2, 5}, narrow.data(), 40)}, outputs);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message.rfind("torch: ", 0), 0u) << r.message;
  EXPECT_NE(r.message.find("mat1 and mat2 shapes cannot be multiplied (2x5 and 16x32)"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find("Traceback"), std::string::npos) << r.message;
  EXPECT_LE(LineCount(r.message), 4u) << r.message;

  // Both models still serve.
  ExpectMatchesTorch(m, "torch_scripted");
  ExpectMatchesTorch(loose, "torch_traced");
}

TEST_F(TorchPluginTest, ResultsThatDoNotFitTheManifestAreInternalErrors) {
  Feeds traced = ReadFeeds("torch_traced", ReadIo("torch_traced"));
  auto run = [&](const std::string& file, const nlohmann::json& io, const Feeds& feeds) {
    smi_model* m = nullptr;
    Result r = TryLoad(kFixtures / file, Manifest(io), &m);
    EXPECT_EQ(r.code, 0) << r.message;
    if (r.code != 0) return r;
    Outputs outputs;
    r = Infer(m, feeds.tensors, outputs);
    EXPECT_TRUE(outputs.list.empty()) << "nothing is allocated before every output checked out";
    return r;
  };
  nlohmann::json io = ReadIo("torch_traced");
  io["outputs"][0]["dtype"] = "float64";
  Result r = run("torch_traced.pt", io, traced);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "output \"y\": the model returned float32, the manifest declares float64");

  io = ReadIo("torch_traced");
  io["outputs"][0]["shape"] = {-1, 8, 1};
  r = run("torch_traced.pt", io, traced);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "output \"y\": the model returned rank 2, the manifest declares rank 3");

  io = ReadIo("torch_traced");
  io["outputs"][0]["shape"] = {-1, 7};
  r = run("torch_traced.pt", io, traced);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "output \"y\": the model returned dim 1 = 8, the manifest declares 7");

  io = ReadIo("torch_traced");
  io["outputs"].push_back({{"name", "extra"}, {"dtype", "float32"}, {"shape", {-1}}});
  r = run("torch_traced.pt", io, traced);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "forward returned one tensor, the manifest declares 2 outputs");

  Feeds scripted = ReadFeeds("torch_scripted", ReadIo("torch_scripted"));
  io = ReadIo("torch_scripted");
  io["outputs"].erase(1);
  r = run("torch_scripted.pt", io, scripted);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "forward returned a tuple of 2 values, the manifest declares 1 outputs");

  Feeds dict = ReadFeeds("torch_dict", ReadIo("torch_dict"));
  io = ReadIo("torch_dict");
  io["outputs"][1]["name"] = "sum";
  r = run("torch_dict.pt", io, dict);
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "output \"sum\": forward's dict has no such key (keys: scaled, total)");
}

TEST_F(TorchPluginTest, LoadErrors) {
  const std::string manifest = Manifest(ReadIo("torch_traced"));
  smi_model* m = nullptr;
  Result r = TryLoad(dir_ / "missing.pt", manifest, &m);
  EXPECT_EQ(r.code, SMI_ERROR_NOT_FOUND);
  EXPECT_EQ(r.message, "model file not found: " + (dir_ / "missing.pt").string());

  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  std::ofstream(dir_ / "noise.pt", std::ios::binary) << noise;
  r = TryLoad(dir_ / "noise.pt", manifest, &m);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message.rfind("torch cannot load " + (dir_ / "noise.pt").string() +
                                ": PytorchStreamReader failed reading zip archive",
                            0),
            0u)
      << r.message;
  EXPECT_EQ(LineCount(r.message), 1u) << r.message;

  // An ONNX model is no TorchScript.
  ASSERT_TRUE(fs::exists(kFixtures / "mlp.onnx"));
  r = TryLoad(kFixtures / "mlp.onnx", manifest, &m);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message.rfind("torch cannot load " + (kFixtures / "mlp.onnx").string() + ": ", 0),
            0u)
      << r.message;
  EXPECT_EQ(LineCount(r.message), 1u) << r.message;

  // A zip archive (an empty one: just its end record) that holds no TorchScript.
  std::ofstream(dir_ / "empty.pt", std::ios::binary) << std::string("PK\x05\x06", 4)
                                                      << std::string(18, '\0');
  r = TryLoad(dir_ / "empty.pt", manifest, &m);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT) << r.message;
  EXPECT_EQ(r.message.rfind("torch cannot load " + (dir_ / "empty.pt").string() + ": ", 0), 0u)
      << r.message;
  EXPECT_EQ(LineCount(r.message), 1u) << r.message;
  EXPECT_EQ(m, nullptr);
}

TEST_F(TorchPluginTest, ManifestWithoutIoIsRefused) {
  smi_model* m = nullptr;
  const fs::path path = kFixtures / "torch_traced.pt";
  for (const std::string& manifest :
       {std::string(), Manifest(nullptr), Manifest({{"inputs", nlohmann::json::array()}}),
        Manifest({{"inputs", ReadIo("torch_traced")["inputs"]}}),
        Manifest({{"outputs", ReadIo("torch_traced")["outputs"]}})}) {
    Result r = TryLoad(path, manifest, &m);
    EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT) << manifest;
    EXPECT_NE(r.message.find("axon install --input"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("--output"), std::string::npos) << r.message;
  }
  Result r = TryLoad(path, Manifest({{"outputs", ReadIo("torch_traced")["outputs"]}}), &m);
  EXPECT_EQ(r.message.rfind("the manifest has no spec.io.inputs: ", 0), 0u) << r.message;
  EXPECT_EQ(m, nullptr);
}

TEST_F(TorchPluginTest, ManifestErrorsNameTheTensor) {
  for (const char* dtype : {"uint16", "uint32", "uint64", "string"}) {
    nlohmann::json io = ReadIo("torch_traced");
    io["inputs"][0]["dtype"] = dtype;
    Result r = LoadError("torch_traced.pt", io);
    EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED) << dtype;
    EXPECT_EQ(r.message, std::string("input \"x\": dtype ") + dtype +
                             " is not supported by libtorch");
  }
  nlohmann::json io = ReadIo("torch_traced");
  io["outputs"][0]["dtype"] = "uint32";
  Result r = LoadError("torch_traced.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED);
  EXPECT_EQ(r.message, "output \"y\": dtype uint32 is not supported by libtorch");

  io = ReadIo("torch_traced");
  io["inputs"][0]["dtype"] = "flaot32";
  r = LoadError("torch_traced.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "spec.io.inputs[0].dtype (input \"x\"): unknown dtype \"flaot32\"");

  io = ReadIo("torch_traced");
  io["inputs"][0]["shape"] = {-1, -3};
  r = LoadError("torch_traced.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message,
            "spec.io.inputs[0].shape[1] (input \"x\"): must be -1 (dynamic) or an integer >= 0");

  io = ReadIo("torch_scripted");
  io["outputs"][1]["name"] = "y";
  r = LoadError("torch_scripted.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "spec.io.outputs: output \"y\" is listed twice");

  io = ReadIo("torch_traced");
  io["inputs"][0].erase("name");
  r = LoadError("torch_traced.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "spec.io.inputs[0].name: missing or not a string");

  // forward(x) cannot take two inputs, forward(x, ids) cannot take one.
  io = ReadIo("torch_traced");
  io["inputs"].push_back({{"name", "extra"}, {"dtype", "float32"}, {"shape", {1}}});
  r = LoadError("torch_traced.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "forward takes 1 inputs (x), the manifest declares 2");
  io = ReadIo("torch_scripted");
  io["inputs"].erase(1);
  r = LoadError("torch_scripted.pt", io);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "forward takes 2 inputs (x, ids), the manifest declares 1");
}

TEST_F(TorchPluginTest, MemoryCoversTheWeights) {
  smi_model* m = Load("torch_traced.pt");
  ASSERT_NE(m, nullptr);
  smi_memory_info info{};
  info.size = sizeof info;
  ASSERT_EQ(api_->model_memory(m, &info), nullptr);
  // Linear(16, 32) + Linear(32, 8) in float32: 808 values.
  EXPECT_GE(info.host_bytes, 808u * 4u);
  EXPECT_GE(info.host_bytes, fs::file_size(kFixtures / "torch_traced.pt"));
  EXPECT_EQ(info.device_bytes, 0u);
  EXPECT_EQ(info.shared_bytes, 0u);
}

TEST_F(TorchPluginTest, ConcurrentInfersAgree) {
  smi_model* scripted = Load("torch_scripted.pt");
  smi_model* traced = Load("torch_traced.pt");
  ASSERT_NE(scripted, nullptr);
  ASSERT_NE(traced, nullptr);
  Feeds scripted_feeds = ReadFeeds("torch_scripted", ReadIo("torch_scripted"));
  Feeds traced_feeds = ReadFeeds("torch_traced", ReadIo("torch_traced"));
  const mlos::client::Tensor want_y = ReadNpy("torch_scripted", "y");
  const mlos::client::Tensor want_count = ReadNpy("torch_scripted", "count");
  const mlos::client::Tensor want_traced = ReadNpy("torch_traced", "y");

  constexpr int kThreads = 4, kRuns = 40;
  struct Run {
    Result result;
    std::vector<Output> outputs;
  };
  std::vector<std::vector<Run>> runs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        // Threads alternate models, so both models run on several threads at once.
        const bool use_scripted = (t + i) % 2 == 0;
        Outputs outputs;
        Run run;
        auto [code, message] =
            RunInfer(api_, use_scripted ? scripted : traced,
                     use_scripted ? scripted_feeds.tensors : traced_feeds.tensors, outputs, {},
                     static_cast<uint64_t>(t * kRuns + i));
        run.result = {code, message};
        run.outputs = outputs.list;
        runs[t].push_back(std::move(run));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(runs[t].size(), static_cast<size_t>(kRuns));
    for (int i = 0; i < kRuns; ++i) {
      const Run& run = runs[t][i];
      ASSERT_EQ(run.result.code, 0) << run.result.message;
      if ((t + i) % 2 == 0) {
        ASSERT_EQ(run.outputs.size(), 2u);
        ExpectSameTensor(run.outputs[0], SMI_DTYPE_FLOAT32, want_y, "y");
        ExpectSameTensor(run.outputs[1], SMI_DTYPE_INT64, want_count, "count");
      } else {
        ASSERT_EQ(run.outputs.size(), 1u);
        ExpectSameTensor(run.outputs[0], SMI_DTYPE_FLOAT32, want_traced, "y");
      }
    }
  }
}

TEST_F(TorchPluginTest, CancelIsANoOp) {
  smi_model* m = Load("torch_traced.pt");
  ASSERT_NE(m, nullptr);
  api_->model_cancel(m, 1);
  api_->model_cancel(nullptr, 1);
  ExpectMatchesTorch(m, "torch_traced");  // request id 1, after a cancel of id 1
}

TEST_F(TorchPluginTest, ConfigErrors) {
  Result r = InitError(R"({"intra_op_threads": -1})");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "torch plugin config: intra_op_threads: must be an integer from 0 to 1024");
  r = InitError(R"({"intra_op_threads": "two"})");
  EXPECT_EQ(r.message, "torch plugin config: intra_op_threads: must be an integer from 0 to 1024");
  r = InitError(R"({"inter_op_threads": 2000})");
  EXPECT_EQ(r.message, "torch plugin config: inter_op_threads: must be an integer from 0 to 1024");
  r = InitError("[1, 2]");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "torch plugin config: not a JSON object");
  // The inter-op count is the process's from the first setting on (SetUp's: 1).
  r = InitError(R"({"inter_op_threads": 3})");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message.rfind("torch plugin config: inter_op_threads: libtorch's inter-op thread "
                            "count is already fixed at 1",
                            0),
            0u)
      << r.message;

  // Accepted: the same count again, the daemon's per-plugin map, unknown keys, nothing at all.
  EXPECT_EQ(InitError(R"({"inter_op_threads": 1})").code, 0);
  EXPECT_EQ(InitError(R"({"torch": {"intra_op_threads": 1}})").code, 0);
  EXPECT_EQ(InitError(R"({"intra_op_threads": 1, "something_else": true})").code, 0);
  EXPECT_EQ(InitError(nullptr).code, 0);
  EXPECT_EQ(InitError("{}").code, 0);

  // Thread counts are process-wide: not per model.
  smi_model* m = nullptr;
  r = TryLoad(kFixtures / "torch_traced.pt", Manifest(ReadIo("torch_traced")), &m,
              R"({"intra_op_threads": 2})");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message,
            "model options: intra_op_threads: libtorch's thread counts are process-wide: set it "
            "in the plugin's config (plugins.torch)");
  r = TryLoad(kFixtures / "torch_traced.pt", Manifest(ReadIo("torch_traced")), &m, "not json");
  EXPECT_EQ(r.message, "model options: not a JSON object");
  r = TryLoad(kFixtures / "torch_traced.pt", Manifest(ReadIo("torch_traced")), &m,
              R"({"priority": 1})");
  EXPECT_EQ(r.code, 0) << r.message;
}

}  // namespace
