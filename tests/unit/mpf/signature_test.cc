#include "mpf/signature.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"

namespace fs = std::filesystem;

namespace mlos::mpf {
namespace {

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::string Slurp(const fs::path& p) {
  auto r = ReadFile(p);
  return r.ok() ? *r : "";
}

const char* kManifest =
    "apiVersion: axon.mlos.io/v1\n"
    "kind: Model\n"
    "metadata:\n"
    "  name: signed-model\n"
    "  namespace: local\n"
    "  version: 2.0.0\n"
    "spec:\n"
    "  framework:\n"
    "    name: onnx\n"
    "  format:\n"
    "    type: onnx\n"
    "    execution_format: onnx\n";

// Writes a tar.zst with the given (name, bytes) entries in order.
void WriteTar(const fs::path& out, const std::vector<std::pair<std::string, std::string>>& files) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const auto& [name, data] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, data.data(), data.size()),
              static_cast<la_ssize_t>(data.size()));
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

class SignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlos-sig-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    sk_ = root_ / "keys/signer.key";
    pk_ = root_ / "keys/signer.pub";
    ASSERT_TRUE(GenerateKeyPair(sk_, pk_).ok());
    other_sk_ = root_ / "keys/other.key";
    other_pk_ = root_ / "keys/other.pub";
    ASSERT_TRUE(GenerateKeyPair(other_sk_, other_pk_).ok());
    src_ = root_ / "src";
    WriteFile(src_ / "manifest.yaml", kManifest);
    WriteFile(src_ / "model.onnx", std::string(3000, 'w'));
    WriteFile(src_ / "vocab/vocab.txt", "a\nb\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // An unpacked package directory (with a complete manifest) made through Pack + Unpack.
  fs::path MakeDirPackage() {
    EXPECT_TRUE(Pack(src_, root_ / "p.axon").ok());
    EXPECT_TRUE(Unpack(root_ / "p.axon", root_ / "pkg").ok());
    return root_ / "pkg";
  }
  std::string KeyId(const fs::path& pk) {
    auto k = LoadPublicKey(pk);
    EXPECT_TRUE(k.ok());
    return k.ok() ? k->KeyId() : "";
  }
  fs::path root_, sk_, pk_, other_sk_, other_pk_, src_;
};

TEST_F(SignatureTest, KeyFiles) {
  struct stat st;
  ASSERT_EQ(::stat(sk_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Slurp(sk_).rfind("mlos-ed25519-secret:", 0), 0u);
  EXPECT_EQ(Slurp(pk_).rfind("mlos-ed25519-public:", 0), 0u);
  EXPECT_EQ(Slurp(pk_).back(), '\n');
  // Never overwrites.
  std::string before = Slurp(sk_);
  Status s = GenerateKeyPair(sk_, root_ / "keys/new.pub");
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Slurp(sk_), before);
  EXPECT_FALSE(fs::exists(root_ / "keys/new.pub"));
  s = GenerateKeyPair(root_ / "keys/new.key", pk_);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(root_ / "keys/new.key"));
  // Key ids: 16 hex, distinct, and the secret key's public half matches.
  auto sk = LoadSecretKey(sk_);
  ASSERT_TRUE(sk.ok()) << sk.status().ToString();
  EXPECT_EQ(sk->Public().KeyId(), KeyId(pk_));
  EXPECT_EQ(KeyId(pk_).size(), 16u);
  EXPECT_NE(KeyId(pk_), KeyId(other_pk_));
  // A world-readable secret key is refused.
  ::chmod(sk_.c_str(), 0644);
  EXPECT_EQ(LoadSecretKey(sk_).status().code(), StatusCode::kPermissionDenied);
  // Garbage is refused.
  WriteFile(root_ / "bad.pub", "mlos-ed25519-public:abc\n");
  EXPECT_EQ(LoadPublicKey(root_ / "bad.pub").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SignatureTest, SignAndVerifyBytes) {
  auto sk = LoadSecretKey(sk_);
  ASSERT_TRUE(sk.ok());
  auto pk = LoadPublicKey(pk_);
  auto other = LoadPublicKey(other_pk_);
  ASSERT_TRUE(pk.ok() && other.ok());
  std::string sig = SignManifestBytes(kManifest, *sk);
  EXPECT_EQ(sig.rfind("mlos-ed25519-signature:" + pk->KeyId() + ":", 0), 0u);
  EXPECT_EQ(sig.back(), '\n');
  EXPECT_TRUE(VerifyManifestBytes(kManifest, sig, *pk).ok());

  Status s = VerifyManifestBytes(kManifest, sig, *other);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "signature does not verify with key " + other->KeyId() +
                             " (it was made by key " + pk->KeyId() + ")");

  std::string tampered = std::string(kManifest) + "# one more line\n";
  s = VerifyManifestBytes(tampered, sig, *pk);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("signature does not verify with key " + pk->KeyId() +
                             ": manifest.yaml was modified"),
            std::string::npos);

  EXPECT_EQ(VerifyManifestBytes(kManifest, "hello", *pk).code(), StatusCode::kInvalidArgument);
}

