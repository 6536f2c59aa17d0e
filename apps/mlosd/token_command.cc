// `mlosd token create|list|revoke`: token management beside a running daemon (or without
// one), straight on the registry database; the daemon sees a change within a second. Token
// changes are audited like the API's (protocol "cli", principal "uid:<N>").
#include "token_command.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/common/token_json.h"
#include "config.h"
#include "security/audit.h"
#include "security/token.h"
#include "security/token_store.h"

namespace mlos::mlosd {
namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "mlosd token: %s\n", security::RedactSecrets(what).c_str());
  return 1;
}

void Audit(const DaemonConfig& c, const std::string& action, const std::string& name,
           const Status& st) {
  auto log = security::AuditLog::Open(c.audit);
  if (!log.ok()) return;
  security::AuditEvent e;
  e.principal = "uid:" + std::to_string(::getuid());
  e.method = "local";
  e.protocol = "cli";
  e.peer = "pid " + std::to_string(::getpid());
  e.action = action;
  e.model = "token:" + name;
  e.outcome = st.ok() ? "ok" : "error";
  e.reason = st.message();
  (void)(*log)->Record(e);
}

std::string Time(int64_t ms) { return ms > 0 ? security::FormatUnixMs(ms) : "-"; }

}  // namespace

int RunTokenCommand(int argc, char** argv) {
  CLI::App app{"mlosd token: create, list and revoke bearer tokens (docs/security.md)"};
  app.require_subcommand(1);
  std::string state_dir, config_file;
  auto common = [&](CLI::App* sub) {
    sub->add_option("--state-dir", state_dir,
                    "the daemon's state directory (default as mlosd: $MLOS_STATE_DIR, "
                    "$XDG_STATE_HOME/mlos or ./var)");
    sub->add_option("--config", config_file, "the daemon's YAML config (for state_dir, audit)")
        ->check(CLI::ExistingFile);
  };
  std::string name, role, expires;
  std::vector<std::string> models;
  auto* create = app.add_subcommand("create", "create a token and print it (only it) on stdout");
  common(create);
  create->add_option("--name", name, "the principal the token identifies")->required();
  create->add_option("--role", role, "admin | operator | user | reader")->required();
  create->add_option("--model", models, "model pattern it may reach (team/*), repeatable");
  create->add_option("--expires", expires, "lifetime: 90m, 12h, 30d, 2w (default: never)");
  bool json = false;
  auto* list = app.add_subcommand("list", "list tokens (never the tokens themselves)");
  common(list);
  list->add_flag("--json", json, "one JSON document");
  std::string revoke_name;
  auto* revoke = app.add_subcommand("revoke", "revoke a token by name");
  common(revoke);
  revoke->add_option("name", revoke_name, "the token's name")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  DaemonConfig config = DefaultConfig();
  if (!config_file.empty()) {
    if (Status st = ApplyConfigFile(config_file, config); !st.ok()) return Fail(st.message());
  }
  ApplyEnvironment(config);
  if (!state_dir.empty()) config.state_dir = state_dir;
  ResolveSecurityDefaults(config);
  auto store = security::TokenStore::Open(config.state_dir / "registry.db");
  if (!store.ok()) return Fail(store.status().message());

  if (create->parsed()) {
    auto spec = security::MakeTokenSpec(name, role, models, expires);
    if (!spec.ok()) return Fail("--" + spec.status().message());
    auto issued = (*store)->Issue(*spec);
    Audit(config, "tokens", name,
          issued.ok() ? Status::Ok() : issued.status().WithPrefix("create"));
    if (!issued.ok()) return Fail(issued.status().message());
    std::printf("%s\n", issued->first.c_str());
    return 0;
  }
  if (list->parsed()) {
    auto all = (*store)->List();
    if (!all.ok()) return Fail(all.status().message());
    if (json) {
      std::string out;
      api::EncodeTokenList(*all, out);  // the API's GET /tokens document
      std::printf("%s\n", out.c_str());
      return 0;
    }
    std::printf("%-20s %-9s %-24s %-21s %-21s %-21s %s\n", "NAME", "ROLE", "MODELS", "CREATED",
                "EXPIRES", "LAST USED", "REVOKED");
    for (const security::TokenRecord& t : *all) {
      std::string ms;
      for (const std::string& m : t.models) ms += (ms.empty() ? "" : ",") + m;
      std::printf("%-20s %-9s %-24s %-21s %-21s %-21s %s\n", t.name.c_str(),
                  security::RoleName(t.role), ms.empty() ? "*" : ms.c_str(),
                  Time(t.created_at_ms).c_str(), Time(t.expires_at_ms).c_str(),
                  Time(t.last_used_at_ms).c_str(), Time(t.revoked_at_ms).c_str());
    }
    return 0;
  }
  auto revoked = (*store)->Revoke(revoke_name);
  Audit(config, "tokens", revoke_name,
        revoked.ok() ? Status::Ok() : revoked.status().WithPrefix("revoke"));
  if (!revoked.ok()) return Fail(revoked.status().message());
  std::printf("revoked token '%s'\n", revoke_name.c_str());
  return 0;
}

}  // namespace mlos::mlosd
