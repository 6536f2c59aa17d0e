// Throwaway TLS material for tests, made with the `openssl` command line in a temporary
// directory: a CA, a server certificate for localhost and 127.0.0.1, a client certificate
// (CN=alice) that CA signed, and a client certificate (CN=mallory) from another CA. EC P-256
// keys, valid for two days. The directory is removed with the object.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace mlos::testing {

class TestCerts {
 public:
  TestCerts() {
    char tmpl[] = "/tmp/mlos-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir_ = tmpl;
    ok_ = Make();
  }
  ~TestCerts() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string ca() const { return Path("ca.pem"); }
  std::string server_cert() const { return Path("server.pem"); }
  std::string server_key() const { return Path("server.key"); }
  std::string client_cert() const { return Path("alice.pem"); }  // CN=alice
  std::string client_key() const { return Path("alice.key"); }
  std::string rogue_cert() const { return Path("mallory.pem"); }  // CN=mallory, another CA
  std::string rogue_key() const { return Path("mallory.key"); }
  // Writes `text` to a file in the directory and returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return Path(name);
  }

 private:
  bool Run(const std::string& args) const {
    const std::string cmd = "cd '" + dir_.string() + "' && openssl " + args + " >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << cmd;
    return rc == 0;
  }
  // A key and a certificate `name`.pem for `cn`, signed by `ca` (".pem"/".key" pair), with the
  // extensions in `ext`.
  bool Issue(const std::string& name, const std::string& cn, const std::string& ca,
             const std::string& ext) const {
    Write(name + ".ext", ext);
    return Run("req " + kNewKey + " -keyout " + name + ".key -out " + name + ".csr -subj /CN=" +
               cn) &&
           Run("x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
               ".key -CAcreateserial -days 2 -out " + name + ".pem -extfile " + name + ".ext");
  }
  bool Make() const {
    return Run("req -x509 " + kNewKey +
               " -keyout ca.key -out ca.pem -days 2 -subj /CN=mlos-test-ca") &&
           Run("req -x509 " + kNewKey +
               " -keyout rogue-ca.key -out rogue-ca.pem -days 2 -subj /CN=rogue-ca") &&
           Issue("server", "localhost", "ca",
                 "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n") &&
           Issue("alice", "alice", "ca", "extendedKeyUsage=clientAuth\n") &&
           Issue("mallory", "mallory", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  }

  inline static const std::string kNewKey =
      "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::filesystem::path dir_;
  bool ok_ = false;
};

}  // namespace mlos::testing