TEST_F(SignatureTest, DirectoryPackage) {
  fs::path dir = MakeDirPackage();
  auto sig = SignPackage(dir, sk_);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(*sig, dir / "manifest.sig");
  auto m = VerifyPackageSignature(dir, pk_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->Id(), "local/signed-model@2.0.0");

  Status wrong = VerifyPackageSignature(dir, other_pk_).status();
  EXPECT_EQ(wrong.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.message().find("signature does not verify with key " + KeyId(other_pk_)),
            std::string::npos) << wrong.message();

  // Tampered file: named.
  WriteFile(dir / "vocab/vocab.txt", "a\nc\n");
  Status t = VerifyPackageSignature(dir, pk_).status();
  EXPECT_EQ(t.code(), StatusCode::kDataLoss);
  EXPECT_NE(t.message().find("vocab/vocab.txt: sha256 mismatch"), std::string::npos)
      << t.message();
  // And such a package is not signed.
  EXPECT_FALSE(SignPackage(dir, sk_).ok());
  WriteFile(dir / "vocab/vocab.txt", "a\nb\n");
  EXPECT_TRUE(VerifyPackageSignature(dir, pk_).ok());

  // Tampered manifest (even a harmless-looking edit).
  std::string manifest = Slurp(dir / "manifest.yaml");
  WriteFile(dir / "manifest.yaml", manifest + "\n");
  Status tm = VerifyPackageSignature(dir, pk_).status();
  EXPECT_EQ(tm.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(tm.message().find("manifest.yaml was modified"), std::string::npos) << tm.message();
  WriteFile(dir / "manifest.yaml", manifest);

  // Missing signature.
  fs::remove(dir / "manifest.sig");
  Status ms = VerifyPackageSignature(dir, pk_).status();
  EXPECT_EQ(ms.code(), StatusCode::kNotFound);
  EXPECT_NE(ms.message().find("not signed"), std::string::npos) << ms.message();
}

TEST_F(SignatureTest, ArchivePackage) {
  fs::path axon = root_ / "model.axon";
  ASSERT_TRUE(Pack(src_, axon).ok());
  auto sig = SignPackage(axon, sk_);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(*sig, root_ / "model.axon.sig");
  auto m = VerifyPackageSignature(axon, pk_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();

  Status wrong = VerifyPackageSignature(axon, other_pk_).status();
  EXPECT_EQ(wrong.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.message().find("signature does not verify with key " + KeyId(other_pk_)),
            std::string::npos) << wrong.message();

  // Same manifest bytes, one file changed: the signature holds, the content check names it.
  auto manifest = ReadManifestFromArchive(axon);
  ASSERT_TRUE(manifest.ok());
  fs::path tampered = root_ / "tampered.axon";
  WriteTar(tampered, {{"manifest.yaml", *manifest},
                      {"model.onnx", std::string(2999, 'w') + "X"},
                      {"vocab/vocab.txt", "a\nb\n"}});
  fs::copy_file(*sig, root_ / "tampered.axon.sig");
  Status t = VerifyPackageSignature(tampered, pk_).status();
  EXPECT_EQ(t.code(), StatusCode::kDataLoss);
  EXPECT_NE(t.message().find("model.onnx: sha256 mismatch"), std::string::npos) << t.message();

  // Manifest changed: the signature fails.
  fs::path tm = root_ / "tm.axon";
  WriteTar(tm, {{"manifest.yaml", *manifest + "# edited\n"},
                {"model.onnx", std::string(3000, 'w')},
                {"vocab/vocab.txt", "a\nb\n"}});
  fs::copy_file(*sig, root_ / "tm.axon.sig");
  Status tms = VerifyPackageSignature(tm, pk_).status();
  EXPECT_EQ(tms.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(tms.message().find("manifest.yaml was modified"), std::string::npos) << tms.message();

  // Missing signature.
  fs::remove(*sig);
  EXPECT_EQ(VerifyPackageSignature(axon, pk_).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlos::mpf
