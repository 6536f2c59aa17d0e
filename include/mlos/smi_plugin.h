// C++ helpers for SMI plugins: what every plugin behind include/mlos/smi.h would otherwise write
// again. Header-only; depends on smi.h and the standard library alone.
//
//   - the error object (`struct smi_error`: code + message), MakeError / FreeError, and the
//     table's error_free / error_code / error_message;
//   - Guard: runs a body and turns every C++ exception into an smi_error, so that none crosses
//     the ABI;
//   - the version handshake (HostCanServe) and the function table (GetApi<Impl>), built from a
//     class of static functions (see PluginImpl) by entries that check NULL arguments and guard
//     every call.
//
// Include it from plugin code only: it defines `struct smi_error`, which smi.h leaves opaque, so
// the host (which only ever sees errors through a plugin's table) must not include it. Each
// plugin is its own shared library with hidden visibility, so plugins built with it never share
// these definitions.
//
// A plugin's whole exported surface:
//
//   struct MyPlugin { ... static functions, see PluginImpl ... };
//
//   extern "C" SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major,
//                                                                  uint32_t host_minor) {
//     return mlos::smi::GetApi<MyPlugin>(host_major, host_minor);
//   }
#ifndef MLOS_SMI_PLUGIN_H_
#define MLOS_SMI_PLUGIN_H_

#ifndef __cplusplus
#error "mlos/smi_plugin.h is C++ only; C plugins use mlos/smi.h"
#endif

#include <sys/stat.h>

#include <concepts>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mlos/smi.h"

// The plugin's side of the opaque smi_error: made by MakeError, released by FreeError (the
// table's error_free). Immutable once made; may be read from any thread.
struct smi_error {
  smi_error_code code;
  std::string message;
};

namespace mlos::smi {

namespace internal {
// Returned when an error object itself cannot be allocated; never freed. "out of memory" fits in
// std::string's inline buffer, so constructing it does not allocate.
inline smi_error g_out_of_memory{SMI_ERROR_RESOURCE_EXHAUSTED, "out of memory"};
}  // namespace internal

// ---- the error object -------------------------------------------------------------------------

// A new error the caller owns (released with FreeError, which is the table's error_free). Never
// throws and never returns NULL: when the object cannot be allocated, returns a shared static
// RESOURCE_EXHAUSTED "out of memory" error that FreeError leaves alone. Any thread.
inline smi_error* MakeError(smi_error_code code, std::string message) noexcept {
  try {
    return new smi_error{code, std::move(message)};
  } catch (...) {
    return &internal::g_out_of_memory;
  }
}

// Releases an error made by MakeError. NULL is allowed. Any thread.
inline void FreeError(smi_error* error) noexcept {
  if (error != &internal::g_out_of_memory) delete error;
}

// The table's error_code / error_message: INTERNAL and "" for NULL. The message lives until the
// error is freed. Any thread.
inline smi_error_code ErrorCode(const smi_error* error) noexcept {
  return error ? error->code : SMI_ERROR_INTERNAL;
}
inline const char* ErrorMessage(const smi_error* error) noexcept {
  return error ? error->message.c_str() : "";
}

// `"name"` (quoted) for messages that name a tensor; `""` for NULL.
inline std::string Quoted(const char* name) {
  return std::string("\"") + (name ? name : "") + "\"";
}

// ---- exceptions at the ABI edge ---------------------------------------------------------------

// How Guard turns an exception into an error.
struct GuardOptions {
  // Opens the message of each error made from an exception, e.g. "onnx plugin":
  //   std::bad_alloc    -> RESOURCE_EXHAUSTED "<prefix>: out of memory"
  //   std::exception e  -> INTERNAL "<prefix>: " + e.what()
  //   anything else     -> INTERNAL "<prefix>: unknown exception"
  const char* prefix = "plugin";
  // Optional, tried before the rules above for a framework's own exception types. Called inside
  // a catch handler: it rethrows with `throw;`, catches the types it knows and returns their
  // error, and returns NULL (from `catch (...)`) to leave the exception to the rules above. An
  // exception it throws itself is handled by those rules.
  smi_error* (*translate)() = nullptr;
};

// The error for the exception being handled. Call it only inside a catch handler (there must be a
// current exception). Never throws, never returns NULL.
inline smi_error* ErrorFromCurrentException(const GuardOptions& options) noexcept {
  try {
    try {
      if (options.translate != nullptr) {
        if (smi_error* error = options.translate()) return error;
      }
      throw;  // the exception being handled, to the rules below
    } catch (const std::bad_alloc&) {
      return MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                       std::string(options.prefix) + ": out of memory");
    } catch (const std::exception& e) {
      return MakeError(SMI_ERROR_INTERNAL, std::string(options.prefix) + ": " + e.what());
    } catch (...) {
      return MakeError(SMI_ERROR_INTERNAL, std::string(options.prefix) + ": unknown exception");
    }
  } catch (...) {  // the message itself could not be built
    return &internal::g_out_of_memory;
  }
}

