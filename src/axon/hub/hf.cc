// Hugging Face Hub adapter (hubs.md §1).
#include "axon/hub/hf.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/fs.h"

namespace mlos::axon {
namespace {

using json = nlohmann::json;

std::string OneLine(std::string s, size_t max = 300) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string GetString(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool GetU64(const json& j, const char* key, uint64_t* out) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  if (it == j.end()) return false;
  if (it->is_number_unsigned()) {
    *out = it->get<uint64_t>();
    return true;
  }
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(it->get<int64_t>());
    return true;
  }
  return false;
}

bool IsHex(const std::string& s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

class HfAdapter : public HubAdapter {
 public:
  explicit HfAdapter(HubConfig config) : config_(std::move(config)) {
    while (!config_.hf_endpoint.empty() && config_.hf_endpoint.back() == '/')
      config_.hf_endpoint.pop_back();
  }

  std::string Name() const override { return "hf"; }

  Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) override {
    const std::string label = "hf/" + ref.name;
    if (config_.hf_offline || opts.offline) return Offline(label);
    size_t slashes = std::count(ref.name.begin(), ref.name.end(), '/');
    if (ref.name.empty() || slashes > 1)
      return InvalidArgument(label + ": a Hugging Face repo id is \"org/name\"");
    std::string rev = opts.revision;
    if (rev.empty()) rev = ref.version_given && ref.version != "latest" ? ref.version : "main";
    if (rev == "latest") rev = "main";

    HttpRequest req;
    req.url = config_.hf_endpoint + "/api/models/" + UrlEncodePath(ref.name) + "/revision/" +
              UrlEncodeSegment(rev) + "?blobs=true";
    req.authorization = Auth();
    req.timeout_s = std::min(config_.timeout_s, 120);
    req.headers.emplace_back("Accept", "application/json");
    auto resp = HttpFetch(req);
    if (!resp.ok()) return resp.status().WithPrefix(label);
    if (resp->status != 200) return HfErrorStatus(*resp, label, rev, "");

    json info = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (info.is_discarded() || !info.is_object())
      return Unavailable(label + ": the hub's model info is not a JSON object (" + req.url + ")");
    std::string sha = GetString(info, "sha");
    if (!IsHex(sha, 40))
      return Unavailable(label + ": the hub's model info has no commit sha (" + req.url + ")");

    ResolvedModel m;
    m.ref = ref;
    m.version = rev;
    m.commit = sha;
    m.source = "hf://" + ref.name + "@" + sha;
    auto sib = info.find("siblings");
    if (sib != info.end() && sib->is_array()) {
      for (const json& s : *sib) {
        RemoteFile f;
        f.path = GetString(s, "rfilename");
        if (f.path.empty()) continue;
        if (!IsSafeRelativePath(f.path))
          return InvalidArgument(label + ": unsafe file path \"" + OneLine(f.path) +
                                 "\" in the repository listing");
        auto lfs = s.find("lfs");
        if (lfs != s.end() && lfs->is_object()) {
          f.sha256 = GetString(*lfs, "sha256");
          if (f.sha256.empty()) f.sha256 = GetString(*lfs, "oid");
          if (f.sha256.rfind("sha256:", 0) == 0) f.sha256 = f.sha256.substr(7);
          f.size_known = GetU64(*lfs, "size", &f.size) || GetU64(s, "size", &f.size);
        } else {
          f.git_oid = GetString(s, "blobId");
          f.size_known = GetU64(s, "size", &f.size);
        }
        if (!f.size_known) f.size = 0;
        f.url = config_.hf_endpoint + "/" + ref.name + "/resolve/" + sha + "/" + UrlEncodePath(f.path);
        m.files.push_back(std::move(f));
      }
    }

    auto card = info.find("cardData");
    if (card != info.end() && card->is_object()) {
      auto lic = card->find("license");
      if (lic != card->end() && lic->is_string()) {
        m.meta.license = lic->get<std::string>();
      } else if (lic != card->end() && lic->is_array()) {
        for (const json& l : *lic)
          if (l.is_string()) m.meta.license += (m.meta.license.empty() ? "" : ", ") + l.get<std::string>();
      }
      m.meta.description = GetString(*card, "description");
    }
    auto tags = info.find("tags");
    if (tags != info.end() && tags->is_array())
      for (const json& t : *tags)
        if (t.is_string()) m.meta.tags.push_back(t.get<std::string>());
    m.meta.pipeline_tag = GetString(info, "pipeline_tag");
    m.meta.library_name = GetString(info, "library_name");
    m.meta.homepage = config_.hf_endpoint + "/" + ref.name;
    std::string author = GetString(info, "author");
    if (!author.empty()) m.meta.authors.push_back(author);

    auto gated = info.find("gated");
    bool is_gated = gated != info.end() && gated->is_string() &&
                    (gated->get<std::string>() == "manual" || gated->get<std::string>() == "auto");
    {
      std::lock_guard<std::mutex> l(mu_);
      gated_[ref.name] = is_gated;
    }
    if (is_gated && config_.hf_token.empty())
      m.notes.push_back(label + " is gated: downloads need HF_TOKEN after accepting its conditions");
    return m;
  }

  Status Download(const ResolvedModel& model, const RemoteFile& file,
                  const std::filesystem::path& partial, const ProgressFn& progress) override {
    const std::string label = "hf/" + model.ref.name;
    if (config_.hf_offline) return Offline(label);
    bool gated;
    {
      std::lock_guard<std::mutex> l(mu_);
      gated = gated_[model.ref.name];
    }
    std::string rev = model.commit.empty() ? model.version : model.commit;
    bool mapped = false;
    DownloadSpec spec;
    spec.url = file.url;
    spec.authorization = Auth();
    spec.expected_size = file.size;
    spec.size_known = file.size_known;
    spec.expected_sha256 = file.sha256;
    spec.max_retries = config_.max_retries;
    spec.timeout_s = config_.timeout_s;
    spec.error_mapper = [&](const HttpResponse& r) {
      mapped = true;
      if (gated && (r.status == 401 || r.status == 403) && r.Header("x-error-code").empty()) {
        return Status(StatusCode::kPermissionDenied,
                      label + " is gated: accept its conditions on the hub and set HF_TOKEN");
      }
      return HfErrorStatus(r, label, rev, file.path);
    };
    Status st = DownloadToFile(spec, partial, progress);
    if (!st.ok()) return mapped ? st : st.WithPrefix(label + ": file \"" + file.path + "\"");
    if (file.sha256.empty() && IsHex(file.git_oid, 40) && file.size <= (256ull << 20)) {
      MLOS_ASSIGN_OR_RETURN(std::string oid, GitBlobSha1File(partial));
      if (oid != file.git_oid) {
        std::error_code ec;
        std::filesystem::remove(partial, ec);
        return DataLoss(label + ": file \"" + file.path + "\": git blob sha1 mismatch: expected " +
                        file.git_oid + ", got " + oid + " (partial file removed)");
      }
    }
    return Status::Ok();
  }

  Result<std::vector<SearchHit>> Search(const std::string& query, int limit) override {
    if (config_.hf_offline) return Offline("hf search");
    HttpRequest req;
    req.url = config_.hf_endpoint + "/api/models?search=" + UrlEncodeSegment(query) +
              "&limit=" + std::to_string(limit > 0 ? limit : 20);
    req.authorization = Auth();
    req.timeout_s = std::min(config_.timeout_s, 60);
    auto resp = HttpFetch(req);
    if (!resp.ok()) return resp.status().WithPrefix("hf search");
    if (resp->status != 200) return HfErrorStatus(*resp, "hf search", "", "");
    json arr = json::parse(resp->body, nullptr, false);
    if (arr.is_discarded() || !arr.is_array())
      return Unavailable("hf search: the hub's answer is not a JSON list (" + req.url + ")");
    std::vector<SearchHit> hits;
    for (const json& j : arr) {
      SearchHit h;
      h.id = GetString(j, "id");
      if (h.id.empty()) h.id = GetString(j, "modelId");
      if (h.id.empty()) continue;
      h.pipeline_tag = GetString(j, "pipeline_tag");
      GetU64(j, "downloads", &h.downloads);
      h.source = "hf";
      hits.push_back(std::move(h));
    }
    return hits;
  }

 private:
  std::string Auth() const { return config_.hf_token.empty() ? "" : "Bearer " + config_.hf_token; }

  static Status Offline(const std::string& label) {
    return Unavailable(label + ": offline mode is on (HF_HUB_OFFLINE=1): the hub is not contacted");
  }

  HubConfig config_;
  std::mutex mu_;
  std::map<std::string, bool> gated_;  // repo -> gated, from Resolve
};

}  // namespace

