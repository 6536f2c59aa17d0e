// The TFLite plugin's own model reader (tflite_plugin::ReadModelBytes: shape signatures and the
// activation estimate, read from the FlatBuffer beside the TFLite library) over arbitrary bytes.
#include <span>

#include "fuzz/fuzz_util.h"
#include "plugins/tflite/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlos::tflite_plugin::ModelFileInfo info;
  (void)mlos::tflite_plugin::ReadModelBytes(std::span<const uint8_t>(data, size), &info);
  return 0;
}
