/*
 * SMI: the Standard Model Interface, the C ABI between mlosd (the host) and framework plugins.
 *
 * A plugin is a shared library exporting one symbol, `smi_plugin_get_api`, which returns a
 * versioned, append-only table of functions. The host checks the ABI version at load:
 *   plugin major == SMI_VERSION_MAJOR (else the plugin is refused with a clear message), and
 *   host minor >= plugin minor (a plugin may not need functions the host does not know).
 * New functions are only ever appended to the tables; the `size` field that opens every struct
 * tells each side which fields the other knows (fields past `size` are treated as absent).
 *
 * Conventions (see each function for specifics):
 * - Handles are opaque. Every struct is passed by pointer and opens with `size_t size`, which the
 *   caller sets to sizeof(struct) as it was compiled.
 * - Errors are objects: a function that can fail returns `smi_error*`, NULL on success. The
 *   caller owns a returned error and releases it with api->error_free (from the plugin that
 *   made it). On failure, out-parameters are left untouched.
 * - No C++ exception crosses the boundary; plugins catch everything at the edge.
 * - Strings passed in are NUL-terminated UTF-8, borrowed for the duration of the call unless a
 *   function says otherwise. Strings returned by the plugin live as long as the object they
 *   were read from (plugin or model) unless a function says otherwise.
 * - Threading: stated per function. "any thread" means the host may call it concurrently from
 *   several threads; a plugin that cannot allow that for smi_model_infer says so by not setting
 *   SMI_CAP_THREAD_SAFE_INFER, and the host then serialises infer calls per model.
 */
#ifndef MLOS_SMI_H_
#define MLOS_SMI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMI_VERSION_MAJOR 1
#define SMI_VERSION_MINOR 1

#if defined(__GNUC__)
#define SMI_EXPORT __attribute__((visibility("default")))
#else
#define SMI_EXPORT
#endif

/* ---- errors -------------------------------------------------------------------------------- */

typedef enum smi_error_code {
  SMI_ERROR_INVALID_ARGUMENT = 1, /* bad input: names the tensor/field at fault */
  SMI_ERROR_NOT_FOUND = 2,        /* a file, tensor or output name that does not exist */
  SMI_ERROR_UNSUPPORTED = 3,      /* a dtype, format or feature the plugin does not support */
  SMI_ERROR_RESOURCE_EXHAUSTED = 4, /* out of memory, output allocation refused */
  SMI_ERROR_CANCELLED = 5,        /* smi_model_cancel or a host callback asked to stop */
  SMI_ERROR_INTERNAL = 6,         /* the framework failed */
  SMI_ERROR_UNAVAILABLE = 7       /* not ready / temporarily unable */
} smi_error_code;

/* Opaque; made by a plugin, freed by the caller with that plugin's error_free. */
typedef struct smi_error smi_error;

/* ---- tensors ------------------------------------------------------------------------------- */

typedef enum smi_dtype {
  SMI_DTYPE_INVALID = 0,
  SMI_DTYPE_FLOAT32 = 1,
  SMI_DTYPE_FLOAT64 = 2,
  SMI_DTYPE_FLOAT16 = 3,
  SMI_DTYPE_BFLOAT16 = 4,
  SMI_DTYPE_INT8 = 5,
  SMI_DTYPE_INT16 = 6,
  SMI_DTYPE_INT32 = 7,
  SMI_DTYPE_INT64 = 8,
  SMI_DTYPE_UINT8 = 9,
  SMI_DTYPE_UINT16 = 10,
  SMI_DTYPE_UINT32 = 11,
  SMI_DTYPE_UINT64 = 12,
  SMI_DTYPE_BOOL = 13,  /* one byte per element, 0 or 1 */
  SMI_DTYPE_STRING = 14 /* see smi_tensor: data = array of smi_string */
} smi_dtype;

#define SMI_MAX_RANK 16

/* A string element of a SMI_DTYPE_STRING tensor. */
typedef struct smi_string {
  const char* data; /* not NUL-terminated */
  uint64_t length;
} smi_string;

/* A tensor view. The struct does not own `data`.
 * Numeric types: data points to element_count * element_size bytes, row-major, little endian.
 * SMI_DTYPE_STRING: data points to element_count smi_string entries; byte_size is
 * element_count * sizeof(smi_string). A rank-0 tensor (scalar) has one element; a dim of 0
 * gives zero elements (data may then be NULL). */
