// The service's health, metadata, management and shared-memory operations (inference is in
// service_infer.cc).
#include "service/service.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/policy.h"
#include "security/token.h"
#include "service/metrics.h"

namespace mlos::service {
namespace {

// "ns/name@ver" -> {"ns/name", "ver"}; no '@' -> {id, ""}.
std::pair<std::string, std::string> SplitVersion(const std::string& id) {
  const size_t at = id.rfind('@');
  if (at == std::string::npos) return {id, ""};
  return {id.substr(0, at), id.substr(at + 1)};
}

Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

Status CheckId(const std::string& id, const char* what = "model id") {
  return CheckModelId(id, what);
}

}  // namespace

Status CheckModelId(const std::string& id, const char* what) {
  if (id.empty()) return InvalidArgument(std::string(what) + " is empty");
  return core::policy::ValidateModelId(id, what);
}

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp:
      return "http";
    case Protocol::kGrpc:
      return "grpc";
    case Protocol::kIpc:
      return "ipc";
  }
  return "unknown";
}

Service::Service(core::Core& core, ShmRegistry& shm, Metrics* metrics, ServiceOptions options,
                 security::Guard* guard)
    : core_(core), shm_(shm), metrics_(metrics), guard_(guard), options_(std::move(options)) {
  metadata_.name = options_.server_name;
  metadata_.version = options_.server_version;
  metadata_.extensions = {"binary_tensor_data", "model_configuration", "model_repository",
                          "statistics", "system_shared_memory"};
}

Service::~Service() = default;

void Service::LogFailure(const RequestContext& ctx, const char* op, const std::string& what,
                         const Status& st) {
  // The server's own faults are worth an operator's attention; a caller's mistakes are not.
  const bool server_fault = st.code() == StatusCode::kInternal || st.code() == StatusCode::kDataLoss;
  spdlog::log(server_fault ? spdlog::level::warn : spdlog::level::debug,
              "{} {} {} by {} ({}): {} {}", ProtocolName(ctx.protocol), op, what,
              ctx.principal.name, ctx.peer.empty() ? "-" : ctx.peer, StatusCodeName(st.code()),
              security::RedactSecrets(st.message()));
}

template <typename T>
T Service::Logged(const RequestContext& ctx, const char* op, const std::string& what, T result) {
  if (const Status st = StatusOf(result); !st.ok()) LogFailure(ctx, op, what, st);
  return result;
}

bool Service::Ready() const { return ready_holds_.load() == 0 && core_.Ready(); }
bool Service::RegistryRestored() const { return core_.Ready(); }

Result<ModelMetadata> Service::GetModelMetadata(const RequestContext& ctx,
                                                const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id, "model name"));
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, CheckModel(ctx, security::Action::kMetadata, id));
  auto model = Logged(ctx, "metadata", id, core_.Get(id));
  if (!model.ok()) return model.status();
  ModelMetadata m;
  for (const core::ModelStatus& s : core_.List()) {
    if (s.name != model->name) continue;
    if (who && !guard_->MaySee(*who, {s.name, s.id, &s.policy->principals, &s.policy->roles})) {
      continue;
    }
    m.versions.push_back(s.version);
  }
  m.model = std::move(model).value();
  return m;
}

Result<core::ModelStatus> Service::ModelReady(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id, "model name"));
  MLOS_RETURN_IF_ERROR(CheckModel(ctx, security::Action::kMetadata, id).status());
  auto model = core_.Get(id);
  if (!model.ok()) return Logged(ctx, "ready", id, Result<core::ModelStatus>(model.status()));
  if (model->state != core::ModelState::kReady) {
    return Unavailable("model '" + model->id + "' is not ready (state " +
                       core::ModelStateName(model->state) + ")");
  }
  return model;
}

Result<ServerMetadata> Service::GetServerMetadata(const RequestContext& ctx) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kMetadata).status());
  return metadata_;
}

Result<core::CoreStats> Service::Stats(const RequestContext& ctx) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kMetadata).status());
  return core_.Stats();
}

Result<std::vector<ModelStatistics>> Service::ModelStats(const RequestContext& ctx,
                                                         const std::string& id) {
  std::vector<ModelStatistics> out;
  if (id.empty()) {
    MLOS_ASSIGN_OR_RETURN(std::vector<core::ModelStatus> models, List(ctx));
    for (const core::ModelStatus& s : models) {
      if (s.state == core::ModelState::kReady) out.push_back(model_stats_.Get(s.id));
    }
    return out;
  }
  MLOS_RETURN_IF_ERROR(CheckId(id, "model name"));
  MLOS_RETURN_IF_ERROR(CheckModel(ctx, security::Action::kMetadata, id).status());
  auto model = Logged(ctx, "stats", id, core_.Get(id));
  if (!model.ok()) return model.status();
  out.push_back(model_stats_.Get(model->id));
  return out;
}

