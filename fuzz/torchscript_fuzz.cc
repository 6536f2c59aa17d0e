// axon::IsTorchScriptArchive (a zip's end record and central directory) over arbitrary bytes
// written to a scratch file.
#include "axon/inspect/torchscript_archive.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mlos::fuzz::WriteScratchFile("model.pt", mlos::fuzz::View(data, size));
  (void)mlos::axon::IsTorchScriptArchive(path);
  return 0;
}