// Runs body (returning smi_error*, NULL on success) with every exception turned into an error.
// Runs on the calling thread; adds no synchronisation.
template <typename Body>
smi_error* Guard(const GuardOptions& options, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    return ErrorFromCurrentException(options);
  }
}

// ---- helpers for what the table's functions do ------------------------------------------------

// A schema tensor (as model_input / model_output return it): a view of `name`, which must outlive
// it; dims use -1 for dynamic; data NULL. Throws std::length_error above SMI_MAX_RANK dims.
inline smi_tensor SchemaTensor(const std::string& name, smi_dtype dtype,
                               std::span<const int64_t> dims) {
  if (dims.size() > SMI_MAX_RANK) throw std::length_error("tensor rank above 16");
  smi_tensor t{};
  t.size = sizeof(smi_tensor);
  t.name = name.c_str();
  t.dtype = dtype;
  t.rank = static_cast<uint32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) t.dims[i] = dims[i];
  return t;
}

// Bytes one element of `dtype` takes in a tensor's data: smi_dtype_size, or sizeof(smi_string)
// for SMI_DTYPE_STRING (data is then an array of smi_string entries); 0 for SMI_DTYPE_INVALID.
inline uint64_t ElementBytes(smi_dtype dtype) {
  return dtype == SMI_DTYPE_STRING ? sizeof(smi_string) : smi_dtype_size(dtype);
}

// Checks a request input whose dims give `count` elements (the caller has checked dtype and
// dims): byte_size must be count * ElementBytes(dtype), and data must be set when count > 0.
// `who` opens the message, e.g. `input "x"`. INVALID_ARGUMENT `input "x": byte_size 12 does not
// match dims (expected 16)` or `input "x": data is NULL`; NULL when the input is fine.
inline smi_error* CheckInputBytes(const std::string& who, const smi_tensor& input, uint64_t count) {
  const uint64_t expected = count * ElementBytes(input.dtype);
  if (input.byte_size != expected) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                     who + ": byte_size " + std::to_string(input.byte_size) +
                         " does not match dims (expected " + std::to_string(expected) + ")");
  }
  if (count > 0 && input.data == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": data is NULL");
  }
  return nullptr;
}

// The model file of a load: INVALID_ARGUMENT when model_path is empty, NOT_FOUND (naming it)
// when it is not a regular file; NULL when it is one (its size in *file_bytes when given).
inline smi_error* CheckModelFile(const smi_model_load_params& params,
                                 uint64_t* file_bytes = nullptr) {
  if (params.model_path == nullptr || *params.model_path == '\0') {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model_path is empty");
  }
  struct stat st {};
  if (::stat(params.model_path, &st) != 0 || !S_ISREG(st.st_mode)) {
    return MakeError(SMI_ERROR_NOT_FOUND, std::string("model file not found: ") + params.model_path);
  }
  if (file_bytes) *file_bytes = static_cast<uint64_t>(st.st_size);
  return nullptr;
}

// A largest dim a framework takes (TFLite's int32 dims), named in the refusal.
struct DimLimit {
  int64_t max = INT64_MAX;
  const char* framework = nullptr;  // "TFLite": `... is above TFLite's limit of 2147483647`
};

