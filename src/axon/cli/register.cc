#include "axon/cli/register.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "axon/hub/http.h"

namespace mlos::axon::cli {
namespace {

using nlohmann::json;

// A refusal by mlosd as one line: the status, what it means for the user, the server's words.
Status Refused(const std::string& id, const std::string& endpoint, const HttpResponse& resp) {
  std::string detail = resp.body;
  auto j = json::parse(resp.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    detail = j["error"].get<std::string>();
  const std::string head =
      "register " + id + ": " + endpoint + " answered " + std::to_string(resp.status);
  if (resp.status == 401)
    return Unauthenticated(head + " (not authenticated: pass --token or set MLOS_TOKEN): " +
                           detail);
  if (resp.status == 403)
    return PermissionDenied(head + " (permission denied): " + detail);
  return Unavailable(head + ": " + detail);
}

}  // namespace

Status ResolveRegisterTarget(RegisterTarget& target) {
  if (target.cert_file.empty() != target.key_file.empty())
    return InvalidArgument("--cert and --key go together");
  if (target.endpoint.empty()) {
    const char* e = std::getenv("MLOS_CORE_ENDPOINT");
    target.endpoint = e && *e ? e : "http://localhost:8080";
  }
  while (!target.endpoint.empty() && target.endpoint.back() == '/') target.endpoint.pop_back();
  if (target.token.empty()) {
    const char* t = std::getenv("MLOS_TOKEN");
    if (t) target.token = t;
  }
  return Status::Ok();
}

Result<std::string> RegisterWithMlosd(const InstalledVersion& v, const mpf::Manifest& m,
                                      const RegisterTarget& target) {
  const json body = {{"model_id", v.Id()},
                     {"name", m.metadata.name},
                     {"framework", m.framework.name},
                     {"execution_format", m.format.execution_format},
                     {"path", v.dir.string()},
                     {"description", m.metadata.description},
                     {"manifest_path", (v.dir / "manifest.yaml").string()}};
  HttpRequest req;
  req.method = "POST";
  req.url = target.endpoint + "/models/register";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body.dump();
  req.timeout_s = 30;
  if (!target.token.empty()) req.authorization = "Bearer " + target.token;
  req.ca_file = target.ca_file;
  req.cert_file = target.cert_file;
  req.key_file = target.key_file;
  auto resp = HttpFetch(req);
  if (!resp.ok())
    return resp.status().WithPrefix("register " + v.Id() + " with " + target.endpoint);
  if (resp->status < 200 || resp->status >= 300) return Refused(v.Id(), target.endpoint, *resp);
  return std::move(resp->body);
}

}  // namespace mlos::axon::cli
