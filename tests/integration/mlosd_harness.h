// Helpers for the mlosd integration tests: start the real daemon on a free loopback port, talk
// HTTP/1.1 over a raw socket, and build model packages (manifest.yaml + files) from fixtures.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"

namespace mlostest {

namespace fs = std::filesystem;
using nlohmann::json;

inline const fs::path kMlosd = fs::path(MLOS_BINARY_DIR) / "bin" / "mlosd";
// How much longer waits for the daemon are in a sanitizer build (MLOS_SANITIZE): mlosd starts
// several times slower there (loading libtorch's plugin alone takes ~50 s under ASan on 2 busy
// CPUs). Waits only; no assertion about speed is relaxed.
#ifdef MLOS_SANITIZER_BUILD
inline constexpr int kWaitScale = 5;
#else
inline constexpr int kWaitScale = 1;
#endif
inline const fs::path kFixtures = fs::path(MLOS_BINARY_DIR) / "fixtures";
inline const fs::path kPlugins = fs::path(MLOS_BINARY_DIR) / "lib" / "mlos" / "plugins";

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json Json() const {
    json j = json::parse(body, nullptr, false);
    return j;
  }
  std::string Error() const {
    json j = Json();
    return j.is_object() && j.contains("error") && j["error"].is_string()
               ? j["error"].get<std::string>()
               : std::string("<no error field: ") + body.substr(0, 200) + ">";
  }
};

inline int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Parses one response from raw bytes (Content-Length framed, or up to EOF).
inline Reply ParseReply(const std::string& raw) {
  Reply r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    r.body.resize(std::min<size_t>(r.body.size(), std::stoull(it->second)));
  }
  return r;
}

// Sends raw bytes, reads until the server closes; status 0 when nothing parseable came back.
inline Reply RawRequest(uint16_t port, std::string_view bytes) {
  int fd = Connect(port);
  if (fd < 0) return {};
  SendAll(fd, bytes);
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return ParseReply(raw);
}

inline Reply Http(uint16_t port, const std::string& method, const std::string& path,
                  const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    has_type |= k == "Content-Type";
  }
  if (!has_type && !body.empty()) req += "Content-Type: application/json\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  req += body;
  return RawRequest(port, req);
}

// "a/b@c" -> "a%2Fb%40c"
inline std::string Encode(std::string_view id) {
  std::string out;
  for (char c : id) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c));
      out += b;
    }
  }
  return out;
}

