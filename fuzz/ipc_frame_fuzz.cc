// The IPC protocol's frame decoding (wire/ipc_protocol.h): DecodeHeader over the first 24 bytes,
// then DecodeInferRequest and DecodeInferResponse over the rest as a payload. A request that
// decodes must encode (EncodeInferRequest) to bytes that decode to the same request, and
// GatherInferRequest must give those same bytes in pieces; likewise for responses.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "wire/ipc_protocol.h"

namespace {

using namespace mlos::ipc;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ipc_frame_fuzz: %s\n", what);
  std::abort();
}

bool SameTensors(const std::vector<WireTensor>& a, const std::vector<WireTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].dtype != b[i].dtype || a[i].shape != b[i].shape ||
        a[i].placement != b[i].placement || a[i].data != b[i].data ||
        a[i].region != b[i].region || a[i].offset != b[i].offset ||
        a[i].byte_size != b[i].byte_size) {
      return false;
    }
  }
  return true;
}

std::string Joined(const GatherPayload& g) {
  std::string out;
  for (std::string_view p : g.Parts()) out.append(p);
  return out;
}

void CheckRequest(const InferRequestMsg& m) {
  std::string bytes;
  EncodeInferRequest(m, bytes);
  auto again = DecodeInferRequest(bytes);
  if (!again.ok()) Fail("an encoded request does not decode");
  if (again->model != m.model || again->version != m.version ||
      again->timeout_us != m.timeout_us || !SameTensors(again->inputs, m.inputs) ||
      again->outputs.size() != m.outputs.size() || again->priority != m.priority ||
      again->keep_alive_ms != m.keep_alive_ms) {
    Fail("a request changed in a round trip");
  }
  GatherPayload g;
  GatherInferRequest(m, g);
  if (Joined(g) != bytes || g.size() != bytes.size()) Fail("gathered request bytes differ");
}

void CheckResponse(const InferResponseMsg& m) {
  std::string bytes;
  EncodeInferResponse(m, bytes);
  auto again = DecodeInferResponse(bytes);
  if (!again.ok()) Fail("an encoded response does not decode");
  if (again->model_id != m.model_id || again->queue_time_us != m.queue_time_us ||
      again->inference_time_us != m.inference_time_us || !SameTensors(again->outputs, m.outputs)) {
    Fail("a response changed in a round trip");
  }
  GatherPayload g;
  GatherInferResponse(m, g);
  if (Joined(g) != bytes || g.size() != bytes.size()) Fail("gathered response bytes differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= kHeaderSize) {
    auto h = DecodeHeader(data, static_cast<uint32_t>(size));
    if (h.ok()) {
      uint8_t out[kHeaderSize];
      EncodeHeader(*h, out);
      if (std::memcmp(out, data, kHeaderSize) != 0) Fail("a header changed in a round trip");
    }
  }
  // The payload is copied so that it is 8-byte aligned, as RecvFrame's buffers are.
  const std::string payload(mlos::fuzz::View(data, size));
  if (auto req = DecodeInferRequest(payload); req.ok()) CheckRequest(*req);
  if (auto res = DecodeInferResponse(payload); res.ok()) CheckResponse(*res);
  return 0;
}
