#include "api/ipc/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/ipc/connection.h"
#include "wire/ipc_protocol.h"

namespace mlos::ipc {

namespace {

// A blocking read (a started frame) or write (an answer) on the socket gives up after `t`.
void SetTimeout(int fd, int option, std::chrono::milliseconds t) {
  if (t.count() <= 0) return;
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  (void)::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

struct Server::Impl {
  service::Service& service;
  ServerOptions options;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle;
  // id -> connection, guarded by mu. Connections wait for their next frame in `epoll`
  // (one-shot: a readable connection goes to one worker), are answered by a worker when the
  // frame is complete and quick, and get a thread of their own for one slow or large frame.
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  uint64_t next_id = 1;
  bool started = false;
  int epoll = -1;
  std::vector<std::thread> workers;
  std::weak_ptr<Impl> self;  // lets hand-off threads keep the Impl alive

  Impl(service::Service& s, ServerOptions o) : service(s), options(std::move(o)) {}
  // The last hand-off thread may outlive Stop(): the epoll set goes with the last owner.
  ~Impl() {
    if (epoll >= 0) ::close(epoll);
  }

  void AcceptLoop();
  void WorkerLoop();
  void Handle(uint64_t id, const std::shared_ptr<Connection>& c);
  void Rearm(uint64_t id, const std::shared_ptr<Connection>& c);
  void Close(uint64_t id);
  void CloseIdle();
  void Refuse(int fd);
};

void Server::Impl::WorkerLoop() {
  for (;;) {
    epoll_event ev{};
    const int n = ::epoll_wait(epoll, &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("ipc: epoll_wait failed: {}", std::strerror(errno));
      return;
    }
    if (n == 0) continue;
    if (ev.data.u64 == 0 || stopping.load()) return;  // the wake pipe: Stop()
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mu);
      auto it = connections.find(ev.data.u64);
      if (it == connections.end()) continue;
      c = it->second;
      c->busy = true;
    }
    Handle(ev.data.u64, c);
  }
}

void Server::Impl::Handle(uint64_t id, const std::shared_ptr<Connection>& c) {
  Connection::Next next = Connection::Next::kClose;
  try {
    next = c->Step();
  } catch (const std::exception& e) {
    spdlog::error("ipc: connection {}: {}", id, e.what());
  }
  if (next == Connection::Next::kRearm) return Rearm(id, c);
  if (next == Connection::Next::kClose) return Close(id);
  // A slow or not yet complete frame: a thread of its own for it, so no worker waits on it.
  try {
    std::thread([keep = self.lock(), id, c] {
      bool ok = false;
      try {
        ok = c->ServeOne();
      } catch (const std::exception& e) {
        spdlog::error("ipc: connection {}: {}", id, e.what());
      }
      if (ok) {
        keep->Rearm(id, c);
      } else {
        keep->Close(id);
      }
    }).detach();
  } catch (const std::exception& e) {
    spdlog::error("ipc: cannot start a thread for connection {}: {}", id, e.what());
    Close(id);
  }
}

// Back to waiting for its next frame; closed instead when the server is stopping.
void Server::Impl::Rearm(uint64_t id, const std::shared_ptr<Connection>& c) {
  {
    std::lock_guard lock(mu);
    if (!stopping.load()) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
      ev.data.u64 = id;
      if (::epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd(), &ev) == 0) {
        c->busy = false;
        c->last_active = std::chrono::steady_clock::now();
        return;
      }
      spdlog::warn("ipc: connection {}: epoll: {}", id, std::strerror(errno));
    }
  }
  Close(id);
}

void Server::Impl::Close(uint64_t id) {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mu);
    auto it = connections.find(id);
    if (it == connections.end()) return;
    c = std::move(it->second);
    connections.erase(it);
  }
  (void)::epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd(), nullptr);
  c->Closed();
  ::close(c->fd());
  options.limits.Report(api::ConnectionEvent::kClosed);
  std::lock_guard lock(mu);
  idle.notify_all();
}