// Matches a request's inputs to a model's IO schema: `specs` in schema order (each with a
// std::string `name`, an smi_dtype `dtype` and std::vector<int64_t> `dims`, -1 = dynamic) and
// `index` (name -> position in `specs`). by_schema[k] is then the input for specs[k]. Every
// refusal is INVALID_ARGUMENT naming the input: unknown, duplicate, missing, the wrong dtype or
// rank, a negative dim, a static dim that differs, a dim over `limit`, an element count that
// overflows, byte_size or data that do not match (CheckInputBytes), a string with NULL data.
template <typename Spec, typename Index>
smi_error* MatchInputs(const std::vector<Spec>& specs, const Index& index,
                       const smi_infer_request& request,
                       std::vector<const smi_tensor*>& by_schema, DimLimit limit = {}) {
  by_schema.assign(specs.size(), nullptr);
  if (request.input_count > 0 && request.inputs == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "inputs is NULL");
  }
  for (uint32_t i = 0; i < request.input_count; ++i) {
    const smi_tensor& t = request.inputs[i];
    if (t.name == nullptr) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "input " + std::to_string(i) + " has no name");
    }
    auto it = index.find(t.name);
    if (it == index.end()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "unknown input " + Quoted(t.name));
    }
    if (by_schema[it->second]) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, "duplicate input " + Quoted(t.name));
    }
    by_schema[it->second] = &t;
  }
  for (size_t k = 0; k < specs.size(); ++k) {
    const Spec& spec = specs[k];
    const smi_tensor* t = by_schema[k];
    const std::string who = "input " + Quoted(spec.name.c_str());
    if (t == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "missing " + who);
    if (t->dtype != spec.dtype) {
      return MakeError(
          SMI_ERROR_INVALID_ARGUMENT,
          who + ": expected " + smi_dtype_name(spec.dtype) + ", got " + smi_dtype_name(t->dtype));
    }
    if (t->rank != spec.dims.size()) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": expected rank " +
                                                       std::to_string(spec.dims.size()) +
                                                       ", got " + std::to_string(t->rank));
    }
    uint64_t count = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < t->rank; ++d) {
      const int64_t dim = t->dims[d];
      const std::string at = who + ": dim " + std::to_string(d);
      if (dim < 0) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                         at + " is negative (" + std::to_string(dim) + ")");
      }
      if (spec.dims[d] >= 0 && spec.dims[d] != dim) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, at + " must be " +
                                                         std::to_string(spec.dims[d]) + ", got " +
                                                         std::to_string(dim));
      }
      if (dim > limit.max) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                         at + " (" + std::to_string(dim) + ") is above " +
                             (limit.framework ? limit.framework : "the framework") +
                             "'s limit of " + std::to_string(limit.max));
      }
      const uint64_t udim = static_cast<uint64_t>(dim);
      if (udim != 0 && count > UINT64_MAX / udim) overflow = true;
      count *= udim;
    }
    const uint64_t element = ElementBytes(spec.dtype);
    if (overflow || (element != 0 && count > UINT64_MAX / element)) {
      return MakeError(SMI_ERROR_INVALID_ARGUMENT, who + ": element count overflows");
    }
    if (smi_error* e = CheckInputBytes(who, *t, count)) return e;
    if (spec.dtype == SMI_DTYPE_STRING) {
      const smi_string* strings = static_cast<const smi_string*>(t->data);
      for (uint64_t i = 0; i < count; ++i) {
        if (strings[i].length > 0 && strings[i].data == nullptr) {
          return MakeError(SMI_ERROR_INVALID_ARGUMENT,
                           who + ": string " + std::to_string(i) + " has NULL data");
        }
      }
    }
  }
  return nullptr;
}

// The outputs a request wants, as positions in the model's `output_count` outputs (`index`:
// name -> position): all of them, in order, when it names none. NOT_FOUND for an unknown name,
// INVALID_ARGUMENT for a duplicate or NULL output_names.
template <typename Index>
smi_error* MatchOutputs(size_t output_count, const Index& index,
                        const smi_infer_request& request, std::vector<size_t>& wanted) {
  if (request.output_count == 0) {
    for (size_t i = 0; i < output_count; ++i) wanted.push_back(i);
    return nullptr;
  }
  if (request.output_names == nullptr) {
    return MakeError(SMI_ERROR_INVALID_ARGUMENT, "output_names is NULL");
  }
  for (uint32_t i = 0; i < request.output_count; ++i) {
    const char* name = request.output_names[i];
    auto it = name ? index.find(name) : index.end();
    if (it == index.end()) return MakeError(SMI_ERROR_NOT_FOUND, "unknown output " + Quoted(name));
    for (size_t w : wanted) {
      if (w == it->second) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "duplicate output " + Quoted(name));
      }
    }
    wanted.push_back(it->second);
  }
  return nullptr;
}

// Copies `value` into the caller's *out up to out->size (fields past it are unknown to the
// caller; out->size itself is left alone). For the structs SMI fills, e.g. smi_memory_info.
template <typename SizedStruct>
void FillUpToSize(const SizedStruct& value, SizedStruct* out) noexcept {
  const size_t n = out->size < sizeof(SizedStruct) ? out->size : sizeof(SizedStruct);
  if (n > sizeof(size_t)) {
    std::memcpy(reinterpret_cast<char*>(out) + sizeof(size_t),
                reinterpret_cast<const char*>(&value) + sizeof(size_t), n - sizeof(size_t));
  }
}

// ---- the version handshake and the function table --------------------------------------------

