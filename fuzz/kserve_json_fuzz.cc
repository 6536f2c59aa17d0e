// http::ParseKServeInferRequest over an arbitrary JSON body (KServe v2 REST, no binary part).
#include "api/http/kserve_codec.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mlos::http::ParseKServeInferRequest(mlos::fuzz::View(data, size), std::nullopt);
  return 0;
}
