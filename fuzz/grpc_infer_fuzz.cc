// The gRPC front-end's request translation from the bytes of a KServe v2 ModelInferRequest:
// wire::ParseWithRawField (raw_input_contents read around protobuf, the message split into
// gRPC slices at points the first byte picks) then grpcapi::ParseModelInferRequest, as the
// server's ModelInfer does; and the plain protobuf parse followed by the same translation.
// Every raw view must lie inside the pooled buffer, and both paths must agree on the inputs.
#include <google/protobuf/stubs/logging.h>
#include <grpc/grpc.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdio>
#include <cstdlib>

#include "api/grpc/infer_codec.h"
#include "fuzz/fuzz_util.h"
#include "wire/grpc_raw.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "grpc_infer_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  grpc_init();
  google::protobuf::SetLogHandler(nullptr);  // malformed messages are the point, not news
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t split = data[0];
  const std::string_view msg = mlos::fuzz::View(data + 1, size - 1);
  // Up to 4 slices: boundaries at multiples of (split % 61 + 1) bytes.
  std::vector<grpc::Slice> slices;
  const size_t step = split % 61 + 1;
  size_t at = 0;
  for (int i = 0; i < 3 && at + step < msg.size() && (split & 0x80); ++i, at += step) {
    slices.emplace_back(msg.data() + at, step);
  }
  slices.emplace_back(msg.data() + at, msg.size() - at);
  grpc::ByteBuffer bytes(slices.data(), slices.size());

  inference::ModelInferRequest req;
  mlos::Buffer raw;
  std::vector<std::string_view> views;
  mlos::Status st = mlos::wire::ParseWithRawField(bytes, mlos::wire::kRawInputContentsField, req,
                                                  raw, views);
  inference::ModelInferRequest plain;
  const bool plain_ok = plain.ParseFromArray(msg.data(), static_cast<int>(msg.size()));
  // ParseWithRawField must read whatever protobuf reads. It may accept a little more: a tag whose
  // varint overflows 32 bits is truncated by CodedInputStream::ReadTag and kept as an unknown
  // field, where protobuf's parser refuses the message.
  if (plain_ok && !st.ok()) Fail("ParseWithRawField refuses a message protobuf reads");
  if (!st.ok() || !plain_ok) return 0;
  if (views.size() != static_cast<size_t>(plain.raw_input_contents_size())) {
    Fail("raw entry count differs from protobuf's");
  }
  for (size_t i = 0; i < views.size(); ++i) {
    const char* base = reinterpret_cast<const char*>(raw.data());
    if (!views[i].empty() &&
        (views[i].data() < base || views[i].data() + views[i].size() > base + raw.size())) {
      Fail("a raw view lies outside the buffer");
    }
    if (views[i] != plain.raw_input_contents(static_cast<int>(i))) Fail("raw entry differs");
  }
  mlos::grpcapi::ParsedInfer parsed;
  const mlos::Status a = mlos::grpcapi::ParseModelInferRequest(req, parsed, &views);
  mlos::grpcapi::ParsedInfer parsed_plain;
  const mlos::Status b = mlos::grpcapi::ParseModelInferRequest(plain, parsed_plain);
  if (a.ok() != b.ok()) Fail("the raw and plain translations disagree");
  if (a.ok() && parsed.call.inputs.size() != parsed_plain.call.inputs.size()) {
    Fail("the raw and plain translations give different inputs");
  }
  return 0;
}
