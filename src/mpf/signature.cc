#include "mpf/signature.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"
#include "mpf/package_verify.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

constexpr std::string_view kSecretPrefix = "mlos-ed25519-secret:";
constexpr std::string_view kPublicPrefix = "mlos-ed25519-public:";
constexpr std::string_view kSignaturePrefix = "mlos-ed25519-signature:";

static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64 &&
              crypto_sign_BYTES == 64);

Status InitSodium() {
  static const int rc = sodium_init();
  if (rc < 0) return Internal("libsodium initialisation failed");
  return Status::Ok();
}

std::string Base64(const uint8_t* data, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes exactly `n` bytes of standard base64.
bool Unbase64(std::string_view b64, uint8_t* out, size_t n) {
  size_t len = 0;
  if (sodium_base642bin(out, n, b64.data(), b64.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  return len == n;
}

std::string_view TrimLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' ||
                        s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

Status WriteNewFile(const fs::path& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return AlreadyExists(path.string() + ": already exists; not overwritten");
    return Internal(path.string() + ": create: " + std::strerror(e));
  }
  Status st;
  if (::fchmod(fd, mode) != 0) st = Internal(path.string() + ": chmod: " + std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (st.ok() && left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      st = Internal(path.string() + ": write: " + std::strerror(errno));
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (st.ok() && ::fsync(fd) != 0) st = Internal(path.string() + ": fsync: " + std::strerror(errno));
  ::close(fd);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

struct ParsedSignature {
  std::string key_id;
  std::array<uint8_t, crypto_sign_BYTES> sig{};
};

Result<ParsedSignature> ParseSignature(std::string_view text) {
  std::string_view line = TrimLine(text);
  if (!line.starts_with(kSignaturePrefix)) {
    return InvalidArgument("malformed signature file: expected a line starting with \"" +
                           std::string(kSignaturePrefix) + "\"");
  }
  line.remove_prefix(kSignaturePrefix.size());
  size_t colon = line.find(':');
  if (colon != 16) return InvalidArgument("malformed signature file: bad key id");
  ParsedSignature out;
  out.key_id = std::string(line.substr(0, colon));
  for (char c : out.key_id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return InvalidArgument("malformed signature file: bad key id");
    }
  }
  if (!Unbase64(line.substr(colon + 1), out.sig.data(), out.sig.size())) {
    return InvalidArgument("malformed signature file: bad base64 signature");
  }
  return out;
}

bool IsDirectory(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The manifest bytes of a package and, for a directory, the parsed manifest after its files
// were checked. For an archive the full check happens in VerifyArchive.
Result<Manifest> CheckDirContents(const fs::path& dir, const std::string& manifest_yaml) {
  auto m = ParseManifest(manifest_yaml);
  if (!m.ok()) return m.status().WithPrefix("manifest.yaml");
  MLOS_RETURN_IF_ERROR(VerifyPackageDir(dir, *m));
  return m;
}

}  // namespace

std::string PublicKey::KeyId() const {
  return Sha256Hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
      .substr(0, 16);
}

SecretKey::~SecretKey() { sodium_memzero(bytes.data(), bytes.size()); }

PublicKey SecretKey::Public() const {
  PublicKey pk;
  crypto_sign_ed25519_sk_to_pk(pk.bytes.data(), bytes.data());
  return pk;
}

std::string FormatPublicKey(const PublicKey& key) {
  return std::string(kPublicPrefix) + Base64(key.bytes.data(), key.bytes.size()) + "\n";
}

Status GenerateKeyPair(const fs::path& secret_key_path, const fs::path& public_key_path) {
  MLOS_RETURN_IF_ERROR(InitSodium());
  struct stat st;
  for (const fs::path& p : {secret_key_path, public_key_path}) {
    if (::lstat(p.c_str(), &st) == 0) {
      return AlreadyExists(p.string() + ": already exists; not overwritten");
    }
  }
  if (secret_key_path == public_key_path) {
    return InvalidArgument("secret and public key paths must differ");
  }
  std::error_code ec;
  for (const fs::path& p : {secret_key_path, public_key_path}) {
    if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  }
  SecretKey sk;
  PublicKey pk;
  crypto_sign_keypair(pk.bytes.data(), sk.bytes.data());
  std::string secret_line = std::string(kSecretPrefix) + Base64(sk.bytes.data(), sk.bytes.size()) +
                            "\n";
  Status s = WriteNewFile(secret_key_path, secret_line, 0600);
  sodium_memzero(secret_line.data(), secret_line.size());
  MLOS_RETURN_IF_ERROR(s);
  Status p = WriteNewFile(public_key_path, FormatPublicKey(pk), 0644);
  if (!p.ok()) {
    ::unlink(secret_key_path.c_str());
    return p;
  }
  return Status::Ok();
}

Result<SecretKey> LoadSecretKey(const fs::path& path) {
  MLOS_RETURN_IF_ERROR(InitSodium());
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFound(path.string() + ": no such secret key file");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDenied(path.string() + ": secret key file is accessible by others (mode " +
                            mode + "); chmod 600 it");
  }
  auto text = ReadFile(path);
  if (!text.ok()) return NotFound(path.string() + ": cannot read secret key file");
  std::string_view line = TrimLine(*text);
  SecretKey sk;
  bool ok = line.starts_with(kSecretPrefix) &&
            Unbase64(line.substr(kSecretPrefix.size()), sk.bytes.data(), sk.bytes.size());
  sodium_memzero(text->data(), text->size());
  if (!ok) {
    return InvalidArgument(path.string() + ": not an MLOS ed25519 secret key (expected \"" +
                           std::string(kSecretPrefix) + "<base64>\")");
  }
  return sk;
}

Result<PublicKey> ParsePublicKey(std::string_view text) {
  std::string_view line = TrimLine(text);
  PublicKey pk;
  if (!line.starts_with(kPublicPrefix) ||
      !Unbase64(line.substr(kPublicPrefix.size()), pk.bytes.data(), pk.bytes.size())) {
    return InvalidArgument("not an MLOS ed25519 public key (expected \"" +
                           std::string(kPublicPrefix) + "<base64>\")");
  }
  return pk;
}

Result<PublicKey> LoadPublicKey(const fs::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return NotFound(path.string() + ": no such public key file");
  auto pk = ParsePublicKey(*text);
  if (!pk.ok()) return pk.status().WithPrefix(path.string());
  return pk;
}

std::string SignManifestBytes(std::string_view manifest_yaml, const SecretKey& key) {
  (void)InitSodium();
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(manifest_yaml.data()),
                       manifest_yaml.size(), key.bytes.data());
  return std::string(kSignaturePrefix) + key.Public().KeyId() + ":" +
         Base64(sig.data(), sig.size()) + "\n";
}

Status VerifyManifestBytes(std::string_view manifest_yaml, std::string_view signature_text,
                           const PublicKey& key) {
  MLOS_RETURN_IF_ERROR(InitSodium());
  MLOS_ASSIGN_OR_RETURN(ParsedSignature sig, ParseSignature(signature_text));
  const std::string id = key.KeyId();
  if (sig.key_id != id) {
    return PermissionDenied("signature does not verify with key " + id + " (it was made by key " +
                            sig.key_id + ")");
  }
  if (crypto_sign_verify_detached(sig.sig.data(),
                                  reinterpret_cast<const unsigned char*>(manifest_yaml.data()),
                                  manifest_yaml.size(), key.bytes.data()) != 0) {
    return PermissionDenied("signature does not verify with key " + id +
                            ": manifest.yaml was modified after signing, or the signature is "
                            "corrupt");
  }
  return Status::Ok();
}

fs::path SignaturePathFor(const fs::path& package) {
  if (IsDirectory(package)) return package / kSignatureFileName;
  fs::path p = package;
  p += ".sig";
  return p;
}

Result<fs::path> SignPackage(const fs::path& package, const fs::path& secret_key_path) {
  MLOS_ASSIGN_OR_RETURN(SecretKey sk, LoadSecretKey(secret_key_path));
  std::string manifest_yaml;
  if (IsDirectory(package)) {
    auto text = ReadFile(package / kManifestFileName);
    if (!text.ok()) return NotFound((package / kManifestFileName).string() + ": missing");
    manifest_yaml = std::move(text).value();
    auto m = CheckDirContents(package, manifest_yaml);
    if (!m.ok()) return m.status().WithPrefix(package.string() + ": refusing to sign");
  } else {
    std::error_code ec;
    if (!fs::is_regular_file(package, ec)) return NotFound(package.string() + ": no such package");
    auto m = VerifyArchive(package, {}, &manifest_yaml);
    if (!m.ok()) return m.status().WithPrefix(package.string() + ": refusing to sign");
  }
  fs::path sig_path = SignaturePathFor(package);
  MLOS_RETURN_IF_ERROR(WriteFileAtomic(sig_path, SignManifestBytes(manifest_yaml, sk)));
  return sig_path;
}

Result<Manifest> VerifyPackageSignature(const fs::path& package, const fs::path& public_key_path) {
  MLOS_ASSIGN_OR_RETURN(PublicKey pk, LoadPublicKey(public_key_path));
  const bool is_dir = IsDirectory(package);
  if (!is_dir) {
    std::error_code ec;
    if (!fs::is_regular_file(package, ec)) return NotFound(package.string() + ": no such package");
  }
  fs::path sig_path = SignaturePathFor(package);
  auto sig_text = ReadFile(sig_path);
  if (!sig_text.ok()) {
    return NotFound(package.string() + ": not signed (no " + sig_path.string() + ")");
  }
  if (is_dir) {
    auto text = ReadFile(package / kManifestFileName);
    if (!text.ok()) return NotFound((package / kManifestFileName).string() + ": missing");
    MLOS_RETURN_IF_ERROR(VerifyManifestBytes(*text, *sig_text, pk).WithPrefix(package.string()));
    auto m = CheckDirContents(package, *text);
    if (!m.ok()) return m.status().WithPrefix(package.string());
    return m;
  }
  MLOS_ASSIGN_OR_RETURN(std::string manifest_yaml, ReadManifestFromArchive(package));
  MLOS_RETURN_IF_ERROR(
      VerifyManifestBytes(manifest_yaml, *sig_text, pk).WithPrefix(package.string()));
  std::string scanned;
  auto m = VerifyArchive(package, {}, &scanned);
  if (!m.ok()) return m.status().WithPrefix(package.string());
  if (scanned != manifest_yaml) {
    return DataLoss(package.string() + ": archive changed while it was being verified");
  }
  return m;
}

}  // namespace mlos::mpf
