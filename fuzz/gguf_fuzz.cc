// axon::InspectGguf (header, metadata and tensor table) over arbitrary bytes written to a
// scratch file, then what the installer derives from it (gguf_llm.h: spec.llm and spec.io).
#include "axon/inspect/gguf.h"
#include "axon/inspect/gguf_llm.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mlos::fuzz::WriteScratchFile("model.gguf", mlos::fuzz::View(data, size));
  auto info = mlos::axon::InspectGguf(path);
  if (!info.ok()) return 0;
  (void)mlos::axon::GgufTensorElements(*info);
  (void)mlos::axon::GgufQuantization(*info);
  (void)mlos::axon::LlmIo(mlos::axon::LlmFromGguf(*info));
  return 0;
}