// The SMI handshake: equal major, and the host knows at least the plugin's minor.
constexpr bool HostCanServe(uint32_t host_major, uint32_t host_minor,
                            uint32_t plugin_major = SMI_VERSION_MAJOR,
                            uint32_t plugin_minor = SMI_VERSION_MINOR) {
  return host_major == plugin_major && host_minor >= plugin_minor;
}

// What a plugin implements: a class of static functions, which GetApi's table calls through
// entries that (1) answer NULL handles and arguments the same way for every plugin (messages
// below), (2) run everything that returns smi_error* under Guard(Impl::kGuard), and (3) swallow
// exceptions from the functions that return void or a count. The threading and ownership rules
// are smi.h's for the matching table function. Impl's functions may throw.
//
//   kGuard          GuardOptions for every guarded call (e.g. {"onnx plugin", FromOrtException})
//   GetInfo()       get_info; must not throw
//   PluginInit      plugin_init, with plugin != NULL (else INVALID_ARGUMENT "plugin is NULL")
//   PluginShutdown  plugin_shutdown, with plugin != NULL (NULL is a no-op)
//   ModelLoad       model_load, with all three non-NULL and params.size at least SMI 1.0's
//                   (else INVALID_ARGUMENT "plugin, params and model must not be NULL",
//                   "params: size is smaller than SMI 1.0's")
//   ModelUnload     model_unload, with model != NULL (NULL is a no-op)
//   ModelInputs / ModelOutputs
//                   the schema: model_input_count / model_output_count (0 for NULL) and
//                   model_input / model_output (INVALID_ARGUMENT "model is NULL", "tensor is
//                   NULL"; NOT_FOUND "input index 3 out of range (2)"). The span's tensors must
//                   live as long as the model.
//   ModelMemory     model_memory's values (copied up to the caller's info->size; INVALID_ARGUMENT
//                   "model or info is NULL")
//   ModelInfer      model_infer (INVALID_ARGUMENT "model or request is NULL")
//   ModelCancel     model_cancel, with model != NULL (NULL is a no-op)
//   ModelGenerate   optional: model_generate (INVALID_ARGUMENT "model or request is NULL");
//                   without it the table's model_generate is NULL (no SMI_CAP_STREAMING).
template <typename Impl>
concept PluginImpl =
    requires(const char* text, smi_plugin* plugin, smi_plugin** plugin_out,
             const smi_model_load_params& params, smi_model* model, smi_model** model_out,
             const smi_model& cmodel, const smi_infer_request& request, uint64_t request_id) {
      { Impl::kGuard } -> std::convertible_to<GuardOptions>;
      { Impl::GetInfo() } -> std::same_as<const smi_plugin_info*>;
      { Impl::PluginInit(text, plugin_out) } -> std::same_as<smi_error*>;
      Impl::PluginShutdown(plugin);
      { Impl::ModelLoad(*plugin, params, model_out) } -> std::same_as<smi_error*>;
      Impl::ModelUnload(model);
      { Impl::ModelInputs(cmodel) } -> std::convertible_to<std::span<const smi_tensor>>;
      { Impl::ModelOutputs(cmodel) } -> std::convertible_to<std::span<const smi_tensor>>;
      { Impl::ModelMemory(cmodel) } -> std::same_as<smi_memory_info>;
      { Impl::ModelInfer(*model, request) } -> std::same_as<smi_error*>;
      Impl::ModelCancel(*model, request_id);
    };

template <typename Impl>
concept StreamingPluginImpl =
    PluginImpl<Impl> && requires(smi_model* model, const smi_generate_request& request) {
      { Impl::ModelGenerate(*model, request) } -> std::same_as<smi_error*>;
    };

namespace internal {

// The table's entries for Impl: the NULL checks and guards PluginImpl describes.
template <typename Impl>
struct Entries {
  static const smi_plugin_info* GetInfo() noexcept { return Impl::GetInfo(); }

