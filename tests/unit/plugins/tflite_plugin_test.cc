// The TensorFlow Lite SMI plugin, loaded with dlopen as mlosd loads it, over MediaPipe's hand
// landmark models (third_party/tflite/models) and the hand-written fixtures of
// tests/fixtures/make_tflite.py: handshake and config, IO metadata (shape_signature and the
// manifest's dynamic dims), outputs against the TFLite C library called directly (XNNPACK on
// and off), exact math on the small models, every dtype bit-exact, strings, dynamic batch
// resizes, every validation error, broken files, concurrency over the interpreter pool, the
// memory estimate; and the plugin's own FlatBuffer reader and string codec (compiled in).
#include <dlfcn.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mlos/smi.h"
#include "model_file.h"
#include "smi_test_host.h"
#include "string_tensor.h"
#include "tflite_api.h"

namespace {

namespace fs = std::filesystem;
using namespace mlos_plugin_test;  // NOLINT: the test host's helpers
namespace tfl = mlos::tflite_plugin;

const std::string kPluginPath =
    std::string(MLOS_BINARY_DIR) + "/lib/mlos/plugins/libmlos_tflite.so";
const fs::path kFixtures = fs::path(MLOS_BINARY_DIR) / "fixtures";
const fs::path kModels = fs::path(MLOS_SOURCE_DIR) / "third_party/tflite/models";
const fs::path kHandLite = kModels / "hand_landmark_lite.tflite";
const fs::path kHandFull = kModels / "hand_landmark_full.tflite";
const std::vector<int64_t> kHandInputDims = {1, 224, 224, 3};
constexpr size_t kHandInputFloats = 224 * 224 * 3;
const char* const kHandOutputs[] = {"Identity", "Identity_1", "Identity_2", "Identity_3"};

struct Result {
  int code = 0;
  std::string message;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Deterministic pseudo-random floats in [0, 1) (the hand models take normalised pixels).
std::vector<float> Pixels(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t x = seed;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(x >> 8) / static_cast<float>(1u << 24);
  }
  return v;
}

// The reference: the TFLite C library called directly, the way its documentation shows, on one
// interpreter with one thread (and XNNPACK when asked).
class Reference {
 public:
  Reference(const fs::path& path, bool xnnpack) {
    model_ = TfLiteModelCreateFromFile(path.c_str());
    options_ = TfLiteInterpreterOptionsCreate();
    TfLiteInterpreterOptionsSetNumThreads(options_, 1);
    if (xnnpack) {
      tfl::XnnpackOptions x;
      x.num_threads = 1;
      delegate_ = TfLiteXNNPackDelegateCreate(&x);
      TfLiteInterpreterOptionsAddDelegate(options_, delegate_);
    }
    interpreter_ = model_ ? TfLiteInterpreterCreate(model_, options_) : nullptr;
    if (interpreter_) ok_ = TfLiteInterpreterAllocateTensors(interpreter_) == kTfLiteOk;
  }
  ~Reference() {
    if (interpreter_) TfLiteInterpreterDelete(interpreter_);
    if (delegate_) TfLiteXNNPackDelegateDelete(delegate_);
    TfLiteInterpreterOptionsDelete(options_);
    if (model_) TfLiteModelDelete(model_);
  }
  bool ok() const { return ok_; }

  // Runs one float32 input; every output as floats.
  std::vector<std::vector<float>> Run(const std::vector<float>& input) {
    TfLiteTensor* in = TfLiteInterpreterGetInputTensor(interpreter_, 0);
    EXPECT_EQ(TfLiteTensorCopyFromBuffer(in, input.data(), input.size() * sizeof(float)),
              kTfLiteOk);
    EXPECT_EQ(TfLiteInterpreterInvoke(interpreter_), kTfLiteOk);
    std::vector<std::vector<float>> outputs;
    for (int32_t i = 0; i < TfLiteInterpreterGetOutputTensorCount(interpreter_); ++i) {
      const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interpreter_, i);
      const float* p = static_cast<const float*>(TfLiteTensorData(t));
      outputs.emplace_back(p, p + TfLiteTensorByteSize(t) / sizeof(float));
    }
    return outputs;
  }

 private:
  TfLiteModel* model_ = nullptr;
  TfLiteInterpreterOptions* options_ = nullptr;
  TfLiteDelegate* delegate_ = nullptr;
  TfLiteInterpreter* interpreter_ = nullptr;
  bool ok_ = false;
};

// The largest |a - b| over two tensors, and the largest |b| (the tensor's scale).
struct Difference {
  double max_abs = 0;
  double scale = 0;
};
Difference Compare(const std::vector<float>& a, const std::vector<float>& b) {
  Difference d;
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(static_cast<double>(a[i]) - b[i]));
    d.scale = std::max(d.scale, std::fabs(static_cast<double>(b[i])));
  }
  return d;
}

class TflitePluginTest : public PluginTest {
 protected:
  void SetUp() override {
    OpenPlugin(kPluginPath, "mlos_tflite_plugin_");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(fs::exists(kFixtures / "tflite_add_f32.tflite"))
        << "fixtures missing in " << kFixtures;
    ASSERT_TRUE(fs::exists(kHandLite)) << "run scripts/setup.sh: " << kHandLite;
    smi_error* e = api_->plugin_init(nullptr, &plugin_);
    ASSERT_EQ(e, nullptr) << api_->error_message(e);
  }

