// axon::InspectOnnx (the ONNX graph reader that fills a manifest's spec.io) over arbitrary
// bytes written to a scratch file; a model it reads must give an IO schema.
#include <google/protobuf/stubs/logging.h>

#include "axon/inspect/onnx_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // malformed models are the point, not news
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mlos::fuzz::WriteScratchFile("model.onnx", mlos::fuzz::View(data, size));
  auto info = mlos::axon::InspectOnnx(path);
  if (info.ok()) (void)mlos::axon::OnnxIo(*info);
  return 0;
}
