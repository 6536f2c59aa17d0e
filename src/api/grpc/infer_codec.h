// KServe v2 gRPC ModelInferRequest / ModelInferResponse <-> service::InferCall / InferResult.
// Parses at the edge: typed contents (InferTensorContents) and raw_input_contents become
// core::Tensor (raw inputs referenced, not copied, so the request message must outlive the
// call); shared-memory parameters become ShmRefs the service binds. Error messages follow the
// HTTP front-end's (kInvalidArgument naming the field or tensor).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/common/request_options.h"
#include "common/buffer.h"
#include "common/status.h"
#include "core/core.h"
#include "service/service.h"
#include "grpc_service.pb.h"

namespace mlos::grpcapi {

using service::ShmRef;

struct OutputSpec {
  std::string name;
  std::optional<bool> binary;  // parameters.binary_data
  std::optional<ShmRef> shm;   // write into this region
};

// A decoded request. Must not move once parsed: the call's inline_allocator points into it.
struct ParsedInfer {
  service::InferCall call;
  // The request's parameters "priority" (int64), "timeout" (int64 microseconds) and
  // "keep_alive" (string duration, or int64 / double seconds).
  api::RequestOptions options;
  std::vector<OutputSpec> outputs;  // empty: all, raw
  // The strings the model writes inline outputs into; each becomes a raw_output_contents entry
  // of the response without a copy.
  std::vector<std::unique_ptr<std::string>> raw;
  // The raw wire form (ParseModelInferRequest with raw_contents): the pooled buffers the model
  // writes inline outputs into.
  std::vector<Buffer> buffers;
};

// "ns/name" + version -> the id the service understands ("ns/name@version").
std::string ModelIdOf(const std::string& name, const std::string& version);

// Fills `out` from `req` (inputs reference req's raw contents: req must outlive the call).
// With `raw_contents` set, those are the raw_input_contents entries (read around the message by
// wire::ParseWithRawField; they must outlive the call) and inline outputs go to out.buffers.
Status ParseModelInferRequest(const inference::ModelInferRequest& req, ParsedInfer& out,
                              const std::vector<std::string_view>* raw_contents = nullptr);

// Outputs answer raw (raw_output_contents, as Triton does) unless an output asked for
// binary_data=false (then typed contents, when every output's dtype has a typed field).
// Shared-memory outputs carry their parameters and no data.
void EncodeModelInferResponse(const inference::ModelInferRequest& req, ParsedInfer& parsed,
                              const service::InferResult& result,
                              inference::ModelInferResponse* out);

// The raw wire form of the answer: `out` gets every field but raw_output_contents, whose entries
// are listed in `pieces` (views of parsed.buffers where the model wrote them, else of `blobs`),
// for wire::SerializeWithRawField.
void EncodeModelInferResponsePieces(const inference::ModelInferRequest& req, ParsedInfer& parsed,
                                    const service::InferResult& result,
                                    inference::ModelInferResponse* out,
                                    std::vector<std::string_view>* pieces,
                                    std::vector<std::string>* blobs);

}  // namespace mlos::grpcapi
