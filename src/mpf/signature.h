// Ed25519 package signatures (libsodium, detached). What is signed is the exact bytes of
// manifest.yaml; since the manifest holds the size and sha256 of every file, verifying a package
// is: the signature checks out over the manifest bytes, AND the contents match the manifest.
//
// File formats (one line each, '\n'-terminated):
//   secret key  `mlos-ed25519-secret:<base64 of the 64-byte libsodium secret key>`  (mode 0600)
//   public key  `mlos-ed25519-public:<base64 of the 32-byte public key>`
//   signature   `mlos-ed25519-signature:<key id>:<base64 of the 64-byte signature>`
// key id = the first 16 hex digits of sha256(raw 32-byte public key).
//
// Where signatures live: for a `.axon` file, a detached `<file>.sig` beside it; for an unpacked
// package directory, `<dir>/manifest.sig`.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::mpf {

struct PublicKey {
  std::array<uint8_t, 32> bytes{};
  std::string KeyId() const;  // 16 lowercase hex digits
};

struct SecretKey {
  std::array<uint8_t, 64> bytes{};  // libsodium layout: seed || public key
  ~SecretKey();                     // wipes the bytes
  PublicKey Public() const;
};

// Creates a new key pair. Refuses (kAlreadyExists) if either file exists; the secret key file is
// created with mode 0600.
Status GenerateKeyPair(const std::filesystem::path& secret_key_path,
                       const std::filesystem::path& public_key_path);

// Loads key files. A secret key file readable by group or others is refused (kPermissionDenied).
Result<SecretKey> LoadSecretKey(const std::filesystem::path& path);
Result<PublicKey> LoadPublicKey(const std::filesystem::path& path);
Result<PublicKey> ParsePublicKey(std::string_view text);
std::string FormatPublicKey(const PublicKey& key);  // the public key file's line

// Returns the signature file contents (one line, with its newline) for these manifest bytes.
std::string SignManifestBytes(std::string_view manifest_yaml, const SecretKey& key);

// Checks signature file contents against manifest bytes. Errors:
//   kInvalidArgument  `malformed signature file: ...`
//   kPermissionDenied `signature does not verify with key <id> (it was made by key <other id>)`
//   kPermissionDenied `signature does not verify with key <id>: manifest.yaml was modified after
//                      signing, or the signature is corrupt`
Status VerifyManifestBytes(std::string_view manifest_yaml, std::string_view signature_text,
                           const PublicKey& key);

// Where the signature of `package` lives: `<dir>/manifest.sig` or `<file>.sig`.
std::filesystem::path SignaturePathFor(const std::filesystem::path& package);

// Signs a package (an unpacked directory or a .axon file) after checking its contents match its
// manifest (a package that does not verify is not signed). Writes the signature atomically,
// replacing an older one, and returns its path.
Result<std::filesystem::path> SignPackage(const std::filesystem::path& package,
                                          const std::filesystem::path& secret_key_path);

// Verifies a package's signature over its exact manifest.yaml bytes (a .axon's first entry) and
// that its contents match the manifest (a .axon: every archive entry, with all of Unpack's
// checks; a directory: VerifyPackageDir). Returns the manifest. Errors: kNotFound
// `<path>: not signed (no <sig path>)`; VerifyManifestBytes' errors; kDataLoss naming each file
// that does not match (`model.onnx: sha256 mismatch (expected ..., got ...)`).
Result<Manifest> VerifyPackageSignature(const std::filesystem::path& package,
                                        const std::filesystem::path& public_key_path);

}  // namespace mlos::mpf
