// The sandbox a model worker enters before it runs any plugin code (docs/isolation.md).
//
// mlosd starts the worker with clone(2) in new PID, mount, network, IPC and UTS namespaces (and
// a user namespace when mlosd is not root), and the worker, still single-threaded and running
// only MLOS code, then:
//   1. builds a minimal root on a tmpfs: the model directory, the plugin and the directories of
//      the libraries it needs bound read-only at their own paths, /dev/{null,zero,random,
//      urandom}, a new /proc, /sys/devices/system/cpu read-only, a private /tmp (process; strict
//      has none and a read-only root), and pivots into it;
//   2. as root: becomes the unprivileged sandbox user, then enters a user namespace of its own
//      (root in it, nobody outside; the mount and PID namespaces belong to the parent user
//      namespace, so it can undo none of the above); then drops every capability;
//   3. sets rlimits (no core dumps, file size, processes, open files), PR_SET_NO_NEW_PRIVS and
//      PR_SET_DUMPABLE 0;
//   4. forks: PID 1 stays behind as a reaper that exits with the server's status (so that a
//      signal sent from outside reaches the server, which init of a PID namespace would
//      ignore), and the server
//   5. installs the seccomp allow list (InstallSeccomp) before it loads the plugin.
// The network namespace has only a loopback interface, and it is down.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace mlos::sandbox {

enum class Level { kNone = 0, kProcess = 1, kStrict = 2 };

struct SandboxSpec {
  Level level = Level::kProcess;
  std::string root_dir;                // an empty directory the new root is mounted on
  std::vector<std::string> read_only;  // absolute paths bound read-only at the same place
  uint64_t tmp_bytes = 64ull << 20;    // the private /tmp (process)
  bool drop_user = false;              // mlosd runs as root: become uid/gid first
  uint32_t uid = 65534, gid = 65534;
  uint64_t nproc = 64;                 // RLIMIT_NPROC
  uint64_t file_size_max = 1ull << 30; // RLIMIT_FSIZE
  uint64_t nofile = 4096;              // RLIMIT_NOFILE
};

// Steps 1-3. kFailedPrecondition naming the step and the errno text when the kernel refuses.
Status EnterSandbox(const SandboxSpec& spec);

// Step 4, when this process is PID 1 of its namespace: forks; returns in the child (the
// server). The parent closes `close_fds`, waits for the child and exits with its exit code, or
// 128 + the signal that killed it. Not PID 1: returns at once.
void SplitReaper(const std::vector<int>& close_fds);

// Step 5: the seccomp-bpf allow list (libseccomp), for every thread of the process. Refused
// calls fail with EPERM: execve/execveat, fork (clone without CLONE_THREAD; clone3 answers
// ENOSYS so that glibc uses clone), ptrace, kill of other processes, sockets other than
// AF_UNIX and connect/bind/listen/accept, mount and pivot_root, namespaces (unshare, setns),
// module loading, keyctl, bpf, perf_event_open, process_vm_*, userfaultfd, reboot, kexec,
// swapon, chroot, TIOCSTI, and everything not on the list.
Status InstallSeccomp();

// What this machine lets mlosd use, probed once (a throwaway child enters the namespaces).
struct Support {
  bool namespaces = false;
  std::string namespaces_error;  // why not
  bool seccomp = false;
  std::string seccomp_error;
  bool cgroup = false;           // a writable memory controller for per-worker groups
  std::string cgroup_kind;       // "v2", "v1"; or why not
  bool root = false;             // mlosd runs as root (workers become the sandbox user)
};
// Probes on the first call (and logs each missing mechanism once); cached after.
const Support& ProbeSupport();

// The clone flags workers start with: new PID, mount, network, IPC and UTS namespaces, and a
// user namespace when not root.
unsigned long CloneFlags(bool root);

}  // namespace mlos::sandbox
