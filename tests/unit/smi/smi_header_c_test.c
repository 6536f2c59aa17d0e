/* Compiles include/mlos/smi.h as C11 (-std=c11 -Wall -Wextra -Werror -pedantic, see
 * plugins/testing/CMakeLists.txt) and reports the C view of its layout to smi_header_test.cc,
 * which checks the C++ view agrees, value by value, in the order listed here. */
#include "mlos/smi.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Declared again (with C linkage) in smi_header_test.cc. */
size_t smi_header_c_values(const uint64_t** values);
int smi_header_c_calls(void);

static const uint64_t kValues[] = {
    sizeof(smi_tensor),
    sizeof(smi_string),
    sizeof(smi_plugin_info),
    sizeof(smi_model_load_params),
    sizeof(smi_infer_request),
    sizeof(smi_generate_request),
    sizeof(smi_memory_info),
    sizeof(smi_plugin_api),
    sizeof(smi_dtype),
    sizeof(smi_error_code),
    offsetof(smi_tensor, dtype),
    offsetof(smi_tensor, rank),
    offsetof(smi_tensor, dims),
    offsetof(smi_tensor, data),
    offsetof(smi_tensor, byte_size),
    offsetof(smi_plugin_info, execution_formats),
    offsetof(smi_plugin_info, capabilities),
    offsetof(smi_model_load_params, cache_dir),
    offsetof(smi_infer_request, output_names),
    offsetof(smi_infer_request, alloc),
    offsetof(smi_infer_request, request_id),
    offsetof(smi_generate_request, request_id),
    offsetof(smi_memory_info, device_bytes),
    offsetof(smi_plugin_api, abi_minor),
    offsetof(smi_plugin_api, plugin_init),
    offsetof(smi_plugin_api, model_infer),
    offsetof(smi_plugin_api, model_cancel),
    offsetof(smi_plugin_api, model_generate),
    SMI_VERSION_MAJOR,
    SMI_VERSION_MINOR,
    SMI_MAX_RANK,
    SMI_DTYPE_STRING,
    SMI_ERROR_UNAVAILABLE,
    SMI_CAP_CANCEL,
    SMI_CAP_DEVICE_CUDA,
};

size_t smi_header_c_values(const uint64_t** values) {
  *values = kValues;
  return sizeof kValues / sizeof kValues[0];
}

static smi_error* c_infer(smi_model* model, const smi_infer_request* request) {
  (void)model;
  (void)request;
  return NULL;
}

static int c_alloc(void* user_data, const char* name, smi_dtype dtype, uint32_t rank,
                   const int64_t* dims, uint64_t byte_size, void** buffer) {
  (void)name;
  (void)dtype;
  (void)rank;
  (void)dims;
  (void)byte_size;
  *buffer = user_data;
  return 0;
}

/* Uses the types, the function-pointer typedefs and the inline helpers from C; 1 on success. */
int smi_header_c_calls(void) {
  smi_plugin_api api = {0};
  smi_string str = {"abc", 3};
  smi_tensor tensor = {0};
  smi_infer_request request = {0};
  smi_output_alloc_fn alloc = c_alloc;
  smi_plugin_get_api_fn get_api = NULL;
  void* buffer = NULL;
  tensor.size = sizeof tensor;
  tensor.dtype = SMI_DTYPE_STRING;
  tensor.rank = 1;
  tensor.dims[0] = 1;
  tensor.data = &str;
  tensor.byte_size = sizeof str;
  request.size = sizeof request;
  request.inputs = &tensor;
  request.input_count = 1;
  request.alloc = alloc;
  request.alloc_user_data = &str;
  api.model_infer = c_infer;
  if (api.model_infer(NULL, &request) != NULL) return 0;
  if (request.alloc(request.alloc_user_data, "y", SMI_DTYPE_FLOAT32, 1, tensor.dims, 4, &buffer) !=
          0 ||
      buffer != &str) {
    return 0;
  }
  if (smi_dtype_size(SMI_DTYPE_FLOAT64) != 8 || smi_dtype_size(SMI_DTYPE_BOOL) != 1 ||
      smi_dtype_size(SMI_DTYPE_STRING) != 0 || smi_dtype_size(SMI_DTYPE_INVALID) != 0) {
    return 0;
  }
  if (strcmp(smi_dtype_name(SMI_DTYPE_FLOAT32), "float32") != 0 ||
      strcmp(smi_dtype_name(SMI_DTYPE_BFLOAT16), "bfloat16") != 0 ||
      strcmp(smi_dtype_name(SMI_DTYPE_STRING), "string") != 0 ||
      strcmp(smi_dtype_name(SMI_DTYPE_INVALID), "invalid") != 0 ||
      strcmp(smi_dtype_name((smi_dtype)99), "invalid") != 0) {
    return 0;
  }
  return get_api == NULL;
}
