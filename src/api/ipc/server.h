// The IPC front-end of mlosd: a Unix stream socket speaking the frames of wire/ipc_protocol.h
// (documented in docs/ipc.md). Connections wait in one epoll set; as many worker threads as
// CPUs answer the frames that have fully arrived and are quick (inference, metadata, health,
// shared-memory calls) on the worker itself, going from one ready connection to the next
// without sleeping under load (as the HTTP front-end's io threads do); a frame that is still
// arriving or may take long (generation, load, register...) gets a thread of its own.
// Requests on a connection run in order, so a pipelining client gets its responses in request
// order, each tagged with its request id. Tensors travel inline or in
// memfd regions the client registers (SCM_RIGHTS); those are read and written in place.
// Every connection's regions are dropped when it closes. The peer's SO_PEERCRED uid is the
// request principal ("uid:<n>").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/common/connection_limits.h"
#include "common/status.h"
#include "service/service.h"

namespace mlos::ipc {

struct ServerOptions {
  std::string path;                             // the socket file (a stale one is removed)
  uint32_t mode = 0660;                         // permissions of the socket file
  std::string server_version;                   // reported by HELLO
  uint32_t max_payload = 1u << 30;              // frames above it close the connection
  // max_connections (over it: an error frame, then close), header_timeout (a started frame
  // stalling longer between reads closes the connection: its thread is not held), idle_timeout
  // (0: idle connections stay open, as local clients expect).
  api::ConnectionLimits limits = {1024, std::chrono::seconds(10), std::chrono::seconds(0),
                                  64 * 1024, {}};
  // A client that stops reading its answers for this long is disconnected.
  std::chrono::milliseconds send_timeout{30000};
};

class Server {
 public:
  // `service` must outlive the server.
  Server(service::Service& service, ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Removes a stale socket file, binds, chmods, listens, starts the accept thread.
  // kInvalidArgument for a path too long or an existing non-socket file; kUnavailable when it
  // cannot bind.
  Status Start();
  // Stops accepting, shuts every connection down, waits up to `drain_timeout` for their
  // threads, removes the socket file. Idempotent.
  void Stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(10));

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with connection threads, which may outlive Stop()
};

}  // namespace mlos::ipc
