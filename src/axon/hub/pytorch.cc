// PyTorch Hub adapter. A ref is pytorch/{owner}/{repo}/{model} or pytorch/{repo}/{model} (owner
// "pytorch"); its version is a git ref ("latest": branch main, else master). Endpoints:
//   GET {github_api}/repos/{o}/{r}/branches/{main|master}  -> {"commit": {"sha"}}  (latest)
//   GET {github_api}/repos/{o}/{r}/commits/{ref}           -> {"sha"}  (a named branch/tag/sha)
//   GET {github_api}/repos/{o}/{r}                          (only to tell "no repo" from "no ref")
//   GET {github_web}/{o}/{r}/raw/{sha}/hubconf.py           (pinned to the commit)
//   HEAD <weight URL>                                       -> Content-Length, existence
// hubconf.py is scanned for weight URLs (https?://...\.(pth|ptl|pkl|pt)) belonging to the
// entrypoint `def {model}(`: URLs in its body, then URLs bound to names its body uses, then URLs
// whose line or file name mentions the model. Downloads apply torch.hub's check_hash: the hex
// prefix in `name-<hexprefix>.ext` must prefix the file's sha256. hubconf.py is installed too.
// A weight file is taken for TorchScript only by its name (.ptl, or torchscript/traced/scripted/
// jit in a .pt/.pth name, as SelectFiles does); anything else gets the state_dict note.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
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

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      if (start < text.size()) lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<std::string> FindUrls(const std::string& text) {
  // Alternatives longest first: ECMAScript alternation takes the first that matches.
  static const std::regex kUrl(R"(https?://[^\s'"<>()\[\]{},]+\.(pth|ptl|pkl|pt))",
                               std::regex::ECMAScript);
  std::vector<std::string> urls;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kUrl); it != std::sregex_iterator();
       ++it) {
    std::string u = it->str();
    // Not followed by more word characters (e.g. ".pth.tar" or ".ptx" is not a weight URL).
    size_t end = static_cast<size_t>(it->position()) + u.size();
    if (end < text.size() &&
        (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '.'))
      continue;
    urls.push_back(u);
  }
  return urls;
}

void AppendUnique(std::vector<std::string>& out, const std::vector<std::string>& add) {
  for (const auto& u : add)
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
}

std::string FileNameOfUrl(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  return path.substr(path.rfind('/') + 1);
}

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// True when `word` occurs in `text` as a whole identifier.
bool MentionsIdentifier(const std::string& text, const std::string& word) {
  for (size_t p = text.find(word); p != std::string::npos; p = text.find(word, p + 1)) {
    bool left = p == 0 || !IsIdentChar(text[p - 1]);
    bool right = p + word.size() >= text.size() || !IsIdentChar(text[p + word.size()]);
    if (left && right) return true;
  }
  return false;
}

struct HubconfScan {
  std::vector<std::string> entrypoints;  // public top-level functions, in order
  bool has_entrypoint = false;           // `def model(` or imported under that name
  std::vector<std::string> urls;         // weight URLs for the model, best first
  std::string doc;                       // first line of the entrypoint's docstring
};

