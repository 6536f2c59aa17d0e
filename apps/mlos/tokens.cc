// mlos tokens: create, list, revoke (admins only; the server decides). A token is printed
// exactly once, by `create`, on stdout; never in a table, an error or the JSON of list/revoke.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "format.h"

namespace mlos::cli {
namespace {

using nlohmann::json;

// An RFC 3339 time as the server sent it, or `unset` for "".
std::string Time(const std::string& t, const char* unset) { return t.empty() ? unset : t; }

json ToJson(const client::TokenInfo& t) {
  auto time = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"name", t.name},
          {"role", t.role},
          {"models", t.models},
          {"created_at", time(t.created_at)},
          {"expires_at", time(t.expires_at)},
          {"last_used_at", time(t.last_used_at)},
          {"revoked_at", time(t.revoked_at)}};
}

std::string Models(const std::vector<std::string>& models) {
  if (models.empty()) return "*";
  std::string s;
  for (const std::string& m : models) s += (s.empty() ? "" : ",") + m;
  return s;
}

}  // namespace

int TokensCreate(const Globals& g, const std::string& name, const std::string& role,
                 const std::vector<std::string>& models, const std::string& expires) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->CreateToken(name, role, models, expires);
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    json j = ToJson(r->info);
    j["token"] = r->token;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << r->token << "\n";
  }
  return 0;
}

int TokensList(const Globals& g) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->ListTokens();
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    json arr = json::array();
    for (const auto& t : *r) arr.push_back(ToJson(t));
    std::cout << json{{"tokens", arr}, {"count", r->size()}}.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : *r) {
    rows.push_back({t.name, t.role, Models(t.models), Time(t.created_at, "-"),
                    Time(t.expires_at, "never"), Time(t.last_used_at, "never"),
                    Time(t.revoked_at, "-")});
  }
  PrintTable({"NAME", "ROLE", "MODELS", "CREATED", "EXPIRES", "LAST USED", "REVOKED"}, rows);
  return 0;
}

int TokensRevoke(const Globals& g, const std::string& name) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->RevokeToken(name);
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    std::cout << ToJson(*r).dump(2) << "\n";
  } else {
    std::cout << "revoked " << r->name
              << (r->revoked_at.empty() ? "" : " at " + r->revoked_at) << "\n";
  }
  return 0;
}

}  // namespace mlos::cli
