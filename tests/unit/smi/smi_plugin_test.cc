// mlos/smi_plugin.h, the C++ helper for SMI plugins: the error object, Guard (exceptions become
// errors), the handshake, and the table GetApi builds from a plugin class (NULL checks, guards,
// model_generate only for a streaming plugin). The real plugins are tested through dlopen in
// tests/unit/plugins/.
#include "mlos/smi_plugin.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

// This file is the "plugin": it defines the opaque handles.
struct smi_plugin {
  int models = 0;
};
struct smi_model {
  smi_plugin* plugin = nullptr;
  std::string name = "x";
  std::vector<int64_t> dims = {2, -1};
  std::vector<smi_tensor> inputs;
  bool throw_on_cancel = false;
  uint64_t cancelled = 0;
};

namespace {

using mlos::smi::FreeError;
using mlos::smi::MakeError;

// An error's code and message, freed.
struct Result {
  bool ok = true;
  smi_error_code code = SMI_ERROR_INTERNAL;
  std::string message;
};
Result Take(smi_error* error) {
  Result r;
  if (error) {
    r.ok = false;
    r.code = mlos::smi::ErrorCode(error);
    r.message = mlos::smi::ErrorMessage(error);
  }
  FreeError(error);
  return r;
}

struct FrameworkError {
  const char* what;
};

smi_error* FromFrameworkError() {
  try {
    throw;
  } catch (const FrameworkError& e) {
    return MakeError(SMI_ERROR_UNAVAILABLE, std::string("framework: ") + e.what);
  } catch (...) {
    return nullptr;
  }
}

const char* const kFormats[] = {"fake", nullptr};
const smi_plugin_info kInfo = {sizeof(smi_plugin_info), "fake", "1.0.0", "fake 1", kFormats, 0};

// A plugin whose functions do little and throw where a test asks them to.
struct FakePlugin {
  static constexpr mlos::smi::GuardOptions kGuard{"fake plugin", &FromFrameworkError};

  static const smi_plugin_info* GetInfo() { return &kInfo; }
  static smi_error* PluginInit(const char* config_json, smi_plugin** out) {
    const std::string config = config_json ? config_json : "";
    if (config == "bad_alloc") throw std::bad_alloc();
    if (config == "runtime_error") throw std::runtime_error("boom");
    if (config == "framework") throw FrameworkError{"busy"};
    if (config == "int") throw 42;
    *out = new smi_plugin();
    return nullptr;
  }
  static void PluginShutdown(smi_plugin* plugin) { delete plugin; }
  static smi_error* ModelLoad(smi_plugin& plugin, const smi_model_load_params&, smi_model** out) {
    auto model = std::make_unique<smi_model>();
    model->plugin = &plugin;
    model->inputs.push_back(mlos::smi::SchemaTensor(model->name, SMI_DTYPE_FLOAT32, model->dims));
    ++plugin.models;
    *out = model.release();
    return nullptr;
  }
  static void ModelUnload(smi_model* model) {
    --model->plugin->models;
    delete model;
  }
  static const std::vector<smi_tensor>& ModelInputs(const smi_model& model) { return model.inputs; }
  static std::span<const smi_tensor> ModelOutputs(const smi_model&) { return {}; }
  static smi_memory_info ModelMemory(const smi_model&) {
    smi_memory_info m{};
    m.host_bytes = 100;
    m.device_bytes = 7;
    return m;
  }
  static smi_error* ModelInfer(smi_model&, const smi_infer_request&) {
    throw std::runtime_error("infer failed");
  }
  static void ModelCancel(smi_model& model, uint64_t request_id) {
    if (model.throw_on_cancel) throw std::runtime_error("cancel");
    model.cancelled = request_id;
  }
};

struct StreamingPlugin : FakePlugin {
  static smi_error* ModelGenerate(smi_model&, const smi_generate_request& request) {
    return request.prompt ? nullptr : MakeError(SMI_ERROR_INVALID_ARGUMENT, "no prompt");
  }
};

static_assert(mlos::smi::PluginImpl<FakePlugin>);
static_assert(!mlos::smi::StreamingPluginImpl<FakePlugin>);
static_assert(mlos::smi::StreamingPluginImpl<StreamingPlugin>);
static_assert(!mlos::smi::PluginImpl<int>);

const smi_plugin_api* Api() {
  return mlos::smi::GetApi<FakePlugin>(SMI_VERSION_MAJOR, SMI_VERSION_MINOR);
}

TEST(SmiPluginTest, MakeErrorAndAccessors) {
  smi_error* e = MakeError(SMI_ERROR_NOT_FOUND, "no such file");
  EXPECT_EQ(mlos::smi::ErrorCode(e), SMI_ERROR_NOT_FOUND);
  EXPECT_STREQ(mlos::smi::ErrorMessage(e), "no such file");
  FreeError(e);
  FreeError(nullptr);
  EXPECT_EQ(mlos::smi::ErrorCode(nullptr), SMI_ERROR_INTERNAL);
  EXPECT_STREQ(mlos::smi::ErrorMessage(nullptr), "");
  EXPECT_EQ(mlos::smi::Quoted("x"), "\"x\"");
  EXPECT_EQ(mlos::smi::Quoted(nullptr), "\"\"");
}

TEST(SmiPluginTest, GuardTurnsExceptionsIntoErrors) {
  const mlos::smi::GuardOptions options{"p", &FromFrameworkError};
  Result r = Take(mlos::smi::Guard(options, []() -> smi_error* { throw std::bad_alloc(); }));
  EXPECT_EQ(r.code, SMI_ERROR_RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.message, "p: out of memory");
  r = Take(mlos::smi::Guard(options, []() -> smi_error* { throw std::logic_error("bad"); }));
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "p: bad");
  r = Take(mlos::smi::Guard(options, []() -> smi_error* { throw 1; }));
  EXPECT_EQ(r.code, SMI_ERROR_INTERNAL);
  EXPECT_EQ(r.message, "p: unknown exception");
  r = Take(mlos::smi::Guard(options, []() -> smi_error* { throw FrameworkError{"down"}; }));
  EXPECT_EQ(r.code, SMI_ERROR_UNAVAILABLE);
  EXPECT_EQ(r.message, "framework: down");
  r = Take(mlos::smi::Guard(options, []() -> smi_error* { return nullptr; }));
  EXPECT_TRUE(r.ok);
  // Without a translate hook, a framework exception is an unknown one.
  r = Take(mlos::smi::Guard(mlos::smi::GuardOptions{"q"},
                            []() -> smi_error* { throw FrameworkError{"down"}; }));
  EXPECT_EQ(r.message, "q: unknown exception");
}

