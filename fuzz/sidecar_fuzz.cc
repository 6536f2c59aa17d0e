// The hand-given IO schemas of axon install: the io.yaml sidecar (axon::ParseIoSidecar) and the
// --input/--output values (ParseTensorFlag, ParseShapeText). The first byte picks the parser.
#include "axon/inspect/sidecar_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text = mlos::fuzz::View(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)mlos::axon::ParseIoSidecar(std::string(text), "io.yaml");
      break;
    case 1:
      (void)mlos::axon::ParseTensorFlag("--input", text);
      break;
    default:
      (void)mlos::axon::ParseShapeText(text);
      break;
  }
  return 0;
}