typedef struct smi_tensor {
  size_t size; /* sizeof(smi_tensor) */
  const char* name;
  smi_dtype dtype;
  uint32_t rank;
  int64_t dims[SMI_MAX_RANK]; /* in metadata, -1 = dynamic; in infer calls, all >= 0 */
  void* data;
  uint64_t byte_size;
} smi_tensor;

/* ---- plugin -------------------------------------------------------------------------------- */

typedef enum smi_capability {
  SMI_CAP_BATCHING = 1u << 0,            /* dim 0 of every IO tensor is a batch dim */
  SMI_CAP_STREAMING = 1u << 1,           /* smi_model_generate is implemented */
  SMI_CAP_THREAD_SAFE_INFER = 1u << 2,   /* infer may run concurrently on one model */
  SMI_CAP_CANCEL = 1u << 3,              /* smi_model_cancel interrupts a running infer */
  SMI_CAP_DEVICE_CPU = 1u << 8,
  SMI_CAP_DEVICE_CUDA = 1u << 9
} smi_capability;

typedef struct smi_plugin_info {
  size_t size;              /* sizeof(smi_plugin_info) */
  const char* name;         /* e.g. "onnx" */
  const char* version;      /* the plugin's version, e.g. "1.0.0" */
  const char* framework;    /* e.g. "onnxruntime 1.29.0" */
  const char* const* execution_formats; /* NULL-terminated, e.g. {"onnx", NULL} */
  uint32_t capabilities;    /* smi_capability bits */
} smi_plugin_info;

typedef struct smi_plugin smi_plugin; /* opaque plugin instance (one per host) */
typedef struct smi_model smi_model;   /* opaque loaded model */

typedef struct smi_model_load_params {
  size_t size;                /* sizeof(smi_model_load_params) */
  const char* model_dir;      /* the package directory (absolute) */
  const char* model_path;     /* the execution file (absolute), within model_dir */
  const char* model_id;       /* "ns/name@version", for logs and cache keys */
  const char* manifest_json;  /* the manifest as JSON (may be NULL) */
  const char* options_json;   /* per-model options, e.g. {"intra_op_threads":2} (may be NULL) */
  const char* cache_dir;      /* a directory the plugin may write to (e.g. optimised models) */
} smi_model_load_params;

/* Output allocation: the host hands out the memory outputs are written to.
 * The plugin calls it once per output, with the output's final dtype and dims, and for
 * SMI_DTYPE_STRING with the total bytes of all strings in `byte_size` (the host then returns
 * a buffer of element_count smi_string entries followed by byte_size bytes of string storage,
 * element_count * sizeof(smi_string) + byte_size bytes in all; the plugin writes the entries and
 * copies bytes into the storage). For numeric dtypes *buffer points to at least byte_size bytes.
 * The buffer is valid until smi_model_infer returns; the host owns it. Returning non-zero
 * (host refused: e.g. a shared-memory region too small) makes the plugin fail the call with
 * SMI_ERROR_RESOURCE_EXHAUSTED. Called on the thread running smi_model_infer. */
typedef int (*smi_output_alloc_fn)(void* user_data, const char* name, smi_dtype dtype,
                                   uint32_t rank, const int64_t* dims, uint64_t byte_size,
                                   void** buffer);

typedef struct smi_infer_request {
  size_t size; /* sizeof(smi_infer_request) */
  const smi_tensor* inputs;
  uint32_t input_count;
  const char* const* output_names; /* the outputs wanted; NULL with output_count 0 = all */
  uint32_t output_count;
  smi_output_alloc_fn alloc;
  void* alloc_user_data;
  uint64_t request_id; /* host-unique; used by smi_model_cancel */
} smi_infer_request;

/* Streaming generation (LLM plugins). Each token chunk goes to `on_token`; returning non-zero
 * stops generation (the call then returns SMI_ERROR_CANCELLED). A chunk is the text of one
 * generated token (possibly empty while a multi-byte UTF-8 character is incomplete; the plugin
 * never splits a character across chunks). */
typedef int (*smi_token_fn)(void* user_data, const char* text, uint64_t length);