std::unique_ptr<HubAdapter> MakeHfAdapter(const HubConfig& config) {
  return std::make_unique<HfAdapter>(config);
}

Status HfErrorStatus(const HttpResponse& response, const std::string& label,
                     const std::string& revision, const std::string& file) {
  const std::string code = response.Header("x-error-code");
  const std::string server = OneLine(response.Header("x-error-message"));
  const std::string suffix = server.empty() ? "" : " [hub: " + server + "]";
  const long st = response.status;
  if (code == "GatedRepo")
    return PermissionDenied(label + " is gated: accept its conditions on the hub and set HF_TOKEN" +
                            suffix);
  if (code == "RepoNotFound" ||
      (st == 401 && code.empty() && server.find("Invalid credentials") == std::string::npos)) {
    return NotFound(label + ": repository not found (or private/gated: set HF_TOKEN)" + suffix);
  }
  if (code == "RevisionNotFound")
    return NotFound(label + ": revision \"" + revision + "\" not found" + suffix);
  if (code == "EntryNotFound")
    return NotFound(label + ": file \"" + file + "\" not found at revision " + revision + suffix);
  if (st == 401)
    return Unauthenticated(label + ": the hub rejected the token (check HF_TOKEN)" + suffix);
  if (server.find("Access to this resource is disabled") != std::string::npos)
    return PermissionDenied(label + ": the repository is disabled" + suffix);
  if (st == 403) {
    return PermissionDenied(label + ": access forbidden (HTTP 403): make sure HF_TOKEN has the "
                            "correct permissions" + suffix);
  }
  if (st == 404) {
    return NotFound(label + (file.empty() ? "" : ": file \"" + file + "\"") +
                    ": not found (HTTP 404)" + suffix);
  }
  if (st == 429) return ResourceExhausted(label + ": rate limited by the hub (HTTP 429)" + suffix);
  if (st >= 500) {
    return Unavailable(label + ": the hub failed (HTTP " + std::to_string(st) + ")" + suffix);
  }
  return Unavailable(label + ": unexpected answer HTTP " + std::to_string(st) + " from " +
                     response.effective_url + suffix);
}

Result<std::string> GitBlobSha1File(const std::filesystem::path& path) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Internal(path.string() + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return Internal(path.string() + ": cannot open");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1)
    return Internal("sha1 init failed");
  std::string header = "blob " + std::to_string(size);
  header.push_back('\0');
  EVP_DigestUpdate(ctx.get(), header.data(), header.size());
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace mlos::axon
