#include "api/grpc/grpc_services.h"

#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/common/model_json.h"
#include "api/common/request_options.h"
#include "api/grpc/infer_codec.h"
#include "security/token.h"
#include "wire/grpc_raw.h"

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
  return grpc::Status(GrpcCode(st.code()), security::RedactSecrets(st.message()));
}

namespace {

// ToGrpc, plus a `retry-after` trailer (seconds) on a quota refusal that passes later.
grpc::Status Answer(grpc::ServerContext* ctx, const Status& st) {
  if (st.retry_after_s() > 0 && ctx) {
    ctx->AddTrailingMetadata("retry-after", std::to_string(st.retry_after_s()));
  }
  return ToGrpc(st);
}

// Runs `fn`, turning an escaped exception into INTERNAL (as HTTP answers 500).
template <typename Fn>
grpc::Status Guard(grpc::ServerContext* ctx, Fn&& fn) {
  try {
    return Answer(ctx, fn());
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
  m->set_shared_memory_bytes(s.shared_memory_bytes);
  m->set_memory_estimate_bytes(s.memory_estimate_bytes);
  m->set_load_kind(s.load_kind);
  m->set_pinned(s.pinned);
  m->set_keep_alive_ms(s.keep_alive_ms);
  m->set_priority(s.priority);
  m->set_last_used_unix_ms(s.last_used_unix_ms);
  m->set_evictions(s.evictions);
  m->set_unload_reason(s.unload_reason);
  m->set_isolation(core::IsolationName(s.isolation));
  m->set_worker_pid(s.worker_pid);
  m->set_worker_state(s.worker_state);
  m->set_worker_restarts(s.worker_restarts);
  m->set_last_crash(s.last_crash);
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

// What the service knows of a gRPC call: the client's deadline, its credentials (the
// `authorization: Bearer` metadata; with `mtls`, the verified client certificate's CN), and
// (with `peer`) its address. Inference skips the address: gRPC builds it anew (allocating,
// under the call's lock) on each ask, a measurable part of a tiny model's request.
service::RequestContext Context(const grpc::ServerContext* ctx, bool mtls, bool peer = true) {
  service::RequestContext c;
  c.protocol = service::Protocol::kGrpc;
  if (peer) c.peer = ctx->peer();
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    security::ParseAuthorization({it->second.data(), it->second.size()}, c.credentials);
  }
  if (mtls) {
    const std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
    if (auth && auth->IsPeerAuthenticated()) {
      for (const grpc::string_ref& cn : auth->FindPropertyValues("x509_common_name")) {
        c.credentials.tls_cn.assign(cn.data(), cn.size());
      }
    }
  }
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

grpc::Status InferenceService::ServerMetadata(grpc::ServerContext* ctx,
                                              const inference::ServerMetadataRequest*,
                                              inference::ServerMetadataResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(service::ServerMetadata m, service_.GetServerMetadata(Context(ctx, mtls_)));
    res->set_name(m.name);
    res->set_version(m.version);
    for (const std::string& e : m.extensions) res->add_extensions(e);
    return Status::Ok();
  });
}

grpc::Status InferenceService::ModelReady(grpc::ServerContext* ctx,
                                          const inference::ModelReadyRequest* req,
                                          inference::ModelReadyResponse* res) {
  return Guard(ctx, [&]() -> Status {
    auto model = service_.ModelReady(Context(ctx, mtls_), ModelIdOf(req->name(), req->version()));
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
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(service::ModelMetadata meta,
                          service_.GetModelMetadata(Context(ctx, mtls_),
                                                    ModelIdOf(req->name(), req->version())));
    res->set_name(meta.model.name);
    for (const std::string& v : meta.versions) res->add_versions(v);
    res->set_platform(api::KServePlatform(meta.model));
    FillTensorMetadata(meta.model.inputs, res->mutable_inputs());
    FillTensorMetadata(meta.model.outputs, res->mutable_outputs());
    return Status::Ok();
  });
}

namespace {

template <typename Tensor>
void FillConfigTensors(const std::vector<core::TensorInfo>& infos,
                       google::protobuf::RepeatedPtrField<Tensor>* out) {
  for (const core::TensorInfo& i : infos) {
    Tensor* t = out->Add();
    t->set_name(i.name);
    inference::DataType type = inference::TYPE_INVALID;
    inference::DataType_Parse(api::TritonConfigDataType(core::DataTypeKServeName(i.dtype)), &type);
    t->set_data_type(type);
    for (int64_t d : i.shape) t->add_dims(d);
  }
}

void FillDuration(const service::StatDuration& d, inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}

}  // namespace

grpc::Status InferenceService::ModelConfig(grpc::ServerContext* ctx,
                                           const inference::ModelConfigRequest* req,
                                           inference::ModelConfigResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(service::ModelMetadata meta,
                          service_.GetModelMetadata(Context(ctx, mtls_),
                                                    ModelIdOf(req->name(), req->version())));
    inference::ModelConfig* c = res->mutable_config();
    c->set_name(meta.model.name);
    c->set_platform(api::KServePlatform(meta.model));
    c->set_backend(meta.model.plugin);
    c->set_max_batch_size(0);
    FillConfigTensors(meta.model.inputs, c->mutable_input());
    FillConfigTensors(meta.model.outputs, c->mutable_output());
    return Status::Ok();
  });
}

