// The service's health, metadata, management and shared-memory operations (inference is in
// service_infer.cc).
#include "service/service.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/policy.h"
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

Service::Service(core::Core& core, ShmRegistry& shm, Metrics* metrics, ServiceOptions options)
    : core_(core), shm_(shm), metrics_(metrics), options_(std::move(options)) {
  metadata_.name = options_.server_name;
  metadata_.version = options_.server_version;
  metadata_.extensions = {"binary_tensor_data", "model_repository", "statistics",
                          "system_shared_memory"};
}

Service::~Service() = default;

void Service::LogFailure(const RequestContext& ctx, const char* op, const std::string& what,
                         const Status& st) {
  // The server's own faults are worth an operator's attention; a caller's mistakes are not.
  const bool server_fault = st.code() == StatusCode::kInternal || st.code() == StatusCode::kDataLoss;
  spdlog::log(server_fault ? spdlog::level::warn : spdlog::level::debug,
              "{} {} {} by {} ({}): {} {}", ProtocolName(ctx.protocol), op, what,
              ctx.principal.name, ctx.peer.empty() ? "-" : ctx.peer, StatusCodeName(st.code()),
              st.message());
}

template <typename T>
T Service::Logged(const RequestContext& ctx, const char* op, const std::string& what, T result) {
  if (const Status st = StatusOf(result); !st.ok()) LogFailure(ctx, op, what, st);
  return result;
}

bool Service::Ready() const { return core_.Ready(); }

Result<ModelMetadata> Service::GetModelMetadata(const RequestContext& ctx,
                                                const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id, "model name"));
  auto model = Logged(ctx, "metadata", id, core_.Get(id));
  if (!model.ok()) return model.status();
  ModelMetadata m;
  for (const core::ModelStatus& s : core_.List()) {
    if (s.name == model->name) m.versions.push_back(s.version);
  }
  m.model = std::move(model).value();
  return m;
}

Result<core::ModelStatus> Service::ModelReady(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id, "model name"));
  auto model = core_.Get(id);
  if (!model.ok()) return Logged(ctx, "ready", id, Result<core::ModelStatus>(model.status()));
  if (model->state != core::ModelState::kReady) {
    return Unavailable("model '" + model->id + "' is not ready (state " +
                       core::ModelStateName(model->state) + ")");
  }
  return model;
}

core::CoreStats Service::Stats(const RequestContext&) { return core_.Stats(); }

Result<std::string> Service::RenderMetrics(const RequestContext&) {
  if (!metrics_) return NotFound("metrics are disabled");
  return metrics_->Render(core_.List());
}

Result<core::ModelStatus> Service::Register(const RequestContext& ctx,
                                            const core::RegisterRequest& request) {
  if (request.model_id.empty()) return InvalidArgument("field 'model_id' is required");
  if (request.path.empty()) return InvalidArgument("field 'path' (or 'model_path') is required");
  MLOS_RETURN_IF_ERROR(CheckId(request.model_id, "field 'model_id'"));
  auto r = Logged(ctx, "register", request.model_id, core_.Register(request));
  if (r.ok()) {
    spdlog::info("{} registered {} from {} (by {})", ProtocolName(ctx.protocol), r->id,
                 request.path, ctx.principal.name);
  }
  return r;
}

Status Service::Unregister(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  return Logged(ctx, "unregister", id, core_.Unregister(id));
}

Result<core::ModelStatus> Service::Load(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  return Logged(ctx, "load", id, core_.Load(id));
}

Result<core::ModelStatus> Service::Unload(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  return Logged(ctx, "unload", id, core_.Unload(id));
}

Result<core::ModelStatus> Service::SetDefault(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  auto [name, version] = SplitVersion(id);
  if (version.empty()) return InvalidArgument("set default needs a versioned id: ns/name@version");
  return Logged(ctx, "set-default", id, core_.SetDefault(name, version));
}

Result<core::ModelStatus> Service::Rollback(const RequestContext& ctx, const std::string& name) {
  MLOS_RETURN_IF_ERROR(CheckId(name));
  return Logged(ctx, "rollback", name, core_.Rollback(SplitVersion(name).first));
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
  return Logged(ctx, "alias", name + "@" + alias, core_.SetAlias(name, alias, version));
}

std::vector<core::ModelStatus> Service::List(const RequestContext&) { return core_.List(); }

Result<core::ModelStatus> Service::Get(const RequestContext& ctx, const std::string& id) {
  MLOS_RETURN_IF_ERROR(CheckId(id));
  return Logged(ctx, "get", id, core_.Get(id));
}

std::vector<core::PluginStatus> Service::Plugins(const RequestContext&) {
  return core_.Plugins();
}

// ---- shared memory ----

Status Service::RegisterShmSystem(const RequestContext& ctx, const std::string& name,
                                  const std::string& key, uint64_t offset, uint64_t byte_size) {
  return Logged(ctx, "register-shm", name, shm_.RegisterSystem(name, key, offset, byte_size));
}

Status Service::RegisterShmFd(const RequestContext& ctx, const std::string& name, int fd,
                              uint64_t offset, uint64_t byte_size) {
  if (ctx.shm_owner.empty()) {
    ::close(fd);
    return InvalidArgument("shared memory descriptors can be registered over IPC only");
  }
  Status st = shm_.RegisterFd(name, fd, offset, byte_size, ctx.shm_owner);
  if (st.ok()) {
    spdlog::debug("{}: registered region \"{}\" ({} bytes) for {}", ctx.shm_owner, name,
                  byte_size, ctx.principal.name);
  }
  return Logged(ctx, "register-shm", name, st);
}

Status Service::UnregisterShm(const RequestContext& ctx, const std::string& name) {
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