Result<std::string> Service::RenderMetrics(const RequestContext& ctx) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kMetadata).status());
  if (!metrics_) return NotFound("metrics are disabled");
  const core::CoreStats stats = core_.Stats();
  return metrics_->Render(core_.List(), &stats);
}

Result<core::ModelStatus> Service::Register(const RequestContext& ctx,
                                            const core::RegisterRequest& request) {
  if (request.model_id.empty()) return InvalidArgument("field 'model_id' is required");
  if (request.path.empty()) return InvalidArgument("field 'path' (or 'model_path') is required");
  MLOS_RETURN_IF_ERROR(CheckId(request.model_id, "field 'model_id'"));
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who,
                        Check(ctx, security::Action::kRegister, request.model_id));
  core::RegisterRequest checked = request;
  if (guard_) {
    const std::string name = SplitVersion(request.model_id).first;
    Status st = guard_->AuthorizeModel(*who, security::Action::kRegister,
                                       {name, request.model_id, nullptr, nullptr});
    // The package (and a separate manifest) must lie under a model root; the core is given the
    // resolved paths.
    for (std::string* path : {&checked.path, &checked.manifest_path}) {
      if (!st.ok() || path->empty()) continue;
      auto real = guard_->ResolveUnderModelRoot(*path);
      if (real.ok()) *path = real->string();
      st = real.status();
    }
    if (!st.ok()) {
      Deny(ctx, who.get(), security::Action::kRegister, request.model_id, st);
      return st;
    }
  }
  auto r = Logged(ctx, "register", request.model_id, core_.Register(checked));
  if (r.ok()) {
    spdlog::info("{} registered {} from {} (by {})", ProtocolName(ctx.protocol), r->id,
                 checked.path, CallerName(ctx, who.get()));
  }
  AuditAction(ctx, who.get(), security::Action::kRegister, request.model_id, StatusOf(r));
  return r;
}

// A management operation on one model: check, run, log a failure, audit.
#define MLOS_MODEL_OP(action, op, ref, model, call)                                   \
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, CheckModel(ctx, action, ref));   \
  auto r = Logged(ctx, op, model, call);                                             \
  AuditAction(ctx, who.get(), action, model, StatusOf(r));                           \
  return r

Status Service::Unregister(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  MLOS_MODEL_OP(security::Action::kUnregister, "unregister", id, id, core_.Unregister(id));
}

Result<core::ModelStatus> Service::Load(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  MLOS_MODEL_OP(security::Action::kLoad, "load", id, id, core_.Load(id));
}

Result<core::ModelStatus> Service::Unload(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  MLOS_MODEL_OP(security::Action::kUnload, "unload", id, id, core_.Unload(id));
}

Result<core::ModelStatus> Service::SetDefault(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  auto [name, version] = SplitVersion(id);
  if (version.empty()) return InvalidArgument("set default needs a versioned id: ns/name@version");
  MLOS_MODEL_OP(security::Action::kSetDefault, "set-default", id, id,
                core_.SetDefault(name, version));
}

Result<core::ModelStatus> Service::Rollback(const RequestContext& ctx, const std::string& name) {
  MLOS_RETURN_IF_ERROR(CheckId(name));
  const std::string base = SplitVersion(name).first;
  MLOS_MODEL_OP(security::Action::kRollback, "rollback", base, base, core_.Rollback(base));
}

Result<core::ModelStatus> Service::SetAlias(const RequestContext& ctx, const std::string& name,
                                            const std::string& alias,
                                            const std::string& version) {
  MLOS_RETURN_IF_ERROR(CheckId(name, "model name"));
  if (name.find('@') != std::string::npos) {
    return InvalidArgument("model name: an alias belongs to a name (ns/name), not to '" + name +
                           "'");
  }
  if (alias.empty()) return InvalidArgument("field 'alias' is required");
  // Access is checked against the version the alias will name (the default when removing).
  const std::string target = version.empty() ? name : name + "@" + version;
  MLOS_MODEL_OP(security::Action::kAlias, "alias", target, name + "@" + alias,
                core_.SetAlias(name, alias, version));
}
Result<core::ModelStatus> Service::Pin(const RequestContext& ctx, const std::string& id,
                                       bool pinned) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  MLOS_MODEL_OP(security::Action::kPin, pinned ? "pin" : "unpin", id, id, core_.Pin(id, pinned));
}
#undef MLOS_MODEL_OP

