// The `security:` section of mlosd's config (docs/security.md):
//
//   security:
//     auth: required                 # off (default) | required
//     model_roots: [/srv/models]     # default: $AXON_HOME/cache and <state_dir>/models
//     unix_principals: {"0": admin, "1000": alice}
//     principals:                    # mTLS CNs and Unix principals: role and model patterns
//       alice: {role: user, models: ["team/*"]}
//     limits:
//       default: {rate: 100, burst: 200, concurrency: 16, max_request_bytes: 64MiB}
//       roles: {user: {rate: 20}}
//       principals: {batch-job: {rate: 5, concurrency: 2}}
//     audit: {path: /var/log/mlos/audit.log, max_bytes: 64MiB, keep: 5}
//     trusted_keys: [/etc/mlos/keys/team.pub]   # isolation_config.cc (isolation.unsigned)
#include <charconv>
#include <cstdlib>
#include <set>

#include "config_internal.h"
#include "mpf/manifest.h"
#include "security/policy.h"

namespace mlos::mlosd {
namespace {

Status ReadBytes(const YAML::Node& parent, const char* key, const std::string& path,
                 uint64_t& out) {
  std::string text;
  MLOS_RETURN_IF_ERROR(Read(parent, key, path, text));
  if (text.empty()) return Status::Ok();
  auto v = mpf::ParseByteSize(text);
  if (!v.ok()) return InvalidArgument("config field '" + path + "': " + v.status().message());
  out = *v;
  return Status::Ok();
}

Result<security::Role> ReadRole(const YAML::Node& parent, const std::string& path) {
  std::string text;
  MLOS_RETURN_IF_ERROR(Read(parent, "role", path, text));
  auto role = security::ParseRole(text);
  if (!role || *role == security::Role::kNone) {
    return InvalidArgument("config field '" + path + "': '" + text +
                           "' is not one of admin, operator, user, reader");
  }
  return *role;
}

Result<security::Limit> ReadLimit(const YAML::Node& n, const std::string& path) {
  MLOS_RETURN_IF_ERROR(CheckKnownKeys(n, path, {"rate", "burst", "concurrency", "max_request_bytes"}));
  security::Limit l;
  MLOS_RETURN_IF_ERROR(Read(n, "rate", path + ".rate", l.rate));
  MLOS_RETURN_IF_ERROR(Read(n, "burst", path + ".burst", l.burst));
  MLOS_RETURN_IF_ERROR(Read(n, "concurrency", path + ".concurrency", l.concurrency));
  MLOS_RETURN_IF_ERROR(ReadBytes(n, "max_request_bytes", path + ".max_request_bytes",
                                 l.max_request_bytes));
  if (l.rate < 0 || l.burst < 0 || l.concurrency < 0) {
    return InvalidArgument("config field '" + path + "': rate, burst and concurrency must be >= 0");
  }
  if (l.burst > 0 && l.rate <= 0) {
    return InvalidArgument("config field '" + path + ".burst' needs a rate");
  }
  return l;
}

}  // namespace

Status ApplySecurityConfig(const YAML::Node& sec, DaemonConfig& c) {
  MLOS_RETURN_IF_ERROR(CheckKnownKeys(sec, "security", {"auth", "model_roots", "unix_principals",
                                               "principals", "limits", "audit",
                                               "trusted_keys"}));
  MLOS_RETURN_IF_ERROR(ApplyTrustedKeysConfig(sec["trusted_keys"], c));
  std::string auth;
  MLOS_RETURN_IF_ERROR(Read(sec, "auth", "security.auth", auth));
  if (!auth.empty()) {
    if (auth != "off" && auth != "required") {
      return InvalidArgument("config field 'security.auth' must be off or required, got '" +
                             auth + "'");
    }
    c.auth_required = auth == "required";
  }
  if (sec["model_roots"]) {
    std::vector<std::string> roots;
    MLOS_RETURN_IF_ERROR(Read(sec, "model_roots", "security.model_roots", roots));
    c.model_roots.assign(roots.begin(), roots.end());
  }
  if (const YAML::Node up = sec["unix_principals"]; up && !up.IsNull()) {
    if (!up.IsMap()) return InvalidArgument("config field 'security.unix_principals' must be a mapping");
    for (const auto& kv : up) {
      const std::string uid = kv.first.as<std::string>();
      unsigned v = 0;
      auto r = std::from_chars(uid.data(), uid.data() + uid.size(), v);
      if (uid.empty() || r.ec != std::errc() || r.ptr != uid.data() + uid.size()) {
        return InvalidArgument("config field 'security.unix_principals': key '" + uid +
                               "' is not a numeric uid");
      }
      if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
        return InvalidArgument("config field 'security.unix_principals." + uid +
                               "' must name a principal");
      }
      c.unix_principals[v] = kv.second.Scalar();
    }
  }
  if (const YAML::Node ps = sec["principals"]; ps && !ps.IsNull()) {
    if (!ps.IsMap()) return InvalidArgument("config field 'security.principals' must be a mapping");
    for (const auto& kv : ps) {
      const std::string name = kv.first.as<std::string>();
      const std::string path = "security.principals." + name;
      MLOS_RETURN_IF_ERROR(CheckKnownKeys(kv.second, path, {"role", "models"}));
      security::PrincipalConfig p;
      MLOS_ASSIGN_OR_RETURN(p.role, ReadRole(kv.second, path + ".role"));
      MLOS_RETURN_IF_ERROR(Read(kv.second, "models", path + ".models", p.models));
      for (const std::string& m : p.models) {
        MLOS_RETURN_IF_ERROR(security::ValidateModelPattern(m).WithPrefix(
            "config field '" + path + ".models'"));
      }
      c.principals[name] = std::move(p);
    }
  }
  if (const YAML::Node lim = sec["limits"]; lim && !lim.IsNull()) {
    MLOS_RETURN_IF_ERROR(CheckKnownKeys(lim, "security.limits", {"default", "roles", "principals"}));
    if (const YAML::Node d = lim["default"]; d && !d.IsNull()) {
      MLOS_ASSIGN_OR_RETURN(c.limits.defaults, ReadLimit(d, "security.limits.default"));
    }
    for (const char* group : {"roles", "principals"}) {
      const YAML::Node g = lim[group];
      if (!g || g.IsNull()) continue;
      const std::string gpath = std::string("security.limits.") + group;
      if (!g.IsMap()) return InvalidArgument("config field '" + gpath + "' must be a mapping");
      for (const auto& kv : g) {
        const std::string name = kv.first.as<std::string>();
        if (std::string(group) == "roles") {
          auto role = security::ParseRole(name);
          if (!role || *role == security::Role::kNone) {
            return InvalidArgument("config field '" + gpath + "." + name +
                                   "': not a role (admin, operator, user, reader)");
          }
        }
        MLOS_ASSIGN_OR_RETURN(security::Limit l, ReadLimit(kv.second, gpath + "." + name));
        (std::string(group) == "roles" ? c.limits.roles : c.limits.principals)[name] = l;
      }
    }
  }
  if (const YAML::Node a = sec["audit"]; a && !a.IsNull()) {
    MLOS_RETURN_IF_ERROR(CheckKnownKeys(a, "security.audit", {"path", "max_bytes", "keep"}));
    std::string path;
    MLOS_RETURN_IF_ERROR(Read(a, "path", "security.audit.path", path));
    if (!path.empty()) c.audit.path = path;
    MLOS_RETURN_IF_ERROR(ReadBytes(a, "max_bytes", "security.audit.max_bytes", c.audit.max_bytes));
    MLOS_RETURN_IF_ERROR(Read(a, "keep", "security.audit.keep", c.audit.keep));
    if (c.audit.max_bytes < 4096) {
      return InvalidArgument("config field 'security.audit.max_bytes' must be at least 4096");
    }
    if (c.audit.keep < 1 || c.audit.keep > 100) {
      return InvalidArgument("config field 'security.audit.keep' must be between 1 and 100");
    }
  }
  return Status::Ok();
}

void ResolveSecurityDefaults(DaemonConfig& c) {
  if (c.model_roots.empty()) {
    // axon's cache, where `axon install` puts packages ($AXON_HOME/cache, else ~/.axon/cache).
    std::filesystem::path axon_home;
    if (const char* h = std::getenv("AXON_HOME"); h && *h) {
      axon_home = h;
    } else {
      const char* home = std::getenv("HOME");
      axon_home = std::filesystem::path(home && *home ? home : "/tmp") / ".axon";
    }
    c.model_roots = {axon_home / "cache", c.state_dir / "models"};
  }
  if (c.audit.path.empty()) c.audit.path = c.state_dir / "audit.log";
}

}  // namespace mlos::mlosd