// Finds the weight URLs of entrypoint `model` in hubconf.py.
HubconfScan ScanHubconf(const std::string& text, const std::string& model) {
  HubconfScan scan;
  const std::vector<std::string> lines = SplitLines(text);
  static const std::regex kDef(R"(^def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\()");
  std::string body;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_search(lines[i], m, kDef)) continue;
    std::string fn = m[1].str();
    if (fn[0] != '_') scan.entrypoints.push_back(fn);
    if (fn != model) continue;
    scan.has_entrypoint = true;
    // The body: following lines until the next non-blank line at column 0.
    for (size_t j = i + 1; j < lines.size(); ++j) {
      const std::string& l = lines[j];
      bool blank = l.find_first_not_of(" \t\r") == std::string::npos;
      if (!blank && l[0] != ' ' && l[0] != '\t' && l[0] != '#' && l[0] != ')') break;
      body += l + "\n";
    }
  }
  // `from x import model` / `import ... as model` also makes an entrypoint.
  if (!scan.has_entrypoint) {
    for (const auto& l : lines)
      if ((l.rfind("from ", 0) == 0 || l.rfind("import ", 0) == 0) &&
          MentionsIdentifier(l, model)) {
        scan.has_entrypoint = true;
        scan.entrypoints.push_back(model);
      }
  }
  // Docstring: the first non-empty line inside triple quotes in the body.
  if (size_t q = body.find("\"\"\""); q != std::string::npos) {
    size_t end = body.find("\"\"\"", q + 3);
    std::string doc = body.substr(q + 3, end == std::string::npos ? 0 : end - q - 3);
    for (const auto& l : SplitLines(doc)) {
      size_t a = l.find_first_not_of(" \t\r");
      if (a == std::string::npos) continue;
      scan.doc = l.substr(a, l.find_last_not_of(" \t\r") - a + 1);
      break;
    }
  }

  // Tier 1: URLs written in the entrypoint's body.
  AppendUnique(scan.urls, FindUrls(body));
  // Tier 2: URLs on lines that bind a name the body uses (NAME = "https://..." or a dict
  // opening `NAME = {` whose entries follow).
  if (scan.urls.empty() && !body.empty()) {
    static const std::regex kAssign(R"(^([A-Za-z_][A-Za-z0-9_]*)\s*=)");
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(lines[i], m, kAssign)) continue;
      std::string name = m[1].str();
      if (!MentionsIdentifier(body, name)) continue;
      // The statement spans following lines while they are indented or close a bracket.
      std::string stmt = lines[i] + "\n";
      for (size_t j = i + 1; j < lines.size(); ++j) {
        const std::string& l = lines[j];
        if (l.empty() || l[0] == ' ' || l[0] == '\t' || l[0] == '}' || l[0] == ']' || l[0] == ')')
          stmt += l + "\n";
        else
          break;
      }
      // In a dict, prefer the entries that name the model.
      std::vector<std::string> keyed;
      for (const auto& l : SplitLines(stmt))
        if (l.find(model) != std::string::npos) AppendUnique(keyed, FindUrls(l));
      AppendUnique(scan.urls, keyed.empty() ? FindUrls(stmt) : keyed);
    }
  }
  // Tier 3: anywhere in the file, URLs whose line or file name mentions the model.
  if (scan.urls.empty()) {
    for (const auto& l : lines) {
      for (const auto& u : FindUrls(l)) {
        if (l.find("'" + model + "'") != std::string::npos ||
            l.find("\"" + model + "\"") != std::string::npos ||
            FileNameOfUrl(u).find(model) != std::string::npos)
          AppendUnique(scan.urls, {u});
      }
    }
  }
  // Last resort: a hubconf with one entrypoint and one URL.
  if (scan.urls.empty() && scan.has_entrypoint && scan.entrypoints.size() == 1) {
    std::vector<std::string> all = FindUrls(text);
    if (all.size() == 1) scan.urls = all;
  }
  return scan;
}

// torch.hub's check_hash prefix: HASH_REGEX = r'-([a-f0-9]*)\.' searched in the file name.
std::string HashPrefixOf(const std::string& file_name) {
  static const std::regex kHash(R"(-([a-f0-9]*)\.)");
  std::smatch m;
  if (std::regex_search(file_name, m, kHash)) return m[1].str();
  return "";
}

bool LooksLikeTorchScript(const std::string& file_name) {
  std::string lower = file_name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.ends_with(".ptl")) return true;
  if (!lower.ends_with(".pt") && !lower.ends_with(".pth")) return false;
  for (const char* hint : {"torchscript", "traced", "scripted", "_jit", "-jit"})
    if (lower.find(hint) != std::string::npos) return true;
  return false;
}

class PyTorchHubAdapter : public HubAdapter {
 public:
  explicit PyTorchHubAdapter(const HubConfig& config)
      : config_(config),
        api_(NormalizeEndpoint(config.github_api)),
        web_(NormalizeEndpoint(config.github_web)) {}

  std::string Name() const override { return "pytorch"; }