grpc::Status InferenceService::ModelStatistics(grpc::ServerContext* ctx,
                                               const inference::ModelStatisticsRequest* req,
                                               inference::ModelStatisticsResponse* res) {
  return Guard(ctx, [&]() -> Status {
    const std::string id = req->name().empty() ? "" : ModelIdOf(req->name(), req->version());
    MLOS_ASSIGN_OR_RETURN(std::vector<service::ModelStatistics> stats,
                          service_.ModelStats(Context(ctx, mtls_), id));
    for (const service::ModelStatistics& s : stats) {
      inference::ModelStatistics* m = res->add_model_stats();
      m->set_name(s.name);
      m->set_version(s.version);
      m->set_last_inference(s.last_inference_ms);
      m->set_inference_count(s.inference_count);
      m->set_execution_count(s.execution_count);
      inference::InferStatistics* is = m->mutable_inference_stats();
      FillDuration(s.success, is->mutable_success());
      FillDuration(s.fail, is->mutable_fail());
      FillDuration(s.queue, is->mutable_queue());
      FillDuration(s.compute_input, is->mutable_compute_input());
      FillDuration(s.compute_infer, is->mutable_compute_infer());
      FillDuration(s.compute_output, is->mutable_compute_output());
      is->mutable_cache_hit();
      is->mutable_cache_miss();
    }
    return Status::Ok();
  });
}

grpc::Status InferenceService::ModelInfer(grpc::ServerContext* ctx,
                                          const inference::ModelInferRequest* req,
                                          inference::ModelInferResponse* res) {
  return Guard(ctx, [&]() { return Infer(ctx, *req, res); });
}

grpc::Status InferenceService::ModelInferRaw(grpc::ServerContext* ctx, grpc::ByteBuffer* req,
                                             grpc::ByteBuffer* res) {
  return Guard(ctx, [&]() -> Status {
    // Everything the answer's slices point into lives here until gRPC releases them.
    struct State {
      inference::ModelInferRequest request;
      Buffer raw;
      std::vector<std::string_view> views;
      ParsedInfer parsed;
      std::optional<service::InferResult> result;
      std::vector<std::string> blobs;
    };
    auto state = std::make_shared<State>();
    service::RequestContext context = Context(ctx, mtls_, /*peer=*/false);
    if (Status st = wire::ParseWithRawField(*req, wire::kRawInputContentsField, state->request,
                                            state->raw, state->views);
        !st.ok()) {
      return service_.Fail(context, state->parsed.call,
                           InvalidArgument("ModelInferRequest: " + st.message()));
    }
    context.request_id = state->request.id();
    if (Status st = ParseModelInferRequest(state->request, state->parsed, &state->views);
        !st.ok()) {
      return service_.Fail(context, state->parsed.call, st);
    }
    api::ApplyRequestOptions(state->parsed.options, context);
    auto out = service_.Infer(context, state->parsed.call);
    if (!out.ok()) return out.status();
    state->result = std::move(out).value();
    inference::ModelInferResponse head;
    std::vector<std::string_view> pieces;
    EncodeModelInferResponsePieces(state->request, state->parsed, *state->result, &head, &pieces,
                                   &state->blobs);
    wire::SerializeWithRawField(head, wire::kRawOutputContentsField, pieces, state, res);
    return Status::Ok();
  });
}

