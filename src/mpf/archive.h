// The `.axon` package archive (MPF): a tar (ustar, pax where needed) compressed with zstd, whose
// first entry is manifest.yaml, followed by every file the manifest declares in
// spec.format.files. Readers also accept tar.gz (the original Axon wrote tar.gz), bzip2, xz and
// uncompressed tar, detected by content; only tar formats are accepted.
//
// Unpacking never trusts the archive: it refuses unsafe paths, links that escape, special files,
// duplicates, undeclared entries, size or sha256 mismatches and expansion bombs, and it writes
// into a private temp directory that is renamed into place only when everything checked out.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::mpf {

inline constexpr const char* kManifestFileName = "manifest.yaml";
inline constexpr const char* kSignatureFileName = "manifest.sig";
inline constexpr const char* kAxonMetadataFileName = ".axon_metadata.json";
// manifest.yaml larger than this is refused (it is read into memory).
inline constexpr uint64_t kMaxManifestBytes = 16ull << 20;

struct PackOptions {
  int zstd_level = 3;           // 1..19 (22 with ultra); the same level gives the same bytes
  ParseOptions parse;           // how the rewritten manifest is validated
};

// Packs `dir` into `out_file` (written atomically: temp file beside it, fsync, rename).
// Reads dir/manifest.yaml, walks dir (regular files, and symlinks to regular files inside the
// package; see ListPackageFiles for what is skipped), rewrites spec.format.files with the path,
// size and sha256 of every file (sorted by path; existing per-file fields other than size and
// sha256 are kept), validates the result and writes it as the first entry. The output is
// deterministic: sorted entries, mtime 0, uid/gid 0, no user/group names, mode 0644 (0755 for
// directories and executables). Returns the manifest that was written. `out_file` may lie
// inside `dir`; it is never packed.
Result<Manifest> Pack(const std::filesystem::path& dir, const std::filesystem::path& out_file,
                      const PackOptions& options = {});

struct UnpackOptions {
  // Limit on the bytes all entries expand to. 0 = the manifest's declared total + 1 MiB slack
  // (never more than max_bytes).
  uint64_t max_total_bytes = 0;
  uint64_t max_bytes = 256ull << 30;   // hard cap, whatever the manifest declares
  uint64_t max_entries = 100000;       // tar headers, directories included
  ParseOptions parse;                  // how manifest.yaml is parsed
  bool fsync = true;                   // fsync every file and directory before the rename
};

// Extracts `archive` into `dest_dir`, which must not exist. Everything is extracted into a temp
// directory `<parent>/.unpack-XXXXXX` beside dest_dir, verified, then renamed into place; on any
// error the temp directory is removed and nothing is left behind. Returns the parsed manifest.
// Errors name the offending entry: `archive entry "../evil": unsafe path`,
// `model.onnx: sha256 mismatch (expected <hex>, got <hex>)`, ...
Result<Manifest> Unpack(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                        const UnpackOptions& options = {});

// Streams `archive` with every check Unpack makes, without writing anything. When given,
// *manifest_yaml receives the exact bytes of the manifest.yaml entry that was checked.
Result<Manifest> VerifyArchive(const std::filesystem::path& archive,
                               const UnpackOptions& options = {},
                               std::string* manifest_yaml = nullptr);

// Returns the bytes of manifest.yaml, reading only the archive's first entry (a leading "./"
// directory entry is skipped). Fails if the first entry is not manifest.yaml.
Result<std::string> ReadManifestFromArchive(const std::filesystem::path& archive);

}  // namespace mlos::mpf
