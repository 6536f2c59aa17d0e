// ModelScope adapter (the HTTP API of the ModelScope SDK v1):
//   POST {EP}/api/v1/login {"AccessToken": tok}          -> session cookies (when a token is set)
//   GET  {EP}/api/v1/models/{owner}/{name}               -> metadata, envelope {Code, Success,
//                                                           Message, Data}
//   GET  {EP}/api/v1/models/{owner}/{name}/repo/files?Revision={rev}&Recursive=True
//                                                        -> Data.Files[] {Path, Type, Size, Sha256,
//                                                           Revision}
//   GET  {EP}/api/v1/models/{owner}/{name}/repo?Revision={rev}&FilePath={path}  -> file bytes
// The default revision is "master"; files are verified against their Sha256.
#include <cctype>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "axon/hub/adapters.h"
#include "axon/hub/http.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace mlos::axon {
namespace {

using nlohmann::json;

std::string NormalizeEndpoint(std::string ep) {
  while (!ep.empty() && (ep.back() == '/' || ep.back() == ' ')) ep.pop_back();
  while (!ep.empty() && ep.front() == ' ') ep.erase(ep.begin());
  if (ep.find("://") == std::string::npos) ep = "https://" + ep;
  return ep;
}

std::string JsonString(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// The envelope's message for error lines, or "".
std::string EnvelopeMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return JsonString(j, "Message");
}

class ModelScopeAdapter : public HubAdapter {
 public:
  explicit ModelScopeAdapter(const HubConfig& config)
      : config_(config), endpoint_(NormalizeEndpoint(config.modelscope_endpoint)) {}

  std::string Name() const override { return "modelscope"; }

  Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) override {
    const std::string id = "modelscope/" + ref.name;
    size_t slash = ref.name.find('/');
    if (slash == std::string::npos || ref.name.find('/', slash + 1) != std::string::npos)
      return InvalidArgument(id + ": ModelScope models are named modelscope/<owner>/<name>");
    const std::string owner = ref.name.substr(0, slash), name = ref.name.substr(slash + 1);
    std::string revision = !opts.revision.empty() ? opts.revision : ref.version;
    if (revision == "latest") revision = "master";

    MLOS_RETURN_IF_ERROR(EnsureLogin());
    const std::string base =
        endpoint_ + "/api/v1/models/" + UrlEncodeSegment(owner) + "/" + UrlEncodeSegment(name);

    // Metadata: also the existence check.
    MLOS_ASSIGN_OR_RETURN(json info, GetEnvelope(base, id));
    ResolvedModel model;
    model.ref = ref;
    model.ref.ns = "modelscope";
    model.version = !opts.revision.empty() ? opts.revision : ref.version;
    const json& data = info["Data"];
    model.meta.description = JsonString(data, "Description");
    model.meta.license = JsonString(data, "License");
    model.meta.homepage = endpoint_ + "/models/" + owner + "/" + name;
    if (data.is_object()) {
      if (auto t = data.find("Tags"); t != data.end() && t->is_array())
        for (const auto& tag : *t)
          if (tag.is_string()) model.meta.tags.push_back(tag.get<std::string>());
      if (auto t = data.find("Tasks"); t != data.end() && t->is_array() && !t->empty())
        model.meta.pipeline_tag = JsonString((*t)[0], "Name");
    }

    // File list at the revision.
    MLOS_ASSIGN_OR_RETURN(
        json listing,
        GetEnvelope(base + "/repo/files?Revision=" + UrlEncodeSegment(revision) + "&Recursive=True",
                    id + "@" + revision));
    const json& data_files = listing["Data"];
    if (!data_files.is_object() || !data_files.contains("Files") || !data_files["Files"].is_array())
      return Unavailable(id + ": malformed file list from " + endpoint_ + " (no Data.Files)");
    for (const auto& f : data_files["Files"]) {
      if (!f.is_object()) continue;
      if (JsonString(f, "Type") == "tree") continue;
      RemoteFile rf;
      rf.path = JsonString(f, "Path");
      if (!IsSafeRelativePath(rf.path))
        return DataLoss(id + ": hub listed an unsafe file path \"" + rf.path + "\"");
      if (auto s = f.find("Size"); s != f.end() && s->is_number_unsigned()) {
        rf.size = s->get<uint64_t>();
      } else if (s != f.end() && s->is_number_integer() && s->get<int64_t>() >= 0) {
        rf.size = static_cast<uint64_t>(s->get<int64_t>());
      } else {
        rf.size_known = false;
      }
      std::string sha = JsonString(f, "Sha256");
      for (auto& c : sha) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (IsSha256Hex(sha)) rf.sha256 = sha;
      rf.url = base + "/repo?Revision=" + UrlEncodeSegment(revision) +
               "&FilePath=" + UrlEncodeSegment(rf.path);
      if (model.commit.empty()) model.commit = JsonString(f, "Revision");
      model.files.push_back(std::move(rf));
    }
    if (model.files.empty())
      return NotFound(id + "@" + revision + ": the repository has no files at this revision");
    model.source = "modelscope://" + owner + "/" + name + "@" +
                   (model.commit.empty() ? revision : model.commit);
    return model;
  }

