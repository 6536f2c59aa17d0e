// The gRPC transport's conversions between the KServe v2 / mlos.v1 protobuf messages and the
// SDK's types (include/mlos/client.h): status codes, ids, model and token documents, request
// parameters, typed tensor contents.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "client/internal.h"
#include "grpc_service.pb.h"
#include "mlos_management.pb.h"

namespace mlos::client::internal {

using InferParams = google::protobuf::Map<std::string, inference::InferParameter>;

// `url`: the server as the caller wrote it ("grpc://host:port"), for transport failures.
Status FromGrpc(const grpc::Status& s, const std::string& url);
// "ns/name@ver" -> {"ns/name", "ver"}.
std::pair<std::string, std::string> SplitId(const std::string& id);
// Tensor metadata of either message family (mlos.v1 has `dtype`, KServe `datatype`).
template <typename Repeated>
std::vector<TensorInfo> Infos(const Repeated& r) {
  std::vector<TensorInfo> out;
  for (const auto& t : r) {
    TensorInfo i;
    i.name = t.name();
    i.shape.assign(t.shape().begin(), t.shape().end());
    if constexpr (requires { t.dtype(); }) {
      i.dtype = t.dtype();
    } else {
      i.dtype = DtypeFromKServe(t.datatype());
      if (i.dtype.empty()) i.dtype = t.datatype();
    }
    out.push_back(std::move(i));
  }
  return out;
}

TokenInfo FromProto(const mlos::v1::TokenInfo& t);
ModelInfo FromProto(const mlos::v1::ModelStatus& m);
// InferOptions as the request's parameters: priority (int64), timeout (int64 microseconds),
// keep_alive (string); only those that are set.
void SetOptions(const InferOptions& o, InferParams* params);
void SetShm(const ShmRef& ref, InferParams* params);
uint64_t UIntParam(const inference::InferParameter& p);
// Typed contents (a server may answer so) into bytes.
void FromContents(const inference::InferTensorContents& c, Tensor& t);

}  // namespace mlos::client::internal
