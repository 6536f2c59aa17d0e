// Axon registry adapter (the original Axon's "local" adapter), for namespaces other than the
// built-in hubs:
//   GET {url}/api/v1/models/{ns}/{name...}/{ver}/manifest.yaml  -> an MPF manifest whose
//       distribution.package{url, size, sha256, mirrors[]} names a ready .axon package
//   GET {url}/api/v1/search?q={text}&limit={n}
//       -> [{"namespace": str, "name": str, "version": str, "description": str}, ...]
//          (an object {"results": [...]} is accepted too)
// Package URLs may be absolute, origin-relative ("/files/x.axon": against the registry's
// scheme://host:port) or relative ("files/x.axon": against the registry URL as a directory).
// A manifest without a package sha256 is refused: the package could not be verified.
#include <cctype>
#include <filesystem>
#include <map>
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
#include "mpf/manifest.h"

namespace mlos::axon {
namespace {

using nlohmann::json;

std::string NormalizeUrl(std::string url) {
  while (!url.empty() && (url.back() == '/' || url.back() == ' ')) url.pop_back();
  while (!url.empty() && url.front() == ' ') url.erase(url.begin());
  if (!url.empty() && url.find("://") == std::string::npos) url = "https://" + url;
  return url;
}

// "scheme://host:port" of an absolute URL.
std::string Origin(const std::string& url) {
  size_t p = url.find("://");
  if (p == std::string::npos) return url;
  size_t slash = url.find('/', p + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

std::string ResolveAgainst(const std::string& base, const std::string& ref) {
  if (ref.find("://") != std::string::npos) return ref;
  if (ref.rfind("//", 0) == 0) return base.substr(0, base.find("://") + 1) + ref;
  if (!ref.empty() && ref.front() == '/') return Origin(base) + ref;
  return base + "/" + ref;
}

bool IsBuiltinNamespace(const std::string& ns) {
  return ns == "hf" || ns == "modelscope" || ns == "pytorch" || ns == "tfhub";
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class RegistryAdapter : public HubAdapter {
 public:
  explicit RegistryAdapter(const HubConfig& config)
      : config_(config), url_(NormalizeUrl(config.registry_url)) {}

  std::string Name() const override { return "registry"; }

  Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) override {
    const std::string version = !opts.revision.empty() ? opts.revision : ref.version;
    const std::string id = ref.ns + "/" + ref.name + "@" + version;
    if (url_.empty())
      return FailedPrecondition(id +
                                ": no Axon registry configured (set registry.url in the "
                                "config or AXON_REGISTRY_URL)");
    if (IsBuiltinNamespace(ref.ns))
      return InvalidArgument(id + ": namespace \"" + ref.ns +
                             "\" belongs to a built-in hub, not the Axon registry");

    const std::string manifest_url = url_ + "/api/v1/models/" + UrlEncodeSegment(ref.ns) + "/" +
                                     UrlEncodePath(ref.name) + "/" + UrlEncodeSegment(version) +
                                     "/manifest.yaml";
    HttpRequest req;
    req.url = manifest_url;
    req.timeout_s = config_.timeout_s;
    req.max_body_bytes = 8ull << 20;
    MLOS_ASSIGN_OR_RETURN(HttpResponse resp, HttpFetch(req));
    if (resp.status == 404) return NotFound(id + ": model not found in registry " + url_);
    if (resp.status == 401)
      return Unauthenticated(id + ": registry " + url_ + " wants credentials");
    if (resp.status == 403) return PermissionDenied(id + ": registry " + url_ + " denied access");
    if (resp.status != 200)
      return Unavailable(id + ": registry " + url_ + " answered HTTP " +
                         std::to_string(resp.status) + " for the manifest");

    std::vector<std::string> warnings;
    mpf::ParseOptions popts;
    popts.strict = false;
    auto parsed = mpf::ParseManifest(resp.body, popts, &warnings);
    if (!parsed.ok())
      return Status(StatusCode::kDataLoss,
                    id + ": invalid manifest from registry: " + parsed.status().message());
    const mpf::Manifest& m = parsed.value();
    const mpf::Distribution& dist = m.distribution;

    const std::string sha = Lower(dist.package_sha256);
    if (sha.empty())
      return FailedPrecondition(id +
                                ": the registry manifest has no distribution.package.sha256; "
                                "refusing a package that cannot be verified");
    if (!IsSha256Hex(sha))
      return DataLoss(id + ": distribution.package.sha256 \"" + dist.package_sha256 +
                      "\" is not a sha256 hex digest");
    if (dist.package_url.empty())
      return DataLoss(id + ": the registry manifest has no distribution.package.url");

    ResolvedModel model;
    model.ref = ref;
    model.version = version;
    model.commit = sha;
    model.meta.description = m.metadata.description;
    model.meta.license = m.metadata.license;
    model.meta.homepage = m.metadata.homepage;
    model.meta.pipeline_tag = m.metadata.pipeline_tag;
    model.meta.tags = m.metadata.tags;
    for (const auto& a : m.metadata.authors)
      if (!a.name.empty()) model.meta.authors.push_back(a.name);
    model.meta.library_name = m.framework.name;

    RemoteFile pkg;
    std::string pkg_name = ref.ns + "-" + ref.name + "-" +
                           (m.metadata.version.empty() ? version : m.metadata.version) + ".axon";
    for (auto& c : pkg_name)
      if (c == '/' || c == '\\') c = '_';
    pkg.path = pkg_name;
    pkg.size = dist.package_size;
    pkg.size_known = dist.package_size > 0;
    pkg.sha256 = sha;
    pkg.url = ResolveAgainst(url_, dist.package_url);
    model.package = pkg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& mirrors = mirrors_[sha];
      mirrors.clear();
      for (const auto& mirror : dist.mirrors)
        if (!mirror.empty()) mirrors.push_back(ResolveAgainst(url_, mirror));
    }

    // The files inside the package, for display; the install unpacks the package instead.
    for (const auto& f : m.format.files) {
      if (!IsSafeRelativePath(f.path))
        return DataLoss(id + ": manifest lists an unsafe file path \"" + f.path + "\"");
      RemoteFile rf;
      rf.path = f.path;
      rf.size = f.size;
      rf.sha256 = Lower(f.sha256);
      model.files.push_back(std::move(rf));
    }
    model.source = "axon-registry+" + url_ + "#" + ref.ns + "/" + ref.name + "@" +
                   (m.metadata.version.empty() ? version : m.metadata.version);
    for (const auto& w : warnings) model.notes.push_back("registry manifest: " + w);
    return model;
  }

  // Downloads the package (or any file with a URL) from its URL, then from each mirror in order.
  // Every source starts from an empty file; the error names every source that failed.
  Status Download(const ResolvedModel& model, const RemoteFile& file,
                  const std::filesystem::path& partial, const ProgressFn& progress) override {
    std::vector<std::string> sources;
    if (!file.url.empty()) sources.push_back(file.url);
    if (model.package && file.sha256 == model.package->sha256) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = mirrors_.find(file.sha256);
      if (it != mirrors_.end()) sources.insert(sources.end(), it->second.begin(), it->second.end());
    }
    const std::string what = model.ref.ns + "/" + model.ref.name + "@" + model.version;
    if (sources.empty()) return FailedPrecondition(what + ": " + file.path + " has no URL");
    Status first;
    std::string failures;
    for (size_t i = 0; i < sources.size(); ++i) {
      if (i > 0) {
        std::error_code ec;
        std::filesystem::remove(partial, ec);
      }
      DownloadSpec spec;
      spec.url = sources[i];
      spec.expected_size = file.size;
      spec.size_known = file.size_known;
      spec.expected_sha256 = file.sha256;
      spec.max_retries = config_.max_retries;
      spec.timeout_s = config_.timeout_s;
      const std::string src = sources[i];
      spec.error_mapper = [src](const HttpResponse& r) -> Status {
        std::string m = src + " answered HTTP " + std::to_string(r.status);
        if (r.status == 404) return NotFound(m);
        if (r.status == 401) return Unauthenticated(m);
        if (r.status == 403) return PermissionDenied(m);
        return Unavailable(m);
      };
      Status st = DownloadToFile(spec, partial, progress);
      if (st.ok()) return st;
      if (first.ok()) first = st;
      failures +=
          (failures.empty() ? "" : "; ") + std::string(i == 0 ? "" : "mirror: ") + st.message();
    }
    if (sources.size() == 1) return first.WithPrefix(what);
    return Status(first.code(), what + ": all " + std::to_string(sources.size()) +
                                    " sources failed: " + failures);
  }

  Result<std::vector<SearchHit>> Search(const std::string& query, int limit) override {
    if (url_.empty())
      return FailedPrecondition(
          "registry: no Axon registry configured (set registry.url in the "
          "config or AXON_REGISTRY_URL)");
    HttpRequest req;
    req.url = url_ + "/api/v1/search?q=" + UrlEncodeSegment(query) +
              (limit > 0 ? "&limit=" + std::to_string(limit) : "");
    req.timeout_s = config_.timeout_s;
    MLOS_ASSIGN_OR_RETURN(HttpResponse resp, HttpFetch(req));
    if (resp.status != 200)
      return Unavailable("registry " + url_ + ": search answered HTTP " +
                         std::to_string(resp.status));
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_object() && j.contains("results")) j = j["results"];
    if (!j.is_array()) return Unavailable("registry " + url_ + ": malformed search answer");
    std::vector<SearchHit> hits;
    for (const auto& e : j) {
      if (!e.is_object()) continue;
      auto str = [&e](const char* k) {
        auto it = e.find(k);
        return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      SearchHit h;
      std::string ns = str("namespace"), name = str("name"), ver = str("version");
      if (name.empty()) continue;
      h.id = (ns.empty() ? "" : ns + "/") + name;
      if (!ver.empty()) h.id += "@" + ver;
      h.description = str("description");
      h.pipeline_tag = str("pipeline_tag");
      if (auto d = e.find("downloads"); d != e.end() && d->is_number_unsigned())
        h.downloads = d->get<uint64_t>();
      h.source = "registry";
      hits.push_back(std::move(h));
      if (limit > 0 && static_cast<int>(hits.size()) >= limit) break;
    }
    return hits;
  }

 private:
  HubConfig config_;
  std::string url_;
  std::mutex mu_;
  // Package mirrors by package sha256, remembered from Resolve (ResolvedModel has no field for
  // them): a Download on another adapter instance tries the primary URL only. Guarded by mu_.
  std::map<std::string, std::vector<std::string>> mirrors_;
};

}  // namespace

std::unique_ptr<HubAdapter> MakeRegistryAdapter(const HubConfig& config) {
  return std::make_unique<RegistryAdapter>(config);
}

}  // namespace mlos::axon