// `mlosd --help` (stdout and stderr): tests skip front-ends the binary was built without.
inline std::string MlosdHelp() {
  std::string out;
  FILE* p = ::popen((kMlosd.string() + " --help 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A loopback TCP port that was free a moment ago (for flags that need a fixed port).
inline uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The real daemon, started with --http 127.0.0.1:0 and a state dir; its stderr goes to
// <state_dir>/../mlosd-<n>.log.
class Daemon {
 public:
  Daemon(fs::path state_dir, std::vector<std::string> extra_args = {})
      : state_dir_(std::move(state_dir)), extra_(std::move(extra_args)) {}
  ~Daemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  // Starts and waits (up to 60 s) for the "mlosd listening on" line.
  ::testing::AssertionResult Start() {
    static int counter = 0;
    log_ = state_dir_.parent_path() / ("mlosd-" + std::to_string(++counter) + ".log");
    int fds[2];
    if (::pipe(fds) != 0) return ::testing::AssertionFailure() << "pipe failed";
    std::vector<std::string> args = {kMlosd.string(), "--http", "127.0.0.1:0", "--state-dir",
                                     state_dir_.string()};
    // Tests write packages beside the state dir: that directory is the model root unless the
    // test names its own (security.model_roots).
    bool roots = false;
    for (const std::string& a : extra_) roots |= a == "--model-root";
    if (!roots) {
      args.push_back("--model-root");
      args.push_back(state_dir_.parent_path().string());
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      FILE* log = std::fopen(log_.c_str(), "w");
      if (log) ::dup2(fileno(log), 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60 * kWaitScale);
    const std::string marker = "mlosd listening on " + scheme_ + "://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) > 0) {
        char buf[512];
        ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        const size_t at = out.find(marker);
        if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
          port_ = static_cast<uint16_t>(std::stoi(out.substr(at + marker.size())));
          // The gRPC and IPC lines, when enabled, are printed before the HTTP one.
          const std::string grpc_marker = "mlosd grpc listening on 127.0.0.1:";
          if (size_t g = out.find(grpc_marker); g != std::string::npos) {
            grpc_port_ = static_cast<uint16_t>(std::stoi(out.substr(g + grpc_marker.size())));
          }
          const std::string ipc_marker = "mlosd ipc listening on ";
          if (size_t i = out.find(ipc_marker); i != std::string::npos) {
            size_t from = i + ipc_marker.size();
            ipc_path_ = out.substr(from, out.find('\n', from) - from);
          }
          return ::testing::AssertionSuccess();
        }
      }
    }
    return ::testing::AssertionFailure() << "mlosd did not start; stdout: " << out
                                         << "\nlog:\n" << Log();
  }

  // Sends `sig` and waits for the exit; returns the exit code (128 + signal if killed).
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  // Non-blocking: true with *code (as Stop returns it) once the daemon has exited.
  bool TryWait(int* code) {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    pid_ = -1;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  int Wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  // "https" when the daemon serves HTTP over TLS (the line it prints says so).
  void set_scheme(std::string scheme) { scheme_ = std::move(scheme); }
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return port_; }
  // With --grpc 127.0.0.1:0 / --ipc PATH among the extra arguments (0 / "" otherwise).
  uint16_t grpc_port() const { return grpc_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  const std::string& ipc_path() const { return ipc_path_; }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  Reply Get(const std::string& path) { return Http(port_, "GET", path); }
  Reply Post(const std::string& path, const std::string& body = "",
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Http(port_, "POST", path, body, headers);
  }

 private:
  fs::path state_dir_;
  std::vector<std::string> extra_;
  std::string scheme_ = "http";
  fs::path log_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t grpc_port_ = 0;
  std::string ipc_path_;
};

// A model package directory: manifest.yaml plus its files.
struct Package {
  std::string ns = "test";
  std::string name;
  std::string version = "1.0.0";
  std::string framework = "onnx";
  std::string execution_format = "onnx";
  std::string file_name = "model.onnx";
  std::string file_contents;   // the model file's bytes
  std::string io_yaml;         // lines under spec.io (indented 4 spaces)
  std::string deps_yaml;       // lines under spec.dependencies.models (indented 6 spaces)
  bool corrupt_checksum = false;
  std::string extra_file;      // a files[] entry path that is listed too (e.g. traversal)
  std::string security_yaml;   // lines under the top-level `security:` (indented 2 spaces)

  std::string Id() const { return ns + "/" + name + "@" + version; }
};

// A file's bytes, or "" when it cannot be read (mlos::ReadFile, src/common/fs.h).
inline std::string ReadFileBytes(const fs::path& p) {
  mlos::Result<std::string> bytes = mlos::ReadFile(p);
  return bytes.ok() ? std::move(bytes).value() : std::string();
}

inline fs::path WritePackage(const fs::path& root, const Package& p) {
  const fs::path dir = root / (p.ns + "-" + p.name + "-" + p.version);
  fs::create_directories(dir);
  std::ofstream(dir / p.file_name, std::ios::binary) << p.file_contents;
  std::string sha = mlos::Sha256Hex(p.file_contents);
  if (p.corrupt_checksum) sha = std::string(64, '0');
  std::string y = "apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n  name: " + p.name +
                  "\n  namespace: " + p.ns + "\n  version: " + p.version +
                  "\nspec:\n  framework:\n    name: " + p.framework +
                  "\n  format:\n    type: " + p.execution_format +
                  "\n    execution_format: " + p.execution_format +
                  "\n    files:\n      - path: " + p.file_name +
                  "\n        size: " + std::to_string(p.file_contents.size()) +
                  "\n        sha256: " + sha + "\n";
  if (!p.extra_file.empty()) {
    y += "      - path: " + p.extra_file + "\n        size: 1\n        sha256: " +
         std::string(64, 'a') + "\n";
  }
  y += "    execution_files:\n      - path: " + p.file_name + "\n        format: " +
       p.execution_format + "\n        type: single\n";
  if (!p.io_yaml.empty()) y += "  io:\n" + p.io_yaml;
  if (!p.deps_yaml.empty()) y += "  dependencies:\n    models:\n" + p.deps_yaml;
  if (!p.security_yaml.empty()) y += "security:\n" + p.security_yaml;
  std::ofstream(dir / "manifest.yaml") << y;
  return dir;
}

inline std::string RegisterBody(const Package& p, const fs::path& dir) {
  json j = {{"model_id", p.Id()},
            {"name", p.name},
            {"framework", p.framework},
            {"execution_format", p.execution_format},
            {"path", dir.string()},
            {"description", "integration test model"}};
  return j.dump();
}

inline Package MlpPackage(std::string version = "1.0.0") {
  Package p;
  p.name = "mlp";
  p.version = std::move(version);
  p.file_contents = ReadFileBytes(kFixtures / "mlp.onnx");
  p.io_yaml =
      "    inputs:\n      - name: input\n        dtype: float32\n        shape: [-1, 16]\n"
      "    outputs:\n      - name: logits\n        dtype: float32\n        shape: [-1, 4]\n"
      "      - name: probs\n        dtype: float32\n        shape: [-1, 4]\n";
  return p;
}

inline Package CelsiusPackage(std::string version = "1.0.0") {
  Package p;
  p.name = "celsius";
  p.version = std::move(version);
  p.file_contents = ReadFileBytes(kFixtures / "demo_celsius.onnx");
  p.io_yaml =
      "    inputs:\n      - name: celsius\n        dtype: float32\n        shape: [-1]\n"
      "    outputs:\n      - name: fahrenheit\n        dtype: float32\n        shape: [-1]\n";
  return p;
}

inline Package TestingPackage(std::string name, std::string testing_json,
                              std::string version = "1.0.0") {
  Package p;
  p.name = std::move(name);
  p.version = std::move(version);
  p.framework = "testing";
  p.execution_format = "testing";
  p.file_name = "testing.json";
  p.file_contents = std::move(testing_json);
  return p;
}

inline const fs::path kMlos = fs::path(MLOS_BINARY_DIR) / "bin" / "mlos";

// One run of the `mlos` CLI: exit code, stdout, stderr.
struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs `mlos ARGS...` in `dir` (stderr through dir/stderr.txt), with `input` on its stdin when
// given.
inline CliRun RunMlos(const std::vector<std::string>& args, const fs::path& dir,
                      const std::optional<std::string>& input = std::nullopt) {
  std::string cmd = "cd '" + dir.string() + "' && '" + kMlos.string() + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  const fs::path err = dir / "stderr.txt";
  if (input) {
    const fs::path in = dir / "stdin.txt";
    std::ofstream(in, std::ios::binary) << *input;
    cmd += " <'" + in.string() + "'";
  }
  cmd += " 2>'" + err.string() + "'";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = ReadFileBytes(err);
  return r;
}

// Runs a shell command line; stdout and stderr together, the exit code in *rc.
inline std::string Sh(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// A fresh temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mlosd-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline bool Prerequisites(std::string* why) {
  for (const fs::path& p : {kMlosd, kFixtures / "mlp.onnx", kPlugins / "libmlos_onnx.so",
                            kPlugins / "libmlos_testing.so"}) {
    if (!fs::exists(p)) {
      *why = "missing " + p.string();
      return false;
    }
  }
  return true;
}

}  // namespace mlostest
