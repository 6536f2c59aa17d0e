// The SMI header as C and as C++: the C11 translation unit (smi_header_c_test.c, built with
// -pedantic -Werror) must see exactly the layout C++ sees.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "mlos/smi.h"

extern "C" {
size_t smi_header_c_values(const uint64_t** values);
int smi_header_c_calls(void);
}

namespace {

struct Expected {
  const char* what;
  uint64_t value;
};

// Same order as kValues in smi_header_c_test.c.
const Expected kExpected[] = {
    {"sizeof(smi_tensor)", sizeof(smi_tensor)},
    {"sizeof(smi_string)", sizeof(smi_string)},
    {"sizeof(smi_plugin_info)", sizeof(smi_plugin_info)},
    {"sizeof(smi_model_load_params)", sizeof(smi_model_load_params)},
    {"sizeof(smi_infer_request)", sizeof(smi_infer_request)},
    {"sizeof(smi_generate_request)", sizeof(smi_generate_request)},
    {"sizeof(smi_memory_info)", sizeof(smi_memory_info)},
    {"sizeof(smi_plugin_api)", sizeof(smi_plugin_api)},
    {"sizeof(smi_dtype)", sizeof(smi_dtype)},
    {"sizeof(smi_error_code)", sizeof(smi_error_code)},
    {"offsetof(smi_tensor, dtype)", offsetof(smi_tensor, dtype)},
    {"offsetof(smi_tensor, rank)", offsetof(smi_tensor, rank)},
    {"offsetof(smi_tensor, dims)", offsetof(smi_tensor, dims)},
    {"offsetof(smi_tensor, data)", offsetof(smi_tensor, data)},
    {"offsetof(smi_tensor, byte_size)", offsetof(smi_tensor, byte_size)},
    {"offsetof(smi_plugin_info, execution_formats)", offsetof(smi_plugin_info, execution_formats)},
    {"offsetof(smi_plugin_info, capabilities)", offsetof(smi_plugin_info, capabilities)},
    {"offsetof(smi_model_load_params, cache_dir)", offsetof(smi_model_load_params, cache_dir)},
    {"offsetof(smi_infer_request, output_names)", offsetof(smi_infer_request, output_names)},
    {"offsetof(smi_infer_request, alloc)", offsetof(smi_infer_request, alloc)},
    {"offsetof(smi_infer_request, request_id)", offsetof(smi_infer_request, request_id)},
    {"offsetof(smi_generate_request, request_id)", offsetof(smi_generate_request, request_id)},
    {"offsetof(smi_memory_info, device_bytes)", offsetof(smi_memory_info, device_bytes)},
    {"offsetof(smi_plugin_api, abi_minor)", offsetof(smi_plugin_api, abi_minor)},
    {"offsetof(smi_plugin_api, plugin_init)", offsetof(smi_plugin_api, plugin_init)},
    {"offsetof(smi_plugin_api, model_infer)", offsetof(smi_plugin_api, model_infer)},
    {"offsetof(smi_plugin_api, model_cancel)", offsetof(smi_plugin_api, model_cancel)},
    {"offsetof(smi_plugin_api, model_generate)", offsetof(smi_plugin_api, model_generate)},
    {"SMI_VERSION_MAJOR", SMI_VERSION_MAJOR},
    {"SMI_VERSION_MINOR", SMI_VERSION_MINOR},
    {"SMI_MAX_RANK", SMI_MAX_RANK},
    {"SMI_DTYPE_STRING", SMI_DTYPE_STRING},
    {"SMI_ERROR_UNAVAILABLE", SMI_ERROR_UNAVAILABLE},
    {"SMI_CAP_CANCEL", SMI_CAP_CANCEL},
    {"SMI_CAP_DEVICE_CUDA", SMI_CAP_DEVICE_CUDA},
};

TEST(SmiHeaderTest, CAndCxxAgreeOnLayout) {
  const uint64_t* values = nullptr;
  const size_t n = smi_header_c_values(&values);
  ASSERT_EQ(n, std::size(kExpected));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(values[i], kExpected[i].value) << kExpected[i].what;
  }
}

TEST(SmiHeaderTest, CCodeUsesTheTypes) {
  EXPECT_EQ(smi_header_c_calls(), 1);
}

TEST(SmiHeaderTest, Version1Layout) {
  // The 1.0 layout is frozen: these are what every 1.x plugin and host rely on (LP64).
  EXPECT_EQ(sizeof(smi_tensor), 168u);
  EXPECT_EQ(offsetof(smi_tensor, dims), 24u);
  EXPECT_EQ(sizeof(smi_string), 16u);
  EXPECT_EQ(offsetof(smi_plugin_api, get_info), 16u);
  EXPECT_EQ(sizeof(smi_plugin_api), 16u + 16u * 8u);
  EXPECT_EQ(sizeof(smi_dtype), 4u);
}

TEST(SmiHeaderTest, DtypeSizes) {
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_FLOAT32), 4u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_FLOAT64), 8u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_FLOAT16), 2u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_BFLOAT16), 2u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_INT8), 1u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_UINT64), 8u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_BOOL), 1u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_STRING), 0u);
  EXPECT_EQ(smi_dtype_size(SMI_DTYPE_INVALID), 0u);
}

TEST(SmiHeaderTest, DtypeNamesAreTheManifestNames) {
  const struct {
    smi_dtype dtype;
    const char* name;
  } kNames[] = {
      {SMI_DTYPE_FLOAT32, "float32"}, {SMI_DTYPE_FLOAT64, "float64"},
      {SMI_DTYPE_FLOAT16, "float16"}, {SMI_DTYPE_BFLOAT16, "bfloat16"},
      {SMI_DTYPE_INT8, "int8"},       {SMI_DTYPE_INT16, "int16"},
      {SMI_DTYPE_INT32, "int32"},     {SMI_DTYPE_INT64, "int64"},
      {SMI_DTYPE_UINT8, "uint8"},     {SMI_DTYPE_UINT16, "uint16"},
      {SMI_DTYPE_UINT32, "uint32"},   {SMI_DTYPE_UINT64, "uint64"},
      {SMI_DTYPE_BOOL, "bool"},       {SMI_DTYPE_STRING, "string"},
  };
  for (const auto& [dtype, name] : kNames) {
    EXPECT_EQ(std::string(smi_dtype_name(dtype)), name) << static_cast<int>(dtype);
  }
  EXPECT_EQ(std::string(smi_dtype_name(SMI_DTYPE_INVALID)), "invalid");
  EXPECT_EQ(std::string(smi_dtype_name(static_cast<smi_dtype>(15))), "invalid");
  EXPECT_EQ(std::string(smi_dtype_name(static_cast<smi_dtype>(-1))), "invalid");
}

}  // namespace