  Status Download(const ResolvedModel& model, const RemoteFile& file,
                  const std::filesystem::path& partial, const ProgressFn& progress) override {
    MLOS_RETURN_IF_ERROR(EnsureLogin());
    DownloadSpec spec;
    spec.url = file.url;
    spec.headers = CookieHeaders();
    spec.expected_size = file.size;
    spec.size_known = file.size_known;
    spec.expected_sha256 = file.sha256;
    spec.max_retries = config_.max_retries;
    spec.timeout_s = config_.timeout_s;
    const std::string what = "modelscope/" + model.ref.name + ": " + file.path;
    const bool have_token = !config_.modelscope_token.empty();
    spec.error_mapper = [what, have_token](const HttpResponse& r) -> Status {
      std::string msg = EnvelopeMessage(r.body);
      std::string detail =
          " (HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg) + ")";
      if (r.status == 404) return NotFound(what + ": file not found" + detail);
      if (r.status == 401 || r.status == 403)
        return PermissionDenied(what + ": access denied" + detail +
                                (have_token ? "" : "; set MODELSCOPE_API_TOKEN"));
      return Unavailable(what + ": download failed" + detail);
    };
    return DownloadToFile(spec, partial, progress);
  }

  Result<std::vector<SearchHit>> Search(const std::string& /*query*/, int /*limit*/) override {
    return Unimplemented("modelscope: search is not supported by axon; browse " + endpoint_ +
                         "/models");
  }

 private:
  HttpHeaders CookieHeaders() {
    std::lock_guard<std::mutex> lock(mu_);
    if (cookie_.empty()) return {};
    return {{"Cookie", cookie_}};
  }

  // Logs in once when a token is configured, keeping the session cookies for later requests.
  Status EnsureLogin() {
    if (config_.modelscope_token.empty()) return Status::Ok();
    std::lock_guard<std::mutex> lock(mu_);
    if (logged_in_) return Status::Ok();
    HttpRequest req;
    req.method = "POST";
    req.url = endpoint_ + "/api/v1/login";
    req.headers = {{"Content-Type", "application/json"}};
    req.body = json{{"AccessToken", config_.modelscope_token}}.dump();
    req.timeout_s = config_.timeout_s;
    MLOS_ASSIGN_OR_RETURN(HttpResponse resp, HttpFetch(req));
    json j = json::parse(resp.body, nullptr, false);
    bool success = resp.status == 200;
    if (j.is_object()) {
      auto it = j.find("Success");
      if (it != j.end()) success = success && it->is_boolean() && it->get<bool>();
    }
    if (resp.status != 200 || !success) {
      std::string msg = JsonString(j, "Message");
      return Unauthenticated("modelscope: login with MODELSCOPE_API_TOKEN failed (HTTP " +
                             std::to_string(resp.status) + (msg.empty() ? "" : ": " + msg) + ")");
    }
    std::string cookie;
    for (const auto& [k, v] : resp.headers) {
      if (k != "set-cookie") continue;
      std::string pair = v.substr(0, v.find(';'));
      if (pair.find('=') == std::string::npos) continue;
      while (!pair.empty() && pair.front() == ' ') pair.erase(pair.begin());
      cookie += (cookie.empty() ? "" : "; ") + pair;
    }
    cookie_ = cookie;
    logged_in_ = true;
    return Status::Ok();
  }

  // GETs an API URL and returns its envelope; maps 404 / Success=false to one clear line.
  Result<json> GetEnvelope(const std::string& url, const std::string& id) {
    HttpRequest req;
    req.url = url;
    req.headers = CookieHeaders();
    req.timeout_s = config_.timeout_s;
    MLOS_ASSIGN_OR_RETURN(HttpResponse resp, HttpFetch(req));
    json j = json::parse(resp.body, nullptr, false);
    std::string msg = JsonString(j, "Message");
    std::string hint =
        config_.modelscope_token.empty() ? " (if it is private, set MODELSCOPE_API_TOKEN)" : "";
    if (resp.status == 404) return NotFound(id + ": model not found" + hint);
    if (resp.status == 401 || resp.status == 403)
      return PermissionDenied(id + ": access denied" + (msg.empty() ? "" : " (" + msg + ")") +
                              hint);
    if (resp.status >= 300)
      return Unavailable(id + ": " + endpoint_ + " answered HTTP " + std::to_string(resp.status) +
                         (msg.empty() ? "" : ": " + msg));
    if (!j.is_object()) return Unavailable(id + ": malformed answer from " + url);
    if (auto s = j.find("Success"); s != j.end() && s->is_boolean() && !s->get<bool>())
      return NotFound(id + ": model not found" + (msg.empty() ? "" : " (" + msg + ")") + hint);
    return j;
  }

  HubConfig config_;
  std::string endpoint_;
  std::mutex mu_;
  bool logged_in_ = false;  // guarded by mu_
  std::string cookie_;      // guarded by mu_
};

}  // namespace

std::unique_ptr<HubAdapter> MakeModelScopeAdapter(const HubConfig& config) {
  return std::make_unique<ModelScopeAdapter>(config);
}

}  // namespace mlos::axon