TEST(SmiPluginTest, Handshake) {
  EXPECT_TRUE(mlos::smi::HostCanServe(1, 0, 1, 0));
  EXPECT_TRUE(mlos::smi::HostCanServe(1, 3, 1, 2));
  EXPECT_FALSE(mlos::smi::HostCanServe(1, 1, 1, 2));
  EXPECT_FALSE(mlos::smi::HostCanServe(2, 0, 1, 0));
  EXPECT_EQ(mlos::smi::GetApi<FakePlugin>(SMI_VERSION_MAJOR + 1, 0), nullptr);
  EXPECT_EQ(mlos::smi::GetApi<FakePlugin>(SMI_VERSION_MAJOR, SMI_VERSION_MINOR + 1), Api());
}

TEST(SmiPluginTest, TableHeader) {
  const smi_plugin_api* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->size, sizeof(smi_plugin_api));
  EXPECT_EQ(api->abi_major, static_cast<uint32_t>(SMI_VERSION_MAJOR));
  EXPECT_EQ(api->abi_minor, static_cast<uint32_t>(SMI_VERSION_MINOR));
  EXPECT_EQ(api->get_info(), &kInfo);
  EXPECT_EQ(api->model_generate, nullptr);
  const smi_plugin_api* streaming =
      mlos::smi::GetApi<StreamingPlugin>(SMI_VERSION_MAJOR, SMI_VERSION_MINOR);
  ASSERT_NE(streaming->model_generate, nullptr);
  smi_generate_request request{};
  request.size = sizeof(request);
  EXPECT_EQ(Take(streaming->model_generate(nullptr, &request)).message, "model or request is NULL");
}

TEST(SmiPluginTest, EntriesCheckNullArguments) {
  const smi_plugin_api* api = Api();
  EXPECT_EQ(Take(api->plugin_init(nullptr, nullptr)).message, "plugin is NULL");
  smi_model_load_params params{};
  params.size = sizeof(params);
  smi_model* model = nullptr;
  Result r = Take(api->model_load(nullptr, &params, &model));
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "plugin, params and model must not be NULL");
  EXPECT_EQ(Take(api->model_input(nullptr, 0, nullptr)).message, "model is NULL");
  EXPECT_EQ(Take(api->model_output(nullptr, 0, nullptr)).message, "model is NULL");
  EXPECT_EQ(Take(api->model_memory(nullptr, nullptr)).message, "model or info is NULL");
  EXPECT_EQ(Take(api->model_infer(nullptr, nullptr)).message, "model or request is NULL");
  EXPECT_EQ(api->model_input_count(nullptr), 0u);
  EXPECT_EQ(api->model_output_count(nullptr), 0u);
  api->plugin_shutdown(nullptr);
  api->model_unload(nullptr);
  api->model_cancel(nullptr, 1);
}

