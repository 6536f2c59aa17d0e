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
#include <vector>

#include "api/common/request_options.h"
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
};

// "ns/name" + version -> the id the service understands ("ns/name@version").
std::string ModelIdOf(const std::string& name, const std::string& version);

// Fills `out` from `req` (inputs reference req's raw contents: req must outlive the call).
Status ParseModelInferRequest(const inference::ModelInferRequest& req, ParsedInfer& out);

// Outputs answer raw (raw_output_contents, as Triton does) unless an output asked for
// binary_data=false (then typed contents, when every output's dtype has a typed field).
// Shared-memory outputs carry their parameters and no data.
void EncodeModelInferResponse(const inference::ModelInferRequest& req, ParsedInfer& parsed,
                              const service::InferResult& result,
                              inference::ModelInferResponse* out);

}  // namespace mlos::grpcapi