  Result TryLoad(const fs::path& path, smi_model** model, const char* options = nullptr,
                 const char* manifest = nullptr) {
    const std::string p = path.string(), d = path.parent_path().string();
    smi_model_load_params params{};
    params.size = sizeof params;
    params.model_dir = d.c_str();
    params.model_path = p.c_str();
    params.model_id = "test/model@1";
    params.manifest_json = manifest;
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

  smi_model* Load(const fs::path& fixture, const char* options = nullptr,
                  const char* manifest = nullptr) {
    smi_model* model = nullptr;
    const fs::path path = fixture.is_absolute() ? fixture : kFixtures / fixture;
    Result r = TryLoad(path, &model, options, manifest);
    EXPECT_EQ(r.code, 0) << r.message;
    return model;
  }

  Result Infer(smi_model* model, const std::vector<smi_tensor>& inputs, Outputs& outputs,
               std::vector<const char*> names = {}) {
    auto [code, message] =
        mlos_plugin_test::RunInfer(api_, model, inputs, outputs, std::move(names), 1);
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

  uint64_t HostBytes(smi_model* m) {
    smi_memory_info info{};
    info.size = sizeof info;
    smi_error* e = api_->model_memory(m, &info);
    EXPECT_EQ(e, nullptr);
    api_->error_free(e);
    return info.host_bytes;
  }

  // The hand model's four outputs for `pixels`, as floats in the model's output order.
  std::vector<std::vector<float>> RunHand(smi_model* m, const std::vector<float>& pixels) {
    Outputs out;
    Result r = Infer(m,
                     {Tensor("input_1", SMI_DTYPE_FLOAT32, kHandInputDims, pixels.data(),
                             pixels.size() * sizeof(float))},
                     out);
    EXPECT_EQ(r.code, 0) << r.message;
    std::vector<std::vector<float>> values;
    for (const Output& o : out.list) values.push_back(o.values<float>());
    return values;
  }
};

TEST_F(TflitePluginTest, Handshake) {
  smi_plugin_get_api_fn get_api = LoadPluginApi(kPluginPath);
  EXPECT_EQ(get_api(99, 0), nullptr);
  EXPECT_EQ(get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR + 1), api_);
  const smi_plugin_info* info = api_->get_info();
  EXPECT_STREQ(info->name, "tflite");
  EXPECT_STREQ(info->execution_formats[0], "tflite");
  EXPECT_EQ(info->execution_formats[1], nullptr);
  EXPECT_EQ(std::string(info->framework), std::string("tensorflow-lite ") + TfLiteVersion());
  EXPECT_EQ(std::string(TfLiteVersion()), "2.9.0");
  EXPECT_TRUE(info->capabilities & SMI_CAP_THREAD_SAFE_INFER);
  EXPECT_TRUE(info->capabilities & SMI_CAP_DEVICE_CPU);
  EXPECT_FALSE(info->capabilities & SMI_CAP_CANCEL);  // TFLite 2.9 cannot interrupt an invoke
  EXPECT_FALSE(info->capabilities & SMI_CAP_STREAMING);
  EXPECT_EQ(api_->model_generate, nullptr);
}

TEST_F(TflitePluginTest, BadConfigIsRejected) {
  struct Case {
    const char* config;
    const char* message;
  } cases[] = {
      {R"({"xnnpack": "yes"})", "tflite plugin config: xnnpack: must be a bool"},
      {R"({"threads": 0})", "tflite plugin config: threads: must be an integer from 1 to 256"},
      {R"({"threads": 2.5})", "tflite plugin config: threads: must be an integer from 1 to 256"},
      {R"({"max_interpreters": 2000})",
       "tflite plugin config: max_interpreters: must be an integer from 1 to 1024"},
      {"[1, 2]", "tflite plugin config: options: not a JSON object"},
      {"{not json", "tflite plugin config: options: not a JSON object"},
  };
  for (const Case& c : cases) {
    smi_plugin* p = nullptr;
    smi_error* e = api_->plugin_init(c.config, &p);
    ASSERT_NE(e, nullptr) << c.config;
    EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
    EXPECT_STREQ(api_->error_message(e), c.message);
    EXPECT_EQ(p, nullptr);
    api_->error_free(e);
  }
  // The daemon's per-plugin map form, and unknown keys, are accepted.
  smi_plugin* p = nullptr;
  smi_error* e = api_->plugin_init(
      R"({"tflite": {"xnnpack": false, "threads": 2, "max_interpreters": 3}, "other": 1})", &p);
  ASSERT_EQ(e, nullptr) << api_->error_message(e);
  api_->plugin_shutdown(p);

  smi_model* m = nullptr;
  Result r = TryLoad(kFixtures / "tflite_add_f32.tflite", &m, R"({"max_interpreters": 0})");
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "model options: max_interpreters: must be an integer from 1 to 1024");
  EXPECT_EQ(m, nullptr);
}

TEST_F(TflitePluginTest, HandLandmarkMetadata) {
  smi_model* m = Load(kHandLite);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), 1u);
  EXPECT_STREQ(Input(m, 0)->name, "input_1");
  EXPECT_EQ(Input(m, 0)->dtype, SMI_DTYPE_FLOAT32);
  // Static in the file (no shape_signature): every dim as the file has it.
  EXPECT_EQ(Dims(Input(m, 0)), kHandInputDims);
  EXPECT_EQ(Input(m, 0)->data, nullptr);
  ASSERT_EQ(api_->model_output_count(m), 4u);
  const std::vector<int64_t> dims[] = {{1, 63}, {1, 1}, {1, 1}, {1, 63}};
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_STREQ(OutputAt(m, i)->name, kHandOutputs[i]);
    EXPECT_EQ(OutputAt(m, i)->dtype, SMI_DTYPE_FLOAT32);
    EXPECT_EQ(Dims(OutputAt(m, i)), dims[i]);
  }
  const smi_tensor* t = nullptr;
  smi_error* e = api_->model_output(m, 4, &t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_NOT_FOUND);
  api_->error_free(e);
}