  Result<ResolvedModel> Resolve(const ModelRef& ref, const InstallOptions& opts) override {
    std::vector<std::string> segs;
    for (size_t start = 0;;) {
      size_t slash = ref.name.find('/', start);
      segs.push_back(ref.name.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (segs.size() != 2 && segs.size() != 3)
      return InvalidArgument("pytorch/" + ref.name +
                             ": PyTorch Hub models are named pytorch/[owner/]repo/model");
    const std::string owner = segs.size() == 3 ? segs[0] : "pytorch";
    const std::string repo = segs[segs.size() - 2], model_name = segs.back();
    // Messages start with the ref as given; repo_id names the GitHub repository.
    const std::string id = "pytorch/" + ref.name;
    const std::string repo_id = id + " (github " + owner + "/" + repo + ")";
    const std::string repo_api =
        api_ + "/repos/" + UrlEncodeSegment(owner) + "/" + UrlEncodeSegment(repo);

    std::string git_ref = !opts.revision.empty() ? opts.revision : ref.version;
    std::string sha;
    if (git_ref == "latest") {
      for (const char* branch : {"main", "master"}) {
        MLOS_ASSIGN_OR_RETURN(HttpResponse r, Get(repo_api + "/branches/" + branch));
        if (r.status == 404) continue;
        MLOS_RETURN_IF_ERROR(ApiError(r, repo_id));
        json j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("commit") && j["commit"].is_object() &&
            j["commit"].contains("sha") && j["commit"]["sha"].is_string()) {
          sha = j["commit"]["sha"].get<std::string>();
          git_ref = branch;
          break;
        }
        return Unavailable(repo_id + ": malformed branch answer from " + api_);
      }
      if (sha.empty()) {
        MLOS_RETURN_IF_ERROR(RepoExists(repo_api, repo_id));
        return NotFound(repo_id + ": neither branch main nor master exists");
      }
    } else {
      MLOS_ASSIGN_OR_RETURN(HttpResponse r,
                            Get(repo_api + "/commits/" + UrlEncodeSegment(git_ref)));
      if (r.status == 404 || r.status == 422) {
        MLOS_RETURN_IF_ERROR(RepoExists(repo_api, repo_id));
        return NotFound(repo_id + ": no branch, tag or commit named \"" + git_ref + "\"");
      }
      MLOS_RETURN_IF_ERROR(ApiError(r, repo_id));
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string())
        return Unavailable(repo_id + ": malformed commit answer from " + api_);
      sha = j["sha"].get<std::string>();
    }

    // hubconf.py at the pinned commit.
    const std::string hubconf_url = web_ + "/" + UrlEncodeSegment(owner) + "/" +
                                    UrlEncodeSegment(repo) + "/raw/" + UrlEncodeSegment(sha) +
                                    "/hubconf.py";
    MLOS_ASSIGN_OR_RETURN(HttpResponse hc, Get(hubconf_url));
    if (hc.status == 404)
      return NotFound(repo_id + " at " + git_ref +
                      ": no hubconf.py (not a PyTorch Hub repository)");
    if (hc.status != 200)
      return Unavailable(repo_id + ": fetching hubconf.py answered HTTP " +
                         std::to_string(hc.status));

    HubconfScan scan = ScanHubconf(hc.body, model_name);
    if (!scan.has_entrypoint) {
      std::string names;
      for (const auto& e : scan.entrypoints) names += (names.empty() ? "" : ", ") + e;
      return NotFound(id + ": hubconf.py has no entrypoint \"" + model_name + "\"" +
                      (names.empty() ? "" : " (entrypoints: " + names + ")"));
    }
    if (scan.urls.empty())
      return NotFound(id + ": found no pretrained weight URL (.pth/.pt/.pkl/.ptl) for \"" +
                      model_name +
                      "\" in hubconf.py; its weights may be defined in another "
                      "module, which axon does not scan");

    ResolvedModel model;
    model.ref = ref;
    model.ref.ns = "pytorch";
    model.version = !opts.revision.empty() ? opts.revision : ref.version;
    model.commit = sha;
    model.source = "pytorch://" + owner + "/" + repo + "/" + model_name + "@" + sha;
    model.meta.homepage = web_ + "/" + owner + "/" + repo;
    model.meta.library_name = "pytorch";
    model.meta.description = scan.doc;

    RemoteFile hubconf;
    hubconf.path = "hubconf.py";
    hubconf.size = hc.body.size();
    hubconf.sha256 = Sha256Hex(hc.body);
    hubconf.url = hubconf_url;
    model.files.push_back(hubconf);

    bool all_scripted = true;
    std::set<std::string> names;
    for (const auto& url : scan.urls) {
      RemoteFile rf;
      rf.path = FileNameOfUrl(url);
      if (!IsSafeRelativePath(rf.path) || rf.path == "hubconf.py" || !names.insert(rf.path).second)
        continue;
      rf.url = url;
      rf.size_known = false;
      HttpRequest head;
      head.method = "HEAD";
      head.url = url;
      head.timeout_s = config_.timeout_s;
      auto hr = HttpFetch(head);
      if (hr.ok() && hr->status == 404 && scan.urls.size() == 1)
        return NotFound(id + ": weight file " + url + " does not exist (HTTP 404)");
      if (hr.ok() && hr->status == 200) {
        std::string len = hr->Header("content-length");
        if (!len.empty() && len.find_first_not_of("0123456789") == std::string::npos) {
          rf.size = std::stoull(len);
          rf.size_known = true;
        }
      }
      if (!rf.size_known) rf.size = 0;
      if (!LooksLikeTorchScript(rf.path)) all_scripted = false;
      model.files.push_back(std::move(rf));
    }
    if (model.files.size() == 1)
      return NotFound(id + ": no usable weight file name in " + scan.urls.front());
    if (!all_scripted)
      model.notes.push_back(
          "PyTorch state_dict: needs conversion (e.g. to ONNX or TorchScript) before mlosd can "
          "serve it; hubconf.py holds the model code");
    return model;
  }

