// Test helper: runs a fake hub server (any program, usually a Python script under tests/hubs/)
// as a real subprocess on a free loopback port, waits until the port accepts connections, and
// kills it when the FakeServer is destroyed.
//
//   auto server = mlos::hubtest::FakeServer::Start(
//       {"/usr/bin/python3", mlos::hubtest::HubScript("fake_hf_hub.py"), "--repos", dir});
//   ASSERT_TRUE(server.ok()) << server.status().ToString();
//   std::string base = server->url();   // "http://127.0.0.1:<port>"
//
// Start appends "--port <p>" to argv, unless an argument contains "{port}", which is then
// replaced by the port instead. Header-only; POSIX.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "axon/hub/http.h"
#include "common/status.h"

namespace mlos::hubtest {

// Absolute path of a script in tests/hubs (MLOS_SOURCE_DIR is defined for every test).
inline std::string HubScript(const std::string& name) {
  return std::string(MLOS_SOURCE_DIR) + "/tests/hubs/" + name;
}

// A currently free TCP port on 127.0.0.1 (bound to port 0, read back, released).
inline int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class FakeServer {
 public:
  FakeServer() = default;
  FakeServer(FakeServer&& o) noexcept : pid_(std::exchange(o.pid_, -1)), port_(o.port_) {}
  FakeServer& operator=(FakeServer&& o) noexcept {
    if (this != &o) {
      Stop();
      pid_ = std::exchange(o.pid_, -1);
      port_ = o.port_;
    }
    return *this;
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;
  ~FakeServer() { Stop(); }

  // Starts argv (argv[0] is an absolute program path) on a free port and waits until the port
  // accepts connections. Fails with kUnavailable when the process exits early or does not
  // listen within `timeout` (a port race with another process is retried up to 3 times).
  static Result<FakeServer> Start(std::vector<std::string> argv,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    Status last = Unavailable("fake server: not started");
    for (int attempt = 0; attempt < 3; ++attempt) {
      int port = PickFreePort();
      if (port <= 0) return Unavailable("fake server: no free port");
      std::vector<std::string> args = argv;
      bool placed = false;
      for (auto& a : args) {
        size_t at = a.find("{port}");
        if (at != std::string::npos) {
          a.replace(at, 6, std::to_string(port));
          placed = true;
        }
      }
      if (!placed) {
        args.push_back("--port");
        args.push_back(std::to_string(port));
      }
      FakeServer server;
      server.port_ = port;
      server.pid_ = Spawn(args);
      if (server.pid_ < 0) return Unavailable("fake server: fork failed");
      auto deadline = std::chrono::steady_clock::now() + timeout;
      bool exited = false;
      while (std::chrono::steady_clock::now() < deadline) {
        if (PortAccepts(port)) return server;
        int wstatus = 0;
        if (::waitpid(server.pid_, &wstatus, WNOHANG) == server.pid_) {
          server.pid_ = -1;
          exited = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
      last = Unavailable("fake server " + argv.front() + " " + (argv.size() > 1 ? argv[1] : "") +
                         (exited ? ": exited before listening" : ": did not listen in time"));
      if (!exited) return last;  // the destructor kills it
    }
    return last;
  }

  int port() const { return port_; }
  int pid() const { return pid_; }
  // "http://127.0.0.1:<port>" (or another loopback name, e.g. "localhost").
  std::string url(const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_);
  }

  // Kills the process (SIGTERM, then SIGKILL after 2 s) and reaps it. Idempotent.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int wstatus = 0;
      if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    int wstatus = 0;
    ::waitpid(pid_, &wstatus, 0);
    pid_ = -1;
  }

 private:
  static int Spawn(const std::vector<std::string>& args) {
    std::vector<char*> cargv;
    for (const auto& a : args) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // The server dies with the test even when the test crashes.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    return pid;
  }

  int pid_ = -1;
  int port_ = 0;
};

// ---- Small helpers for talking to fake servers and laying out fake repos ---------------------

// GET url; the body of a 2xx answer, else an error naming the status.
inline Result<std::string> HttpGetBody(const std::string& url) {
  axon::HttpRequest req;
  req.url = url;
  req.timeout_s = 30;
  auto r = axon::HttpFetch(req);
  if (!r.ok()) return r.status();
  if (r->status / 100 != 2) return Unavailable(url + ": HTTP " + std::to_string(r->status));
  return r->body;
}

// POST a JSON body (e.g. to a fake server's /_control endpoint).
inline Status PostJson(const std::string& url, const std::string& json) {
  axon::HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.body = json;
  req.headers.emplace_back("Content-Type", "application/json");
  req.timeout_s = 30;
  auto r = axon::HttpFetch(req);
  if (!r.ok()) return r.status();
  if (r->status / 100 != 2) return Unavailable(url + ": HTTP " + std::to_string(r->status));
  return Status::Ok();
}

inline void WriteTestFile(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Deterministic pseudo-random bytes (xorshift), for test files with a known sha256.
inline std::string TestBytes(size_t n, uint64_t seed = 1) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

// Lays out a repo for fake_hf_hub.py: <root>/<repo>/<sha>/<files> and refs/<branch> -> sha.
inline void WriteHfRepo(const std::filesystem::path& root, const std::string& repo,
                        const std::string& sha, const std::map<std::string, std::string>& files,
                        const std::vector<std::string>& branches = {"main"}) {
  for (const auto& [path, data] : files) WriteTestFile(root / repo / sha / path, data);
  for (const auto& b : branches) WriteTestFile(root / repo / "refs" / b, sha);
}

}  // namespace mlos::hubtest
