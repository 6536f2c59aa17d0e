#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <spdlog/spdlog.h>

#include "sandbox/cgroup.h"

namespace mlos::sandbox {
namespace {

Status Refused(const std::string& step, int err = errno) {
  return FailedPrecondition("sandbox: " + step + ": " + std::strerror(err));
}

// mkdir -p inside the new root (the tmpfs is ours: modes are plain).
Status MakeDirs(const std::string& path) {
  std::string cur;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Refused("mkdir " + cur);
    }
    pos = next + 1;
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Refused("open " + path);
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Refused("write " + path, err);
  return Status::Ok();
}

// Binds `src` (a directory or a file) at root + src; read-only unless `writable`.
Status Bind(const std::string& root, const std::string& src, bool writable) {
  struct stat st{};
  if (::stat(src.c_str(), &st) != 0) return Refused("bind " + src);
  const std::string dst = root + src;
  if (S_ISDIR(st.st_mode)) {
    MLOS_RETURN_IF_ERROR(MakeDirs(dst));
  } else {
    MLOS_RETURN_IF_ERROR(MakeDirs(std::filesystem::path(dst).parent_path().string()));
    const int fd = ::open(dst.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return Refused("create mount point " + dst);
    ::close(fd);
  }
  if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return Refused("bind " + src);
  }
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID;
  if (!writable) flags |= MS_RDONLY | MS_NODEV;
  if (::mount(nullptr, dst.c_str(), nullptr, flags, nullptr) != 0) {
    return Refused("remount " + src + " read-only");
  }
  return Status::Ok();
}

Status DropCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return Refused("drop capability bounding set");
    }
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::syscall(SYS_capset, &header, data) != 0) return Refused("capset");
  return Status::Ok();
}

}  // namespace

unsigned long CloneFlags(bool root) {
  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  if (!root) flags |= CLONE_NEWUSER;
  return flags;
}

Status EnterSandbox(const SandboxSpec& spec) {
  if (spec.level == Level::kNone) return Status::Ok();
  // 1. The mount tree.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Refused("make mounts private");
  }
  const std::string root = spec.root_dir;
  if (root.empty() || root[0] != '/') return FailedPrecondition("sandbox: no root directory");
  if (::mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") != 0) {
    return Refused("mount tmpfs root on " + root);
  }
  // The private /tmp first: paths below /tmp (a model directory there) are bound inside it.
  if (spec.level == Level::kProcess) {
    MLOS_RETURN_IF_ERROR(MakeDirs(root + "/tmp"));
    const std::string opts = "mode=1777,size=" + std::to_string(spec.tmp_bytes);
    if (::mount("tmpfs", (root + "/tmp").c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                opts.c_str()) != 0) {
      return Refused("mount private /tmp");
    }
  }
  for (const std::string& p : spec.read_only) MLOS_RETURN_IF_ERROR(Bind(root, p, false));
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}) {
    MLOS_RETURN_IF_ERROR(Bind(root, dev, true));
  }
  if (::access("/sys/devices/system/cpu", R_OK) == 0) {
    MLOS_RETURN_IF_ERROR(Bind(root, "/sys/devices/system/cpu", false));
  }
  MLOS_RETURN_IF_ERROR(MakeDirs(root + "/proc"));
  if (::mount("proc", (root + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
    return Refused("mount /proc");
  }
  // A machine id of zeros, not the host's (ONNX Runtime's telemetry reads one, and without it
  // runs a command, which the sandbox refuses).
  MLOS_RETURN_IF_ERROR(MakeDirs(root + "/etc"));
  {
    const std::string id = root + "/etc/machine-id";
    const int fd = ::open(id.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0444);
    if (fd < 0) return Refused("create " + id);
    const std::string zeros = std::string(32, '0') + "\n";
    const bool ok = ::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size());
    ::close(fd);
    if (!ok) return Refused("write " + id);
  }
  const std::string old_root = root + "/.old-root";
  MLOS_RETURN_IF_ERROR(MakeDirs(old_root));
  if (::syscall(SYS_pivot_root, root.c_str(), old_root.c_str()) != 0) return Refused("pivot_root");
  if (::chdir("/") != 0) return Refused("chdir /");
  if (::umount2("/.old-root", MNT_DETACH) != 0) return Refused("detach the old root");
  ::rmdir("/.old-root");
  if (spec.level == Level::kStrict &&
      ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr) != 0) {
    return Refused("remount the root read-only");
  }
  ::sethostname("mlos-worker", 11);

  // 2. The user: root becomes the sandbox user, then owns a user namespace of its own.
  if (spec.drop_user) {
    if (::setgroups(0, nullptr) != 0) return Refused("setgroups");
    if (::setresgid(spec.gid, spec.gid, spec.gid) != 0) return Refused("setresgid");
    if (::setresuid(spec.uid, spec.uid, spec.uid) != 0) return Refused("setresuid");
    // Changing credentials made the process non-dumpable, which gives /proc/self to root:
    // dumpable again for the maps it writes (PR_SET_DUMPABLE 0 comes back in step 3).
    if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return Refused("PR_SET_DUMPABLE");
    if (::unshare(CLONE_NEWUSER) != 0) return Refused("unshare user namespace");
    MLOS_RETURN_IF_ERROR(WriteFile("/proc/self/uid_map", "0 " + std::to_string(spec.uid) + " 1"));
    MLOS_RETURN_IF_ERROR(WriteFile("/proc/self/setgroups", "deny"));
    MLOS_RETURN_IF_ERROR(WriteFile("/proc/self/gid_map", "0 " + std::to_string(spec.gid) + " 1"));
  }
  MLOS_RETURN_IF_ERROR(DropCapabilities());
  // The sandbox user must be able to read what it was given (a directory made 0700 by root
  // would fail later as a confusing "file not found" inside the plugin).
  for (const std::string& p : spec.read_only) {
    if (::access(p.c_str(), R_OK) != 0) {
      return FailedPrecondition("sandbox: " + p + " is not readable by the sandbox user (uid " +
                                std::to_string(spec.drop_user ? spec.uid : ::getuid()) +
                                "): make it readable (chmod -R o+rX) or run the model in_process");
    }
  }

  // 3. Limits.
  const auto limit = [](int resource, uint64_t value, const char* name) -> Status {
    rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    if (::setrlimit(resource, &rl) != 0) return Refused(std::string("setrlimit ") + name);
    return Status::Ok();
  };
  MLOS_RETURN_IF_ERROR(limit(RLIMIT_CORE, 0, "RLIMIT_CORE"));
  MLOS_RETURN_IF_ERROR(limit(RLIMIT_FSIZE, spec.file_size_max, "RLIMIT_FSIZE"));
  MLOS_RETURN_IF_ERROR(limit(RLIMIT_NPROC, spec.nproc, "RLIMIT_NPROC"));
  MLOS_RETURN_IF_ERROR(limit(RLIMIT_NOFILE, spec.nofile, "RLIMIT_NOFILE"));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Refused("PR_SET_NO_NEW_PRIVS");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Refused("PR_SET_DUMPABLE");
  return Status::Ok();
}

