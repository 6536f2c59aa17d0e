// KServe Open Inference Protocol v2 (REST) request/response codec, with Triton's binary tensor
// data extension. Parses the wire format into native types at once (the core never sees JSON).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/common/request_options.h"
#include "common/status.h"
#include "core/core.h"
#include "service/service.h"

namespace mlos::http {

// A tensor in a registered shared-memory region (parameters shared_memory_region,
// shared_memory_offset (default 0), shared_memory_byte_size).
using KServeShmRef = service::ShmRef;

struct KServeOutputSpec {
  std::string name;
  std::optional<bool> binary;  // parameters.binary_data, when given
  std::optional<KServeShmRef> shm;  // written in place; the response carries no data for it
};

struct KServeInferRequest {
  std::string id;
  std::vector<core::Tensor> inputs;         // binary inputs point into the request body
  // Per input (same index): where its bytes are when it names a shared-memory region (the
  // tensor then has no data; the front-end resolves the region and sets Tensor::external).
  std::vector<std::optional<KServeShmRef>> input_shm;
  std::vector<KServeOutputSpec> outputs;    // empty: all outputs
  bool binary_output_default = false;       // parameters.binary_data_output
  // parameters.priority (integer), .timeout (integer microseconds), .keep_alive (a duration
  // string or a number of seconds), as api::ParseRequestParameter reads them.
  api::RequestOptions options;
};

// Parses an infer request. `body` is the whole HTTP body; with `header_length` set (the
// Inference-Header-Content-Length header) the first header_length bytes are the JSON and the
// rest holds the binary inputs, in input order, for inputs whose parameters carry
// binary_data_size. Binary numeric inputs are referenced (Tensor::external), not copied:
// `body` must outlive the returned request. BYTES elements are a 4-byte little-endian length
// followed by the bytes. Errors are kInvalidArgument naming the field or tensor.
Result<KServeInferRequest> ParseKServeInferRequest(std::string_view body,
                                                   std::optional<uint64_t> header_length);

// Writes the response into `out`. Outputs requested as binary (per output, or by
// binary_output_default) carry parameters.binary_data_size and their bytes follow the JSON;
// *header_length is then the JSON's size, else 0 (a plain JSON body).
// With `tail` set, binary outputs are not appended to `out`: their bytes are listed in `tail`,
// in order, as views of the response's tensors (BYTES outputs encoded into `blobs`), so the
// caller sends `out` then `tail` without copying; `response` and `blobs` must outlive the send.
void EncodeKServeInferResponse(const KServeInferRequest& request,
                               const core::InferResponse& response, std::string& out,
                               uint64_t* header_length,
                               std::vector<std::string_view>* tail = nullptr,
                               std::vector<std::string>* blobs = nullptr);

// The bytes of the binary outputs a response would carry (to choose between the two forms).
uint64_t KServeBinaryOutputBytes(const KServeInferRequest& request,
                                 const core::InferResponse& response);


}  // namespace mlos::http