TEST_F(TflitePluginTest, FixtureMetadataAndShapeSignature) {
  smi_model* add = Load("tflite_add_f32.tflite");
  ASSERT_NE(add, nullptr);
  ASSERT_EQ(api_->model_input_count(add), 2u);
  EXPECT_STREQ(Input(add, 0)->name, "a");
  EXPECT_STREQ(Input(add, 1)->name, "b");
  // shape [1,4] with shape_signature [-1,4]: the batch dim is dynamic.
  EXPECT_EQ(Dims(Input(add, 0)), (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(Dims(Input(add, 1)), (std::vector<int64_t>{-1, 4}));
  EXPECT_STREQ(OutputAt(add, 0)->name, "sum");
  EXPECT_EQ(Dims(OutputAt(add, 0)), (std::vector<int64_t>{-1, 4}));

  smi_model* multi = Load("tflite_multi.tflite");
  ASSERT_NE(multi, nullptr);
  EXPECT_EQ(Dims(Input(multi, 0)), (std::vector<int64_t>{2, 3}));  // no signature: static
  EXPECT_STREQ(OutputAt(multi, 0)->name, "sum");
  EXPECT_STREQ(OutputAt(multi, 1)->name, "product");

  smi_model* i64 = Load("tflite_add_i64.tflite");
  ASSERT_NE(i64, nullptr);
  EXPECT_EQ(Input(i64, 0)->dtype, SMI_DTYPE_INT64);
  smi_model* cast = Load("tflite_cast.tflite");
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(Input(cast, 0)->dtype, SMI_DTYPE_FLOAT32);
  EXPECT_EQ(OutputAt(cast, 0)->dtype, SMI_DTYPE_INT32);
  EXPECT_EQ(Dims(OutputAt(cast, 0)), std::vector<int64_t>{-1});
  smi_model* words = Load("tflite_gather_str.tflite");
  ASSERT_NE(words, nullptr);
  EXPECT_EQ(Input(words, 0)->dtype, SMI_DTYPE_STRING);
  EXPECT_EQ(OutputAt(words, 0)->dtype, SMI_DTYPE_STRING);
}

TEST_F(TflitePluginTest, ManifestMarksDynamicDims) {
  // The manifest's spec.io makes a static dim dynamic; a tensor of another rank or name in the
  // manifest changes nothing.
  const char* manifest = R"({"spec": {"io": {
      "inputs": [{"name": "input_1", "dtype": "float32", "shape": [-1, 224, 224, 3]}],
      "outputs": [{"name": "Identity", "dtype": "float32", "shape": [-1, 63]},
                  {"name": "Identity_1", "dtype": "float32", "shape": [-1]},
                  {"name": "other", "dtype": "float32", "shape": [-1, 1]}]}}})";
  smi_model* m = Load(kHandLite, nullptr, manifest);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Dims(Input(m, 0)), (std::vector<int64_t>{-1, 224, 224, 3}));
  EXPECT_EQ(Dims(OutputAt(m, 0)), (std::vector<int64_t>{-1, 63}));
  EXPECT_EQ(Dims(OutputAt(m, 1)), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(Dims(OutputAt(m, 2)), (std::vector<int64_t>{1, 1}));
  // Batch 2 now runs (the graph takes it): each row equals that image run alone.
  const std::vector<float> first = Pixels(kHandInputFloats, 3);
  const std::vector<float> second = Pixels(kHandInputFloats, 4);
  const auto alone_first = RunHand(m, first), alone_second = RunHand(m, second);
  std::vector<float> both = first;
  both.insert(both.end(), second.begin(), second.end());
  Outputs out;
  Result r = Infer(m,
                   {Tensor("input_1", SMI_DTYPE_FLOAT32, {2, 224, 224, 3}, both.data(),
                           both.size() * sizeof(float))},
                   out);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(out.list.size(), 4u);
  ASSERT_EQ(alone_first.size(), 4u);
  ASSERT_EQ(alone_second.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(kHandOutputs[i]);
    const std::vector<float> rows = out.list[i].values<float>();
    const size_t n = alone_first[i].size();
    EXPECT_EQ(out.list[i].dims[0], 2);
    ASSERT_EQ(rows.size(), 2 * n);
    const Difference d0 = Compare({rows.begin(), rows.begin() + n}, alone_first[i]);
    const Difference d1 = Compare({rows.begin() + n, rows.end()}, alone_second[i]);
    EXPECT_LE(d0.max_abs, 1e-5 * std::max(1.0, d0.scale));
    EXPECT_LE(d1.max_abs, 1e-5 * std::max(1.0, d1.scale));
  }

  // A manifest that is not the expected JSON is ignored.
  smi_model* plain = Load(kHandLite, nullptr, R"({"spec": {"io": "none"}})");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(Dims(Input(plain, 0)), kHandInputDims);
}

// The plugin's outputs against the library's own, with XNNPACK on (the default), off, and on
// with two threads, for both hand landmark models and two inputs each. Same kernels: equal
// within 1e-5. XNNPACK
// against TFLite's kernels: within 1e-5 of each tensor's scale (the landmarks are pixel
// coordinates around 100, where float32 steps are about 1e-5).
TEST_F(TflitePluginTest, HandLandmarkMatchesTheLibrary) {
  for (const fs::path& path : {kHandLite, kHandFull}) {
    SCOPED_TRACE(path.filename().string());
    smi_model* on = Load(path);
    smi_model* off = Load(path, R"({"xnnpack": false})");
    smi_model* threaded = Load(path, R"({"threads": 2})");
    ASSERT_NE(on, nullptr);
    ASSERT_NE(off, nullptr);
    ASSERT_NE(threaded, nullptr);
    Reference ref_on(path, true), ref_off(path, false);
    ASSERT_TRUE(ref_on.ok());
    ASSERT_TRUE(ref_off.ok());
    for (uint32_t seed : {7u, 2024u}) {
      const std::vector<float> pixels = Pixels(kHandInputFloats, seed);
      const auto plugin_on = RunHand(on, pixels), plugin_off = RunHand(off, pixels);
      const auto plugin_threaded = RunHand(threaded, pixels);
      const auto expect_on = ref_on.Run(pixels), expect_off = ref_off.Run(pixels);
      ASSERT_EQ(plugin_on.size(), 4u);
      ASSERT_EQ(plugin_off.size(), 4u);
      ASSERT_EQ(expect_on.size(), 4u);
      for (size_t i = 0; i < 4; ++i) {
        SCOPED_TRACE(kHandOutputs[i]);
        EXPECT_LE(Compare(plugin_on[i], expect_on[i]).max_abs, 1e-5);
        EXPECT_LE(Compare(plugin_off[i], expect_off[i]).max_abs, 1e-5);
        EXPECT_LE(Compare(plugin_threaded[i], expect_on[i]).max_abs, 1e-5);
        const Difference d = Compare(plugin_on[i], plugin_off[i]);
        EXPECT_LE(d.max_abs, 1e-5 * std::max(1.0, d.scale));
      }
      // The hand-presence score is a probability: a sanity check that the input reached it.
      EXPECT_GE(plugin_on[1][0], 0.f);
    }
  }
}