// Closes the connections that waited for a frame longer than the idle timeout. The check and
// the removal are one step under the lock, so a worker never gets a connection closed here.
void Server::Impl::CloseIdle() {
  const auto cutoff = std::chrono::steady_clock::now() - options.limits.idle_timeout;
  std::vector<std::shared_ptr<Connection>> gone;
  {
    std::lock_guard lock(mu);
    for (auto it = connections.begin(); it != connections.end();) {
      if (!it->second->busy && it->second->last_active < cutoff) {
        gone.push_back(std::move(it->second));
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : gone) {
    (void)::epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd(), nullptr);
    c->Closed();
    ::close(c->fd());
    options.limits.Report(api::ConnectionEvent::kClosed);
  }
  if (!gone.empty()) {
    spdlog::info("ipc: closed {} connection(s) idle for over {} ms", gone.size(),
                 options.limits.idle_timeout.count());
    std::lock_guard lock(mu);
    idle.notify_all();
  }
}

// Over max_connections: one error frame saying so (a client waiting for its HELLO answer reads
// it), then close.
void Server::Impl::Refuse(int fd) {
  options.limits.Report(api::ConnectionEvent::kRefused);
  FrameHeader e;
  e.status = static_cast<uint32_t>(StatusCode::kResourceExhausted);
  (void)SendFrame(fd, e,
                  "too many open connections (the server's limit is " +
                      std::to_string(options.limits.max_connections) + "); retry later");
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

void Server::Impl::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
    const auto idle_limit = options.limits.idle_timeout;
    // With an idle timeout, look for idle connections a few times per timeout (at most 1/s).
    const int wait_ms =
        idle_limit.count() > 0
            ? static_cast<int>(std::clamp<int64_t>(idle_limit.count() / 4, 10, 1000))
            : -1;
    const int ready = ::poll(p, 2, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("ipc: poll failed: {}", std::strerror(errno));
      return;
    }
    if (stopping.load() || (p[1].revents & POLLIN)) return;
    if (idle_limit.count() > 0) CloseIdle();
    if (!(p[0].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("ipc: accept failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    SetLargeSocketBuffers(fd);
    SetTimeout(fd, SO_RCVTIMEO, options.limits.header_timeout);
    SetTimeout(fd, SO_SNDTIMEO, options.send_timeout);
    std::unique_lock lock(mu);
    if (stopping.load()) {
      ::close(fd);
      return;
    }
    const int max = options.limits.max_connections;
    if (max > 0 && connections.size() >= static_cast<size_t>(max)) {
      lock.unlock();
      Refuse(fd);
      continue;
    }
    options.limits.Report(api::ConnectionEvent::kOpened);
    const uint64_t id = next_id++;
    auto c = Connection::Create(service, options, fd, "ipc-" + std::to_string(id));
    connections.emplace(id, c);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      spdlog::error("ipc: cannot watch a connection: {}", std::strerror(errno));
      connections.erase(id);
      c->Closed();
      ::close(fd);
      options.limits.Report(api::ConnectionEvent::kClosed);
    }
  }
}

Server::Server(service::Service& service, ServerOptions options)
    : impl_(std::make_shared<Impl>(service, std::move(options))) {}

Server::~Server() { Stop(std::chrono::seconds(2)); }

Status Server::Start() {
  Impl& s = *impl_;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s.options.path.empty() || s.options.path.size() >= sizeof addr.sun_path) {
    return InvalidArgument("ipc: socket path must be 1.." +
                           std::to_string(sizeof addr.sun_path - 1) + " characters: '" +
                           s.options.path + "'");
  }
  std::memcpy(addr.sun_path, s.options.path.c_str(), s.options.path.size() + 1);
  struct stat st {};
  if (::lstat(s.options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return InvalidArgument("ipc: " + s.options.path + " exists and is not a socket");
    }
    ::unlink(s.options.path.c_str());  // stale socket from an earlier run
  }
  s.listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.listen_fd < 0) return Unavailable(std::string("ipc: socket: ") + std::strerror(errno));
  if (::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(s.options.path.c_str(), s.options.mode) != 0 || ::listen(s.listen_fd, 128) != 0) {
    const std::string why = std::strerror(errno);
    ::close(s.listen_fd);
    s.listen_fd = -1;
    return Unavailable("ipc: cannot listen on " + s.options.path + ": " + why);
  }
  if (::pipe2(s.wake, O_CLOEXEC) != 0) {
    return Unavailable(std::string("ipc: pipe: ") + std::strerror(errno));
  }
  s.epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (s.epoll < 0) return Unavailable(std::string("ipc: epoll: ") + std::strerror(errno));
  epoll_event wake{};
  wake.events = EPOLLIN;  // level-triggered: every worker sees it
  wake.data.u64 = 0;
  (void)::epoll_ctl(s.epoll, EPOLL_CTL_ADD, s.wake[0], &wake);
  s.started = true;
  s.self = impl_;
  // As many workers as CPUs (the HTTP front-end's io threads alike): under load a worker goes
  // from one ready connection to the next without sleeping, and at most that many inferences
  // run at once from this front-end.
  const unsigned n = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) s.workers.emplace_back([&s] { s.WorkerLoop(); });
  s.acceptor = std::thread([&s] { s.AcceptLoop(); });
  return Status::Ok();
}

void Server::Stop(std::chrono::milliseconds drain_timeout) {
  Impl& s = *impl_;
  if (!s.started || s.stopping.exchange(true)) return;
  const char b = 1;
  (void)!::write(s.wake[1], &b, 1);
  if (s.acceptor.joinable()) s.acceptor.join();
  for (std::thread& w : s.workers) w.join();
  s.workers.clear();
  ::close(s.listen_fd);
  ::unlink(s.options.path.c_str());
  // Idle connections are closed here; those a thread is answering are shut down and close
  // when it is done (or when the drain time is over, with the process).
  std::vector<uint64_t> idle_ids;
  {
    std::lock_guard lock(s.mu);
    for (const auto& [id, c] : s.connections) {
      ::shutdown(c->fd(), SHUT_RDWR);
      if (!c->busy) idle_ids.push_back(id);
    }
  }
  for (uint64_t id : idle_ids) s.Close(id);
  std::unique_lock lock(s.mu);
  s.idle.wait_for(lock, drain_timeout, [&] { return s.connections.empty(); });
  ::close(s.wake[0]);
  ::close(s.wake[1]);
}

}  // namespace mlos::ipc
