// TLS for the HTTP server (OpenSSL through Asio; no Beast here, see server.cc): the server's
// SSL context built from ServerOptions::Tls, and the principal of a verified client certificate.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "api/http/server.h"
#include "common/status.h"

namespace mlos::http {

// The SSL context every TLS connection of a server shares (read-only once built, so the io
// threads use it concurrently). nullptr when TLS is off (no cert_file, key_file or
// client_ca_file). TLS 1.2 or later; the certificate chain and key are PEM files. With
// client_ca_file, a client must present a certificate that CA signed (verify_peer |
// verify_fail_if_no_peer_cert). kInvalidArgument naming the file for one that cannot be read
// or is not usable PEM, for a key that does not match the certificate, for a cert without a key
// (or the reverse) and for client_ca_file without cert_file and key_file.
Result<std::unique_ptr<boost::asio::ssl::context>> MakeTlsContext(const ServerOptions::Tls& tls);

// The subject CN (UTF-8) of the certificate the peer presented on `ssl`, when OpenSSL verified
// it; "" when there is none, it failed verification, it has no CN, more than one CN, or one
// with a NUL byte (never a guess at who the client is).
std::string VerifiedPeerCommonName(SSL* ssl);

}  // namespace mlos::http
