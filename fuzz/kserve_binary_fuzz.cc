// http::ParseKServeInferRequest with Triton's binary tensor extension: the first 4 bytes give the
// Inference-Header-Content-Length (possibly beyond the body), the rest is the body: JSON header,
// then the binary inputs. The body lies as the HTTP server lays it out: its binary part 64-byte
// aligned. Every binary input the parser accepts must point inside the body.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "api/http/kserve_codec.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlos::fuzz::Cursor in(mlos::fuzz::View(data, size));
  const uint32_t raw_length = in.U32();
  const std::string_view body = in.Rest();
  // Mostly a length inside the body (where the interesting cases are), sometimes any value.
  const uint64_t header_length =
      raw_length & 0x80000000u ? raw_length & 0x7fffffffu : raw_length % (body.size() + 1);
  const size_t pad = (64 - header_length % 64) % 64;
  auto buffer = std::make_unique<char[]>(pad + body.size() + 1);
  char* at = buffer.get() + pad;
  std::memcpy(at, body.data(), body.size());
  const std::string_view aligned(at, body.size());
  auto req = mlos::http::ParseKServeInferRequest(aligned, header_length);
  if (!req.ok()) return 0;
  for (const mlos::core::Tensor& t : req->inputs) {
    if (!t.external) continue;
    const char* p = static_cast<const char*>(t.external);
    if (p < at || t.external_size > body.size() || p + t.external_size > at + body.size()) {
      std::fprintf(stderr, "input '%s' points outside the body\n", t.name.c_str());
      std::abort();
    }
  }
  return 0;
}
