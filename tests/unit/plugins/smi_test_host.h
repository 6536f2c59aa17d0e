// The host side of the SMI ABI for plugin unit tests: loading a plugin's table, input tensor
// views, and output allocation (the callback a host hands to model_infer) with decoding after
// the call. Shared by every plugin's test so each tests its plugin, not its own host copy.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mlos/smi.h"

namespace mlos_plugin_test {

// The plugin's smi_plugin_get_api, or null (dlerror() says why). The library stays loaded for
// the whole run: runtimes such as ONNX Runtime are not meant to be unloaded and reloaded.
inline smi_plugin_get_api_fn LoadPluginApi(const std::string& path) {
  static std::map<std::string, void*> handles;
  void*& handle = handles[path];
  if (!handle) handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return nullptr;
  return reinterpret_cast<smi_plugin_get_api_fn>(dlsym(handle, SMI_PLUGIN_GET_API_SYMBOL));
}

// One output the plugin allocated; `bytes` / `strings` are filled by Outputs::Decode.
struct Output {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_INVALID;
  std::vector<int64_t> dims;
  uint64_t byte_size = 0;
  uint8_t* buffer = nullptr;
  std::vector<uint8_t> bytes;        // numeric data, copied out after the call
  std::vector<std::string> strings;  // SMI_DTYPE_STRING, decoded after the call

  // The data as T (from `bytes` once decoded, else straight from the buffer).
  template <typename T>
  std::vector<T> values() const {
    const uint8_t* p = bytes.empty() ? buffer : bytes.data();
    const uint64_t n = bytes.empty() ? byte_size : bytes.size();
    std::vector<T> v(n / sizeof(T));
    if (n) std::memcpy(v.data(), p, v.size() * sizeof(T));
    return v;
  }
};

// Output buffers handed to the plugin through the alloc callback (user_data = this). Buffers
// are filled with 0xAB so that a plugin that leaves bytes unwritten is caught.
struct Outputs {
  std::deque<std::vector<uint8_t>> storage;
  std::vector<Output> list;
  std::function<int(const char* name)> on_alloc;  // optional hook; non-zero refuses

  static int Alloc(void* user_data, const char* name, smi_dtype dtype, uint32_t rank,
                   const int64_t* dims, uint64_t byte_size, void** buffer) {
    auto* self = static_cast<Outputs*>(user_data);
    if (self->on_alloc) {
      if (int rc = self->on_alloc(name)) return rc;
    }
    Output out;
    out.name = name;
    out.dtype = dtype;
    out.dims.assign(dims, dims + rank);
    out.byte_size = byte_size;
    uint64_t count = 1;
    for (uint32_t i = 0; i < rank; ++i) count *= static_cast<uint64_t>(dims[i]);
    const uint64_t total =
        dtype == SMI_DTYPE_STRING ? count * sizeof(smi_string) + byte_size : byte_size;
    self->storage.emplace_back(total + 1, 0xAB);
    out.buffer = self->storage.back().data();
    *buffer = out.buffer;
    self->list.push_back(std::move(out));
    return 0;
  }

  // Copies numeric outputs out and decodes string outputs (smi_string entries).
  void Decode() {
    for (Output& o : list) {
      uint64_t count = 1;
      for (int64_t d : o.dims) count *= static_cast<uint64_t>(d);
      if (o.dtype == SMI_DTYPE_STRING) {
        const auto* entries = reinterpret_cast<const smi_string*>(o.buffer);
        for (uint64_t i = 0; i < count; ++i) {
          o.strings.emplace_back(entries[i].data, entries[i].length);
        }
      } else {
        o.bytes.assign(o.buffer, o.buffer + o.byte_size);
      }
    }
  }

  const Output* Find(const std::string& name) const {
    for (const Output& o : list) {
      if (o.name == name) return &o;
    }
    return nullptr;
  }
};

// An input view over `data` (not copied).
inline smi_tensor Tensor(const char* name, smi_dtype dtype, std::vector<int64_t> dims,
                         const void* data, uint64_t byte_size) {
  smi_tensor t{};
  t.size = sizeof t;
  t.name = name;
  t.dtype = dtype;
  t.rank = static_cast<uint32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) t.dims[i] = dims[i];
  t.data = const_cast<void*>(data);
  t.byte_size = byte_size;
  return t;
}

// Runs model_infer with `outputs` as the allocator; {0, ""} on success (outputs decoded), else
// the error's {code, message} (the error freed).
inline std::pair<int, std::string> RunInfer(const smi_plugin_api* api, smi_model* model,
                                            const std::vector<smi_tensor>& inputs,
                                            Outputs& outputs, std::vector<const char*> names,
                                            uint64_t request_id) {
  smi_infer_request request{};
  request.size = sizeof request;
  request.inputs = inputs.data();
  request.input_count = static_cast<uint32_t>(inputs.size());
  request.output_names = names.empty() ? nullptr : names.data();
  request.output_count = static_cast<uint32_t>(names.size());
  request.alloc = &Outputs::Alloc;
  request.alloc_user_data = &outputs;
  request.request_id = request_id;
  smi_error* e = api->model_infer(model, &request);
  if (!e) {
    outputs.Decode();
    return {0, ""};
  }
  std::pair<int, std::string> r{api->error_code(e), api->error_message(e)};
  api->error_free(e);
  return r;
}

// A fixture base: the plugin's table, a plugin instance, the models a test loaded (unloaded at
// the end) and a fresh directory named after the test (removed at the end).
class PluginTest : public ::testing::Test {
 protected:
  // Call first in SetUp (then check HasFatalFailure): loads the table and makes dir_.
  void OpenPlugin(const std::string& path, const std::string& dir_prefix) {
    smi_plugin_get_api_fn get_api = LoadPluginApi(path);
    ASSERT_NE(get_api, nullptr) << dlerror() << " (" << path << ")";
    api_ = get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR);
    ASSERT_NE(api_, nullptr);
    dir_ = std::filesystem::temp_directory_path() /
           (dir_prefix + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    for (smi_model* m : models_) api_->model_unload(m);
    if (plugin_) api_->plugin_shutdown(plugin_);
    std::filesystem::remove_all(dir_);
  }

  const smi_plugin_api* api_ = nullptr;
  smi_plugin* plugin_ = nullptr;
  std::vector<smi_model*> models_;
  std::filesystem::path dir_;
};

}  // namespace mlos_plugin_test
