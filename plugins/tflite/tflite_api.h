// The TensorFlow Lite 2.9 C API as this plugin uses it: the shipped headers (c_api.h, common.h)
// plus the exported functions they do not declare.
//
// libtensorflowlite_c.so (2.9.0, from tfjs-tflite-node) exports the XNNPACK delegate, but its
// header (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h) is not shipped, so the two
// functions used here are declared below. Their options struct changed across 2.x releases
// (2.9.1: {int32_t num_threads; uint32_t flags; void* weights_cache;}); the plugin passes a
// zero-initialised XnnpackOptions whose known prefix matches that layout and whose trailing
// reserved bytes stay zero, so a library that reads a field or two more sees zeros (the
// library's defaults: no flags, no weights cache). TfLiteXNNPackDelegateOptionsDefault is not
// used: it returns the struct by value, and a by-value return of an unknown layout cannot be
// called safely.
#pragma once

#include <cstdint>

#include <tensorflow/lite/c/c_api.h>
#include <tensorflow/lite/c/common.h>

namespace mlos::tflite_plugin {

// The known prefix of TfLiteXNNPackDelegateOptions, then reserved space (always zero).
struct XnnpackOptions {
  int32_t num_threads = 0;  // 0 or 1: run on the calling thread
  uint32_t flags = 0;
  void* weights_cache = nullptr;
  uint8_t reserved[128] = {};
};

// TfLiteType values the 2.9 library knows but its c_api_types.h lacks: the library's
// TfLiteTypeGetName(17) is "UINT16" (checked before the value is trusted).
inline constexpr int kTfLiteTypeUInt16 = 17;

}  // namespace mlos::tflite_plugin

extern "C" {
// Exported by libtensorflowlite_c.so 2.9.0, declared in no shipped header.
TfLiteDelegate* TfLiteXNNPackDelegateCreate(const mlos::tflite_plugin::XnnpackOptions* options);
void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);
}