// XNNPACK runs: with the delegate the full hand model is several times faster than on TFLite's
// own kernels (about 6x here; the test asks for 1.5x, on the best of five runs each).
TEST_F(TflitePluginTest, XnnpackDelegateApplies) {
  smi_model* on = Load(kHandFull);
  smi_model* off = Load(kHandFull, R"({"xnnpack": false})");
  ASSERT_NE(on, nullptr);
  ASSERT_NE(off, nullptr);
  const std::vector<float> pixels = Pixels(kHandInputFloats, 11);
  RunHand(on, pixels);  // warm both
  RunHand(off, pixels);
  auto best = [&](smi_model* m) {
    double best_ms = std::numeric_limits<double>::max();
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      RunHand(m, pixels);
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      best_ms = std::min(best_ms, took.count());
    }
    return best_ms;
  };
  const double on_ms = best(on), off_ms = best(off);
  EXPECT_LT(on_ms * 1.5, off_ms) << "XNNPACK " << on_ms << " ms, without " << off_ms << " ms";
}

TEST_F(TflitePluginTest, SmallModelsComputeExactly) {
  // ADD in float32, int32 and int64 (values past 32 bits), batch 2.
  smi_model* f32 = Load("tflite_add_f32.tflite");
  ASSERT_NE(f32, nullptr);
  const std::vector<float> fa = {1.5f, -2.f, 1e30f, 0.25f, 3.f, 4.f, 5.f, -0.f};
  const std::vector<float> fb = {2.25f, 2.f, 1e30f, -0.125f, -3.f, 0.5f, 1e-7f, -0.f};
  Outputs out;
  Result r = Infer(f32,
                   {Tensor("a", SMI_DTYPE_FLOAT32, {2, 4}, fa.data(), 32),
                    Tensor("b", SMI_DTYPE_FLOAT32, {2, 4}, fb.data(), 32)},
                   out);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(out.list.size(), 1u);
  EXPECT_EQ(out.list[0].name, "sum");
  EXPECT_EQ(out.list[0].dtype, SMI_DTYPE_FLOAT32);
  EXPECT_EQ(out.list[0].dims, (std::vector<int64_t>{2, 4}));
  std::vector<float> fsum(8);
  for (size_t i = 0; i < 8; ++i) fsum[i] = fa[i] + fb[i];
  EXPECT_EQ(out.list[0].values<float>(), fsum);

  smi_model* i32 = Load("tflite_add_i32.tflite");
  ASSERT_NE(i32, nullptr);
  const std::vector<int32_t> ia = {1, -2, 2147483000, 7};
  const std::vector<int32_t> ib = {10, 2, 600, -7};
  Outputs iout;
  r = Infer(i32,
            {Tensor("a", SMI_DTYPE_INT32, {1, 4}, ia.data(), 16),
             Tensor("b", SMI_DTYPE_INT32, {1, 4}, ib.data(), 16)},
            iout);
  ASSERT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(iout.list[0].values<int32_t>(), (std::vector<int32_t>{11, 0, 2147483600, 0}));

  smi_model* i64 = Load("tflite_add_i64.tflite");
  ASSERT_NE(i64, nullptr);
  const std::vector<int64_t> la = {int64_t{1} << 40, -(int64_t{1} << 50), 3, 9000000000};
  const std::vector<int64_t> lb = {5, int64_t{1} << 50, -4, 9000000000};
  Outputs lout;
  r = Infer(i64,
            {Tensor("a", SMI_DTYPE_INT64, {1, 4}, la.data(), 32),
             Tensor("b", SMI_DTYPE_INT64, {1, 4}, lb.data(), 32)},
            lout);
  ASSERT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(lout.list[0].dtype, SMI_DTYPE_INT64);
  EXPECT_EQ(lout.list[0].values<int64_t>(),
            (std::vector<int64_t>{(int64_t{1} << 40) + 5, 0, -1, 18000000000}));

  // CAST float32 -> int32 truncates toward zero.
  smi_model* cast = Load("tflite_cast.tflite");
  ASSERT_NE(cast, nullptr);
  const std::vector<float> values = {1.7f, -1.7f, 2.5f, -0.4f, 100000.9f};
  Outputs cout_;
  r = Infer(cast, {Tensor("values", SMI_DTYPE_FLOAT32, {5}, values.data(), 20)}, cout_);
  ASSERT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(cout_.list[0].name, "truncated");
  EXPECT_EQ(cout_.list[0].dims, std::vector<int64_t>{5});
  EXPECT_EQ(cout_.list[0].values<int32_t>(), (std::vector<int32_t>{1, -1, 2, 0, 100000}));
}

TEST_F(TflitePluginTest, OutputSubsetInRequestOrder) {
  smi_model* m = Load("tflite_multi.tflite");
  ASSERT_NE(m, nullptr);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6}, y = {0.5f, -1, 2, 0.25f, 10, -6};
  const std::vector<smi_tensor> inputs = {Tensor("x", SMI_DTYPE_FLOAT32, {2, 3}, x.data(), 24),
                                          Tensor("y", SMI_DTYPE_FLOAT32, {2, 3}, y.data(), 24)};
  std::vector<float> sum(6), product(6);
  for (size_t i = 0; i < 6; ++i) {
    sum[i] = x[i] + y[i];
    product[i] = x[i] * y[i];
  }
  Outputs all;
  ASSERT_EQ(Infer(m, inputs, all).code, 0);
  ASSERT_EQ(all.list.size(), 2u);
  EXPECT_EQ(all.list[0].name, "sum");
  EXPECT_EQ(all.list[0].values<float>(), sum);
  EXPECT_EQ(all.list[1].name, "product");
  EXPECT_EQ(all.list[1].values<float>(), product);

  Outputs reversed;
  ASSERT_EQ(Infer(m, inputs, reversed, {"product", "sum"}).code, 0);
  ASSERT_EQ(reversed.list.size(), 2u);
  EXPECT_EQ(reversed.list[0].name, "product");
  EXPECT_EQ(reversed.list[0].values<float>(), product);
  EXPECT_EQ(reversed.list[1].name, "sum");

  Outputs one;
  ASSERT_EQ(Infer(m, inputs, one, {"product"}).code, 0);
  ASSERT_EQ(one.list.size(), 1u);
  EXPECT_EQ(one.list[0].name, "product");
}

