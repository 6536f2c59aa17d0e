#include "sandbox/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mlos::sandbox {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteText(const std::string& path, const std::string& text);
// Best effort (an optional knob: CPU weight, swap, pids).
void TryWrite(const std::string& path, const std::string& text) { (void)WriteText(path, text); }

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) {
    return FailedPrecondition("cgroup: cannot write \"" + text + "\" to " + path + ": " +
                              std::strerror(errno));
  }
  return Status::Ok();
}

// mlosd's own group in a v1 hierarchy (`controller`), or in v2 (controller "").
std::string OwnGroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string ctrls = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.compare(0, a, "0") == 0 && ctrls.empty()) return path;
      continue;
    }
    std::stringstream ss(ctrls);
    std::string c;
    while (std::getline(ss, c, ',')) {
      if (c == controller) return path;
    }
  }
  return "";
}

bool Writable(const std::string& dir) { return ::access(dir.c_str(), W_OK) == 0; }

// v2: the directory under which mlosd may make worker groups with memory, cpu and pids on.
// Moves mlosd itself into a leaf ("mlosd") first when its group has the controllers to
// delegate but would otherwise break the no-internal-processes rule.
std::string V2Parent(std::string* why) {
  const std::string base = "/sys/fs/cgroup";
  if (!fs::exists(base + "/cgroup.controllers")) {
    *why = "no cgroup v2 at /sys/fs/cgroup";
    return "";
  }
  const std::string own = base + OwnGroup("");
  const std::string avail = ReadText(own + "/cgroup.controllers");
  if (avail.find("memory") == std::string::npos) {
    *why = "the memory controller is not delegated to " + own;
    return "";
  }
  std::string sub = ReadText(own + "/cgroup.subtree_control");
  if (sub.find("memory") == std::string::npos) {
    if (!Writable(own)) {
      *why = own + " is not writable";
      return "";
    }
    const std::string leaf = own + "/mlosd";
    (void)::mkdir(leaf.c_str(), 0755);
    if (!WriteText(leaf + "/cgroup.procs", std::to_string(::getpid())).ok() ||
        !WriteText(own + "/cgroup.subtree_control", "+memory +cpu +pids").ok()) {
      *why = "cannot enable memory, cpu and pids for groups under " + own;
      return "";
    }
  }
  return own;
}

std::string V1Dir(const std::string& controller) {
  const std::string root = "/sys/fs/cgroup/" + controller;
  if (!fs::exists(root + "/cgroup.procs")) return "";
  return root + OwnGroup(controller);
}

}  // namespace

// Groups left by an mlosd that was killed (SIGKILL, a crash: it could not remove them): its
// workers are gone with it, the groups are empty, and their names carry its pid.
void RemoveStale(const std::string& parent) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("mlos-worker-", 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + 12, nullptr, 10));
    if (pid <= 0 || pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      if (pid != ::getpid()) ::rmdir(entry.path().c_str());  // fails harmlessly if in use
    }
  }
}

std::string Cgroup::Probe(bool* ok) {
  *ok = false;
  std::string why;
  if (const std::string v2 = V2Parent(&why); !v2.empty()) {
    RemoveStale(v2);
    *ok = true;
    return "v2";
  }
  const std::string mem = V1Dir("memory");
  if (mem.empty()) return why.empty() ? "no cgroup memory controller" : why;
  if (!Writable(mem)) return "cgroup v1 memory group " + mem + " is not writable";
  for (const char* c : {"memory", "cpu", "pids"}) {
    if (const std::string d = V1Dir(c); !d.empty()) RemoveStale(d);
  }
  *ok = true;
  return "v1";
}

Result<std::unique_ptr<Cgroup>> Cgroup::Create(const std::string& name, uint64_t memory_limit,
                                               uint64_t cpu_weight, uint64_t pids_max) {
  std::unique_ptr<Cgroup> g(new Cgroup());
  std::string why;
  const std::string v2 = V2Parent(&why);
  if (!v2.empty()) {
    g->v2_ = true;
    g->memory_ = g->cpu_ = g->pids_ = v2 + "/" + name;
    if (::mkdir(g->memory_.c_str(), 0755) != 0 && errno != EEXIST) {
      return FailedPrecondition("cgroup: mkdir " + g->memory_ + ": " + std::strerror(errno));
    }
    if (memory_limit > 0) {
      MLOS_RETURN_IF_ERROR(WriteText(g->memory_ + "/memory.max", std::to_string(memory_limit)));
      TryWrite(g->memory_ + "/memory.swap.max", "0");
    }
    TryWrite(g->cpu_ + "/cpu.weight", std::to_string(cpu_weight));
    if (pids_max > 0) TryWrite(g->pids_ + "/pids.max", std::to_string(pids_max));
    return g;
  }
  const std::string mem = V1Dir("memory"), cpu = V1Dir("cpu"), pids = V1Dir("pids");
  if (mem.empty()) return FailedPrecondition("cgroup: " + (why.empty() ? "none" : why));
  g->memory_ = mem + "/" + name;
  if (::mkdir(g->memory_.c_str(), 0755) != 0 && errno != EEXIST) {
    return FailedPrecondition("cgroup: mkdir " + g->memory_ + ": " + std::strerror(errno));
  }
  if (memory_limit > 0) {
    MLOS_RETURN_IF_ERROR(
        WriteText(g->memory_ + "/memory.limit_in_bytes", std::to_string(memory_limit)));
    if (fs::exists(g->memory_ + "/memory.memsw.limit_in_bytes")) {
      TryWrite(g->memory_ + "/memory.memsw.limit_in_bytes", std::to_string(memory_limit));
    }
  }
  if (!cpu.empty() && Writable(cpu)) {
    g->cpu_ = cpu + "/" + name;
    if (::mkdir(g->cpu_.c_str(), 0755) == 0 || errno == EEXIST) {
      TryWrite(g->cpu_ + "/cpu.shares", std::to_string(std::max<uint64_t>(2, cpu_weight * 1024 / 100)));
    } else {
      g->cpu_.clear();
    }
  }
  if (!pids.empty() && Writable(pids) && pids_max > 0) {
    g->pids_ = pids + "/" + name;
    if (::mkdir(g->pids_.c_str(), 0755) == 0 || errno == EEXIST) {
      TryWrite(g->pids_ + "/pids.max", std::to_string(pids_max));
    } else {
      g->pids_.clear();
    }
  }
  return g;
}

Status Cgroup::AddProcess(pid_t pid) {
  const std::string p = std::to_string(pid);
  MLOS_RETURN_IF_ERROR(WriteText(memory_ + "/cgroup.procs", p));
  if (!v2_) {
    if (!cpu_.empty()) TryWrite(cpu_ + "/cgroup.procs", p);
    if (!pids_.empty()) TryWrite(pids_ + "/cgroup.procs", p);
  }
  return Status::Ok();
}

uint64_t Cgroup::OomKills() const {
  const std::string text = ReadText(memory_ + (v2_ ? "/memory.events" : "/memory.oom_control"));
  const size_t at = text.find("oom_kill ");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + 9, nullptr, 10);
}

Cgroup::~Cgroup() {
  // The worker's processes are gone (waited for); the kernel may need a moment to free them.
  for (const std::string* dir : {&memory_, &cpu_, &pids_}) {
    if (dir->empty() || (v2_ && dir != &memory_)) continue;
    for (int i = 0; i < 500 && ::rmdir(dir->c_str()) != 0 && errno == EBUSY; ++i) ::usleep(2000);
  }
}

}  // namespace mlos::sandbox
