// Mutual TLS end to end, against the real daemon with `security.auth: required` and both
// http.tls and grpc.tls requiring a client certificate from the test CA: on HTTPS and on grpcs
// alike, a verified certificate's subject CN is the caller's principal (its role comes from
// security.principals, a refusal names it, the audit log records it with method "mtls"); a
// certificate from another CA, even with a known CN, or no certificate at all is refused; and a
// bearer token sent over mTLS takes precedence over the certificate.
#include <cstdlib>

#include <gtest/gtest.h>

#include "mlos/client.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

namespace client = mlos::client;
using mlos::StatusCode;

// Runs `openssl args` in `dir`; true when it succeeded.
bool OpenSsl(const fs::path& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.string() + "' && openssl " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Writes to `dir` (NAME.pem + NAME.key, EC P-256, valid two days): the CA "ca" and an unrelated
// "other-ca"; "server" (CN=localhost, SAN DNS:localhost + IP:127.0.0.1) from ca; clients
// "ops-cert" and "reader-cert" from ca; "foreign-cert" from other-ca, also with CN=ops-cert, so
// only the chain can tell it apart.
bool MakeCerts(const fs::path& dir) {
  const std::string new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  auto make_ca = [&](const std::string& name) {
    return OpenSsl(dir, "req -x509 " + new_key + " -keyout " + name + ".key -out " + name +
                            ".pem -days 2 -subj /CN=mlos-mtls-test-" + name);
  };
  auto issue = [&](const std::string& name, const std::string& cn, const std::string& ca,
                   const std::string& ext) {
    std::ofstream(dir / (name + ".ext")) << ext;
    return OpenSsl(dir, "req " + new_key + " -keyout " + name + ".key -out " + name +
                            ".csr -subj /CN=" + cn) &&
           OpenSsl(dir, "x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
                            ".key -CAcreateserial -days 2 -out " + name + ".pem -extfile " +
                            name + ".ext");
  };
  const std::string client_ext = "extendedKeyUsage=clientAuth\n";
  return make_ca("ca") && make_ca("other-ca") &&
         issue("server", "localhost", "ca",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n") &&
         issue("ops-cert", "ops-cert", "ca", client_ext) &&
         issue("reader-cert", "reader-cert", "ca", client_ext) &&
         issue("foreign-cert", "ops-cert", "other-ca", client_ext);
}

// The parameter is the URL scheme under test: "https" or "grpcs".
class MtlsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    if (MlosdHelp().find("--grpc") == std::string::npos) GTEST_SKIP() << "mlosd lacks --grpc";
    if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl";
    certs_ = tmp_.path() / "certs";
    pkgs_ = tmp_.path() / "pkgs";
    fs::create_directories(certs_);
    fs::create_directories(pkgs_);
    ASSERT_TRUE(MakeCerts(certs_)) << "openssl failed to make the test certificates";

    const std::string tls = "  tls: {cert: " + Cert("server.pem") + ", key: " +
                            Cert("server.key") + ", client_ca: " + Cert("ca.pem") + "}\n";
    const fs::path cfg = tmp_.path() / "mlosd.yaml";
    std::ofstream(cfg) << "http:\n" << tls << "grpc:\n" << tls
                       << "security:\n"
                          "  auth: required\n"
                          "  principals:\n"
                          "    ops-cert: {role: operator}\n"
                          "    reader-cert: {role: reader}\n";
    const uint16_t grpc_port = FreePort();
    daemon_ = std::make_unique<Daemon>(
        tmp_.path() / "state",
        std::vector<std::string>{"--config", cfg.string(), "--grpc",
                                 "127.0.0.1:" + std::to_string(grpc_port), "--model-root",
                                 pkgs_.string()});
    daemon_->set_scheme("https");
    ASSERT_TRUE(daemon_->Start());
    const uint16_t port = GetParam() == "https" ? daemon_->port() : grpc_port;
    url_ = GetParam() + "://127.0.0.1:" + std::to_string(port);
    protocol_ = GetParam() == "https" ? "http" : "grpc";
  }

  std::string Cert(const std::string& name) const { return (certs_ / name).string(); }

  // Options presenting the client certificate `name` ("" = none) from the test directory.
  client::ClientOptions Options(const std::string& name, const std::string& token = "") const {
    client::ClientOptions o;
    o.tls.ca_file = Cert("ca.pem");
    if (!name.empty()) {
      o.tls.cert_file = Cert(name + ".pem");
      o.tls.key_file = Cert(name + ".key");
    }
    o.bearer_token = token;
    return o;
  }

  // A client for a certificate the daemon accepts. The gRPC listener may need a moment after
  // the HTTP line, so this retries until Live answers (5 s at most).
  std::unique_ptr<client::Client> Connect(const client::ClientOptions& options) {
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url_, options);
      if (!c.ok()) {
        ADD_FAILURE() << url_ << ": " << c.status().message();
        return nullptr;
      }
      auto live = (*c)->Live();
      if (live.ok() || attempt >= 50) {
        EXPECT_TRUE(live.ok()) << url_ << ": " << live.status().message();
        return std::move(c).value();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // ListModels' status for a fresh client with `options` (or Connect's, should it fail).
  mlos::Status ListWith(const client::ClientOptions& options) {
    auto c = client::Client::Connect(url_, options);
    if (!c.ok()) return c.status();
    return (*c)->ListModels().status();
  }

  std::vector<json> AuditLines() const {
    std::vector<json> out;
    std::ifstream in(tmp_.path() / "state" / "audit.log");
    for (std::string line; std::getline(in, line);) {
      out.push_back(json::parse(line, nullptr, false));
      EXPECT_FALSE(out.back().is_discarded()) << line;
    }
    return out;
  }

  TempDir tmp_;
  fs::path certs_, pkgs_;
  std::unique_ptr<Daemon> daemon_;
  std::string url_, protocol_;
};

TEST_P(MtlsTest, CertificateCommonNameIsThePrincipal) {
  // 1. ops-cert (an operator through security.principals, no token) manages and infers.
  auto ops = Connect(Options("ops-cert"));
  ASSERT_NE(ops, nullptr);
  const Package pkg = CelsiusPackage();
  client::RegisterRequest reg;
  reg.model_id = pkg.Id();
  reg.name = pkg.name;
  reg.framework = pkg.framework;
  reg.execution_format = pkg.execution_format;
  reg.path = WritePackage(pkgs_, pkg).string();
  auto registered = ops->Register(reg);
  ASSERT_TRUE(registered.ok()) << registered.status().message();
  auto loaded = ops->Load(pkg.Id());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->state, "READY");
  client::InferRequest req;
  req.model = pkg.Id();
  req.inputs.push_back(client::Tensor::From<float>("celsius", "float32", {2}, {0.0f, 100.0f}));
  auto result = ops->Infer(req);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const client::Tensor* fahrenheit = result->Find("fahrenheit");
  ASSERT_NE(fahrenheit, nullptr);
  const std::vector<float> f = fahrenheit->As<float>();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[0], 32.0f, 1e-4);
  EXPECT_NEAR(f[1], 212.0f, 1e-4);
  auto ops_list = ops->ListModels();
  ASSERT_TRUE(ops_list.ok()) << ops_list.status().message();
  ASSERT_EQ(ops_list->size(), 1u);
  EXPECT_EQ((*ops_list)[0].id, pkg.Id());

  // 2. reader-cert reads, and its refusal to unload names it.
  auto reader = Connect(Options("reader-cert"));
  ASSERT_NE(reader, nullptr);
  auto reader_list = reader->ListModels();
  ASSERT_TRUE(reader_list.ok()) << reader_list.status().message();
  EXPECT_EQ(reader_list->size(), 1u);
  auto meta = reader->GetModelMetadata(pkg.Id());
  ASSERT_TRUE(meta.ok()) << meta.status().message();
  ASSERT_EQ(meta->inputs.size(), 1u);
  EXPECT_EQ(meta->inputs[0].name, "celsius");
  auto denied = reader->Unload(pkg.Id());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied) << denied.status().message();
  EXPECT_NE(denied.status().message().find("reader-cert"), std::string::npos)
      << denied.status().message();

  // 3. A certificate from another CA (CN=ops-cert all the same), or none: the server refuses
  //    the TLS handshake, which the SDK reports as kUnavailable (not a 401 after accepting it).
  const mlos::Status foreign = ListWith(Options("foreign-cert"));
  EXPECT_EQ(foreign.code(), StatusCode::kUnavailable) << foreign.message();
  const mlos::Status none = ListWith(Options(""));
  EXPECT_EQ(none.code(), StatusCode::kUnavailable) << none.message();

  // 4. A bearer token over mTLS wins: reader-cert + the admin token may unload.
  const std::string admin_token = ReadFileBytes(tmp_.path() / "state" / "admin.token");
  ASSERT_FALSE(admin_token.empty());
  auto as_admin = Connect(Options("reader-cert", admin_token.substr(0, admin_token.find('\n'))));
  ASSERT_NE(as_admin, nullptr);
  auto unloaded = as_admin->Unload(pkg.Id());
  ASSERT_TRUE(unloaded.ok()) << unloaded.status().message();
  EXPECT_NE(unloaded->state, "READY");

  // 5. The audit log names the certificate principals and how they were identified.
  auto audited = [&](const std::string& principal, const std::string& method,
                     const std::string& action, const std::string& outcome) {
    for (const json& j : AuditLines()) {
      if (j.value("principal", "") == principal && j.value("method", "") == method &&
          j.value("action", "") == action && j.value("outcome", "") == outcome &&
          j.value("protocol", "") == protocol_) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(audited("ops-cert", "mtls", "register", "ok"));
  EXPECT_TRUE(audited("ops-cert", "mtls", "load", "ok"));
  EXPECT_TRUE(audited("reader-cert", "mtls", "unload", "denied"));
  EXPECT_TRUE(audited("admin", "token", "unload", "ok"));
}

INSTANTIATE_TEST_SUITE_P(Protocols, MtlsTest, ::testing::Values("https", "grpcs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mlostest