TEST_F(TflitePluginTest, EveryDtypeRoundTripsBitExact) {
  smi_model* m = Load("tflite_passthrough.tflite");
  ASSERT_NE(m, nullptr);
  struct Case {
    const char* name;
    smi_dtype dtype;
  } cases[] = {
      {"p_float16", SMI_DTYPE_FLOAT16}, {"p_float64", SMI_DTYPE_FLOAT64},
      {"p_int8", SMI_DTYPE_INT8},       {"p_int16", SMI_DTYPE_INT16},
      {"p_uint8", SMI_DTYPE_UINT8},     {"p_uint16", SMI_DTYPE_UINT16},
      {"p_uint32", SMI_DTYPE_UINT32},   {"p_uint64", SMI_DTYPE_UINT64},
      {"p_bool", SMI_DTYPE_BOOL},
  };
  ASSERT_EQ(api_->model_input_count(m), std::size(cases) + 1);
  std::vector<std::vector<uint8_t>> data;
  std::vector<smi_tensor> inputs;
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_STREQ(Input(m, static_cast<uint32_t>(i))->name, cases[i].name);
    EXPECT_EQ(Input(m, static_cast<uint32_t>(i))->dtype, cases[i].dtype) << cases[i].name;
    EXPECT_EQ(OutputAt(m, static_cast<uint32_t>(i))->dtype, cases[i].dtype) << cases[i].name;
    std::vector<uint8_t> bytes(2 * smi_dtype_size(cases[i].dtype));
    for (size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<uint8_t>(0x7F + 37 * b);
    if (cases[i].dtype == SMI_DTYPE_BOOL) bytes = {1, 0};
    data.push_back(bytes);
  }
  for (size_t i = 0; i < std::size(cases); ++i) {
    inputs.push_back(Tensor(cases[i].name, cases[i].dtype, {2}, data[i].data(), data[i].size()));
  }
  const float scalar = -3.5f;
  EXPECT_EQ(Input(m, std::size(cases))->rank, 0u);
  inputs.push_back(Tensor("p_scalar", SMI_DTYPE_FLOAT32, {}, &scalar, 4));
  Outputs out;
  Result r = Infer(m, inputs, out);
  ASSERT_EQ(r.code, 0) << r.message;
  ASSERT_EQ(out.list.size(), std::size(cases) + 1);
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(out.list[i].name, cases[i].name);
    EXPECT_EQ(out.list[i].dtype, cases[i].dtype);
    EXPECT_EQ(out.list[i].dims, std::vector<int64_t>{2});
    EXPECT_EQ(out.list[i].bytes, data[i]) << cases[i].name;
  }
  EXPECT_TRUE(out.list.back().dims.empty());
  EXPECT_EQ(out.list.back().values<float>(), std::vector<float>{-3.5f});
}

TEST_F(TflitePluginTest, StringsThroughGather) {
  smi_model* m = Load("tflite_gather_str.tflite");  // XNNPACK on: the plugin falls back
  ASSERT_NE(m, nullptr);
  const std::string with_nul("nul\0inside", 10);
  const std::string utf8 = "h\xC3\xA9llo \xF0\x9F\x98\x80";
  const std::string empty;
  const smi_string words[3] = {
      {with_nul.data(), with_nul.size()}, {utf8.data(), utf8.size()}, {nullptr, 0}};
  auto run = [&](const std::vector<int32_t>& indices, std::vector<std::string> expected) {
    Outputs out;
    Result r = Infer(m,
                     {Tensor("words", SMI_DTYPE_STRING, {3}, words, sizeof words),
                      Tensor("indices", SMI_DTYPE_INT32,
                             {static_cast<int64_t>(indices.size())}, indices.data(),
                             indices.size() * 4)},
                     out);
    ASSERT_EQ(r.code, 0) << r.message;
    ASSERT_EQ(out.list.size(), 1u);
    EXPECT_EQ(out.list[0].name, "picked");
    EXPECT_EQ(out.list[0].dtype, SMI_DTYPE_STRING);
    EXPECT_EQ(out.list[0].dims, std::vector<int64_t>{static_cast<int64_t>(expected.size())});
    uint64_t total = 0;
    for (const std::string& s : expected) total += s.size();
    EXPECT_EQ(out.list[0].byte_size, total);
    EXPECT_EQ(out.list[0].strings, expected);
  };
  run({1, 0, 2, 1}, {utf8, with_nul, empty, utf8});
  run({2}, {empty});
  run({}, {});
}

// Batch sizes 1, 3, 2, 0, 3 interleaved on one interpreter: each call resizes the inputs and
// gets the outputs at its own batch.
TEST_F(TflitePluginTest, DynamicBatchResize) {
  for (const char* options : {R"({"max_interpreters": 1})",
                              R"({"max_interpreters": 1, "xnnpack": false})"}) {
    SCOPED_TRACE(options);
    smi_model* m = Load("tflite_add_f32.tflite", options);
    ASSERT_NE(m, nullptr);
    for (int64_t batch : {1, 3, 2, 0, 3, 1}) {
      std::vector<float> a(static_cast<size_t>(batch) * 4), b(a.size()), sum(a.size());
      for (size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<float>(i) + 0.5f * static_cast<float>(batch);
        b[i] = 100.f * static_cast<float>(i);
        sum[i] = a[i] + b[i];
      }
      Outputs out;
      Result r = Infer(m,
                       {Tensor("a", SMI_DTYPE_FLOAT32, {batch, 4}, a.data(), a.size() * 4),
                        Tensor("b", SMI_DTYPE_FLOAT32, {batch, 4}, b.data(), b.size() * 4)},
                       out);
      ASSERT_EQ(r.code, 0) << "batch " << batch << ": " << r.message;
      EXPECT_EQ(out.list[0].dims, (std::vector<int64_t>{batch, 4}));
      EXPECT_EQ(out.list[0].values<float>(), sum) << "batch " << batch;
    }
  }
}