  Status Download(const ResolvedModel& model, const RemoteFile& file,
                  const std::filesystem::path& partial, const ProgressFn& progress) override {
    DownloadSpec spec;
    spec.url = file.url;
    spec.expected_size = file.size;
    spec.size_known = file.size_known;
    spec.expected_sha256 = file.sha256;
    spec.max_retries = config_.max_retries;
    spec.timeout_s = config_.timeout_s;
    const std::string what = "pytorch/" + model.ref.name + ": " + file.path;
    spec.error_mapper = [what, url = file.url](const HttpResponse& r) -> Status {
      std::string m = what + ": " + url + " answered HTTP " + std::to_string(r.status);
      if (r.status == 404) return NotFound(m);
      if (r.status == 401) return Unauthenticated(m);
      if (r.status == 403) return PermissionDenied(m);
      return Unavailable(m);
    };
    MLOS_RETURN_IF_ERROR(DownloadToFile(spec, partial, progress));
    if (file.path == "hubconf.py") return Status::Ok();
    const std::string prefix = HashPrefixOf(file.path);
    if (prefix.empty()) return Status::Ok();
    MLOS_ASSIGN_OR_RETURN(std::string digest, Sha256File(partial));
    if (digest.compare(0, prefix.size(), prefix) != 0) {
      std::error_code ec;
      std::filesystem::remove(partial, ec);
      return DataLoss(what + ": check_hash failed: sha256 " + digest +
                      " does not start with the prefix \"" + prefix + "\" in the file name");
    }
    return Status::Ok();
  }

  Result<std::vector<SearchHit>> Search(const std::string& /*query*/, int /*limit*/) override {
    return Unimplemented(
        "pytorch: PyTorch Hub has no search API; see https://pytorch.org/hub for models");
  }

 private:
  Result<HttpResponse> Get(const std::string& url) {
    HttpRequest req;
    req.url = url;
    req.headers = {{"Accept", "application/vnd.github+json"}};
    req.timeout_s = config_.timeout_s;
    return HttpFetch(req);
  }

  Status ApiError(const HttpResponse& r, const std::string& repo_id) {
    if (r.status == 200) return Status::Ok();
    if (r.status == 403 || r.status == 429)
      return Unavailable(repo_id + ": GitHub API refused (HTTP " + std::to_string(r.status) +
                         "), probably its rate limit; try again later");
    return Unavailable(repo_id + ": GitHub API answered HTTP " + std::to_string(r.status));
  }

  // NotFound when the repository itself does not exist, OK when it does.
  Status RepoExists(const std::string& repo_api, const std::string& repo_id) {
    MLOS_ASSIGN_OR_RETURN(HttpResponse r, Get(repo_api));
    if (r.status == 404) return NotFound(repo_id + ": repository not found on GitHub");
    return ApiError(r, repo_id);
  }

  HubConfig config_;
  std::string api_, web_;
};

}  // namespace

std::unique_ptr<HubAdapter> MakePyTorchHubAdapter(const HubConfig& config) {
  return std::make_unique<PyTorchHubAdapter>(config);
}

}  // namespace mlos::axon