Result<std::vector<core::ModelStatus>> Service::List(const RequestContext& ctx) {
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, Check(ctx, security::Action::kList));
  std::vector<core::ModelStatus> all = core_.List();
  if (!who || who->role == security::Role::kAdmin) return all;
  std::vector<core::ModelStatus> visible;
  for (core::ModelStatus& s : all) {
    if (guard_->MaySee(*who, {s.name, s.id, &s.policy->principals, &s.policy->roles})) {
      visible.push_back(std::move(s));
    }
  }
  return visible;
}

Result<core::ModelStatus> Service::Get(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  MLOS_RETURN_IF_ERROR(CheckModel(ctx, security::Action::kMetadata, id).status());
  return Logged(ctx, "get", id, core_.Get(id));
}

Result<std::vector<core::PluginStatus>> Service::Plugins(const RequestContext& ctx) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kMetadata).status());
  return core_.Plugins();
}

// ---- shared memory ----

Status Service::RegisterShmSystem(const RequestContext& ctx, const std::string& name,
                                  const std::string& key, uint64_t offset, uint64_t byte_size) {
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, Check(ctx, security::Action::kSharedMemory));
  Status st = Logged(ctx, "register-shm", name, shm_.RegisterSystem(name, key, offset, byte_size));
  AuditAction(ctx, who.get(), security::Action::kSharedMemory, "region:" + name, st);
  return st;
}

Status Service::RegisterShmFd(const RequestContext& ctx, const std::string& name, int fd,
                              uint64_t offset, uint64_t byte_size) {
  auto who = Check(ctx, security::Action::kSharedMemory);
  if (!who.ok()) {
    ::close(fd);
    return who.status();
  }
  if (ctx.shm_owner.empty()) {
    ::close(fd);
    return InvalidArgument("shared memory descriptors can be registered over IPC only");
  }
  Status st = shm_.RegisterFd(name, fd, offset, byte_size, ctx.shm_owner);
  if (st.ok()) {
    spdlog::debug("{}: registered region \"{}\" ({} bytes) for {}", ctx.shm_owner, name,
                  byte_size, CallerName(ctx, who->get()));
  }
  AuditAction(ctx, who->get(), security::Action::kSharedMemory, "region:" + name, st);
  return Logged(ctx, "register-shm", name, st);
}

Status Service::UnregisterShm(const RequestContext& ctx, const std::string& name) {
  MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, Check(ctx, security::Action::kSharedMemory));
  Status st = UnregisterShmChecked(ctx, name);
  AuditAction(ctx, who.get(), security::Action::kSharedMemory, "region:" + name, st);
  return st;
}

Status Service::UnregisterShmChecked(const RequestContext& ctx, const std::string& name) {
  if (name.empty()) {
    auto list = shm_.List();
    if (!list.ok()) return list.status();
    for (const ShmRegionStatus& s : *list) {
      if (s.owner == ctx.shm_owner) (void)shm_.Unregister(s.name);
    }
    return Status::Ok();
  }
  auto list = shm_.List(name);
  if (!list.ok()) return Logged(ctx, "unregister-shm", name, list.status());
  if ((*list)[0].owner != ctx.shm_owner) {
    return NotFound("shared memory region \"" + name + "\" is not registered");
  }
  return Logged(ctx, "unregister-shm", name, shm_.Unregister(name));
}

Result<std::vector<ShmRegionStatus>> Service::ShmStatus(const RequestContext& ctx,
                                                        const std::string& name) {
  MLOS_RETURN_IF_ERROR(Check(ctx, security::Action::kSharedMemory).status());
  auto list = shm_.List(name);
  if (!list.ok()) return list.status();
  std::vector<ShmRegionStatus> visible;
  for (ShmRegionStatus& s : *list) {
    if (s.owner.empty() || s.owner == ctx.shm_owner) visible.push_back(std::move(s));
  }
  if (!name.empty() && visible.empty()) {
    return NotFound("shared memory region \"" + name + "\" is not registered");
  }
  return visible;
}

void Service::ReleaseShmOwner(const std::string& owner) {
  if (!owner.empty()) shm_.UnregisterOwnedBy(owner);
}

Result<ShmView> Service::ResolveShm(const RequestContext& ctx, const ShmRef& ref) const {
  auto list = shm_.List(ref.region);
  if (!list.ok()) return list.status();
  const std::string& owner = (*list)[0].owner;
  if (!owner.empty() && owner != ctx.shm_owner) {
    // Another connection's private region: as if it did not exist.
    return NotFound("shared memory region \"" + ref.region + "\" is not registered");
  }
  return shm_.Resolve(ref.region, ref.offset, ref.byte_size);
}

}  // namespace mlos::service
