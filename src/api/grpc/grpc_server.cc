#include "api/grpc/grpc_server.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "api/grpc/infer_codec.h"
#include "api/grpc/shm_bridge.h"
#include "api/http/url.h"
#include "grpc_service.grpc.pb.h"
#include "mlos_management.grpc.pb.h"

namespace mlos::grpcapi {
namespace {

using Clock = std::chrono::steady_clock;

grpc::StatusCode GrpcCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status ToGrpc(const Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(GrpcCode(st.code()), st.message());
}

// Runs `fn`, turning an escaped exception into INTERNAL (as HTTP answers 500).
template <typename Fn>
grpc::Status Guard(Fn&& fn) {
  try {
    return ToGrpc(fn());
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  }
}

// The earlier of the client's deadline and the server's request timeout.
std::optional<Clock::time_point> DeadlineOf(const grpc::ServerContext* ctx,
                                            std::chrono::milliseconds timeout) {
  std::optional<Clock::time_point> d;
  const auto client = ctx->deadline();
  const auto sys_now = std::chrono::system_clock::now();
  const auto now = Clock::now();
  if (client < sys_now + std::chrono::hours(24 * 365)) {
    d = now + std::chrono::duration_cast<Clock::duration>(client - sys_now);
  }
  if (timeout.count() > 0) {
    const auto t = now + timeout;
    if (!d || t < *d) d = t;
  }
  return d;
}

void FillTensorMetadata(
    const std::vector<core::TensorInfo>& infos,
    google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const core::TensorInfo& i : infos) {
    auto* m = out->Add();
    m->set_name(i.name);
    m->set_datatype(core::DataTypeKServeName(i.dtype));
    m->mutable_shape()->Add(i.shape.begin(), i.shape.end());
  }
}

void FillModelStatus(const core::ModelStatus& s, mlos::v1::ModelStatus* m) {
  m->set_id(s.id);
  m->set_name(s.name);
  m->set_version(s.version);
  m->set_state(core::ModelStateName(s.state));
  m->set_reason(s.reason);
  m->set_execution_format(s.execution_format);
  m->set_framework(s.framework);
  m->set_plugin(s.plugin);
  m->set_path(s.path);
  m->set_description(s.description);
  m->set_is_default(s.is_default);
  for (const auto& a : s.aliases) m->add_aliases(a);
  m->set_desired_loaded(s.desired_loaded);
  m->set_memory_bytes(s.memory_bytes);
  m->set_load_time_ms(s.load_time_ms);
  auto infos = [](const std::vector<core::TensorInfo>& in,
                  google::protobuf::RepeatedPtrField<mlos::v1::TensorInfo>* out) {
    for (const core::TensorInfo& i : in) {
      auto* t = out->Add();
      t->set_name(i.name);
      t->set_dtype(core::DataTypeName(i.dtype));
      t->mutable_shape()->Add(i.shape.begin(), i.shape.end());
    }
  };
  infos(s.inputs, m->mutable_inputs());
  infos(s.outputs, m->mutable_outputs());
  for (const auto& d : s.dependencies) m->add_dependencies(d);
}

Status CheckName(const std::string& name, const char* what) {
  if (name.empty()) return InvalidArgument(std::string(what) + " is empty");
  return http::ValidateModelId(name, what);
}

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  InferenceService(core::Core& core, const GrpcServerOptions& options, api::ShmRegistry* shm)
      : core_(core), options_(options), shm_(shm) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res) override {
    res->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res) override {
    res->set_ready(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res) override {
    res->set_name(options_.server_name);
    res->set_version(options_.server_version);
    for (const char* e : {"binary_tensor_data", "model_repository", "system_shared_memory"}) {
      res->add_extensions(e);
    }
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res) override {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->name(), "model name"));
      auto model = core_.Get(ModelIdOf(req->name(), req->version()));
      if (!model.ok()) return model.status();
      res->set_ready(model->state == core::ModelState::kReady);
      return Status::Ok();
    });
  }

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res) override {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->name(), "model name"));
      auto model = core_.Get(ModelIdOf(req->name(), req->version()));
      if (!model.ok()) return model.status();
      res->set_name(model->name);
      for (const core::ModelStatus& s : core_.List()) {
        if (s.name == model->name) res->add_versions(s.version);
      }
      res->set_platform(model->framework.empty() ? model->execution_format : model->framework);
      FillTensorMetadata(model->inputs, res->mutable_inputs());
      FillTensorMetadata(model->outputs, res->mutable_outputs());
      return Status::Ok();
    });
  }

  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* res) override {
    return Guard([&]() { return Infer(ctx, *req, res); });
  }

  grpc::Status ModelStreamInfer(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>*
          stream) override {
    inference::ModelInferRequest req;
    inference::ModelStreamInferResponse res;
    while (stream->Read(&req)) {
      res.Clear();
      grpc::Status st = Guard([&]() { return Infer(ctx, req, res.mutable_infer_response()); });
      if (!st.ok()) {
        res.Clear();
        res.set_error_message(st.error_message());
        auto* r = res.mutable_infer_response();
        r->set_model_name(req.model_name());
        r->set_model_version(req.model_version());
        r->set_id(req.id());
      }
      if (!stream->Write(res)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status RepositoryIndex(grpc::ServerContext*, const inference::RepositoryIndexRequest* req,
                               inference::RepositoryIndexResponse* res) override {
    return Guard([&]() -> Status {
      for (const core::ModelStatus& s : core_.List()) {
        if (req->ready() && s.state != core::ModelState::kReady) continue;
        auto* m = res->add_models();
        m->set_name(s.name);
        m->set_version(s.version);
        m->set_state(core::ModelStateName(s.state));
        m->set_reason(s.reason);
      }
      return Status::Ok();
    });
  }

  grpc::Status RepositoryModelLoad(grpc::ServerContext*,
                                   const inference::RepositoryModelLoadRequest* req,
                                   inference::RepositoryModelLoadResponse*) override {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->model_name(), "model name"));
      return core_.Load(req->model_name()).status();
    });
  }

  grpc::Status RepositoryModelUnload(grpc::ServerContext*,
                                     const inference::RepositoryModelUnloadRequest* req,
                                     inference::RepositoryModelUnloadResponse*) override {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->model_name(), "model name"));
      return core_.Unload(req->model_name()).status();
    });
  }

  grpc::Status SystemSharedMemoryStatus(grpc::ServerContext*,
                                        const inference::SystemSharedMemoryStatusRequest* req,
                                        inference::SystemSharedMemoryStatusResponse* res) override {
    return Guard([&]() -> Status {
      MLOS_ASSIGN_OR_RETURN(std::vector<api::ShmRegionStatus> regions, ShmList(shm_, req->name()));
      for (const api::ShmRegionStatus& r : regions) {
        if (!r.owner.empty()) continue;  // IPC regions are private to their connection
        auto& s = (*res->mutable_regions())[r.name];
        s.set_name(r.name);
        s.set_key(r.key);
        s.set_offset(r.offset);
        s.set_byte_size(r.byte_size);
      }
      return Status::Ok();
    });
  }

  grpc::Status SystemSharedMemoryRegister(grpc::ServerContext*,
                                          const inference::SystemSharedMemoryRegisterRequest* req,
                                          inference::SystemSharedMemoryRegisterResponse*) override {
    return Guard([&]() {
      return ShmRegisterSystem(shm_, req->name(), req->key(), req->offset(), req->byte_size());
    });
  }

  grpc::Status SystemSharedMemoryUnregister(
      grpc::ServerContext*, const inference::SystemSharedMemoryUnregisterRequest* req,
      inference::SystemSharedMemoryUnregisterResponse*) override {
    return Guard([&]() -> Status {
      if (!req->name().empty()) return ShmUnregister(shm_, req->name());
      MLOS_ASSIGN_OR_RETURN(std::vector<api::ShmRegionStatus> regions, ShmList(shm_, ""));
      for (const api::ShmRegionStatus& r : regions) {
        if (r.owner.empty()) MLOS_RETURN_IF_ERROR(ShmUnregister(shm_, r.name));
      }
      return Status::Ok();
    });
  }

 private:
  Status Infer(grpc::ServerContext* ctx, const inference::ModelInferRequest& req,
               inference::ModelInferResponse* res) {
    ParsedInfer parsed;
    MLOS_RETURN_IF_ERROR(ParseModelInferRequest(req, shm_, parsed));
    parsed.request.deadline = DeadlineOf(ctx, options_.request_timeout);
    auto out = core_.Infer(std::move(parsed.request));
    if (!out.ok()) return out.status();
    EncodeModelInferResponse(req, parsed, *out, res);
    return Status::Ok();
  }

  core::Core& core_;
  const GrpcServerOptions& options_;
  api::ShmRegistry* shm_;
};

