// axon::InspectTfliteBytes (the bounds-checked TFLite flatbuffer reader) over arbitrary bytes.
#include <span>

#include "axon/inspect/tflite_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto info = mlos::axon::InspectTfliteBytes(std::span<const uint8_t>(data, size));
  if (info.ok()) (void)mlos::axon::TfliteIo(*info);
  return 0;
}
