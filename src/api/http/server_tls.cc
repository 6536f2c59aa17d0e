// The HTTP server's TLS context and client-certificate principal (server_tls.h).
#include "api/http/server_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mlos::http {
namespace {

namespace ssl = boost::asio::ssl;

// "" when `path` can be opened for reading, else why not.
std::string Unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::strerror(errno);
  std::fclose(f);
  return "";
}

Status FileError(const char* what, const std::string& path, const std::string& why) {
  return InvalidArgument(std::string("TLS ") + what + " '" + path + "': " + why);
}

// The reason of the last OpenSSL error on this thread (the queue is cleared).
std::string OpenSslReason(const boost::system::error_code& ec) {
  ERR_clear_error();
  return ec ? ec.message() : "not usable";
}

}  // namespace

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const ServerOptions::Tls& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty() && tls.client_ca_file.empty()) {
    return std::unique_ptr<ssl::context>();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    if (!tls.client_ca_file.empty() && tls.cert_file.empty() && tls.key_file.empty()) {
      return InvalidArgument("TLS client CA file '" + tls.client_ca_file +
                             "' needs a server certificate and key (cert_file, key_file)");
    }
    return InvalidArgument(
        tls.cert_file.empty()
            ? "TLS key file '" + tls.key_file + "' needs a certificate (cert_file)"
            : "TLS certificate file '" + tls.cert_file + "' needs a private key (key_file)");
  }
  for (const auto& [what, path] : {std::pair{"certificate file", &tls.cert_file},
                                   std::pair{"key file", &tls.key_file},
                                   std::pair{"client CA file", &tls.client_ca_file}}) {
    if (path->empty()) continue;
    if (std::string why = Unreadable(*path); !why.empty()) return FileError(what, *path, why);
  }

  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return FileError("certificate file", tls.cert_file,
                     "not a PEM certificate chain (" + OpenSslReason(ec) + ")");
  }
  ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec) {
    return FileError("key file", tls.key_file,
                     "not a PEM private key for that certificate (" + OpenSslReason(ec) + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return FileError("key file", tls.key_file,
                     "does not match the certificate in '" + tls.cert_file + "'");
  }
  if (!tls.client_ca_file.empty()) {
    ctx->load_verify_file(tls.client_ca_file, ec);
    if (ec) {
      return FileError("client CA file", tls.client_ca_file,
                       "no PEM CA certificate in it (" + OpenSslReason(ec) + ")");
    }
    // Tell clients which CAs are acceptable (they pick their certificate by it).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    }
    ERR_clear_error();
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Session resumption with client verification needs a context id (else OpenSSL refuses
    // resumed sessions).
    static constexpr unsigned char kSessionContext[] = "mlosd-http";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

std::string VerifiedPeerCommonName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  std::string cn;
  if (n > 0) cn.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return cn.find('\0') == std::string::npos ? cn : "";
}

}  // namespace mlos::http