class ManagementService final : public mlos::v1::Management::Service {
 public:
  explicit ManagementService(core::Core& core) : core_(core) {}

  grpc::Status Register(grpc::ServerContext*, const mlos::v1::RegisterRequest* req,
                        mlos::v1::RegisterResponse* res) override {
    return Guard([&]() -> Status {
      core::RegisterRequest r;
      r.model_id = req->model_id();
      r.name = req->name();
      r.framework = req->framework();
      r.execution_format = req->execution_format();
      r.path = req->path();
      r.description = req->description();
      r.manifest_path = req->manifest_path();
      if (r.model_id.empty()) return InvalidArgument("field 'model_id' is required");
      if (r.path.empty()) return InvalidArgument("field 'path' (or 'model_path') is required");
      MLOS_RETURN_IF_ERROR(http::ValidateModelId(r.model_id, "field 'model_id'"));
      auto m = core_.Register(r);
      if (!m.ok()) return m.status();
      res->set_status("registered");
      res->set_model_id(m->id);
      FillModelStatus(*m, res->mutable_model());
      return Status::Ok();
    });
  }

  grpc::Status List(grpc::ServerContext*, const mlos::v1::ListRequest*,
                    mlos::v1::ListResponse* res) override {
    return Guard([&]() -> Status {
      for (const core::ModelStatus& s : core_.List()) FillModelStatus(s, res->add_models());
      return Status::Ok();
    });
  }

