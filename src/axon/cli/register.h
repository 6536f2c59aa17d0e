// axon register: the POST /models/register request to mlosd for an installed model, with its
// bearer token and TLS files. No printing here (the CLI prints).
#pragma once

#include <string>

#include "axon/cache.h"
#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::axon::cli {

// How `axon register` reaches mlosd: --endpoint, --token, and the TLS files for https://.
struct RegisterTarget {
  std::string endpoint;  // "" = $MLOS_CORE_ENDPOINT, else http://localhost:8080
  std::string token;     // "" = $MLOS_TOKEN; sent as "Authorization: Bearer"; never printed
  std::string ca_file, cert_file, key_file;  // PEM; cert and key together or neither
};

// Fills the defaults above and drops trailing '/' from the endpoint. kInvalidArgument for a
// certificate without its key (or the reverse).
Status ResolveRegisterTarget(RegisterTarget& target);

// Registers `v` (whose manifest is `m`) with the resolved `target`; the server's answer (the
// model document) on success. A refusal is one line naming the model, the endpoint, the HTTP
// status and the server's {"error"} message: 401 kUnauthenticated (with a hint to pass a
// token), 403 kPermissionDenied, anything else kUnavailable; network and TLS failures are
// kUnavailable with curl's message.
Result<std::string> RegisterWithMlosd(const InstalledVersion& v, const mpf::Manifest& m,
                                      const RegisterTarget& target);

}  // namespace mlos::axon::cli