void InferenceService::StreamInfer(grpc::ServerContext* ctx,
                                   const inference::ModelInferRequest& req,
                                   inference::ModelStreamInferResponse* res) {
  res->Clear();
  grpc::Status st = Guard(ctx, [&]() { return Infer(ctx, req, res->mutable_infer_response()); });
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
  service::RequestContext context = Context(ctx, mtls_, /*peer=*/false);
  context.request_id = req.id();
  ParsedInfer parsed;
  if (Status st = ParseModelInferRequest(req, parsed); !st.ok()) {
    return service_.Fail(context, parsed.call, st);
  }
  // priority, timeout, keep_alive; the call's gRPC deadline stays when it is the earlier.
  api::ApplyRequestOptions(parsed.options, context);
  auto out = service_.Infer(context, parsed.call);
  if (!out.ok()) return out.status();
  EncodeModelInferResponse(req, parsed, *out, res);
  return Status::Ok();
}

grpc::Status InferenceService::RepositoryIndex(grpc::ServerContext* ctx,
                                               const inference::RepositoryIndexRequest* req,
                                               inference::RepositoryIndexResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(auto models, service_.List(Context(ctx, mtls_)));
    for (const core::ModelStatus& s : models) {
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
  return Guard(ctx, [&]() { return service_.Load(Context(ctx, mtls_), req->model_name()).status(); });
}

grpc::Status InferenceService::RepositoryModelUnload(
    grpc::ServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
    inference::RepositoryModelUnloadResponse*) {
  return Guard(ctx, [&]() { return service_.Unload(Context(ctx, mtls_), req->model_name()).status(); });
}

grpc::Status InferenceService::SystemSharedMemoryStatus(
    grpc::ServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* req,
    inference::SystemSharedMemoryStatusResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(std::vector<service::ShmRegionStatus> regions,
                          service_.ShmStatus(Context(ctx, mtls_), req->name()));
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
  return Guard(ctx, [&]() {
    return service_.RegisterShmSystem(Context(ctx, mtls_), req->name(), req->key(), req->offset(),
                                      req->byte_size());
  });
}

grpc::Status InferenceService::SystemSharedMemoryUnregister(
    grpc::ServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* req,
    inference::SystemSharedMemoryUnregisterResponse*) {
  return Guard(ctx, [&]() { return service_.UnregisterShm(Context(ctx, mtls_), req->name()); });
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
  return Guard(ctx, [&]() -> Status {
    core::RegisterRequest r;
    r.model_id = req->model_id();
    r.name = req->name();
    r.framework = req->framework();
    r.execution_format = req->execution_format();
    r.path = req->path();
    r.description = req->description();
    r.manifest_path = req->manifest_path();
    MLOS_ASSIGN_OR_RETURN(core::ModelStatus m, service_.Register(Context(ctx, mtls_), r));
    res->set_status("registered");
    res->set_model_id(m.id);
    FillModelStatus(m, res->mutable_model());
    return Status::Ok();
  });
}

grpc::Status ManagementService::List(grpc::ServerContext* ctx, const mlos::v1::ListRequest*,
                                     mlos::v1::ListResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(auto models, service_.List(Context(ctx, mtls_)));
    for (const core::ModelStatus& s : models) {
      FillModelStatus(s, res->add_models());
    }
    return Status::Ok();
  });
}