  grpc::Status Get(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                   mlos::v1::ModelStatus* res) override {
    return Answer(req, res, [&](const std::string& id) { return core_.Get(id); });
  }
  grpc::Status Load(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                    mlos::v1::ModelStatus* res) override {
    return Answer(req, res, [&](const std::string& id) { return core_.Load(id); });
  }
  grpc::Status Unload(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                      mlos::v1::ModelStatus* res) override {
    return Answer(req, res, [&](const std::string& id) { return core_.Unload(id); });
  }
  grpc::Status SetDefault(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                          mlos::v1::ModelStatus* res) override {
    return Answer(req, res, [&](const std::string& id) -> Result<core::ModelStatus> {
      const size_t at = id.rfind('@');
      if (at == std::string::npos) {
        return InvalidArgument("set default needs a versioned id: ns/name@version");
      }
      return core_.SetDefault(id.substr(0, at), id.substr(at + 1));
    });
  }
  grpc::Status Rollback(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                        mlos::v1::ModelStatus* res) override {
    return Answer(req, res, [&](const std::string& id) -> Result<core::ModelStatus> {
      const size_t at = id.rfind('@');
      return core_.Rollback(at == std::string::npos ? id : id.substr(0, at));
    });
  }

  grpc::Status Unregister(grpc::ServerContext*, const mlos::v1::ModelRequest* req,
                          mlos::v1::UnregisterResponse* res) override {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->id(), "model id"));
      MLOS_RETURN_IF_ERROR(core_.Unregister(req->id()));
      res->set_status("unregistered");
      res->set_model_id(req->id());
      return Status::Ok();
    });
  }

  grpc::Status Plugins(grpc::ServerContext*, const mlos::v1::PluginsRequest*,
                       mlos::v1::PluginsResponse* res) override {
    return Guard([&]() -> Status {
      for (const core::PluginStatus& p : core_.Plugins()) {
        auto* o = res->add_plugins();
        o->set_name(p.name);
        o->set_version(p.version);
        o->set_framework(p.framework);
        for (const auto& f : p.execution_formats) o->add_execution_formats(f);
        for (const auto& c : p.capabilities) o->add_capabilities(c);
        o->set_path(p.path);
      }
      return Status::Ok();
    });
  }

 private:
  template <typename Fn>
  grpc::Status Answer(const mlos::v1::ModelRequest* req, mlos::v1::ModelStatus* res, Fn&& fn) {
    return Guard([&]() -> Status {
      MLOS_RETURN_IF_ERROR(CheckName(req->id(), "model id"));
      Result<core::ModelStatus> r = fn(req->id());
      if (!r.ok()) return r.status();
      FillModelStatus(*r, res);
      return Status::Ok();
    });
  }

  core::Core& core_;
};

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string("cannot read gRPC TLS ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

struct GrpcServer::Impl {
  Impl(core::Core& core, GrpcServerOptions opts)
      : options(std::move(opts)),
        shm(options.shm ? options.shm : NewShmRegistry()),
        inference(core, options, shm.get()),
        management(core) {}

  GrpcServerOptions options;
  std::shared_ptr<api::ShmRegistry> shm;
  InferenceService inference;
  ManagementService management;
  std::unique_ptr<grpc::Server> server;
  bool stopped = false;
};

GrpcServer::GrpcServer(core::Core& core, GrpcServerOptions options)
    : impl_(std::make_unique<Impl>(core, std::move(options))) {}

GrpcServer::~GrpcServer() {
  Stop(std::chrono::milliseconds(0));
}

Status GrpcServer::Start() {
  const GrpcServerOptions& o = impl_->options;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!o.tls.cert_file.empty() || !o.tls.key_file.empty()) {
    if (o.tls.cert_file.empty() || o.tls.key_file.empty()) {
      return InvalidArgument("gRPC TLS needs both a certificate and a key");
    }
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    MLOS_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(o.tls.cert_file, "certificate"));
    MLOS_ASSIGN_OR_RETURN(pair.private_key, ReadPem(o.tls.key_file, "key"));
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!o.tls.client_ca_file.empty()) {
      MLOS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(o.tls.client_ca_file, "client CA"));
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  } else if (!o.tls.client_ca_file.empty()) {
    return InvalidArgument("gRPC client_ca needs a server certificate and key");
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  const bool v6 = o.host.find(':') != std::string::npos;
  const std::string address = (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  const int max_bytes = static_cast<int>(std::min<uint64_t>(o.max_message_bytes, INT32_MAX));
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 2);

  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(address, creds, &selected);
  builder.RegisterService(&impl_->inference);
  builder.RegisterService(&impl_->management);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, threads);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || selected == 0) {
    impl_->server.reset();
    return Unavailable("cannot listen for gRPC on " + address);
  }
  port_ = static_cast<uint16_t>(selected);
  return Status::Ok();
}

void GrpcServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->server || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
}

}  // namespace mlos::grpcapi