TEST_F(TflitePluginTest, ValidationErrors) {
  smi_model* m = Load(kHandLite);
  ASSERT_NE(m, nullptr);
  const std::vector<float> pixels = Pixels(kHandInputFloats, 1);
  const uint64_t bytes = pixels.size() * sizeof(float);
  auto expect = [&](const std::vector<smi_tensor>& inputs, int code, const std::string& message,
                    std::vector<const char*> names = {}) {
    Outputs out;
    Result r = Infer(m, inputs, out, std::move(names));
    EXPECT_EQ(r.code, code) << r.message;
    EXPECT_EQ(r.message, message);
    EXPECT_TRUE(out.list.empty());
  };
  const smi_tensor good =
      Tensor("input_1", SMI_DTYPE_FLOAT32, kHandInputDims, pixels.data(), bytes);
  expect({}, SMI_ERROR_INVALID_ARGUMENT, "missing input \"input_1\"");
  expect({good, Tensor("x", SMI_DTYPE_FLOAT32, {1}, pixels.data(), 4)}, SMI_ERROR_INVALID_ARGUMENT,
         "unknown input \"x\"");
  expect({good, good}, SMI_ERROR_INVALID_ARGUMENT, "duplicate input \"input_1\"");
  std::vector<int64_t> as_int(kHandInputFloats);
  expect({Tensor("input_1", SMI_DTYPE_INT64, kHandInputDims, as_int.data(), as_int.size() * 8)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": expected float32, got int64");
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, {224, 224, 3}, pixels.data(), bytes)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": expected rank 4, got 3");
  // The hand model's dims are static: a 100-row image is refused before TFLite sees it.
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, {1, 100, 224, 3}, pixels.data(),
                 100 * 224 * 3 * 4)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": dim 1 must be 224, got 100");
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, {2, 224, 224, 3}, pixels.data(), 2 * bytes)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": dim 0 must be 1, got 2");
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, {1, -224, 224, 3}, pixels.data(), bytes)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": dim 1 is negative (-224)");
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, kHandInputDims, pixels.data(), bytes - 4)},
         SMI_ERROR_INVALID_ARGUMENT,
         "input \"input_1\": byte_size 602108 does not match dims (expected 602112)");
  expect({Tensor("input_1", SMI_DTYPE_FLOAT32, kHandInputDims, nullptr, bytes)},
         SMI_ERROR_INVALID_ARGUMENT, "input \"input_1\": data is NULL");
  expect({good}, SMI_ERROR_NOT_FOUND, "unknown output \"Identity_9\"", {"Identity_9"});
  expect({good}, SMI_ERROR_INVALID_ARGUMENT, "duplicate output \"Identity\"",
         {"Identity", "Identity"});
  // After every refusal the model still runs.
  Outputs out;
  ASSERT_EQ(Infer(m, {good}, out, {"Identity_2"}).code, 0);
  ASSERT_EQ(out.list.size(), 1u);
  EXPECT_EQ(out.list[0].name, "Identity_2");

  // A dynamic dim beyond TFLite's int32 dims, and strings with NULL data.
  smi_model* add = Load("tflite_add_f32.tflite");
  ASSERT_NE(add, nullptr);
  float f = 0;
  Outputs none;
  Result r = Infer(add,
                   {Tensor("a", SMI_DTYPE_FLOAT32, {int64_t{1} << 31, 4}, &f, 0),
                    Tensor("b", SMI_DTYPE_FLOAT32, {1, 4}, &f, 16)},
                   none);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "input \"a\": dim 0 (2147483648) is above TFLite's limit of 2147483647");
  smi_model* words = Load("tflite_gather_str.tflite");
  ASSERT_NE(words, nullptr);
  const smi_string bad[1] = {{nullptr, 3}};
  const int32_t index = 0;
  r = Infer(words,
            {Tensor("words", SMI_DTYPE_STRING, {1}, bad, sizeof bad),
             Tensor("indices", SMI_DTYPE_INT32, {1}, &index, 4)},
            none);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "input \"words\": string 0 has NULL data");
}

// Shapes the schema allows but the graph cannot take (ADD of [3,4] and [2,4] does not
// broadcast): INVALID_ARGUMENT with TFLite's own reason; the interpreter is replaced and the
// model keeps working.
TEST_F(TflitePluginTest, ShapesTheGraphRejects) {
  smi_model* m = Load("tflite_add_f32.tflite", R"({"max_interpreters": 1})");
  ASSERT_NE(m, nullptr);
  std::vector<float> a(12, 1.f), b(8, 2.f);
  Outputs out;
  Result r = Infer(m,
                   {Tensor("a", SMI_DTYPE_FLOAT32, {3, 4}, a.data(), 48),
                    Tensor("b", SMI_DTYPE_FLOAT32, {2, 4}, b.data(), 32)},
                   out);
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.message.find("the model cannot run with input shapes \"a\" [3,4], \"b\" [2,4]: "),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("broadcast"), std::string::npos) << r.message;
  Outputs ok;
  r = Infer(m,
            {Tensor("a", SMI_DTYPE_FLOAT32, {2, 4}, a.data(), 32),
             Tensor("b", SMI_DTYPE_FLOAT32, {2, 4}, b.data(), 32)},
            ok);
  ASSERT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(ok.list[0].values<float>(), std::vector<float>(8, 3.f));
}

TEST_F(TflitePluginTest, HostRefusingAllocationIsResourceExhausted) {
  smi_model* m = Load("tflite_multi.tflite");
  ASSERT_NE(m, nullptr);
  const std::vector<float> x(6, 1.f);
  Outputs out;
  out.on_alloc = [](const char* name) { return std::string(name) == "product" ? 1 : 0; };
  Result r = Infer(m,
                   {Tensor("x", SMI_DTYPE_FLOAT32, {2, 3}, x.data(), 24),
                    Tensor("y", SMI_DTYPE_FLOAT32, {2, 3}, x.data(), 24)},
                   out);
  EXPECT_EQ(r.code, SMI_ERROR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.message, "output \"product\": the host refused to allocate 24 bytes");

  smi_model* words = Load("tflite_gather_str.tflite");
  ASSERT_NE(words, nullptr);
  const std::string w = "word";
  const smi_string strings[1] = {{w.data(), w.size()}};
  const int32_t index = 0;
  Outputs refused;
  refused.on_alloc = [](const char*) { return 1; };
  r = Infer(words,
            {Tensor("words", SMI_DTYPE_STRING, {1}, strings, sizeof strings),
             Tensor("indices", SMI_DTYPE_INT32, {1}, &index, 4)},
            refused);
  EXPECT_EQ(r.code, SMI_ERROR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.message, "output \"picked\": the host refused to allocate 4 bytes");
}

