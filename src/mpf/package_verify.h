// Verifying an unpacked package directory against its manifest, and the rule for which files
// of a directory belong to a package.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::mpf {

// The files of a package directory, as relative paths sorted by byte order: regular files and
// symlinks (not followed), recursively. Skipped: the top-level manifest.yaml, manifest.sig and
// .axon_metadata.json, and every directory whose name starts with '.' (".axon/", ".git/", ...).
// Other special files (fifos, sockets, devices) are an error naming the file.
Result<std::vector<std::string>> ListPackageFiles(const std::filesystem::path& dir);

struct VerifyDirOptions {
  // Also report files present in dir (per ListPackageFiles) but not declared in the manifest.
  bool report_undeclared = false;
};

// Checks every file in manifest.format.files: it exists, is a regular file (or a symlink that
// resolves to a regular file) inside dir, and its size and sha256 match (an empty declared
// sha256, allowed in legacy manifests, skips the hash). Returns kDataLoss whose message lists
// every problem joined by "; ", each naming its file:
//   `x.bin: missing`
//   `model.onnx: size mismatch (expected 10, got 12)`
//   `model.onnx: sha256 mismatch (expected <hex>, got <hex>)`
//   `a/link: not a regular file` / `a/link: resolves outside the package`
//   `../x: unsafe path`
//   `extra.txt: not declared in the manifest`   (with report_undeclared)
// The same strings are appended to *problems when given.
Status VerifyPackageDir(const std::filesystem::path& dir, const Manifest& manifest,
                        const VerifyDirOptions& options = {},
                        std::vector<std::string>* problems = nullptr);

}  // namespace mlos::mpf