/* Added in 1.1 (check `size`): how a generation ended, called once, on the generating thread,
 * before model_generate returns (successfully or cancelled). JSON:
 * {"prompt_tokens":N,"completion_tokens":N,"cached_tokens":N,
 *  "finish_reason":"stop"|"length"|"cancelled"} (cached_tokens: prompt tokens whose KV cache was
 * reused). */
typedef void (*smi_generate_done_fn)(void* user_data, const char* result_json);

typedef struct smi_generate_request {
  size_t size; /* sizeof(smi_generate_request) */
  const char* prompt;      /* the raw prompt (used when params_json has no "messages") */
  /* Sampling and stopping, all optional: {"max_tokens":N (-1 / absent = up to the context),
   * "temperature":T (0 = greedy), "top_p","top_k","min_p","repeat_penalty","repeat_last_n",
   * "seed":N, "stop":["..."], "messages":[{"role":"system|user|assistant","content":"..."}]
   * (chat: the plugin applies the model's chat template and generates the assistant's turn)}.
   * Unknown keys are ignored; bad values fail with SMI_ERROR_INVALID_ARGUMENT naming the key. */
  const char* params_json;
  smi_token_fn on_token;
  void* user_data;
  uint64_t request_id;
  /* ---- 1.1 ---- */
  smi_generate_done_fn on_done; /* may be NULL */
} smi_generate_request;

typedef struct smi_memory_info {
  size_t size;            /* sizeof(smi_memory_info) */
  uint64_t host_bytes;    /* resident bytes the model holds in host memory (estimate) */
  uint64_t device_bytes;  /* bytes on accelerators */
  /* Added in 1.x (check `size`): of host_bytes, bytes shared with other models that report the
     same non-zero shared_key (e.g. one memory-mapped weights file); the host counts them once. */
  uint64_t shared_bytes;
  uint64_t shared_key;
} smi_memory_info;

/* The function table. Append-only: new functions go at the end, guarded by `size`. */
typedef struct smi_plugin_api {
  size_t size;            /* sizeof(smi_plugin_api) as the plugin was compiled */
  uint32_t abi_major;     /* SMI_VERSION_MAJOR the plugin was built with */
  uint32_t abi_minor;     /* SMI_VERSION_MINOR the plugin was built with */

  /* Static description; valid for the life of the library. Any thread. Never NULL. */
  const smi_plugin_info* (*get_info)(void);

  /* Releases an error made by this plugin. NULL is allowed. Any thread. */
  void (*error_free)(smi_error* error);
  /* The error's code and message (valid until error_free). Any thread. */
  smi_error_code (*error_code)(const smi_error* error);
  const char* (*error_message)(const smi_error* error);

  /* Creates the plugin instance. config_json: this plugin's own section of the daemon config
   * (the object under plugins.<name>, not the whole map; may be NULL), e.g.
   * {"intra_op_threads":1,"graph_optimization_level":"all"}. On success *plugin is
   * owned by the host until plugin_shutdown. Called once, before anything else but get_info. */
  smi_error* (*plugin_init)(const char* config_json, smi_plugin** plugin);
  /* Destroys the instance; every model must have been unloaded. NULL allowed. */
  void (*plugin_shutdown)(smi_plugin* plugin);

  /* Loads a model. On success *model is owned by the host until model_unload. May run
   * concurrently with other loads, unloads and infers on other models. */
  smi_error* (*model_load)(smi_plugin* plugin, const smi_model_load_params* params,
                           smi_model** model);
  /* Unloads; no infer may be running on it (the host drains first). NULL allowed. */
  void (*model_unload)(smi_model* model);

  /* IO metadata: counts, then tensors by index (dims use -1 for dynamic; data NULL). The
   * returned tensor and its name live as long as the model. Any thread. */
  uint32_t (*model_input_count)(const smi_model* model);
  uint32_t (*model_output_count)(const smi_model* model);
  smi_error* (*model_input)(const smi_model* model, uint32_t index, const smi_tensor** tensor);
  smi_error* (*model_output)(const smi_model* model, uint32_t index, const smi_tensor** tensor);

  /* Memory the model holds (fills *info up to info->size). Any thread. */
  smi_error* (*model_memory)(const smi_model* model, smi_memory_info* info);

  /* Runs inference. Inputs are borrowed for the call. Outputs are written into buffers from
   * request->alloc, in the order of request->output_names (or the model's output order).
   * Thread-safety: see SMI_CAP_THREAD_SAFE_INFER. */
  smi_error* (*model_infer)(smi_model* model, const smi_infer_request* request);

  /* Asks a running infer/generate with this request_id to stop soon. Any thread; a no-op when
   * the request is not running or SMI_CAP_CANCEL is not set (a cancel that arrives before the
   * plugin has started the request is lost: the host checks its own cancellation flag before
   * calling model_infer). */
  void (*model_cancel)(smi_model* model, uint64_t request_id);

  /* Streaming generation; NULL when SMI_CAP_STREAMING is not set. */
  smi_error* (*model_generate)(smi_model* model, const smi_generate_request* request);
} smi_plugin_api;