void SplitReaper(const std::vector<int>& close_fds) {
  if (::getpid() != 1) return;
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "mlos-worker: fork: %s\n", std::strerror(errno));
    ::_exit(3);
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != 1) ::_exit(3);
    return;
  }
  for (int fd : close_fds) ::close(fd);
  while (true) {
    int status = 0;
    const pid_t p = ::wait(&status);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) ::_exit(3);
    if (p != child) continue;  // an orphan the server forked (reaped)
    if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status) & 127);
    if (WIFSIGNALED(status)) ::_exit(128 + WTERMSIG(status));
  }
}

Status InstallSeccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return FailedPrecondition("sandbox: seccomp_init failed");
  struct Guard {
    scmp_filter_ctx c;
    ~Guard() { seccomp_release(c); }
  } guard{ctx};
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  static const int kAllowed[] = {
      // memory
      SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
      SCMP_SYS(madvise), SCMP_SYS(mlock), SCMP_SYS(munlock), SCMP_SYS(mincore),
      SCMP_SYS(membarrier), SCMP_SYS(memfd_create), SCMP_SYS(get_mempolicy),
      SCMP_SYS(set_mempolicy), SCMP_SYS(mbind), SCMP_SYS(msync),
      // files (inside the sandbox's own tree)
      SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
      SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2),
      SCMP_SYS(pwritev2), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(close),
      SCMP_SYS(close_range), SCMP_SYS(stat), SCMP_SYS(fstat), SCMP_SYS(lstat),
      SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(statfs), SCMP_SYS(fstatfs),
      SCMP_SYS(lseek), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
      SCMP_SYS(getdents64), SCMP_SYS(getcwd), SCMP_SYS(chdir), SCMP_SYS(fchdir),
      SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
      SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename), SCMP_SYS(renameat),
      SCMP_SYS(renameat2), SCMP_SYS(rmdir), SCMP_SYS(ftruncate), SCMP_SYS(fsync),
      SCMP_SYS(fdatasync), SCMP_SYS(fallocate), SCMP_SYS(fadvise64), SCMP_SYS(fcntl),
      SCMP_SYS(flock), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe),
      SCMP_SYS(pipe2), SCMP_SYS(umask), SCMP_SYS(fchmod),
      // threads, time, signals (own process)
      SCMP_SYS(futex), SCMP_SYS(futex_waitv), SCMP_SYS(set_robust_list),
      SCMP_SYS(get_robust_list), SCMP_SYS(set_tid_address), SCMP_SYS(rseq),
      SCMP_SYS(arch_prctl), SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
      SCMP_SYS(sched_setaffinity), SCMP_SYS(sched_getparam), SCMP_SYS(sched_getscheduler),
      SCMP_SYS(sched_get_priority_max), SCMP_SYS(sched_get_priority_min),
      SCMP_SYS(getpriority), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
      SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time),
      SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
      SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
      SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigsuspend), SCMP_SYS(sigaltstack),
      SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(wait4),
      SCMP_SYS(waitid), SCMP_SYS(getrandom), SCMP_SYS(prctl),
      // identity and limits (read)
      SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid),
      SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid),
      SCMP_SYS(getresgid), SCMP_SYS(getgroups), SCMP_SYS(getpgrp), SCMP_SYS(getsid),
      SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(getrlimit), SCMP_SYS(getrusage),
      SCMP_SYS(times), SCMP_SYS(getcpu),
      // the worker's own sockets and waits
      SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
      SCMP_SYS(shutdown), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(socketpair),
      SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
      SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
      SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2), SCMP_SYS(eventfd2),
  };
  for (int sc : kAllowed) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0);
  }
  // Threads only: clone must carry CLONE_THREAD (no fork); clone3 says ENOSYS so glibc falls
  // back to clone, whose flags a filter can read.
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  }
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // Unix sockets only (the worker's own socketpairs); no connect/bind/listen at all.
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
  }
  // Signals to itself only (raise, abort, a thread's tgkill of its own process).
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));
  }
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));
  }
  // prlimit on itself only (read its limits; lowering is harmless, raising is capped).
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A0(SCMP_CMP_EQ, 0));
  }
  // ioctl, except TIOCSTI (push input into a terminal mlosd's stderr may be).
  if (rc == 0) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                          SCMP_A1(SCMP_CMP_NE, static_cast<scmp_datum_t>(TIOCSTI)));
  }
  if (rc != 0) return FailedPrecondition(std::string("sandbox: seccomp rules: ") + std::strerror(-rc));
  rc = seccomp_load(ctx);
  if (rc != 0) return FailedPrecondition(std::string("sandbox: seccomp_load: ") + std::strerror(-rc));
  return Status::Ok();
}

