// One connection of the IPC front-end (server.cc runs the epoll loop around them). Only one thread
// handles a connection at a time: an event-loop worker while its next frame has fully arrived
// and is quick, or a thread of its own for one slow or still-arriving frame. Each frame is
// decoded, run through the service with the connection's RequestContext (the peer's SO_PEERCRED
// uid, or the AUTH op's token) and answered; the connection's shared-memory regions are
// dropped when it closes.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/ipc/server.h"
#include "service/service.h"
#include "wire/ipc_protocol.h"

namespace mlos::ipc {

class Connection {
 public:
  // `options` must outlive the connection (the server's own).
  static std::shared_ptr<Connection> Create(service::Service& service,
                                            const ServerOptions& options, int fd,
                                            std::string id);
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  enum class Next { kRearm, kClose, kHandOff };

  // The socket is readable: answers the next frame here when it has fully arrived and is
  // quick; otherwise says kHandOff (then ServeOne on a thread of its own, which may block).
  virtual Next Step() = 0;
  // Reads one frame (blocking; `peeked`: its header, already seen) and answers it; false when
  // the connection is done.
  virtual bool ServeOne(const FrameHeader* peeked = nullptr) = 0;
  // The connection is gone: its shared-memory regions go with it.
  virtual void Closed() = 0;

  int fd() const { return fd_; }
  bool busy = false;  // a thread is handling it (guarded by the server's lock)
  // When it last went back to waiting for a frame (guarded by the server's lock).
  std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();

 protected:
  explicit Connection(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace mlos::ipc
