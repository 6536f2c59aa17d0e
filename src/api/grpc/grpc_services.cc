#include "api/grpc/grpc_services.h"

#include <exception>
#include <string>

#include "api/grpc/infer_codec.h"

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

}  // namespace

grpc::Status ToGrpc(const Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(GrpcCode(st.code()), st.message());
}

namespace {

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

// What the service knows of a gRPC call: the client's deadline, and (with `peer`) its address.
// Inference skips the address: gRPC builds it anew (allocating, under the call's lock) on each
// ask, a measurable part of a tiny model's request; nothing on the inference path reads it yet.
service::RequestContext Context(const grpc::ServerContext* ctx, bool peer = true) {
  service::RequestContext c;
  c.protocol = service::Protocol::kGrpc;
  if (peer) c.peer = ctx->peer();
  const auto client = ctx->deadline();
  const auto sys_now = std::chrono::system_clock::now();
  if (client < sys_now + std::chrono::hours(24 * 365)) {
    c.client_deadline = c.received + std::chrono::duration_cast<Clock::duration>(client - sys_now);
  }
  return c;
}

}  // namespace

// ---- inference.GRPCInferenceService ----

grpc::Status InferenceService::ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                                          inference::ServerLiveResponse* res) {
  res->set_live(service_.Live());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerReady(grpc::ServerContext*,
                                           const inference::ServerReadyRequest*,
                                           inference::ServerReadyResponse* res) {
  res->set_ready(service_.Ready());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerMetadata(grpc::ServerContext*,
                                              const inference::ServerMetadataRequest*,
                                              inference::ServerMetadataResponse* res) {
  const service::ServerMetadata& m = service_.Metadata();
  res->set_name(m.name);
  res->set_version(m.version);
  for (const std::string& e : m.extensions) res->add_extensions(e);
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelReady(grpc::ServerContext* ctx,
                                          const inference::ModelReadyRequest* req,
                                          inference::ModelReadyResponse* res) {
  return Guard([&]() -> Status {
    auto model = service_.ModelReady(Context(ctx), ModelIdOf(req->name(), req->version()));
    if (model.ok()) {
      res->set_ready(true);
      return Status::Ok();
    }
    // Not ready is an answer (ready=false), not an error; an unknown model is.
    if (model.status().code() != StatusCode::kUnavailable) return model.status();
    res->set_ready(false);
    return Status::Ok();
  });
}

grpc::Status InferenceService::ModelMetadata(grpc::ServerContext* ctx,
                                             const inference::ModelMetadataRequest* req,
                                             inference::ModelMetadataResponse* res) {
  return Guard([&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(service::ModelMetadata meta,
                          service_.GetModelMetadata(Context(ctx),
                                                    ModelIdOf(req->name(), req->version())));
    res->set_name(meta.model.name);
    for (const std::string& v : meta.versions) res->add_versions(v);
    res->set_platform(meta.model.framework.empty() ? meta.model.execution_format
                                                   : meta.model.framework);
    FillTensorMetadata(meta.model.inputs, res->mutable_inputs());
    FillTensorMetadata(meta.model.outputs, res->mutable_outputs());
    return Status::Ok();
  });
}

grpc::Status InferenceService::ModelInfer(grpc::ServerContext* ctx,
                                          const inference::ModelInferRequest* req,
                                          inference::ModelInferResponse* res) {
  return Guard([&]() { return Infer(ctx, *req, res); });
}

void InferenceService::StreamInfer(grpc::ServerContext* ctx,
                                   const inference::ModelInferRequest& req,
                                   inference::ModelStreamInferResponse* res) {
  res->Clear();
  grpc::Status st = Guard([&]() { return Infer(ctx, req, res->mutable_infer_response()); });
  if (!st.ok()) {
    res->Clear();
    res->set_error_message(st.error_message());
    auto* r = res->mutable_infer_response();
    r->set_model_name(req.model_name());
    r->set_model_version(req.model_version());
    r->set_id(req.id());
  }
}

Status InferenceService::Infer(grpc::ServerContext* ctx, const inference::ModelInferRequest& req,
                               inference::ModelInferResponse* res) {
  service::RequestContext context = Context(ctx, /*peer=*/false);
  context.request_id = req.id();
  ParsedInfer parsed;
  if (Status st = ParseModelInferRequest(req, parsed); !st.ok()) {
    return service_.Fail(context, parsed.call, st);
  }
  auto out = service_.Infer(context, parsed.call);
  if (!out.ok()) return out.status();
  EncodeModelInferResponse(req, parsed, *out, res);
  return Status::Ok();
}

grpc::Status InferenceService::RepositoryIndex(grpc::ServerContext* ctx,
                                               const inference::RepositoryIndexRequest* req,
                                               inference::RepositoryIndexResponse* res) {
  return Guard([&]() -> Status {
    for (const core::ModelStatus& s : service_.List(Context(ctx))) {
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

grpc::Status InferenceService::RepositoryModelLoad(
    grpc::ServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
    inference::RepositoryModelLoadResponse*) {
  return Guard([&]() { return service_.Load(Context(ctx), req->model_name()).status(); });
}

grpc::Status InferenceService::RepositoryModelUnload(
    grpc::ServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
    inference::RepositoryModelUnloadResponse*) {
  return Guard([&]() { return service_.Unload(Context(ctx), req->model_name()).status(); });
}

grpc::Status InferenceService::SystemSharedMemoryStatus(
    grpc::ServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* req,
    inference::SystemSharedMemoryStatusResponse* res) {
  return Guard([&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(std::vector<service::ShmRegionStatus> regions,
                          service_.ShmStatus(Context(ctx), req->name()));
    for (const service::ShmRegionStatus& r : regions) {
      auto& s = (*res->mutable_regions())[r.name];
      s.set_name(r.name);
      s.set_key(r.key);
      s.set_offset(r.offset);
      s.set_byte_size(r.byte_size);
    }
    return Status::Ok();
  });
}

grpc::Status InferenceService::SystemSharedMemoryRegister(
    grpc::ServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* req,
    inference::SystemSharedMemoryRegisterResponse*) {
  return Guard([&]() {
    return service_.RegisterShmSystem(Context(ctx), req->name(), req->key(), req->offset(),
                                      req->byte_size());
  });
}

grpc::Status InferenceService::SystemSharedMemoryUnregister(
    grpc::ServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* req,
    inference::SystemSharedMemoryUnregisterResponse*) {
  return Guard([&]() { return service_.UnregisterShm(Context(ctx), req->name()); });
}

// ---- mlos.v1.Management ----

namespace {

// Fills `res` from a model answer.
Status Answer(Result<core::ModelStatus> r, mlos::v1::ModelStatus* res) {
  if (!r.ok()) return r.status();
  FillModelStatus(*r, res);
  return Status::Ok();
}

}  // namespace

grpc::Status ManagementService::Register(grpc::ServerContext* ctx,
                                         const mlos::v1::RegisterRequest* req,
                                         mlos::v1::RegisterResponse* res) {
  return Guard([&]() -> Status {
    core::RegisterRequest r;
    r.model_id = req->model_id();
    r.name = req->name();
    r.framework = req->framework();
    r.execution_format = req->execution_format();
    r.path = req->path();
    r.description = req->description();
    r.manifest_path = req->manifest_path();
    MLOS_ASSIGN_OR_RETURN(core::ModelStatus m, service_.Register(Context(ctx), r));
    res->set_status("registered");
    res->set_model_id(m.id);
    FillModelStatus(m, res->mutable_model());
    return Status::Ok();
  });
}

grpc::Status ManagementService::List(grpc::ServerContext* ctx, const mlos::v1::ListRequest*,
                                     mlos::v1::ListResponse* res) {
  return Guard([&]() -> Status {
    for (const core::ModelStatus& s : service_.List(Context(ctx))) {
      FillModelStatus(s, res->add_models());
    }
    return Status::Ok();
  });
}

grpc::Status ManagementService::Get(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                                    mlos::v1::ModelStatus* res) {
  return Guard([&]() { return Answer(service_.Get(Context(ctx), req->id()), res); });
}

grpc::Status ManagementService::Load(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                                     mlos::v1::ModelStatus* res) {
  return Guard([&]() { return Answer(service_.Load(Context(ctx), req->id()), res); });
}

grpc::Status ManagementService::Unload(grpc::ServerContext* ctx,
                                       const mlos::v1::ModelRequest* req,
                                       mlos::v1::ModelStatus* res) {
  return Guard([&]() { return Answer(service_.Unload(Context(ctx), req->id()), res); });
}

grpc::Status ManagementService::SetDefault(grpc::ServerContext* ctx,
                                           const mlos::v1::ModelRequest* req,
                                           mlos::v1::ModelStatus* res) {
  return Guard([&]() { return Answer(service_.SetDefault(Context(ctx), req->id()), res); });
}

grpc::Status ManagementService::Rollback(grpc::ServerContext* ctx,
                                         const mlos::v1::ModelRequest* req,
                                         mlos::v1::ModelStatus* res) {
  return Guard([&]() { return Answer(service_.Rollback(Context(ctx), req->id()), res); });
}

grpc::Status ManagementService::SetAlias(grpc::ServerContext* ctx,
                                         const mlos::v1::AliasRequest* req,
                                         mlos::v1::ModelStatus* res) {
  return Guard([&]() {
    return Answer(service_.SetAlias(Context(ctx), req->name(), req->alias(), req->version()),
                  res);
  });
}

grpc::Status ManagementService::Unregister(grpc::ServerContext* ctx,
                                           const mlos::v1::ModelRequest* req,
                                           mlos::v1::UnregisterResponse* res) {
  return Guard([&]() -> Status {
    MLOS_RETURN_IF_ERROR(service_.Unregister(Context(ctx), req->id()));
    res->set_status("unregistered");
    res->set_model_id(req->id());
    return Status::Ok();
  });
}

grpc::Status ManagementService::Plugins(grpc::ServerContext* ctx, const mlos::v1::PluginsRequest*,
                                        mlos::v1::PluginsResponse* res) {
  return Guard([&]() -> Status {
    for (const core::PluginStatus& p : service_.Plugins(Context(ctx))) {
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

}  // namespace mlos::grpcapi
