// ScanRepository (model_repository.h): what a repository directory holds, from the names in it.
// In a file of its own so that fuzz/model_repository_fuzz.cc links it without the service.
#include <algorithm>
#include <cctype>

#include "axon/install.h"
#include "core/policy.h"
#include "model_repository.h"

namespace mlos::mlosd {

namespace fs = std::filesystem;

namespace {

bool Hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

bool IsPackageFile(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.ends_with(".axon") || n.ends_with(".tar.gz") || n.ends_with(".tgz");
}

bool IsModelFile(const fs::path& p) { return !axon::FormatOfFile(p.string()).empty(); }

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), ::isdigit);
}

// Sorted entries of `dir` that are not hidden.
std::vector<fs::directory_entry> Entries(const fs::path& dir) {
  std::vector<fs::directory_entry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!Hidden(it->path())) out.push_back(*it);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return out;
}

bool HasModelFiles(const fs::path& dir) {
  for (const auto& e : Entries(dir)) {
    std::error_code ec;
    if (e.is_regular_file(ec) && IsModelFile(e.path())) return true;
  }
  return false;
}

// A model the repository names itself (local/NAME@VERSION); "" when NAME cannot be a model name
// (registration would refuse the id: e.g. "a..b", found by fuzz/model_repository_fuzz.cc).
std::string LocalName(const std::string& name, const std::string& version) {
  static constexpr const char* kAllowed = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower.empty() || lower.find_first_not_of(kAllowed) != std::string::npos) return "";
  std::string id = "local/" + lower + "@" + version;
  return core::policy::ValidateRegistrationId(id).ok() ? id : "";
}

}  // namespace

std::vector<RepositoryItem> ScanRepository(const std::string& spec,
                                           std::vector<std::string>* skipped) {
  std::error_code ec;
  const size_t eq = spec.find('=');
  if (eq != std::string::npos && eq > 0 && spec[0] != '/' && spec[0] != '.' && spec[0] != '~') {
    // NAME=DIRECTORY: the directory is one model.
    std::string name = spec.substr(0, eq);
    const fs::path dir = spec.substr(eq + 1);
    if (!fs::is_directory(dir, ec)) {
      skipped->push_back(dir.string() + ": not a directory");
      return {};
    }
    if (!fs::exists(dir / "manifest.yaml", ec) && !HasModelFiles(dir)) {
      skipped->push_back(dir.string() + ": no manifest.yaml or model files");
      return {};
    }
    if (name.find('/') == std::string::npos) name = "local/" + name;
    if (name.find('@') == std::string::npos) name += "@1.0.0";
    return {{dir, name}};
  }
  const fs::path dir = spec;
  if (!fs::is_directory(dir, ec)) {
    skipped->push_back(dir.string() + ": not a directory");
    return {};
  }
  if (fs::exists(dir / "manifest.yaml", ec)) return {{dir, ""}};
  std::vector<RepositoryItem> items;
  for (const auto& e : Entries(dir)) {
    const fs::path& p = e.path();
    const std::string base = p.filename().string();
    if (e.is_regular_file(ec)) {
      if (IsPackageFile(p)) {
        items.push_back({p, ""});
      } else if (IsModelFile(p)) {
        const std::string name = LocalName(p.stem().string(), "1.0.0");
        if (name.empty()) skipped->push_back(p.string() + ": its name cannot be a model name");
        else items.push_back({p, name});
      }
      continue;
    }
    if (!e.is_directory(ec)) continue;
    if (fs::exists(p / "manifest.yaml", ec)) {
      items.push_back({p, ""});
      continue;
    }
    bool versions = false;
    for (const auto& v : Entries(p)) {
      if (!v.is_directory(ec) || !IsNumber(v.path().filename().string())) continue;
      versions = true;
      const std::string name = LocalName(base, v.path().filename().string() + ".0.0");
      if (name.empty()) skipped->push_back(p.string() + ": its name cannot be a model name");
      else items.push_back({v.path(), name});
    }
    if (versions) continue;
    if (HasModelFiles(p)) {
      const std::string name = LocalName(base, "1.0.0");
      if (name.empty()) skipped->push_back(p.string() + ": its name cannot be a model name");
      else items.push_back({p, name});
      continue;
    }
    skipped->push_back(p.string() + ": no manifest.yaml, version directories or model files");
  }
  return items;
}

}  // namespace mlos::mlosd