  static smi_error* PluginInit(const char* config_json, smi_plugin** plugin) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (plugin == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "plugin is NULL");
      return Impl::PluginInit(config_json, plugin);
    });
  }

  static void PluginShutdown(smi_plugin* plugin) noexcept {
    if (plugin == nullptr) return;
    try {
      Impl::PluginShutdown(plugin);
    } catch (...) {
    }
  }

  static smi_error* ModelLoad(smi_plugin* plugin, const smi_model_load_params* params,
                              smi_model** model) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (!plugin || !params || !model) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "plugin, params and model must not be NULL");
      }
      if (params->size < sizeof(smi_model_load_params)) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "params: size is smaller than SMI 1.0's");
      }
      return Impl::ModelLoad(*plugin, *params, model);
    });
  }

  static void ModelUnload(smi_model* model) noexcept {
    if (model == nullptr) return;
    try {
      Impl::ModelUnload(model);
    } catch (...) {
    }
  }

  static uint32_t CountOf(std::span<const smi_tensor> list) {
    return static_cast<uint32_t>(list.size());
  }
  static uint32_t ModelInputCount(const smi_model* model) noexcept {
    try {
      return model ? CountOf(Impl::ModelInputs(*model)) : 0;
    } catch (...) {
      return 0;
    }
  }
  static uint32_t ModelOutputCount(const smi_model* model) noexcept {
    try {
      return model ? CountOf(Impl::ModelOutputs(*model)) : 0;
    } catch (...) {
      return 0;
    }
  }

  static smi_error* TensorAt(std::span<const smi_tensor> list, const char* what, uint32_t index,
                             const smi_tensor** tensor) {
    if (tensor == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "tensor is NULL");
    if (index >= list.size()) {
      return MakeError(SMI_ERROR_NOT_FOUND, std::string(what) + " index " + std::to_string(index) +
                                                " out of range (" + std::to_string(list.size()) +
                                                ")");
    }
    *tensor = &list[index];
    return nullptr;
  }

  static smi_error* ModelInput(const smi_model* model, uint32_t index,
                               const smi_tensor** tensor) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (model == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model is NULL");
      return TensorAt(Impl::ModelInputs(*model), "input", index, tensor);
    });
  }
  static smi_error* ModelOutput(const smi_model* model, uint32_t index,
                                const smi_tensor** tensor) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (model == nullptr) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model is NULL");
      return TensorAt(Impl::ModelOutputs(*model), "output", index, tensor);
    });
  }

  static smi_error* ModelMemory(const smi_model* model, smi_memory_info* info) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (!model || !info) return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model or info is NULL");
      smi_memory_info values = Impl::ModelMemory(*model);
      values.size = sizeof(values);
      FillUpToSize(values, info);
      return nullptr;
    });
  }

  static smi_error* ModelInfer(smi_model* model, const smi_infer_request* request) noexcept {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (!model || !request) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model or request is NULL");
      }
      return Impl::ModelInfer(*model, *request);
    });
  }

  static void ModelCancel(smi_model* model, uint64_t request_id) noexcept {
    if (model == nullptr) return;
    try {
      Impl::ModelCancel(*model, request_id);
    } catch (...) {
    }
  }

  static smi_error* ModelGenerate(smi_model* model, const smi_generate_request* request) noexcept
    requires StreamingPluginImpl<Impl>
  {
    return Guard(Impl::kGuard, [&]() -> smi_error* {
      if (!model || !request) {
        return MakeError(SMI_ERROR_INVALID_ARGUMENT, "model or request is NULL");
      }
      return Impl::ModelGenerate(*model, *request);
    });
  }
};

template <PluginImpl Impl>
constexpr smi_plugin_api MakeApi() {
  using E = Entries<Impl>;
  smi_plugin_api api{};
  api.size = sizeof(smi_plugin_api);
  api.abi_major = SMI_VERSION_MAJOR;
  api.abi_minor = SMI_VERSION_MINOR;
  api.get_info = &E::GetInfo;
  api.error_free = &FreeError;
  api.error_code = &ErrorCode;
  api.error_message = &ErrorMessage;
  api.plugin_init = &E::PluginInit;
  api.plugin_shutdown = &E::PluginShutdown;
  api.model_load = &E::ModelLoad;
  api.model_unload = &E::ModelUnload;
  api.model_input_count = &E::ModelInputCount;
  api.model_output_count = &E::ModelOutputCount;
  api.model_input = &E::ModelInput;
  api.model_output = &E::ModelOutput;
  api.model_memory = &E::ModelMemory;
  api.model_infer = &E::ModelInfer;
  api.model_cancel = &E::ModelCancel;
  if constexpr (StreamingPluginImpl<Impl>) api.model_generate = &E::ModelGenerate;
  return api;
}

// One table per Impl, with static lifetime (constant-initialised: ready before any call).
template <PluginImpl Impl>
inline constexpr smi_plugin_api kApi = MakeApi<Impl>();

}  // namespace internal

// smi_plugin_get_api for Impl: its table when the host can serve this plugin's SMI version
// (HostCanServe), else NULL. The table has static lifetime. Any thread.
template <PluginImpl Impl>
const smi_plugin_api* GetApi(uint32_t host_major, uint32_t host_minor) noexcept {
  if (!HostCanServe(host_major, host_minor)) return nullptr;
  return &internal::kApi<Impl>;
}

}  // namespace mlos::smi

#endif  // MLOS_SMI_PLUGIN_H_