TEST_F(TflitePluginTest, BrokenFilesAreInvalidArguments) {
  smi_model* m = nullptr;
  Result r = TryLoad(dir_ / "missing.tflite", &m);
  EXPECT_EQ(r.code, SMI_ERROR_NOT_FOUND);
  EXPECT_EQ(r.message, "model file not found: " + (dir_ / "missing.tflite").string());

  const std::string hand = ReadFile(kHandLite);
  ASSERT_GT(hand.size(), 1000000u);
  std::string random(100000, '\0');
  uint32_t x = 99;
  for (char& c : random) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  std::string random_tfl3 = random;
  random_tfl3.replace(4, 4, "TFL3");
  // A FlatBuffer whose structure the plugin's reader follows but whose description string lost
  // its NUL terminator: only the library's verifier notices.
  std::string unterminated = ReadFile(kFixtures / "tflite_add_f32.tflite");
  const size_t description = unterminated.find(std::string("mlos-fixtures\0", 14));
  ASSERT_NE(description, std::string::npos);
  unterminated[description + 13] = 'X';
  struct Case {
    const char* file;
    std::string bytes;
    const char* why;  // the end of the message
  } cases[] = {
      {"empty.tflite", "", "the file is empty"},
      {"short.tflite", "TFL3", "the file is too short to be a TFLite model (4 bytes)"},
      {"random.tflite", random, "no TFL3 file identifier: not a TFLite model"},
      {"random_tfl3.tflite", random_tfl3, "malformed FlatBuffer: root table out of bounds"},
      {"unterminated.tflite", unterminated, "TensorFlow Lite's verifier rejected the FlatBuffer"},
      {"truncated.tflite", hand.substr(0, hand.size() / 2), ""},
      {"truncated_header.tflite", hand.substr(0, 64),
       "malformed FlatBuffer: model subgraphs out of bounds"},
      {"model.onnx", ReadFile(kFixtures / "mlp.onnx"),
       "no TFL3 file identifier: not a TFLite model"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    WriteFile(dir_ / c.file, c.bytes);
    m = nullptr;
    r = TryLoad(dir_ / c.file, &m);
    EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
    const std::string prefix = "tflite cannot load " + (dir_ / c.file).string() + ": ";
    EXPECT_EQ(r.message.rfind(prefix, 0), 0u) << r.message;
    if (*c.why) {
      EXPECT_EQ(r.message, prefix + c.why);
    }
    EXPECT_GT(r.message.size(), prefix.size());
    EXPECT_EQ(m, nullptr);
  }
  // The intact file loads: the failures above are the files'.
  WriteFile(dir_ / "intact.tflite", hand);
  EXPECT_NE(Load(dir_ / "intact.tflite"), nullptr);
}

TEST_F(TflitePluginTest, LoadErrorsCarryTheLibrarysReason) {
  // A custom op the library does not have: its error reporter's message is the reason, with
  // XNNPACK on and off.
  for (const char* options : {R"({"xnnpack": true})", R"({"xnnpack": false})"}) {
    smi_model* m = nullptr;
    Result r = TryLoad(kFixtures / "tflite_custom_op.tflite", &m, options);
    EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT) << options;
    EXPECT_NE(r.message.find("Encountered unresolved custom op: MlosNoSuchOp."), std::string::npos)
        << r.message;
    EXPECT_EQ(m, nullptr);
  }
  // A dtype SMI cannot carry names the tensor.
  smi_model* m = nullptr;
  Result r = TryLoad(kFixtures / "tflite_complex.tflite", &m);
  EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED);
  EXPECT_EQ(r.message, "input \"z\": TFLite type COMPLEX64 is not supported");
  // Requests name tensors: two inputs of one name cannot be told apart.
  r = TryLoad(kFixtures / "tflite_duplicate_names.tflite", &m);
  EXPECT_EQ(r.code, SMI_ERROR_UNSUPPORTED);
  EXPECT_EQ(r.message, "inputs 0 and 1 are both named \"x\"");
  EXPECT_EQ(m, nullptr);
}

