// KServe v2 gRPC ModelInferRequest / ModelInferResponse <-> core::InferRequest / InferResponse.
// Parses at the edge: typed contents (InferTensorContents), raw_input_contents and
// shared-memory inputs become core::Tensor; raw inputs and shared-memory views are referenced,
// not copied, so the request message (and ParsedInfer) must outlive the core call. Error
// messages follow the HTTP front-end's (kInvalidArgument naming the field or tensor).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/shm/shm_registry.h"
#include "common/status.h"
#include "core/core.h"
#include "grpc_service.pb.h"

namespace mlos::grpcapi {

struct ShmRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

struct OutputSpec {
  std::string name;
  std::optional<bool> binary;  // parameters.binary_data
  std::optional<ShmRef> shm;   // write into this region
};

// Where the model writes its outputs (the core's output_allocator): shared-memory regions for
// the outputs that name one, else strings that become the response's raw_output_contents.
struct OutputSink {
  api::ShmRegistry* shm = nullptr;
  std::vector<OutputSpec> specs;                  // set when an output goes to shared memory
  std::vector<std::shared_ptr<void>> keepalive;   // mappings in use
  std::vector<std::unique_ptr<std::string>> raw;  // the other outputs' bytes

  // The string `t` was written into (ownership passes to the caller), or null.
  std::string* Take(const core::Tensor& t);
};

struct ParsedInfer {
  core::InferRequest request;
  std::vector<OutputSpec> outputs;               // empty: all, raw
  std::vector<std::shared_ptr<void>> keepalive;  // input mappings in use
  std::shared_ptr<OutputSink> sink;  // set unless outputs answer typed with none in shared memory
};

// "ns/name" + version -> the id core::Get understands ("ns/name@version").
std::string ModelIdOf(const std::string& name, const std::string& version);

// Fills `out` from `req`. `shm` may be null (shared-memory parameters then fail).
Status ParseModelInferRequest(const inference::ModelInferRequest& req, api::ShmRegistry* shm,
                              ParsedInfer& out);

// Outputs answer raw (raw_output_contents, as Triton does) unless an output asked for
// binary_data=false (then typed contents, when every output's dtype has a typed field).
// Shared-memory outputs carry their parameters and no data.
void EncodeModelInferResponse(const inference::ModelInferRequest& req, const ParsedInfer& parsed,
                              const core::InferResponse& response,
                              inference::ModelInferResponse* out);

}  // namespace mlos::grpcapi
