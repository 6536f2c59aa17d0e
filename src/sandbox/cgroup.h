// A cgroup per model worker (host side): memory limit, CPU weight, process limit, and the
// OOM-kill count that tells a crash from an out-of-memory kill. cgroup v2 where the machine has
// it with the memory controller delegated to mlosd's group, else v1 (memory, cpu and pids
// hierarchies). Groups are made under mlosd's own group, named mlos-worker-<pid>-<n>.
//
// Thread-safety: Probe is called once (ProbeSupport); a Cgroup is owned by one worker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace mlos::sandbox {

class Cgroup {
 public:
  ~Cgroup();  // removes the group (its processes must have exited)
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // "v2" or "v1" with *ok true; otherwise why there is none, with *ok false.
  static std::string Probe(bool* ok);
  // cpu_weight: 1..10000, 100 = normal (v1: cpu.shares = weight * 1024 / 100). memory_limit
  // 0 = none. kFailedPrecondition when the controllers are not available or writable.
  static Result<std::unique_ptr<Cgroup>> Create(const std::string& name, uint64_t memory_limit,
                                                uint64_t cpu_weight, uint64_t pids_max);
  Status AddProcess(pid_t pid);
  // OOM kills in the group so far (memory.events / memory.oom_control oom_kill).
  uint64_t OomKills() const;
  const std::string& memory_path() const { return memory_; }

 private:
  Cgroup() = default;
  bool v2_ = false;
  std::string memory_, cpu_, pids_;  // v2: all the same directory
};

}  // namespace mlos::sandbox