grpc::Status ManagementService::Get(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                                    mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() { return Answer(service_.Get(Context(ctx, mtls_), req->id()), res); });
}

grpc::Status ManagementService::Load(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                                     mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() { return Answer(service_.Load(Context(ctx, mtls_), req->id()), res); });
}

grpc::Status ManagementService::Unload(grpc::ServerContext* ctx,
                                       const mlos::v1::ModelRequest* req,
                                       mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() { return Answer(service_.Unload(Context(ctx, mtls_), req->id()), res); });
}

grpc::Status ManagementService::SetDefault(grpc::ServerContext* ctx,
                                           const mlos::v1::ModelRequest* req,
                                           mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() { return Answer(service_.SetDefault(Context(ctx, mtls_), req->id()), res); });
}

grpc::Status ManagementService::Rollback(grpc::ServerContext* ctx,
                                         const mlos::v1::ModelRequest* req,
                                         mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() { return Answer(service_.Rollback(Context(ctx, mtls_), req->id()), res); });
}

grpc::Status ManagementService::SetAlias(grpc::ServerContext* ctx,
                                         const mlos::v1::AliasRequest* req,
                                         mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() {
    return Answer(service_.SetAlias(Context(ctx, mtls_), req->name(), req->alias(), req->version()),
                  res);
  });
}

grpc::Status ManagementService::Pin(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                                    mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() {
    return Answer(service_.Pin(Context(ctx, mtls_), req->id(), /*pinned=*/true), res);
  });
}

grpc::Status ManagementService::Unpin(grpc::ServerContext* ctx,
                                      const mlos::v1::ModelRequest* req,
                                      mlos::v1::ModelStatus* res) {
  return Guard(ctx, [&]() {
    return Answer(service_.Pin(Context(ctx, mtls_), req->id(), /*pinned=*/false), res);
  });
}

grpc::Status ManagementService::Unregister(grpc::ServerContext* ctx,
                                           const mlos::v1::ModelRequest* req,
                                           mlos::v1::UnregisterResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_RETURN_IF_ERROR(service_.Unregister(Context(ctx, mtls_), req->id()));
    res->set_status("unregistered");
    res->set_model_id(req->id());
    return Status::Ok();
  });
}

grpc::Status ManagementService::Plugins(grpc::ServerContext* ctx, const mlos::v1::PluginsRequest*,
                                        mlos::v1::PluginsResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(auto plugins, service_.Plugins(Context(ctx, mtls_)));
    for (const core::PluginStatus& p : plugins) {
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

namespace {

void FillToken(const security::TokenRecord& r, mlos::v1::TokenInfo* t) {
  auto time = [](int64_t ms) { return ms > 0 ? security::FormatUnixMs(ms) : std::string(); };
  t->set_name(r.name);
  t->set_role(security::RoleName(r.role));
  for (const std::string& m : r.models) t->add_models(m);
  t->set_created_at(time(r.created_at_ms));
  t->set_expires_at(time(r.expires_at_ms));
  t->set_last_used_at(time(r.last_used_at_ms));
  t->set_revoked_at(time(r.revoked_at_ms));
}

}  // namespace

grpc::Status ManagementService::CreateToken(grpc::ServerContext* ctx,
                                            const mlos::v1::CreateTokenRequest* req,
                                            mlos::v1::CreateTokenResponse* res) {
  return Guard(ctx, [&]() -> Status {
    std::vector<std::string> models(req->models().begin(), req->models().end());
    MLOS_ASSIGN_OR_RETURN(auto created, service_.CreateToken(Context(ctx, mtls_), req->name(),
                                                             req->role(), models, req->expires()));
    res->set_token(created.first);
    FillToken(created.second, res->mutable_info());
    return Status::Ok();
  });
}

grpc::Status ManagementService::ListTokens(grpc::ServerContext* ctx,
                                           const mlos::v1::ListTokensRequest*,
                                           mlos::v1::ListTokensResponse* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(auto tokens, service_.ListTokens(Context(ctx, mtls_)));
    for (const security::TokenRecord& r : tokens) FillToken(r, res->add_tokens());
    return Status::Ok();
  });
}

