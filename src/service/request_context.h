// What the service knows about one call, whatever protocol carried it. Every front-end builds
// one RequestContext per call (decode) and hands it to service::Service with the request; the
// concerns that apply to every call (identity, deadlines, priority, metrics labels, which
// shared-memory regions the caller may use) read it from here, and nowhere else.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "security/guard.h"

namespace mlos::service {

using Clock = std::chrono::steady_clock;

enum class Protocol : uint8_t { kHttp, kGrpc, kIpc };
// "http", "grpc", "ipc" (the `protocol` label of every metric).
const char* ProtocolName(Protocol p);

// What the transport alone says about the caller: the name it has when authentication is off
// ("anonymous", or "uid:1000" from IPC peer credentials). With auth required the service
// authenticates `credentials` instead (security::Guard) and names the caller after that.
struct Principal {
  std::string name = "anonymous";
  std::string method = "none";  // "none", "peercred"
};

struct RequestContext {
  Protocol protocol = Protocol::kHttp;
  Principal principal;
  security::Credentials credentials;  // bearer token, mTLS CN, peer uid, as the front-end saw them
  std::string peer;  // "127.0.0.1:51234", "[::1]:8080", "pid 42 uid 1000"
  // When the front-end had the whole request: the server's request timeout counts from here.
  Clock::time_point received = Clock::now();
  // The client's own deadline (gRPC deadline, IPC timeout_us), when it sent one. The service
  // applies the earlier of this and received + the server's request timeout.
  std::optional<Clock::time_point> client_deadline;
  // 1 = most urgent (KServe `priority`, X-MLOS-Priority, IPC field); 0 = the model's default.
  int priority = 0;
  // Ollama's keep_alive for the model after this request (KServe parameter `keep_alive`,
  // X-MLOS-Keep-Alive): negative = forever, 0 = unload after it; unset = the model's.
  std::optional<std::chrono::milliseconds> keep_alive;
  std::string request_id;  // the client's id when it sent one ("" otherwise)
  // The owner of the caller's private shared-memory regions (an IPC connection id); "" for
  // callers that may use only system (KServe) regions.
  std::string shm_owner;
  // Set by mlosd itself, never by a front-end, for work its own configuration asks for (the
  // model repository): the call acts as the administrator "mlosd" (audited as such).
  bool daemon = false;
};

}  // namespace mlos::service