// Eight threads on one model of at most four interpreters (so calls wait for one), each with
// inputs of its own, every result equal to the library's.
TEST_F(TflitePluginTest, ConcurrentInfersAgreeWithTheLibrary) {
  smi_model* m = Load(kHandLite, R"({"max_interpreters": 4})");
  ASSERT_NE(m, nullptr);
  const uint64_t one_interpreter = HostBytes(m);
  constexpr int kThreads = 8, kRounds = 3;
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<std::vector<float>>> expected;
  {
    Reference ref(kHandLite, true);
    ASSERT_TRUE(ref.ok());
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(Pixels(kHandInputFloats, 100 + static_cast<uint32_t>(t)));
      expected.push_back(ref.Run(inputs.back()));
    }
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        Outputs out;
        const std::vector<float>& pixels = inputs[static_cast<size_t>(t)];
        auto [code, message] = RunInfer(
            api_, m,
            {Tensor("input_1", SMI_DTYPE_FLOAT32, kHandInputDims, pixels.data(),
                    pixels.size() * sizeof(float))},
            out, {}, static_cast<uint64_t>(t));
        if (code != 0 || out.list.size() != 4) {
          ++failures;
          continue;
        }
        for (size_t i = 0; i < 4; ++i) {
          const std::vector<float> got = out.list[i].values<float>();
          const std::vector<float>& want = expected[static_cast<size_t>(t)][i];
          if (got.size() != want.size()) {
            ++failures;
            continue;
          }
          for (size_t j = 0; j < got.size(); ++j) {
            if (std::fabs(got[j] - want[j]) > 1e-5f) ++failures;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // More interpreters now (up to the cap of four), each counted in the estimate.
  const uint64_t after = HostBytes(m);
  const uint64_t file = fs::file_size(kHandLite);
  EXPECT_GT(after, one_interpreter);
  EXPECT_LE(after, file + 4 * (one_interpreter - file));
}

TEST_F(TflitePluginTest, MemoryEstimate) {
  smi_model* m = Load(kHandFull);
  ASSERT_NE(m, nullptr);
  smi_memory_info info{};
  info.size = sizeof info;
  ASSERT_EQ(api_->model_memory(m, &info), nullptr);
  const uint64_t file = fs::file_size(kHandFull);
  // The file, plus one interpreter: at least its IO tensors (602112 + 2 * 252 + 2 * 4 bytes).
  EXPECT_GT(info.host_bytes, file + 602112 + 512);
  EXPECT_EQ(info.device_bytes, 0u);
  EXPECT_EQ(info.shared_bytes, 0u);

  // Batch 3 on a dynamic model grows the estimate with the interpreter's tensors.
  smi_model* add = Load("tflite_add_f32.tflite", R"({"max_interpreters": 1})");
  ASSERT_NE(add, nullptr);
  const uint64_t before = HostBytes(add);
  EXPECT_EQ(before, fs::file_size(kFixtures / "tflite_add_f32.tflite") + 48);  // three [1,4]
  std::vector<float> a(12, 1.f);
  Outputs out;
  ASSERT_EQ(Infer(add,
                  {Tensor("a", SMI_DTYPE_FLOAT32, {3, 4}, a.data(), 48),
                   Tensor("b", SMI_DTYPE_FLOAT32, {3, 4}, a.data(), 48)},
                  out)
                .code,
            0);
  EXPECT_EQ(HostBytes(add), fs::file_size(kFixtures / "tflite_add_f32.tflite") + 144);
}

// ---- the plugin's FlatBuffer reader and string codec ------------------------------------------

TEST(TfliteModelFile, ReadsSignaturesAndSizes) {
  tfl::ModelFileInfo info;
  ASSERT_EQ(tfl::ReadModelFile((kFixtures / "tflite_add_f32.tflite").string(), &info), "");
  EXPECT_EQ(info.input_signatures,
            (std::vector<std::vector<int32_t>>{{-1, 4}, {-1, 4}}));
  EXPECT_EQ(info.output_signatures, (std::vector<std::vector<int32_t>>{{-1, 4}}));
  EXPECT_EQ(info.activation_bytes, 3u * 16u);
  EXPECT_EQ(info.file_bytes, fs::file_size(kFixtures / "tflite_add_f32.tflite"));

  ASSERT_EQ(tfl::ReadModelFile((kFixtures / "tflite_multi.tflite").string(), &info), "");
  EXPECT_EQ(info.input_signatures, (std::vector<std::vector<int32_t>>{{}, {}}));

  // The hand model: no signatures; its weights are constant and not counted.
  ASSERT_EQ(tfl::ReadModelFile(kHandFull.string(), &info), "");
  EXPECT_EQ(info.input_signatures, (std::vector<std::vector<int32_t>>{{}}));
  EXPECT_EQ(info.output_signatures.size(), 4u);
  EXPECT_GT(info.activation_bytes, 602112u);
  EXPECT_LT(info.activation_bytes, 100u << 20);

  EXPECT_EQ(tfl::ReadModelFile("/nonexistent/x.tflite", &info),
            "cannot open: No such file or directory");
}

// Every prefix of a fixture, and every single-byte change to it, is read without a crash; the
// prefixes are refused.
TEST(TfliteModelFile, TruncatedAndMutatedFilesAreSafe) {
  const std::string bytes = ReadFile(kFixtures / "tflite_gather_str.tflite");
  ASSERT_FALSE(bytes.empty());
  auto span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  for (size_t n = 0; n < bytes.size(); ++n) {
    tfl::ModelFileInfo info;
    const std::string prefix = bytes.substr(0, n);
    const std::string error = tfl::ReadModelBytes(span(prefix), &info);
    // Short prefixes lose their vectors' ends; the reader notices at the first one it follows.
    if (n < bytes.size() / 2) {
      EXPECT_NE(error, "") << n;
    }
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0x7F}, uint8_t{0xFF}}) {
      std::string mutated = bytes;
      mutated[i] = static_cast<char>(value);
      tfl::ModelFileInfo info;
      (void)tfl::ReadModelBytes(span(mutated), &info);
    }
  }
}

TEST(TfliteStringTensor, EncodesAndDecodes) {
  const std::string a = "alpha", b = std::string("\0b", 2);
  const smi_string strings[3] = {{a.data(), a.size()}, {nullptr, 0}, {b.data(), b.size()}};
  std::vector<char> buffer;
  ASSERT_EQ(tfl::EncodeStrings(strings, 3, buffer), "");
  // count, four offsets, then the bytes.
  ASSERT_EQ(buffer.size(), 4u + 16u + 7u);
  int32_t header[5];
  std::memcpy(header, buffer.data(), sizeof header);
  EXPECT_EQ(header[0], 3);
  EXPECT_EQ(header[1], 20);
  EXPECT_EQ(header[2], 25);
  EXPECT_EQ(header[3], 25);
  EXPECT_EQ(header[4], 27);

  std::vector<tfl::StringSpan> spans;
  ASSERT_EQ(tfl::DecodeStrings(buffer.data(), buffer.size(), 3, spans), "");
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(std::string(buffer.data() + spans[0].offset, spans[0].length), a);
  EXPECT_EQ(spans[1].length, 0u);
  EXPECT_EQ(std::string(buffer.data() + spans[2].offset, spans[2].length), b);

  EXPECT_EQ(tfl::DecodeStrings(buffer.data(), buffer.size(), 2, spans),
            "string count 3 where the tensor's dims give 2");
  EXPECT_EQ(tfl::DecodeStrings(buffer.data(), 12, 3, spans),
            "string buffer of 12 bytes is shorter than its 20-byte header");
  std::vector<char> bad = buffer;
  const int32_t past_end = 99;
  std::memcpy(bad.data() + 16, &past_end, 4);
  EXPECT_EQ(tfl::DecodeStrings(bad.data(), bad.size(), 3, spans),
            "string offset 3 (99) is out of order or outside the buffer");
  EXPECT_EQ(tfl::DecodeStrings(nullptr, 0, 0, spans), "string buffer of 0 bytes has no count");
}

}  // namespace
