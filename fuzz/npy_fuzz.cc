// The tensor files of the mlos CLI and SDK (mlosd itself reads no .npy): client::DecodeNpy and
// DecodeJsonTensor. The first byte picks the parser (and, for JSON, the dtype hint). A .npy the
// decoder accepts must encode and decode again to the same dtype, shape and bytes.
#include <cstdio>
#include <cstdlib>

#include "client/tensor_file.h"
#include "fuzz/fuzz_util.h"

namespace {

void RoundTrip(const mlos::client::Tensor& t) {
  auto bytes = mlos::client::EncodeNpy(t);
  if (!bytes.ok()) return;  // a dtype .npy cannot hold
  auto again = mlos::client::DecodeNpy(*bytes);
  if (!again.ok() || again->dtype != t.dtype || again->shape != t.shape ||
      again->data != t.data) {
    std::fprintf(stderr, "npy round trip changed the tensor: %s\n",
                 again.ok() ? "different tensor" : again.status().ToString().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes = mlos::fuzz::View(data + 1, size - 1);
  static const char* const kHints[] = {"", "float32", "int64", "string", "bool", "float16"};
  const uint8_t sel = data[0];
  if (sel % 2 == 0) {
    auto t = mlos::client::DecodeNpy(bytes, "x");
    if (t.ok()) RoundTrip(*t);
  } else {
    (void)mlos::client::DecodeJsonTensor(bytes, "x", kHints[(sel / 2) % 6]);
  }
  return 0;
}
