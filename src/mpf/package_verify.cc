#include "mpf/package_verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

bool IsTopLevelExcluded(const std::string& name) {
  return name == kManifestFileName || name == kSignatureFileName || name == kAxonMetadataFileName;
}

Status Walk(const fs::path& root, const std::string& rel_dir, std::vector<std::string>* out) {
  fs::path abs = rel_dir.empty() ? root : root / rel_dir;
  std::error_code ec;
  fs::directory_iterator it(abs, ec);
  if (ec) return Internal(abs.string() + ": cannot list: " + ec.message());
  for (const fs::directory_entry& de : it) {
    std::string name = de.path().filename().string();
    std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
    fs::file_status st = de.symlink_status(ec);
    if (ec) return Internal(de.path().string() + ": lstat: " + ec.message());
    if (fs::is_directory(st)) {
      if (name.starts_with(".")) continue;
      MLOS_RETURN_IF_ERROR(Walk(root, rel, out));
    } else if (fs::is_regular_file(st) || fs::is_symlink(st)) {
      if (rel_dir.empty() && IsTopLevelExcluded(name)) continue;
      out->push_back(rel);
    } else {
      return InvalidArgument(rel + ": not a regular file, symlink or directory");
    }
  }
  return Status::Ok();
}

// realpath(3) as a Result.
Result<std::string> RealPath(const fs::path& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return NotFound(p.string() + ": missing");
    return Internal(p.string() + ": realpath: " + std::strerror(e));
  }
  return std::string(buf);
}

}  // namespace

Result<std::vector<std::string>> ListPackageFiles(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(dir.string() + ": not a directory");
  std::vector<std::string> out;
  MLOS_RETURN_IF_ERROR(Walk(dir, "", &out));
  std::sort(out.begin(), out.end());
  return out;
}

Status VerifyPackageDir(const fs::path& dir, const Manifest& manifest,
                        const VerifyDirOptions& options, std::vector<std::string>* problems) {
  std::vector<std::string> bad;
  auto root = RealPath(dir);
  if (!root.ok()) return NotFound(dir.string() + ": package directory not found");
  const std::string root_prefix = *root == "/" ? "/" : *root + "/";

  for (const FileEntry& f : manifest.format.files) {
    if (!IsSafeRelativePath(f.path)) {
      bad.push_back(f.path + ": unsafe path");
      continue;
    }
    fs::path full = dir / f.path;
    struct stat lst;
    if (::lstat(full.c_str(), &lst) != 0) {
      bad.push_back(f.path + ": missing");
      continue;
    }
    auto real = RealPath(full);
    if (!real.ok()) {
      bad.push_back(f.path + ": missing (dangling symlink)");
      continue;
    }
    if (!real->starts_with(root_prefix)) {
      bad.push_back(f.path + ": resolves outside the package");
      continue;
    }
    struct stat st;
    if (::stat(real->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      bad.push_back(f.path + ": not a regular file");
      continue;
    }
    if (static_cast<uint64_t>(st.st_size) != f.size) {
      bad.push_back(f.path + ": size mismatch (expected " + std::to_string(f.size) + ", got " +
                    std::to_string(st.st_size) + ")");
      continue;
    }
    if (f.sha256.empty()) continue;  // legacy manifest: size only
    uint64_t size = 0;
    auto sha = Sha256File(*real, &size);
    if (!sha.ok()) {
      bad.push_back(f.path + ": cannot read: " + sha.status().message());
      continue;
    }
    if (*sha != f.sha256) {
      bad.push_back(f.path + ": sha256 mismatch (expected " + f.sha256 + ", got " + *sha + ")");
    }
  }

  if (options.report_undeclared) {
    std::set<std::string> declared;
    for (const FileEntry& f : manifest.format.files) declared.insert(f.path);
    auto present = ListPackageFiles(dir);
    if (!present.ok()) {
      bad.push_back(present.status().message());
    } else {
      for (const std::string& p : *present) {
        if (!declared.count(p)) bad.push_back(p + ": not declared in the manifest");
      }
    }
  }

  if (problems) problems->insert(problems->end(), bad.begin(), bad.end());
  if (bad.empty()) return Status::Ok();
  std::string msg;
  for (const std::string& b : bad) {
    if (!msg.empty()) msg += "; ";
    msg += b;
  }
  return DataLoss(msg);
}

}  // namespace mlos::mpf
