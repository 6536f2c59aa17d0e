// Kaggle Models adapter (TF Hub moved there). A ref is
// tfhub/{owner}/{model}/{framework}/{variation}[/{version}] (or @version); endpoints, as kagglehub
// calls them:
//   GET {EP}/api/v1/models/{o}/{m}/{f}/{v}/get                 -> {"versionNumber", "overview",
//                                                                  "licenseName", "url", ...}
//   GET {EP}/api/v1/models/{o}/{m}/{f}/{v}/{n}/files?page_size=100[&page_token=t]
//                                                              -> {"files": [{"name", "size"}],
//                                                                  "nextPageToken"}
//   GET {EP}/api/v1/models/{o}/{m}/{f}/{v}/{n}/download/{path} -> the file (usually a redirect)
//   GET {EP}/api/v1/models/list?search={q}&page_size={n}       -> {"models": [{"ref", "title",
//                                                                  "subtitle"}]}
// Auth: HTTP Basic with KAGGLE_USERNAME:KAGGLE_KEY. Kaggle publishes no sha256: sizes are checked
// (DownloadToFile), the X-Goog-Hash MD5 is not.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "axon/hub/adapters.h"
#include "axon/hub/http.h"
#include "common/fs.h"

namespace mlos::axon {
namespace {

using nlohmann::json;

std::string NormalizeEndpoint(std::string ep) {
  while (!ep.empty() && (ep.back() == '/' || ep.back() == ' ')) ep.pop_back();
  while (!ep.empty() && ep.front() == ' ') ep.erase(ep.begin());
  if (ep.find("://") == std::string::npos) ep = "https://" + ep;
  return ep;
}

std::string Base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                 uint32_t(uint8_t(in[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string JsonString(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// A non-negative integer from a JSON number or numeric string (Kaggle sends int64 as strings).
bool JsonUint(const json& obj, const char* key, uint64_t* out) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  if (it == obj.end()) return false;
  if (it->is_number_unsigned()) {
    *out = it->get<uint64_t>();
    return true;
  }
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(it->get<int64_t>());
    return true;
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
      return false;
    *out = std::stoull(s);
    return true;
  }
  return false;
}

bool IsDigits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

class KaggleAdapter : public HubAdapter {
 public:
  explicit KaggleAdapter(const HubConfig& config)
      : config_(config), endpoint_(NormalizeEndpoint(config.kaggle_endpoint)) {
    if (!config.kaggle_username.empty() && !config.kaggle_key.empty())
      authorization_ = "Basic " + Base64(config.kaggle_username + ":" + config.kaggle_key);
  }

  std::string Name() const override { return "tfhub"; }

  Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) override {
    std::vector<std::string> segs;
    for (size_t start = 0;;) {
      size_t slash = ref.name.find('/', start);
      segs.push_back(ref.name.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (segs.size() != 4 && segs.size() != 5)
      return InvalidArgument("tfhub/" + ref.name +
                             ": Kaggle models are named "
                             "tfhub/<owner>/<model>/<framework>/<variation>[/<version>]");
    std::string requested = !opts.revision.empty() ? opts.revision : ref.version;
    if (segs.size() == 5) {
      if (!IsDigits(segs[4]))
        return InvalidArgument("tfhub/" + ref.name + ": the version \"" + segs[4] +
                               "\" is not a number");
      if (requested != "latest" && requested != segs[4])
        return InvalidArgument("tfhub/" + ref.name + ": version given twice (" + segs[4] + " and " +
                               requested + ")");
      requested = segs[4];
    }
    if (requested != "latest" && !IsDigits(requested))
      return InvalidArgument("tfhub/" + ref.name + ": Kaggle versions are numbers, not \"" +
                             requested + "\"");
    const std::string& o = segs[0];
    const std::string& m = segs[1];
    const std::string& f = segs[2];
    const std::string& v = segs[3];
    const std::string handle = o + "/" + m + "/" + f + "/" + v;
    const std::string id = "tfhub/" + handle;
    const std::string instance = endpoint_ + "/api/v1/models/" + UrlEncodeSegment(o) + "/" +
                                 UrlEncodeSegment(m) + "/" + UrlEncodeSegment(f) + "/" +
                                 UrlEncodeSegment(v);

    // The instance: existence, metadata and its latest version.
    MLOS_ASSIGN_OR_RETURN(json inst, GetJson(instance + "/get", id));
    std::string number = requested;
    if (number == "latest") {
      uint64_t n = 0;
      if (!JsonUint(inst, "versionNumber", &n) || n == 0)
        return Unavailable(id + ": the Kaggle answer has no versionNumber");
      number = std::to_string(n);
    }

    ResolvedModel model;
    model.ref = ref;
    model.ref.ns = "tfhub";
    model.version = requested;
    model.commit = number;
    model.source = "kaggle://" + handle + "/" + number;
    model.meta.description = JsonString(inst, "overview");
    if (model.meta.description.empty()) model.meta.description = JsonString(inst, "subtitle");
    model.meta.license = JsonString(inst, "licenseName");
    model.meta.homepage = endpoint_ + "/models/" + o + "/" + m + "/frameworks/" + f +
                          "/variations/" + v + "/versions/" + number;
    model.meta.library_name = f;

    const std::string version_url = instance + "/" + number;
    std::string token;
    for (int page = 0; page < 1000; ++page) {
      std::string url = version_url + "/files?page_size=100";
      if (!token.empty()) url += "&page_token=" + UrlEncodeSegment(token);
      MLOS_ASSIGN_OR_RETURN(json listing, GetJson(url, id + "/" + number));
      if (!listing.is_object() || !listing.contains("files") || !listing["files"].is_array())
        return Unavailable(id + "/" + number + ": malformed file list (no \"files\")");
      for (const auto& e : listing["files"]) {
        RemoteFile rf;
        rf.path = JsonString(e, "name");
        if (!IsSafeRelativePath(rf.path))
          return DataLoss(id + ": Kaggle listed an unsafe file path \"" + rf.path + "\"");
        rf.size_known = JsonUint(e, "size", &rf.size);
        if (!rf.size_known) rf.size = 0;
        rf.url = version_url + "/download/" + UrlEncodePath(rf.path);
        model.files.push_back(std::move(rf));
      }
      token = JsonString(listing, "nextPageToken");
      if (token.empty()) break;
    }
    if (model.files.empty()) return NotFound(id + "/" + number + ": the version has no files");

    // The note only when the install would select nothing directly executable (a SavedModel
    // or Keras file, not a .tflite, .onnx, .gguf or TorchScript file).
    auto selection = SelectFiles(model.files, opts);
    if (selection.ok() && selection->execution_format == "none")
      model.notes.push_back("Kaggle " + f + " model: needs conversion (e.g. to TFLite or ONNX) " +
                            "before mlosd can serve it");
    return model;
  }

  Status Download(const ResolvedModel& model, const RemoteFile& file,
                  const std::filesystem::path& partial, const ProgressFn& progress) override {
    DownloadSpec spec;
    spec.url = file.url;
    spec.authorization = authorization_;
    spec.expected_size = file.size;
    spec.size_known = file.size_known;
    spec.expected_sha256 = file.sha256;
    spec.max_retries = config_.max_retries;
    spec.timeout_s = config_.timeout_s;
    const std::string what = "tfhub/" + model.ref.name + ": " + file.path;
    spec.error_mapper = [this, what](const HttpResponse& r) { return MapError(r, what); };
    return DownloadToFile(spec, partial, progress);
  }

  Result<std::vector<SearchHit>> Search(const std::string& query, int limit) override {
    int page_size = limit > 0 && limit < 100 ? limit : 20;
    MLOS_ASSIGN_OR_RETURN(
        json j, GetJson(endpoint_ + "/api/v1/models/list?search=" + UrlEncodeSegment(query) +
                            "&page_size=" + std::to_string(page_size),
                        "tfhub search"));
    std::vector<SearchHit> hits;
    if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) return hits;
    for (const auto& e : j["models"]) {
      std::string r = JsonString(e, "ref");
      if (r.empty()) continue;
      SearchHit h;
      h.id = "tfhub/" + r;
      h.description = JsonString(e, "subtitle");
      if (h.description.empty()) h.description = JsonString(e, "title");
      uint64_t d = 0;
      if (JsonUint(e, "downloadCount", &d)) h.downloads = d;
      h.source = "kaggle";
      hits.push_back(std::move(h));
      if (limit > 0 && static_cast<int>(hits.size()) >= limit) break;
    }
    return hits;
  }

 private:
  Status MapError(const HttpResponse& r, const std::string& what) const {
    std::string detail = " (HTTP " + std::to_string(r.status) + ")";
    if (r.status == 404) return NotFound(what + ": not found" + detail);
    if (r.status == 401)
      return Unauthenticated(
          what + ": Kaggle wants credentials" + detail +
          (authorization_.empty() ? "; set KAGGLE_USERNAME and KAGGLE_KEY" : ""));
    if (r.status == 403)
      return PermissionDenied(what + ": access denied" + detail +
                              (authorization_.empty()
                                   ? "; set KAGGLE_USERNAME and KAGGLE_KEY"
                                   : "; check KAGGLE_USERNAME/KAGGLE_KEY and accept the "
                                     "model's license on kaggle.com"));
    if (r.status == 429) return ResourceExhausted(what + ": rate limited by Kaggle" + detail);
    return Unavailable(what + ": Kaggle answered" + detail);
  }

  Result<json> GetJson(const std::string& url, const std::string& what) {
    HttpRequest req;
    req.url = url;
    req.authorization = authorization_;
    req.timeout_s = config_.timeout_s;
    MLOS_ASSIGN_OR_RETURN(HttpResponse resp, HttpFetch(req));
    if (resp.status == 404) return NotFound(what + ": model not found");
    if (resp.status != 200) return MapError(resp, what);
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) return Unavailable(what + ": malformed JSON from " + url);
    return j;
  }

  HubConfig config_;
  std::string endpoint_;
  std::string authorization_;  // "Basic ..." or ""
};

}  // namespace

std::unique_ptr<HubAdapter> MakeKaggleAdapter(const HubConfig& config) {
  return std::make_unique<KaggleAdapter>(config);
}

}  // namespace mlos::axon
