#include "testing_attacks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace mlos::testing_plugin {
namespace {

constexpr uint64_t kReadCap = 64ull << 20;  // read_file stops after this many bytes

std::string Refused(const std::string& what, int err) {
  return "refused: " + what + ": " + std::strerror(err);
}

// Closes the descriptor it owns.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  // Closes now; 0, or close()'s errno.
  int Close() {
    if (fd_ < 0) return 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// waitpid, retried on EINTR; 0 or errno.
int WaitFor(pid_t pid, int* status, int options = 0) {
  while (::waitpid(pid, status, options) < 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

std::string ReadFileAttack(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return Refused("open " + path, errno);
  std::vector<char> buffer(64 << 10);
  uint64_t total = 0;
  while (total < kReadCap) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Refused("read " + path, errno);
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
  }
  return "ok: read " + std::to_string(total) + " bytes from " + path;
}

std::string WriteFileAttack(const std::string& path) {
  static constexpr char kText[] = "mlos testing attack\n";
  const size_t size = sizeof kText - 1;
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644));
  if (fd.get() < 0) return Refused("open " + path, errno);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd.get(), kText + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Refused("write " + path, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (int err = fd.Close()) return Refused("close " + path, err);
  return "ok: wrote " + std::to_string(size) + " bytes to " + path;
}

std::string ConnectAttack(int64_t port) {
  const std::string where = "127.0.0.1:" + std::to_string(port);
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Refused("socket", errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINTR) return Refused("connect " + where, errno);
    // Interrupted: the connection goes on; wait for it (at most 5 s) and take its result.
    pollfd p{fd.get(), POLLOUT, 0};
    int rc;
    while ((rc = ::poll(&p, 1, 5000)) < 0 && errno == EINTR) {
    }
    if (rc < 0) return Refused("poll " + where, errno);
    if (rc == 0) return Refused("connect " + where, ETIMEDOUT);
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return Refused("connect " + where, err);
  }
  return "ok: connected to " + where;
}

std::string ExecAttack() {
  // Everything the child touches is made before fork(): after it, the child of this
  // multithreaded process calls only async-signal-safe functions.
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                        const_cast<char*>("exit 7"), nullptr};
  char* const envp[] = {nullptr};
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Refused("pipe", errno);
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return Refused("fork", errno);
  if (pid == 0) {
    ::execve("/bin/sh", argv, envp);
    const int err = errno;  // execve failed: tell the parent why (the pipe is close-on-exec)
    [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], &err, sizeof err);
    ::_exit(127);
  }
  write_end.Close();
  int child_errno = 0;
  ssize_t n;
  while ((n = ::read(read_end.get(), &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  read_end.Close();
  int status = 0;
  const int wait_err = WaitFor(pid, &status);
  if (n == static_cast<ssize_t>(sizeof child_errno)) return Refused("execve /bin/sh", child_errno);
  if (wait_err != 0) {
    // Reaped elsewhere (SIGCHLD ignored, or the host reaps): execve did not report a failure.
    return std::string("ok: /bin/sh ran (exit status unknown: waitpid: ") +
           std::strerror(wait_err) + ")";
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 7) return "ok: /bin/sh ran (exit 7)";
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "refused: execve /bin/sh: child killed by signal " + std::to_string(sig) + " (" +
           ::strsignal(sig) + ")";
  }
  return "refused: execve /bin/sh: child exited " + std::to_string(WEXITSTATUS(status)) +
         " (expected 7)";
}

std::string ForkAttack(int64_t count) {
  std::vector<pid_t> children;
  children.reserve(static_cast<size_t>(count));  // no allocation (nor bad_alloc) between forks
  const pid_t parent = ::getpid();
  int fork_err = 0;
  while (static_cast<int64_t>(children.size()) < count) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      fork_err = errno;
      break;
    }
    if (pid == 0) {
      // Dies with the forking thread should this process die before killing it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(0);
      for (;;) ::pause();
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) ::kill(pid, SIGKILL);
  for (pid_t pid : children) {
    int status = 0;
    WaitFor(pid, &status);
  }
  const std::string n = std::to_string(children.size());
  if (fork_err != 0) return Refused("fork after " + n + " children", fork_err);
  return "ok: forked " + n + " children";
}

std::string AllocAttack(uint64_t bytes) {
  void* p = std::malloc(bytes);
  if (p == nullptr && bytes > 0) {
    return Refused("malloc " + std::to_string(bytes) + " bytes", errno ? errno : ENOMEM);
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  volatile char* data = static_cast<volatile char*>(p);
  for (uint64_t off = 0; off < bytes; off += page) data[off] = 1;  // resident, not reserved
  if (bytes > 0) data[bytes - 1] = 1;
  std::free(p);
  return "ok: allocated and touched " + std::to_string(bytes) + " bytes";
}

std::string KillAttack(int64_t pid, int64_t signal) {
  const std::string target = "pid " + std::to_string(pid);
  if (::kill(static_cast<pid_t>(pid), static_cast<int>(signal)) != 0) {
    return Refused("kill " + target, errno);
  }
  return "ok: sent signal " + std::to_string(signal) + " to " + target;
}

std::string PtraceAttack(int64_t pid_value) {
  const pid_t pid = static_cast<pid_t>(pid_value);
  const std::string target = "pid " + std::to_string(pid);
  if (::ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) != 0) {
    return Refused("ptrace attach " + target, errno);
  }
  // The tracee stops (SIGSTOP) once attached; detaching needs it stopped.
  int status = 0;
  WaitFor(pid, &status, __WALL);
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return "ok: attached to " + target + " (then detached)";
}

}  // namespace

std::string RunAttack(const ModelConfig& config) {
  switch (config.attack) {
    case Attack::kReadFile:
      return ReadFileAttack(config.attack_path);
    case Attack::kWriteFile:
      return WriteFileAttack(config.attack_path);
    case Attack::kConnect:
      return ConnectAttack(config.attack_port);
    case Attack::kExec:
      return ExecAttack();
    case Attack::kFork:
      return ForkAttack(config.attack_count);
    case Attack::kAlloc:
      return AllocAttack(config.alloc_bytes);
    case Attack::kKill:
      return KillAttack(config.attack_pid, config.attack_signal);
    case Attack::kPtrace:
      return PtraceAttack(config.attack_pid);
    case Attack::kNone:
      break;
  }
  return "refused: no attack configured: " + std::string(std::strerror(EINVAL));
}

// Not instrumented for UBSan: in a sanitizer build its null check would turn the fault the
// isolation tests ask for into an abort.
__attribute__((no_sanitize("undefined"))) void Segfault() {
  std::fprintf(stderr, "testing plugin: segfaulting on demand\n");
  // The pointer is read from volatile storage: the compiler cannot see it is null and must
  // emit the store, which faults (SIGSEGV), rather than a trap instruction (SIGILL).
  volatile int* volatile p = nullptr;
  *p = 42;
  std::abort();  // not reached
}

}  // namespace mlos::testing_plugin
