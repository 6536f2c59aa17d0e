// Security in the service: every operation asks Check / CheckModel first (security::Guard
// decides), refusals are audited, counted and logged in one place (Deny), and management
// actions are audited (AuditAction). Token management for admins.
#include <spdlog/spdlog.h>

#include "security/token.h"
#include "service/metrics.h"
#include "service/service.h"

namespace mlos::service {

using security::Action;
using security::IdentityPtr;

const std::string& Service::CallerName(const RequestContext& ctx, const security::Identity* who) {
  return who ? who->name : ctx.principal.name;
}

Result<IdentityPtr> Service::Check(const RequestContext& ctx, Action action,
                                   const std::string& model) {
  if (!guard_) return IdentityPtr();
  if (ctx.daemon) {
    static const IdentityPtr kDaemon = std::make_shared<const security::Identity>(
        security::Identity{"mlosd", security::Role::kAdmin, "daemon", {}});
    return kDaemon;
  }
  auto who = guard_->Authenticate(ctx.credentials, ctx.principal.name);
  if (!who.ok()) {
    Deny(ctx, nullptr, action, model, who.status());
    return who.status();
  }
  if (Status st = guard_->Authorize(**who, action); !st.ok()) {
    Deny(ctx, who->get(), action, model, st);
    return st;
  }
  return who;
}

Result<IdentityPtr> Service::CheckModel(const RequestContext& ctx, Action action,
                                        const std::string& ref) {
  MLOS_ASSIGN_OR_RETURN(IdentityPtr who, Check(ctx, action, ref));
  if (!who || who->role == security::Role::kAdmin) return who;
  auto model = core_.Resolve(ref, "");
  if (!model.ok()) return model.status();  // unknown model: 404 for whoever may act on models
  Status st = guard_->AuthorizeModel(
      *who, action, {model->name, model->id, &model->policy->principals, &model->policy->roles});
  if (!st.ok()) {
    Deny(ctx, who.get(), action, model->id, st);
    return st;
  }
  return who;
}

void Service::Deny(const RequestContext& ctx, const security::Identity* who, Action action,
                   const std::string& model, const Status& status) {
  Deny(ctx, who, ActionName(action), model, status);
}

void Service::Deny(const RequestContext& ctx, const security::Identity* who, const char* action,
                   const std::string& model, const Status& status) {
  if (metrics_) metrics_->RecordDenial(ProtocolName(ctx.protocol), action, status.code());
  const char* outcome = status.code() == StatusCode::kUnauthenticated    ? "unauthenticated"
                        : status.code() == StatusCode::kPermissionDenied ? "denied"
                                                                         : "limited";
  spdlog::info("{} {} {}: {} {} ({}): {}", ProtocolName(ctx.protocol), action,
               model.empty() ? "-" : model, outcome, CallerName(ctx, who),
               ctx.peer.empty() ? "-" : ctx.peer, security::RedactSecrets(status.message()));
  if (!guard_) return;
  security::AuditEvent e;
  e.principal = CallerName(ctx, who);
  e.method = who ? who->method : "none";
  e.protocol = ProtocolName(ctx.protocol);
  e.peer = ctx.peer;
  e.action = action;
  e.model = model;
  e.outcome = outcome;
  e.reason = status.message();
  guard_->Audit(e);
}

void Service::AuditAction(const RequestContext& ctx, const security::Identity* who, Action action,
                          const std::string& model, const Status& status) {
  if (!guard_) return;
  security::AuditEvent e;
  e.principal = CallerName(ctx, who);
  e.method = who ? who->method : ctx.principal.method;
  e.protocol = ProtocolName(ctx.protocol);
  e.peer = ctx.peer;
  e.action = ActionName(action);
  e.model = model;
  e.outcome = status.ok() ? "ok" : "error";
  e.reason = status.message();
  guard_->Audit(e);
}

Result<IdentityPtr> Service::WhoAmI(const RequestContext& ctx) {
  if (!guard_) return Unimplemented("security is not configured");
  auto who = guard_->Authenticate(ctx.credentials, ctx.principal.name);
  if (!who.ok()) Deny(ctx, nullptr, "authenticate", "", who.status());
  return who;
}

Result<std::pair<std::string, security::TokenRecord>> Service::CreateToken(
    const RequestContext& ctx, const std::string& name, const std::string& role,
    const std::vector<std::string>& models, const std::string& expires) {
  if (!guard_) return Unimplemented("security is not configured");
  MLOS_ASSIGN_OR_RETURN(IdentityPtr who, Check(ctx, Action::kTokens, "token:" + name));
  // Errors name the field at fault ("role: ...", "expires: ...", "name: ...").
  auto spec = security::MakeTokenSpec(name, role, models, expires);
  Result<std::pair<std::string, security::TokenRecord>> r =
      spec.ok() ? guard_->CreateToken(*spec) : spec.status();
  AuditAction(ctx, who.get(), Action::kTokens, "token:" + name,
              r.ok() ? Status::Ok() : r.status().WithPrefix("create"));
  if (r.ok()) {
    spdlog::info("{} token '{}' (role {}) created by {}", ProtocolName(ctx.protocol), name, role,
                 CallerName(ctx, who.get()));
  }
  return r;
}

Result<std::vector<security::TokenRecord>> Service::ListTokens(const RequestContext& ctx) {
  if (!guard_) return Unimplemented("security is not configured");
  MLOS_RETURN_IF_ERROR(Check(ctx, Action::kTokens).status());
  return guard_->ListTokens();
}

Result<security::TokenRecord> Service::RevokeToken(const RequestContext& ctx,
                                                   const std::string& name) {
  if (!guard_) return Unimplemented("security is not configured");
  MLOS_ASSIGN_OR_RETURN(IdentityPtr who, Check(ctx, Action::kTokens, "token:" + name));
  auto r = guard_->RevokeToken(name);
  AuditAction(ctx, who.get(), Action::kTokens, "token:" + name,
              r.ok() ? Status::Ok() : r.status().WithPrefix("revoke"));
  if (r.ok()) {
    spdlog::info("{} token '{}' revoked by {}", ProtocolName(ctx.protocol), name,
                 CallerName(ctx, who.get()));
  }
  return r;
}

}  // namespace mlos::service