const Support& ProbeSupport() {
  static Support support;
  static std::once_flag once;
  std::call_once(once, [] {
    Support& s = support;
    s.root = ::geteuid() == 0;
    // Namespaces: a throwaway child made with the workers' flags.
    const pid_t pid = static_cast<pid_t>(
        ::syscall(SYS_clone, CloneFlags(s.root) | SIGCHLD, nullptr, nullptr, nullptr, 0));
    if (pid == 0) ::_exit(0);
    if (pid < 0) {
      s.namespaces_error = std::string("clone with new namespaces: ") + std::strerror(errno);
    } else {
      int status = 0;
      ::waitpid(pid, &status, 0);
      s.namespaces = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!s.namespaces) s.namespaces_error = "the namespace probe did not exit cleanly";
    }
    if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
      s.seccomp_error = std::string("prctl(PR_GET_SECCOMP): ") + std::strerror(errno);
    } else if (seccomp_api_get() < 1) {
      s.seccomp_error = "libseccomp finds no seccomp filter support in the kernel";
    } else {
      s.seccomp = true;
    }
    s.cgroup_kind = Cgroup::Probe(&s.cgroup);
    if (!s.namespaces) spdlog::warn("isolation: namespaces unavailable: {}", s.namespaces_error);
    if (!s.seccomp) spdlog::warn("isolation: seccomp unavailable: {}", s.seccomp_error);
    if (!s.cgroup) {
      spdlog::warn("isolation: no per-worker cgroups ({}): worker memory limits and CPU "
                   "weights are not enforced", s.cgroup_kind);
    }
    if (s.namespaces && s.seccomp) {
      spdlog::info("isolation: sandboxed workers available (namespaces, seccomp{}, {})",
                   s.cgroup ? ", cgroup " + s.cgroup_kind : "",
                   s.root ? "as root: workers run as the sandbox user" : "as a user");
    }
  });
  return support;
}

}  // namespace mlos::sandbox
