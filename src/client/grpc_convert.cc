// Conversions between the KServe / mlos.v1 protobuf messages and the SDK's types (see
// grpc_convert.h).
#include "client/grpc_convert.h"

#include <chrono>
#include <cstring>

namespace mlos::client::internal {
namespace {

template <typename T, typename Src>
void AppendAll(std::vector<uint8_t>& out, const Src& src) {
  for (auto v : src) {
    const T x = static_cast<T>(v);
    uint8_t b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
}

}  // namespace

Status FromGrpc(const grpc::Status& s, const std::string& url) {
  if (s.ok()) return Status::Ok();
  StatusCode code = StatusCode::kInternal;
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: code = StatusCode::kInvalidArgument; break;
    case grpc::StatusCode::NOT_FOUND: code = StatusCode::kNotFound; break;
    case grpc::StatusCode::ALREADY_EXISTS: code = StatusCode::kAlreadyExists; break;
    case grpc::StatusCode::FAILED_PRECONDITION: code = StatusCode::kFailedPrecondition; break;
    case grpc::StatusCode::PERMISSION_DENIED: code = StatusCode::kPermissionDenied; break;
    case grpc::StatusCode::UNAUTHENTICATED: code = StatusCode::kUnauthenticated; break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: code = StatusCode::kResourceExhausted; break;
    case grpc::StatusCode::DATA_LOSS: code = StatusCode::kDataLoss; break;
    case grpc::StatusCode::UNAVAILABLE: code = StatusCode::kUnavailable; break;
    case grpc::StatusCode::DEADLINE_EXCEEDED: code = StatusCode::kDeadlineExceeded; break;
    case grpc::StatusCode::CANCELLED: code = StatusCode::kCancelled; break;
    case grpc::StatusCode::UNIMPLEMENTED: code = StatusCode::kUnimplemented; break;
    default: break;
  }
  std::string msg = s.error_message();
  // Transport failures (nothing listening, connection lost) name the server; the daemon's own
  // UNAVAILABLE answers (a model not ready) pass through unchanged.
  const bool transport = msg.find("connect") != std::string::npos ||
                         msg.find("Socket closed") != std::string::npos ||
                         msg.find("DNS") != std::string::npos;
  if (code == StatusCode::kUnavailable && transport) {
    msg = "cannot reach mlosd at " + url + ": " + msg;
  }
  return Status(code, msg);
}

std::pair<std::string, std::string> SplitId(const std::string& id) {
  const size_t at = id.rfind('@');
  if (at == std::string::npos) return {id, ""};
  return {id.substr(0, at), id.substr(at + 1)};
}

TokenInfo FromProto(const mlos::v1::TokenInfo& t) {
  TokenInfo i;
  i.name = t.name();
  i.role = t.role();
  i.models.assign(t.models().begin(), t.models().end());
  i.created_at = t.created_at();
  i.expires_at = t.expires_at();
  i.last_used_at = t.last_used_at();
  i.revoked_at = t.revoked_at();
  return i;
}

ModelInfo FromProto(const mlos::v1::ModelStatus& m) {
  ModelInfo i;
  i.id = m.id();
  i.name = m.name();
  i.version = m.version();
  i.state = m.state();
  i.reason = m.reason();
  i.framework = m.framework();
  i.execution_format = m.execution_format();
  i.plugin = m.plugin();
  i.path = m.path();
  i.description = m.description();
  i.is_default = m.is_default();
  i.aliases.assign(m.aliases().begin(), m.aliases().end());
  i.desired_loaded = m.desired_loaded();
  i.memory_bytes = m.memory_bytes();
  i.load_time_ms = m.load_time_ms();
  i.shared_memory_bytes = m.shared_memory_bytes();
  i.memory_estimate_bytes = m.memory_estimate_bytes();
  i.load_kind = m.load_kind();
  i.pinned = m.pinned();
  i.keep_alive_ms = m.keep_alive_ms();
  i.priority = m.priority();
  i.last_used_unix_ms = m.last_used_unix_ms();
  i.evictions = m.evictions();
  i.unload_reason = m.unload_reason();
  if (!m.isolation().empty()) i.isolation = m.isolation();  // an older server: in_process
  i.worker_pid = m.worker_pid();
  i.worker_state = m.worker_state();
  i.worker_restarts = m.worker_restarts();
  i.last_crash = m.last_crash();
  i.inputs = Infos(m.inputs());
  i.outputs = Infos(m.outputs());
  i.dependencies.assign(m.dependencies().begin(), m.dependencies().end());
  return i;
}

void SetOptions(const InferOptions& o,
                google::protobuf::Map<std::string, inference::InferParameter>* params) {
  if (o.priority > 0) (*params)["priority"].set_int64_param(o.priority);
  if (o.timeout.count() > 0) {
    (*params)["timeout"].set_int64_param(
        std::chrono::duration_cast<std::chrono::microseconds>(o.timeout).count());
  }
  if (o.keep_alive) (*params)["keep_alive"].set_string_param(KeepAliveText(*o.keep_alive));
}

void SetShm(const ShmRef& ref,
            google::protobuf::Map<std::string, inference::InferParameter>* params) {
  (*params)["shared_memory_region"].set_string_param(ref.region);
  (*params)["shared_memory_offset"].set_int64_param(static_cast<int64_t>(ref.offset));
  (*params)["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(ref.byte_size));
}

uint64_t UIntParam(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param: return static_cast<uint64_t>(p.int64_param());
    case inference::InferParameter::kUint64Param: return p.uint64_param();
    default: return 0;
  }
}

void FromContents(const inference::InferTensorContents& c, Tensor& t) {
  const std::string& d = t.dtype;
  if (d == "float32") AppendAll<float>(t.data, c.fp32_contents());
  else if (d == "float64") AppendAll<double>(t.data, c.fp64_contents());
  else if (d == "bool") AppendAll<uint8_t>(t.data, c.bool_contents());
  else if (d == "int8") AppendAll<int8_t>(t.data, c.int_contents());
  else if (d == "int16") AppendAll<int16_t>(t.data, c.int_contents());
  else if (d == "int32") AppendAll<int32_t>(t.data, c.int_contents());
  else if (d == "int64") AppendAll<int64_t>(t.data, c.int64_contents());
  else if (d == "uint8") AppendAll<uint8_t>(t.data, c.uint_contents());
  else if (d == "uint16") AppendAll<uint16_t>(t.data, c.uint_contents());
  else if (d == "uint32") AppendAll<uint32_t>(t.data, c.uint_contents());
  else if (d == "uint64") AppendAll<uint64_t>(t.data, c.uint64_contents());
  else if (d == "string") t.strings.assign(c.bytes_contents().begin(), c.bytes_contents().end());
}

}  // namespace mlos::client::internal