/* The one exported symbol. Returns a table with static lifetime. `host_major`/`host_minor`
 * tell the plugin the host's version; a plugin may return NULL if it cannot serve that host. */
typedef const smi_plugin_api* (*smi_plugin_get_api_fn)(uint32_t host_major, uint32_t host_minor);
#define SMI_PLUGIN_GET_API_SYMBOL "smi_plugin_get_api"
SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major, uint32_t host_minor);

/* Bytes per element of a numeric dtype; 0 for SMI_DTYPE_STRING and SMI_DTYPE_INVALID. */
static inline uint64_t smi_dtype_size(smi_dtype dtype) {
  switch (dtype) {
    case SMI_DTYPE_FLOAT64: case SMI_DTYPE_INT64: case SMI_DTYPE_UINT64: return 8;
    case SMI_DTYPE_FLOAT32: case SMI_DTYPE_INT32: case SMI_DTYPE_UINT32: return 4;
    case SMI_DTYPE_FLOAT16: case SMI_DTYPE_BFLOAT16: case SMI_DTYPE_INT16:
    case SMI_DTYPE_UINT16: return 2;
    case SMI_DTYPE_INT8: case SMI_DTYPE_UINT8: case SMI_DTYPE_BOOL: return 1;
    default: return 0;
  }
}

/* The dtype's name in MPF manifests ("float32", "float64", "float16", "bfloat16", "int8", "int16",
 * "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string"); "invalid" for
 * SMI_DTYPE_INVALID and any value this header does not know. Never NULL; the string is static.
 * Pure: any thread. */
static inline const char* smi_dtype_name(smi_dtype dtype) {
  switch (dtype) {
    case SMI_DTYPE_FLOAT32: return "float32";
    case SMI_DTYPE_FLOAT64: return "float64";
    case SMI_DTYPE_FLOAT16: return "float16";
    case SMI_DTYPE_BFLOAT16: return "bfloat16";
    case SMI_DTYPE_INT8: return "int8";
    case SMI_DTYPE_INT16: return "int16";
    case SMI_DTYPE_INT32: return "int32";
    case SMI_DTYPE_INT64: return "int64";
    case SMI_DTYPE_UINT8: return "uint8";
    case SMI_DTYPE_UINT16: return "uint16";
    case SMI_DTYPE_UINT32: return "uint32";
    case SMI_DTYPE_UINT64: return "uint64";
    case SMI_DTYPE_BOOL: return "bool";
    case SMI_DTYPE_STRING: return "string";
    default: return "invalid";
  }
}

/* Layout guards for version 1.0: these offsets never change. */
#if defined(__x86_64__) || defined(__aarch64__)
#ifdef __cplusplus
#define SMI_STATIC_ASSERT static_assert
#else
#define SMI_STATIC_ASSERT _Static_assert
#endif
SMI_STATIC_ASSERT(offsetof(smi_tensor, name) == 8, "smi_tensor layout");
SMI_STATIC_ASSERT(offsetof(smi_tensor, dims) == 24, "smi_tensor layout");
SMI_STATIC_ASSERT(sizeof(smi_tensor) == 168, "smi_tensor layout");
SMI_STATIC_ASSERT(offsetof(smi_plugin_api, get_info) == 16, "smi_plugin_api layout");
SMI_STATIC_ASSERT(offsetof(smi_plugin_api, model_generate) == 16 + 15 * 8, "smi_plugin_api layout");
#endif

#ifdef __cplusplus
}
#endif

#endif /* MLOS_SMI_H_ */