grpc::Status ManagementService::RevokeToken(grpc::ServerContext* ctx,
                                            const mlos::v1::RevokeTokenRequest* req,
                                            mlos::v1::TokenInfo* res) {
  return Guard(ctx, [&]() -> Status {
    MLOS_ASSIGN_OR_RETURN(auto r, service_.RevokeToken(Context(ctx, mtls_), req->name()));
    FillToken(r, res);
    return Status::Ok();
  });
}

// ---- generation ----

namespace {

// The typed request -> service::GenerateCall (params_json as smi.h's smi_generate_request reads
// it) and the request options (priority, keep_alive) applied to `context`.
Status DecodeGenerate(const mlos::v1::GenerateRequest& req, service::RequestContext& context,
                      service::GenerateCall& call) {
  call.model = req.model();
  call.version = req.version();
  call.prompt = req.prompt();
  nlohmann::json params = nlohmann::json::object();
  if (req.has_max_tokens()) params["max_tokens"] = req.max_tokens().value();
  if (req.has_temperature()) params["temperature"] = req.temperature().value();
  if (req.has_top_p()) params["top_p"] = req.top_p().value();
  if (req.has_top_k()) params["top_k"] = req.top_k().value();
  if (req.has_min_p()) params["min_p"] = req.min_p().value();
  if (req.has_repeat_penalty()) params["repeat_penalty"] = req.repeat_penalty().value();
  if (req.has_repeat_last_n()) params["repeat_last_n"] = req.repeat_last_n().value();
  if (req.has_seed()) params["seed"] = req.seed().value();
  if (req.stop_size() > 0) {
    nlohmann::json& stop = params["stop"] = nlohmann::json::array();
    for (const std::string& s : req.stop()) stop.push_back(s);
  }
  if (req.messages_size() > 0) {
    nlohmann::json& messages = params["messages"] = nlohmann::json::array();
    for (const mlos::v1::ChatMessage& m : req.messages()) {
      messages.push_back({{"role", m.role()}, {"content", m.content()}});
    }
  }
  // Invalid UTF-8 in a string field is replaced, not thrown about (protobuf checks it anyway).
  call.params_json = params.empty() ? std::string()
                                    : params.dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
  api::RequestOptions options;
  if (req.has_priority()) {
    const auto value = api::ParameterValue::Int(req.priority().value());
    MLOS_RETURN_IF_ERROR(api::ParseRequestParameter("priority", value, options).status());
  }
  if (req.has_keep_alive()) {
    const auto value = api::ParameterValue::String(req.keep_alive().value());
    MLOS_RETURN_IF_ERROR(api::ParseRequestParameter("keep_alive", value, options).status());
  }
  api::ApplyRequestOptions(options, context);
  return Status::Ok();
}

}  // namespace

grpc::Status ManagementService::Generate(grpc::ServerContext* ctx,
                                         const mlos::v1::GenerateRequest& req,
                                         const ChunkWriter& write,
                                         mlos::v1::GenerateResponse* last) {
  return Guard(ctx, [&]() -> Status {
    service::RequestContext context = Context(ctx, mtls_);
    service::GenerateCall call;
    MLOS_RETURN_IF_ERROR(DecodeGenerate(req, context, call));
    call.on_token = [&write](std::string_view text) { return write(text); };
    MLOS_ASSIGN_OR_RETURN(core::GenerateResponse out, service_.Generate(context, call));
    last->Clear();
    last->set_done(true);
    last->set_finish_reason(out.finish_reason);
    last->set_model_id(out.model_id);
    last->set_prompt_tokens(out.prompt_tokens);
    last->set_completion_tokens(out.completion_tokens);
    last->set_cached_tokens(out.cached_tokens);
    last->set_queue_time_us(out.queue_time_us);
    last->set_first_token_us(out.first_token_us);
    last->set_generate_time_us(out.generate_time_us);
    return Status::Ok();
  });
}

}  // namespace mlos::grpcapi
