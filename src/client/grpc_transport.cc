// gRPC transport: KServe v2 GRPCInferenceService for health, metadata, inference (raw tensor
// contents both ways) and system shared memory; mlos.v1.Management for the rest. Uses the stubs
// mlos_grpc_proto generates from proto/*.proto. One channel per client (HTTP/2 multiplexes
// concurrent calls), so the client is thread-safe.
#include <grpcpp/grpcpp.h>

#include <cstring>

#include "client/internal.h"
#include "grpc_service.grpc.pb.h"
#include "mlos_management.grpc.pb.h"

namespace mlos::client::internal {
namespace {

Status FromGrpc(const grpc::Status& s, const std::string& target) {
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
    msg = "cannot reach mlosd at grpc://" + target + ": " + msg;
  }
  return Status(code, msg);
}

// "ns/name@ver" -> {"ns/name", "ver"}.
std::pair<std::string, std::string> SplitId(const std::string& id) {
  const size_t at = id.rfind('@');
  if (at == std::string::npos) return {id, ""};
  return {id.substr(0, at), id.substr(at + 1)};
}

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
  i.desired_loaded = m.desired_loaded();
  i.memory_bytes = m.memory_bytes();
  i.load_time_ms = m.load_time_ms();
  i.inputs = Infos(m.inputs());
  i.outputs = Infos(m.outputs());
  return i;
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

template <typename T, typename Src>
void AppendAll(std::vector<uint8_t>& out, const Src& src) {
  for (auto v : src) {
    const T x = static_cast<T>(v);
    uint8_t b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
}

// Typed contents (a server may answer so) into bytes.
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

class GrpcClient final : public Client {
 public:
  GrpcClient(Endpoint ep, ClientOptions options, std::shared_ptr<grpc::Channel> channel)
      : ep_(std::move(ep)),
        options_(std::move(options)),
        target_(ep_.ToString().substr(7)),
        infer_(inference::GRPCInferenceService::NewStub(channel)),
        mgmt_(mlos::v1::Management::NewStub(channel)) {}

  const Endpoint& endpoint() const override { return ep_; }

  Result<bool> Live() override {
    inference::ServerLiveRequest req;
    inference::ServerLiveResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ServerLive(ctx.get(), req, &res), target_));
    return res.live();
  }
  Result<bool> Ready() override {
    inference::ServerReadyRequest req;
    inference::ServerReadyResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ServerReady(ctx.get(), req, &res), target_));
    return res.ready();
  }
  Result<bool> ModelReady(const std::string& model) override {
    inference::ModelReadyRequest req;
    auto [name, version] = SplitId(model);
    req.set_name(name);
    req.set_version(version);
    inference::ModelReadyResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ModelReady(ctx.get(), req, &res), target_));
    return res.ready();
  }
  Result<ServerMetadata> GetServerMetadata() override {
    inference::ServerMetadataRequest req;
    inference::ServerMetadataResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ServerMetadata(ctx.get(), req, &res), target_));
    ServerMetadata m;
    m.name = res.name();
    m.version = res.version();
    m.extensions.assign(res.extensions().begin(), res.extensions().end());
    return m;
  }
  Result<ModelMetadata> GetModelMetadata(const std::string& model) override {
    inference::ModelMetadataRequest req;
    auto [name, version] = SplitId(model);
    req.set_name(name);
    req.set_version(version);
    inference::ModelMetadataResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ModelMetadata(ctx.get(), req, &res), target_));
    ModelMetadata m;
    m.name = res.name();
    m.versions.assign(res.versions().begin(), res.versions().end());
    m.platform = res.platform();
    m.inputs = Infos(res.inputs());
    m.outputs = Infos(res.outputs());
    return m;
  }

  Result<std::vector<ModelInfo>> ListModels() override {
    mlos::v1::ListRequest req;
    mlos::v1::ListResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(mgmt_->List(ctx.get(), req, &res), target_));
    std::vector<ModelInfo> out;
    for (const auto& m : res.models()) out.push_back(FromProto(m));
    return out;
  }
  Result<ModelInfo> GetModel(const std::string& id) override {
    return ModelCall(&mlos::v1::Management::Stub::Get, id);
  }
  Result<ModelInfo> Register(const RegisterRequest& r) override {
    mlos::v1::RegisterRequest req;
    req.set_model_id(r.model_id);
    req.set_name(r.name);
    req.set_framework(r.framework);
    req.set_execution_format(r.execution_format);
    req.set_path(r.path);
    req.set_description(r.description);
    req.set_manifest_path(r.manifest_path);
    mlos::v1::RegisterResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(mgmt_->Register(ctx.get(), req, &res), target_));
    return FromProto(res.model());
  }
  Result<ModelInfo> Load(const std::string& id) override {
    return ModelCall(&mlos::v1::Management::Stub::Load, id);
  }
  Result<ModelInfo> Unload(const std::string& id) override {
    return ModelCall(&mlos::v1::Management::Stub::Unload, id);
  }
  Result<ModelInfo> Rollback(const std::string& name) override {
    return ModelCall(&mlos::v1::Management::Stub::Rollback, name);
  }
  Status Unregister(const std::string& id) override {
    mlos::v1::ModelRequest req;
    req.set_id(id);
    mlos::v1::UnregisterResponse res;
    auto ctx = Context();
    return FromGrpc(mgmt_->Unregister(ctx.get(), req, &res), target_);
  }
  Result<std::vector<PluginInfo>> ListPlugins() override {
    mlos::v1::PluginsRequest req;
    mlos::v1::PluginsResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(mgmt_->Plugins(ctx.get(), req, &res), target_));
    std::vector<PluginInfo> out;
    for (const auto& p : res.plugins()) {
      PluginInfo i;
      i.name = p.name();
      i.version = p.version();
      i.framework = p.framework();
      i.execution_formats.assign(p.execution_formats().begin(), p.execution_formats().end());
      i.capabilities.assign(p.capabilities().begin(), p.capabilities().end());
      i.path = p.path();
      out.push_back(std::move(i));
    }
    return out;
  }

  Result<InferResult> Infer(const InferRequest& r) override {
    inference::ModelInferRequest req;
    if (r.version.empty()) {
      auto [name, version] = SplitId(r.model);
      req.set_model_name(name);
      req.set_model_version(version);
    } else {
      req.set_model_name(r.model);
      req.set_model_version(r.version);
    }
    req.set_id(r.id);
    for (const Tensor& t : r.inputs) {
      MLOS_RETURN_IF_ERROR(CheckTensor(t));
      auto* in = req.add_inputs();
      in->set_name(t.name);
      in->set_datatype(KServeDtype(t.dtype));
      in->mutable_shape()->Add(t.shape.begin(), t.shape.end());
      if (t.shm.used()) {
        SetShm(t.shm, in->mutable_parameters());
      } else if (t.dtype == "string") {
        *req.add_raw_input_contents() = SerializeBytes(t);
      } else {
        req.add_raw_input_contents()->assign(reinterpret_cast<const char*>(t.data.data()),
                                             t.data.size());
      }
    }
    for (const OutputSpec& o : r.outputs) {
      auto* out = req.add_outputs();
      out->set_name(o.name);
      if (o.shm.used()) SetShm(o.shm, out->mutable_parameters());
    }
    inference::ModelInferResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->ModelInfer(ctx.get(), req, &res), target_));
    InferResult result;
    result.model_name = res.model_name();
    result.model_version = res.model_version();
    result.id = res.id();
    const bool raw = res.raw_output_contents_size() > 0;
    if (raw && res.raw_output_contents_size() != res.outputs_size()) {
      return Internal("gRPC infer response: " + std::to_string(res.raw_output_contents_size()) +
                      " raw contents for " + std::to_string(res.outputs_size()) + " outputs");
    }
    for (int i = 0; i < res.outputs_size(); ++i) {
      const auto& o = res.outputs(i);
      Tensor t;
      t.name = o.name();
      t.dtype = DtypeFromKServe(o.datatype());
      t.shape.assign(o.shape().begin(), o.shape().end());
      if (auto it = o.parameters().find("shared_memory_region"); it != o.parameters().end()) {
        t.shm.region = it->second.string_param();
        if (auto off = o.parameters().find("shared_memory_offset"); off != o.parameters().end()) {
          t.shm.offset = UIntParam(off->second);
        }
        if (auto sz = o.parameters().find("shared_memory_byte_size");
            sz != o.parameters().end()) {
          t.shm.byte_size = UIntParam(sz->second);
        }
      } else if (raw) {
        MLOS_RETURN_IF_ERROR(DeserializeBytes(res.raw_output_contents(i), t));
      } else {
        FromContents(o.contents(), t);
      }
      result.outputs.push_back(std::move(t));
    }
    return result;
  }

  Status RegisterSharedMemory(const std::string& region, const SharedMemory& memory,
                              uint64_t offset, uint64_t byte_size) override {
    if (!memory.is_system()) {
      return InvalidArgument("a memfd region can only be registered over IPC (unix://); use "
                             "SharedMemory::CreateSystem over gRPC");
    }
    inference::SystemSharedMemoryRegisterRequest req;
    req.set_name(region);
    req.set_key(memory.key());
    req.set_offset(offset);
    req.set_byte_size(byte_size);
    inference::SystemSharedMemoryRegisterResponse res;
    auto ctx = Context();
    return FromGrpc(infer_->SystemSharedMemoryRegister(ctx.get(), req, &res), target_);
  }
  Status UnregisterSharedMemory(const std::string& region) override {
    inference::SystemSharedMemoryUnregisterRequest req;
    req.set_name(region);
    inference::SystemSharedMemoryUnregisterResponse res;
    auto ctx = Context();
    return FromGrpc(infer_->SystemSharedMemoryUnregister(ctx.get(), req, &res), target_);
  }
  Result<std::vector<ShmRegionInfo>> SharedMemoryStatus(const std::string& region) override {
    inference::SystemSharedMemoryStatusRequest req;
    req.set_name(region);
    inference::SystemSharedMemoryStatusResponse res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc(infer_->SystemSharedMemoryStatus(ctx.get(), req, &res), target_));
    std::vector<ShmRegionInfo> out;
    for (const auto& [name, s] : res.regions()) {
      ShmRegionInfo i;
      i.name = s.name().empty() ? name : s.name();
      i.key = s.key();
      i.offset = s.offset();
      i.byte_size = s.byte_size();
      out.push_back(std::move(i));
    }
    return out;
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + options_.timeout);
    if (!options_.bearer_token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + options_.bearer_token);
    }
    return ctx;
  }

  using ModelMethod = grpc::Status (mlos::v1::Management::Stub::*)(
      grpc::ClientContext*, const mlos::v1::ModelRequest&, mlos::v1::ModelStatus*);
  Result<ModelInfo> ModelCall(ModelMethod method, const std::string& id) {
    mlos::v1::ModelRequest req;
    req.set_id(id);
    mlos::v1::ModelStatus res;
    auto ctx = Context();
    MLOS_RETURN_IF_ERROR(FromGrpc((mgmt_.get()->*method)(ctx.get(), req, &res), target_));
    return FromProto(res);
  }

  Endpoint ep_;
  ClientOptions options_;
  std::string target_;  // host:port
  std::unique_ptr<inference::GRPCInferenceService::Stub> infer_;
  std::unique_ptr<mlos::v1::Management::Stub> mgmt_;
};

}  // namespace

Result<std::unique_ptr<Client>> NewGrpcClient(const Endpoint& ep, const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  const std::string target = ep.ToString().substr(7);  // drop "grpc://"
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel) return Internal("cannot create a gRPC channel to " + target);
  return std::unique_ptr<Client>(new GrpcClient(ep, options, std::move(channel)));
}

}  // namespace mlos::client::internal