TEST(SmiPluginTest, EntriesGuardThePlugin) {
  const smi_plugin_api* api = Api();
  smi_plugin* plugin = nullptr;
  EXPECT_EQ(Take(api->plugin_init("bad_alloc", &plugin)).message, "fake plugin: out of memory");
  EXPECT_EQ(Take(api->plugin_init("runtime_error", &plugin)).message, "fake plugin: boom");
  EXPECT_EQ(Take(api->plugin_init("framework", &plugin)).message, "framework: busy");
  EXPECT_EQ(Take(api->plugin_init("int", &plugin)).message, "fake plugin: unknown exception");
  EXPECT_EQ(plugin, nullptr);  // untouched on failure
  ASSERT_TRUE(Take(api->plugin_init(nullptr, &plugin)).ok);
  ASSERT_NE(plugin, nullptr);

  smi_model_load_params params{};
  params.size = sizeof(params) - 1;
  smi_model* model = nullptr;
  EXPECT_EQ(Take(api->model_load(plugin, &params, &model)).message,
            "params: size is smaller than SMI 1.0's");
  params.size = sizeof(params);
  ASSERT_TRUE(Take(api->model_load(plugin, &params, &model)).ok);
  EXPECT_EQ(plugin->models, 1);

  EXPECT_EQ(api->model_input_count(model), 1u);
  EXPECT_EQ(api->model_output_count(model), 0u);
  const smi_tensor* tensor = nullptr;
  ASSERT_TRUE(Take(api->model_input(model, 0, &tensor)).ok);
  EXPECT_STREQ(tensor->name, "x");
  EXPECT_EQ(tensor->rank, 2u);
  EXPECT_EQ(tensor->dims[1], -1);
  EXPECT_EQ(Take(api->model_input(model, 0, nullptr)).message, "tensor is NULL");
  Result r = Take(api->model_input(model, 3, &tensor));
  EXPECT_EQ(r.code, SMI_ERROR_NOT_FOUND);
  EXPECT_EQ(r.message, "input index 3 out of range (1)");
  EXPECT_EQ(Take(api->model_output(model, 0, &tensor)).message, "output index 0 out of range (0)");

  // Filled up to the caller's size only: an SMI 1.0 caller that knew host_bytes alone.
  smi_memory_info info{};
  info.size = offsetof(smi_memory_info, device_bytes);
  info.device_bytes = 999;
  ASSERT_TRUE(Take(api->model_memory(model, &info)).ok);
  EXPECT_EQ(info.size, offsetof(smi_memory_info, device_bytes));
  EXPECT_EQ(info.host_bytes, 100u);
  EXPECT_EQ(info.device_bytes, 999u);

  smi_infer_request request{};
  request.size = sizeof(request);
  EXPECT_EQ(Take(api->model_infer(model, &request)).message, "fake plugin: infer failed");

  api->model_cancel(model, 5);
  EXPECT_EQ(model->cancelled, 5u);
  model->throw_on_cancel = true;
  api->model_cancel(model, 6);  // swallowed
  EXPECT_EQ(model->cancelled, 5u);

  api->model_unload(model);
  EXPECT_EQ(plugin->models, 0);
  api->plugin_shutdown(plugin);
}

TEST(SmiPluginTest, SchemaTensorAndInputBytes) {
  const std::string name = "in";
  const std::vector<int64_t> dims = {3};
  smi_tensor t = mlos::smi::SchemaTensor(name, SMI_DTYPE_INT64, dims);
  EXPECT_EQ(t.size, sizeof(smi_tensor));
  EXPECT_EQ(t.name, name.c_str());
  EXPECT_EQ(t.data, nullptr);
  EXPECT_THROW(mlos::smi::SchemaTensor(name, SMI_DTYPE_INT64, std::vector<int64_t>(17, 1)),
               std::length_error);

  EXPECT_EQ(mlos::smi::ElementBytes(SMI_DTYPE_INT64), 8u);
  EXPECT_EQ(mlos::smi::ElementBytes(SMI_DTYPE_STRING), sizeof(smi_string));
  int64_t data[3] = {1, 2, 3};
  t.data = data;
  t.byte_size = 24;
  EXPECT_TRUE(Take(mlos::smi::CheckInputBytes("input \"in\"", t, 3)).ok);
  t.byte_size = 16;
  Result r = Take(mlos::smi::CheckInputBytes("input \"in\"", t, 3));
  EXPECT_EQ(r.code, SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(r.message, "input \"in\": byte_size 16 does not match dims (expected 24)");
  t.byte_size = 24;
  t.data = nullptr;
  EXPECT_EQ(Take(mlos::smi::CheckInputBytes("input \"in\"", t, 3)).message,
            "input \"in\": data is NULL");
  t.byte_size = 0;
  EXPECT_TRUE(Take(mlos::smi::CheckInputBytes("input \"in\"", t, 0)).ok);
}

}  // namespace
