#include "sandbox/worker.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "mlos/smi_plugin.h"
#include "sandbox/protocol.h"
#include "sandbox/shared_mappings.h"
#include "wire/ipc_protocol.h"

namespace mlos::sandbox {
namespace {

using nlohmann::json;

std::atomic<uint64_t> g_worker_seq{0};

// Environment a worker keeps (nothing else of mlosd's: it may hold secrets).
bool KeepEnv(const char* kv) {
  static const char* kKeep[] = {"PATH=", "LANG=", "LC_ALL=", "TZ=", "LD_LIBRARY_PATH=",
                                "OMP_", "MALLOC_", "ORT_", "MLOS_TESTING_",
#ifdef MLOS_SANITIZER_BUILD
                                // the sanitizer runtime's options (docs/reliability.md)
                                "ASAN_OPTIONS=", "LSAN_OPTIONS=", "UBSAN_OPTIONS=", "TSAN_OPTIONS=",
#endif
  };
  for (const char* k : kKeep) {
    if (std::strncmp(kv, k, std::strlen(k)) == 0) return true;
  }
  return false;
}

std::string SignalText(int sig) {
  const char* d = ::strsignal(sig);
  return "signal " + std::to_string(sig) + (d ? std::string(": ") + d : "");
}

smi_error_code SmiCode(uint32_t status) {
  if (status >= SMI_ERROR_INVALID_ARGUMENT && status <= SMI_ERROR_UNAVAILABLE) {
    return static_cast<smi_error_code>(status);
  }
  return SMI_ERROR_INTERNAL;
}

Status WaitReadable(int fd, int64_t timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  while (true) {
    const int rc = ::poll(&p, 1, timeout_ms > 0 ? static_cast<int>(timeout_ms) : -1);
    if (rc > 0) return Status::Ok();
    if (rc == 0) return Status(StatusCode::kDeadlineExceeded, "no answer");
    if (errno != EINTR) return Unavailable(std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

Result<std::unique_ptr<Worker>> Worker::Start(const WorkerOptions& options, DeathFn on_death) {
  std::unique_ptr<Worker> w(new Worker());
  w->options_ = options;
  w->on_death_ = std::move(on_death);
  if (w->options_.channels < 1) w->options_.channels = 1;
  const bool sandboxed = options.sandbox.level != Level::kNone;
  if (sandboxed) {
    const Support& s = ProbeSupport();
    if (!s.namespaces) {
      return FailedPrecondition("this machine cannot provide the sandbox: " + s.namespaces_error);
    }
    if (!s.seccomp) {
      return FailedPrecondition("this machine cannot provide the sandbox: " + s.seccomp_error);
    }
    w->options_.sandbox.drop_user = s.root;
    if (s.cgroup) {
      const std::string name = "mlos-worker-" + std::to_string(::getpid()) + "-" +
                               std::to_string(g_worker_seq.fetch_add(1));
      auto g = Cgroup::Create(name, options.memory_limit, options.cpu_weight, options.pids_max);
      if (!g.ok()) {
        if (options.memory_limit_required) return g.status();
        spdlog::warn("{}: no cgroup for its worker: {}", options.model_id, g.status().message());
      } else {
        w->cgroup_ = std::move(g).value();
      }
    } else if (options.memory_limit_required) {
      return FailedPrecondition("this machine cannot enforce its memory limit: " + s.cgroup_kind);
    }
  }
  MLOS_RETURN_IF_ERROR(w->Spawn());
  json setup{
      {"sandbox",
       {{"level", static_cast<int>(w->options_.sandbox.level)},
        {"root_dir", w->options_.sandbox.root_dir},
        {"read_only", w->options_.sandbox.read_only},
        {"tmp_bytes", w->options_.sandbox.tmp_bytes},
        {"drop_user", w->options_.sandbox.drop_user},
        {"uid", w->options_.sandbox.uid},
        {"gid", w->options_.sandbox.gid},
        {"nproc", w->options_.sandbox.nproc},
        {"file_size_max", w->options_.sandbox.file_size_max},
        {"nofile", w->options_.sandbox.nofile}}},
      {"plugin", {{"path", options.plugin_path}, {"config", options.plugin_config_json}}},
      {"model",
       {{"id", options.model_id},
        {"dir", options.model_dir},
        {"path", options.model_path},
        {"manifest_json", options.manifest_json},
        {"options_json", options.options_json},
        {"cache_dir", options.cache_dir}}}};
  Status st = w->Setup(setup.dump());
  if (!st.ok()) {
    w->Stop();
    return st;
  }
  return w;
}

Status Worker::Spawn() {
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) {
    return ResourceExhausted(std::string("socketpair: ") + std::strerror(errno));
  }
  control_fd_ = control[0];
  std::vector<int> child_fds{control[1]};
  for (int i = 0; i < options_.channels; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      for (int fd : child_fds) ::close(fd);
      return ResourceExhausted(std::string("socketpair: ") + std::strerror(errno));
    }
    auto ch = std::make_unique<Channel>();
    ch->fd = sv[0];
    free_.push_back(ch.get());
    channels_.push_back(std::move(ch));
    child_fds.push_back(sv[1]);
  }
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) != 0) {
    for (int fd : child_fds) ::close(fd);
    return ResourceExhausted(std::string("pipe: ") + std::strerror(errno));
  }
  // Everything the child needs is prepared before clone: after it, the child of a
  // multi-threaded process may only make async-signal-safe calls until execve.
  std::string channel_list;
  for (size_t i = 1; i < child_fds.size(); ++i) {
    channel_list += (i > 1 ? "," : "") + std::to_string(child_fds[i]);
  }
  std::vector<std::string> args{options_.executable, "--control", std::to_string(child_fds[0]),
                                "--channels", channel_list, "--model", options_.model_id};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) {
    if (KeepEnv(*e)) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  sigset_t no_signals;  // the worker starts with no signal blocked, whatever this thread blocks
  sigemptyset(&no_signals);
  const bool sandboxed = options_.sandbox.level != Level::kNone;
  const bool root = ::geteuid() == 0;
  const unsigned long flags = (sandboxed ? CloneFlags(root) : 0) | SIGCHLD;
  const pid_t pid =
      static_cast<pid_t>(::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0));
  if (pid == 0) {
    char go = 0;
    ::close(sync[1]);
    if (::read(sync[0], &go, 1) != 1) ::_exit(126);
    for (int fd : child_fds) ::fcntl(fd, F_SETFD, 0);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  const int err = errno;
  ::close(sync[0]);
  for (int fd : child_fds) ::close(fd);
  if (pid < 0) {
    ::close(sync[1]);
    return FailedPrecondition(std::string("cannot start the model worker: clone: ") +
                              std::strerror(err));
  }
  pid_ = pid;
  Status placed = Status::Ok();
  if (sandboxed && !root) {
    // The child's user namespace: root in it is mlosd's user outside.
    const std::string base = "/proc/" + std::to_string(pid) + "/";
    std::ofstream(base + "uid_map") << "0 " << ::geteuid() << " 1";
    std::ofstream(base + "setgroups") << "deny";
    std::ofstream(base + "gid_map") << "0 " << ::getegid() << " 1";
  }
  if (cgroup_) placed = cgroup_->AddProcess(pid);
  if (placed.ok()) {
    const char go = 1;
    if (::write(sync[1], &go, 1) != 1) placed = Internal("cannot release the model worker");
  }
  ::close(sync[1]);
  monitor_ = std::thread([this] { Monitor(); });
  return placed;
}

Status Worker::Setup(const std::string& setup_json) {
  std::string reply;
  // Loading may take long (big models): the watchdog does not apply, a generous bound does.
  Status st = Control(static_cast<uint16_t>(WorkerOp::kSetup), setup_json, &reply,
                      std::max<int64_t>(options_.watchdog_ms, 600000));
  if (!st.ok()) return st;
  try {
    const json j = json::parse(reply);
    const auto read = [](const json& arr, std::vector<TensorMeta>& out) {
      for (const json& t : arr) {
        TensorMeta m;
        m.name = t.at("name").get<std::string>();
        m.dtype = static_cast<smi_dtype>(t.at("dtype").get<int>());
        m.dims = t.at("dims").get<std::vector<int64_t>>();
        out.push_back(std::move(m));
      }
    };
    read(j.at("inputs"), model_.inputs);
    read(j.at("outputs"), model_.outputs);
    model_.host_bytes = j.value("host_bytes", uint64_t{0});
    model_.device_bytes = j.value("device_bytes", uint64_t{0});
  } catch (const std::exception& e) {
    return Internal(std::string("model worker: malformed load reply: ") + e.what());
  }
  // The serving process: PID 1's child when it is sandboxed, else the child itself.
  server_pid_ = pid_;
  if (options_.sandbox.level != Level::kNone) {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                     "/children");
    pid_t child = 0;
    if (in >> child && child > 0) server_pid_ = child;
  }
  return Status::Ok();
}

Status Worker::Control(uint16_t op, const std::string& payload, std::string* reply,
                       int64_t timeout_ms) {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (dead_.load()) return Unavailable("model worker for " + options_.model_id + " is gone");
  ipc::FrameHeader h;
  h.op = op;
  MLOS_RETURN_IF_ERROR(ipc::SendFrame(control_fd_, h, payload));
  Status waited = WaitReadable(control_fd_, timeout_ms);
  if (!waited.ok()) {
    return Unavailable("model worker for " + options_.model_id + ": " + waited.message());
  }
  ipc::FrameHeader rh;
  std::string body;
  Status got = ipc::RecvFrame(control_fd_, rh, body);
  if (!got.ok()) {
    return Unavailable("model worker for " + options_.model_id + " " + DeathMessage());
  }
  if (rh.status != 0) {
    return Status(static_cast<StatusCode>(rh.status), body);
  }
  if (reply) *reply = std::move(body);
  return Status::Ok();
}

void Worker::Monitor() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  const char* reason = "exit";
  std::string what;
  if (hung_.load()) {
    reason = "hang";
    what = "hung (a call ran past the watchdog of " + std::to_string(options_.watchdog_ms) +
           " ms) and was killed";
  } else if (cgroup_ && cgroup_->OomKills() > 0) {
    reason = "oom";
    what = "was killed for memory (over its limit of " +
           std::to_string(options_.memory_limit >> 20) + " MiB)";
  } else if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code >= 128 && options_.sandbox.level != Level::kNone) {
      reason = "signal";
      what = "crashed (" + SignalText(code - 128) + ")";
    } else {
      what = "exited (code " + std::to_string(code) + ")";
    }
  } else if (WIFSIGNALED(status)) {
    reason = "signal";
    what = "crashed (" + SignalText(WTERMSIG(status)) + ")";
  }
  dead_.store(true);
  // Wake every call blocked on a channel or on the control socket.
  for (auto& ch : channels_) ::shutdown(ch->fd, SHUT_RDWR);
  ::shutdown(control_fd_, SHUT_RDWR);
  bool restart = false;
  if (!stopping_.load()) {
    spdlog::error("model worker for {} (pid {}) {}", options_.model_id, server_pid_, what);
    if (on_death_) restart = on_death_(reason, what);
  }
  std::lock_guard<std::mutex> lock(death_mu_);
  death_known_ = true;
  death_what_ = what;
  restarting_ = restart;
  death_cv_.notify_all();
}

std::string Worker::DeathMessage() {
  std::unique_lock<std::mutex> lock(death_mu_);
  death_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return death_known_; });
  if (!death_known_) return "stopped answering";
  return death_what_ + (restarting_ ? "; restarting" : "");
}

Worker::Channel* Worker::TakeChannel() {
  std::unique_lock<std::mutex> lock(free_mu_);
  free_cv_.wait(lock, [&] { return !free_.empty() || dead_.load(); });
  if (free_.empty()) return nullptr;
  Channel* ch = free_.back();
  free_.pop_back();
  return ch;
}

void Worker::ReturnChannel(Channel* ch) {
  {
    std::lock_guard<std::mutex> lock(free_mu_);
    free_.push_back(ch);
  }
  free_cv_.notify_one();
}

smi_error* Worker::Infer(const smi_infer_request& request) {
  Channel* ch = TakeChannel();
  if (!ch) {
    return smi::MakeError(SMI_ERROR_UNAVAILABLE,
                          "model worker for " + options_.model_id + " " + DeathMessage());
  }
  smi_error* err = InferOn(*ch, request);
  ReturnChannel(ch);
  return err;
}

smi_error* Worker::Generate(const smi_generate_request& request) {
  Channel* ch = TakeChannel();
  if (!ch) {
    return smi::MakeError(SMI_ERROR_UNAVAILABLE,
                          "model worker for " + options_.model_id + " " + DeathMessage());
  }
  smi_error* err = GenerateOn(*ch, request);
  ReturnChannel(ch);
  return err;
}

smi_error* Worker::GenerateOn(Channel& ch, const smi_generate_request& request) {
  const auto gone = [&] {
    return smi::MakeError(SMI_ERROR_UNAVAILABLE,
                          "model worker for " + options_.model_id + " " + DeathMessage());
  };
  if (dead_.load()) return gone();
  nlohmann::json call{{"prompt", request.prompt ? request.prompt : ""},
                      {"params", request.params_json ? request.params_json : ""}};
  ipc::FrameHeader h;
  h.op = static_cast<uint16_t>(WorkerOp::kGenerate);
  h.request_id = request.request_id;
  if (!ipc::SendFrame(ch.fd, h, call.dump()).ok()) return gone();
  bool stopping = false;  // the caller asked to stop: chunks are dropped until the end frame
  ipc::FrameHeader rh;
  std::string body;
  while (true) {
    // The watchdog here bounds the silence between two frames (a generation may run long).
    if (options_.watchdog_ms > 0 && !WaitReadable(ch.fd, options_.watchdog_ms).ok() &&
        !dead_.load()) {
      hung_.store(true);
      ::kill(pid_, SIGKILL);
      return gone();
    }
    int fd = -1;
    if (!ipc::RecvFrame(ch.fd, rh, body, &fd).ok()) return gone();
    if (fd >= 0) ::close(fd);
    if (rh.request_id != request.request_id) {
      spdlog::error("model worker for {} broke the protocol: a generation frame out of order; "
                    "killing it", options_.model_id);
      ::kill(pid_, SIGKILL);
      return smi::MakeError(SMI_ERROR_INTERNAL,
                            "model worker for " + options_.model_id + ": an answer out of order");
    }
    if (rh.op == static_cast<uint16_t>(WorkerOp::kToken)) {
      if (stopping) continue;
      if (request.on_token(request.user_data, body.data(), body.size()) != 0) {
        stopping = true;
        Cancel(request.request_id);
      }
      continue;
    }
    if (rh.op != static_cast<uint16_t>(WorkerOp::kGenerate)) {
      ::kill(pid_, SIGKILL);
      return smi::MakeError(SMI_ERROR_INTERNAL, "model worker for " + options_.model_id +
                                                    ": an unexpected frame in a generation");
    }
    break;
  }
  const nlohmann::json end = nlohmann::json::parse(body, nullptr, false);
  if (!end.is_object()) {
    ::kill(pid_, SIGKILL);
    return smi::MakeError(SMI_ERROR_INTERNAL,
                          "model worker for " + options_.model_id + ": a malformed end frame");
  }
  const bool wants_done =
      request.size >= offsetof(smi_generate_request, on_done) + sizeof(request.on_done) &&
      request.on_done;
  if (wants_done && end.contains("done") && end["done"].is_object()) {
    request.on_done(request.user_data, end["done"].dump().c_str());
  }
  if (stopping) return smi::MakeError(SMI_ERROR_CANCELLED, "generation stopped by the client");
  if (rh.status != 0) {
    return smi::MakeError(SmiCode(rh.status),
                          end.contains("error") && end["error"].is_string()
                              ? end["error"].get<std::string>()
                              : std::string("generation failed"));
  }
  return nullptr;
}

smi_error* Worker::InferOn(Channel& ch, const smi_infer_request& request) {
  const auto gone = [&] {
    return smi::MakeError(SMI_ERROR_UNAVAILABLE,
                          "model worker for " + options_.model_id + " " + DeathMessage());
  };
  if (dead_.load()) return gone();
  // Inputs in a client's shared-memory region are mapped by the worker in place (big ones: for
  // a few KiB, a copy is cheaper than passing a descriptor and mapping it); the others are
  // copied into the channel's arena (a bigger one first when they do not fit).
  constexpr uint64_t kInPlaceMin = 64 * 1024;
  std::vector<SharedRef> regions;         // sent as kMap frames, in order
  std::vector<uint32_t> region_of(request.input_count, 0);
  std::vector<uint64_t> region_offset(request.input_count, 0);
  uint64_t need = 0;
  for (uint32_t i = 0; i < request.input_count; ++i) {
    const smi_tensor& t = request.inputs[i];
    if (t.dtype != SMI_DTYPE_STRING && t.byte_size >= kInPlaceMin) {
      if (auto ref = FindSharedMapping(t.data, t.byte_size)) {
        uint32_t k = 0;
        for (size_t r = 0; r < regions.size() && !k; ++r) {
          if (regions[r].id == ref->id) k = static_cast<uint32_t>(r + 1);
        }
        if (!k) {
          regions.push_back(*ref);
          k = static_cast<uint32_t>(regions.size());
        }
        region_of[i] = k;
        region_offset[i] = ref->offset;
        continue;
      }
    }
    if (t.dtype == SMI_DTYPE_STRING) {
      uint64_t count = t.byte_size / sizeof(smi_string);
      const auto* s = static_cast<const smi_string*>(t.data);
      need += Align64(8 * count);
      for (uint64_t k = 0; k < count; ++k) need += s[k].length;
      need = Align64(need);
    } else {
      need += Align64(t.byte_size);
    }
  }
  InferCall call;
  if (ch.arena.size() < need || !ch.arena.valid()) {
    auto fresh = Arena::Create(std::max<uint64_t>(need, ch.arena.size() * 2));
    if (!fresh.ok()) return smi::MakeError(SMI_ERROR_RESOURCE_EXHAUSTED, fresh.status().message());
    ch.arena = std::move(fresh).value();
    call.arena_size = ch.arena.size();
  }
  uint64_t at = 0;
  call.inputs.reserve(request.input_count);
  for (uint32_t i = 0; i < request.input_count; ++i) {
    const smi_tensor& t = request.inputs[i];
    TensorRef ref;
    ref.name = t.name ? t.name : "";
    ref.dtype = static_cast<uint8_t>(t.dtype);
    ref.dims.assign(t.dims, t.dims + std::min<uint32_t>(t.rank, SMI_MAX_RANK));
    if (region_of[i]) {
      ref.arena = region_of[i];
      ref.offset = region_offset[i];
      ref.byte_size = t.byte_size;
      call.inputs.push_back(std::move(ref));
      continue;
    }
    ref.offset = at;
    if (t.dtype == SMI_DTYPE_STRING) {
      const uint64_t count = t.byte_size / sizeof(smi_string);
      const auto* s = static_cast<const smi_string*>(t.data);
      uint8_t* lengths = ch.arena.base() + at;
      uint8_t* bytes = lengths + 8 * count;
      for (uint64_t k = 0; k < count; ++k) {
        std::memcpy(lengths + 8 * k, &s[k].length, 8);
        if (s[k].length) std::memcpy(bytes, s[k].data, s[k].length);
        bytes += s[k].length;
      }
      ref.byte_size = static_cast<uint64_t>(bytes - lengths);
    } else {
      if (t.byte_size) std::memcpy(ch.arena.base() + at, t.data, t.byte_size);
      ref.byte_size = t.byte_size;
    }
    at = Align64(at + ref.byte_size);
    call.inputs.push_back(std::move(ref));
  }
  for (uint32_t i = 0; i < request.output_count; ++i) call.outputs.emplace_back(request.output_names[i]);
  call.announce_outputs = AnySharedMappings();
  std::string payload;
  EncodeInferCall(call, payload);
  ipc::FrameHeader h;
  h.request_id = request.request_id;
  h.op = static_cast<uint16_t>(WorkerOp::kMap);
  for (const SharedRef& r : regions) {
    if (!ipc::SendFrame(ch.fd, h, "", r.fd).ok()) return gone();
  }
  h.op = static_cast<uint16_t>(WorkerOp::kInfer);
  if (!ipc::SendFrame(ch.fd, h, payload, call.arena_size ? ch.arena.fd() : -1).ok()) return gone();

  // A worker is not trusted: this ends the call when it breaks the protocol (it is killed).
  const auto misbehaved = [&](const std::string& what) {
    spdlog::error("model worker for {} broke the protocol: {}; killing it", options_.model_id, what);
    ::kill(pid_, SIGKILL);
    return smi::MakeError(SMI_ERROR_INTERNAL, "model worker for " + options_.model_id + ": " + what);
  };
  // Checks an output's description; its element count in *count.
  const auto check = [](const TensorRef& o, uint64_t* count) {
    if (o.dims.size() > SMI_MAX_RANK) return false;
    uint64_t n = 1;
    for (int64_t d : o.dims) {
      const auto u = static_cast<uint64_t>(std::max<int64_t>(d, 0));
      if (u != 0 && n > UINT64_MAX / u) return false;
      n *= u;
    }
    *count = n;
    const auto dtype = static_cast<smi_dtype>(o.dtype);
    if (dtype == SMI_DTYPE_STRING) return n <= o.byte_size / 16;
    const uint64_t size = smi_dtype_size(dtype);
    return size != 0 && n <= UINT64_MAX / size && n * size == o.byte_size;
  };
  // The destination of an output, from the host's allocator (strings: entries + storage).
  const auto allocate = [&](const TensorRef& o, uint64_t count, void** dst) {
    const auto dtype = static_cast<smi_dtype>(o.dtype);
    const uint64_t bytes = dtype == SMI_DTYPE_STRING ? o.byte_size - 16 * count : o.byte_size;
    return request.alloc(request.alloc_user_data, o.name.c_str(), dtype,
                         static_cast<uint32_t>(o.dims.size()), o.dims.data(), bytes, dst) == 0;
  };

  // The reply: kArena frames (new arenas for outputs) and kAlloc announcements, then kInfer.
  std::vector<Arena> grown;
  std::vector<void*> dsts;  // destinations allocated during the call, in the plugin's order
  smi_error* alloc_error = nullptr;
  ipc::FrameHeader rh;
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options_.watchdog_ms);
  while (true) {
    if (options_.watchdog_ms > 0) {
      const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                               deadline - std::chrono::steady_clock::now())
                               .count();
      if (!WaitReadable(ch.fd, std::max<int64_t>(left, 1)).ok() && !dead_.load()) {
        hung_.store(true);
        ::kill(pid_, SIGKILL);
        if (alloc_error) smi::FreeError(alloc_error);
        return gone();
      }
    }
    int fd = -1;
    if (!ipc::RecvFrame(ch.fd, rh, body, &fd).ok()) {
      if (fd >= 0) ::close(fd);
      if (alloc_error) smi::FreeError(alloc_error);
      return gone();
    }
    if (rh.op == static_cast<uint16_t>(WorkerOp::kArena)) {
      uint64_t size = 0;
      if (fd < 0 || body.size() != 8) {
        if (fd >= 0) ::close(fd);
        return misbehaved("a malformed arena");
      }
      std::memcpy(&size, body.data(), 8);
      auto a = Arena::Adopt(fd, size);
      if (!a.ok()) return misbehaved(a.status().message());
      grown.push_back(std::move(a).value());
      continue;
    }
    if (fd >= 0) ::close(fd);
    if (rh.op == static_cast<uint16_t>(WorkerOp::kAlloc)) {
      auto a = DecodeAllocAnnounce(body);
      if (!a.ok() || !call.announce_outputs) return misbehaved("an unexpected output announcement");
      ipc::FrameHeader ah;
      ah.op = rh.op;
      ah.request_id = rh.request_id;
      bool ok = alloc_error == nullptr;
      for (const TensorRef& o : a->placed) {
        uint64_t count = 0;
        void* dst = nullptr;
        if (!check(o, &count)) return misbehaved("output \"" + o.name + "\" does not match its shape");
        ok = ok && allocate(o, count, &dst);
        dsts.push_back(dst);
      }
      uint64_t count = 0;
      void* dst = nullptr;
      if (!check(a->wanted, &count) || a->wanted.dtype == SMI_DTYPE_STRING) {
        return misbehaved("output \"" + a->wanted.name + "\" does not match its shape");
      }
      ok = ok && allocate(a->wanted, count, &dst);
      dsts.push_back(dst);
      if (!ok) {
        if (!alloc_error) {
          alloc_error = smi::MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                                       "output allocation refused for \"" + a->wanted.name + "\"");
        }
        ah.status = static_cast<uint32_t>(StatusCode::kResourceExhausted);
        if (!ipc::SendFrame(ch.fd, ah, "").ok()) return gone();
        continue;
      }
      // A client's shared memory: the worker writes the output there itself.
      std::string reply(1, '\0');
      int pass = -1;
      std::optional<SharedRef> region = FindSharedMapping(dst, a->wanted.byte_size, true);
      if (region) {
        reply[0] = 1;
        reply.append(reinterpret_cast<const char*>(&region->offset), 8);
        pass = region->fd;
      }
      if (!ipc::SendFrame(ch.fd, ah, reply, pass).ok()) return gone();
      continue;
    }
    break;
  }
  // Both sides now use the last arena the worker made during the call.
  Arena started = std::move(ch.arena);
  const auto adopt_last = [&] {
    if (!grown.empty()) {
      ch.arena = std::move(grown.back());
      grown.pop_back();
      grown.push_back(std::move(started));  // keep it mapped until the outputs are copied
    } else {
      ch.arena = std::move(started);
    }
  };
  if (rh.request_id != request.request_id || rh.op != static_cast<uint16_t>(WorkerOp::kInfer)) {
    adopt_last();
    if (alloc_error) smi::FreeError(alloc_error);
    return misbehaved("an answer out of order");
  }
  if (rh.status != 0) {
    adopt_last();
    if (alloc_error) return alloc_error;  // the plugin failed because we refused an output
    return smi::MakeError(SmiCode(rh.status), body);
  }
  if (alloc_error) {
    smi::FreeError(alloc_error);
    adopt_last();
    return misbehaved("a success after a refused output");
  }
  auto result = DecodeInferResult(body);
  // Resolve the arenas before adopt_last moves them: index 0 = started, k = grown[k-1].
  std::vector<const Arena*> arenas{&started};
  for (const Arena& a : grown) arenas.push_back(&a);
  if (!result.ok() || result->outputs.size() < dsts.size()) {
    adopt_last();
    return misbehaved(result.ok() ? "fewer outputs than it announced" : result.status().message());
  }
  smi_error* err = nullptr;
  for (size_t i = 0; i < result->outputs.size() && !err; ++i) {
    const TensorRef& o = result->outputs[i];
    uint64_t count = 0;
    if (!check(o, &count)) {
      err = misbehaved("output \"" + o.name + "\" does not match its shape");
      break;
    }
    if (o.arena == kInPlace) {
      if (i >= dsts.size()) err = misbehaved("an output in place it was not given");
      continue;  // written into its destination already
    }
    const uint8_t* src = o.arena < arenas.size() ? arenas[o.arena]->Span(o.offset, o.byte_size)
                                                  : nullptr;
    if (!src) {
      err = misbehaved("output \"" + o.name + "\" outside shared memory");
      break;
    }
    void* dst = i < dsts.size() ? dsts[i] : nullptr;
    if (!dst && !allocate(o, count, &dst)) {
      err = smi::MakeError(SMI_ERROR_RESOURCE_EXHAUSTED,
                           "output allocation refused for \"" + o.name + "\"");
      break;
    }
    if (static_cast<smi_dtype>(o.dtype) != SMI_DTYPE_STRING) {
      if (o.byte_size) std::memcpy(dst, src, o.byte_size);
      continue;
    }
    const uint64_t storage = o.byte_size - 16 * count;
    auto* entries = static_cast<smi_string*>(dst);
    char* store = static_cast<char*>(dst) + 16 * count;
    if (storage) std::memcpy(store, src + 16 * count, storage);
    for (uint64_t k = 0; k < count; ++k) {
      uint64_t off = 0, len = 0;
      std::memcpy(&off, src + 16 * k, 8);
      std::memcpy(&len, src + 16 * k + 8, 8);
      if (off < 16 * count || off > o.byte_size || len > o.byte_size - off) {
        err = misbehaved("string output \"" + o.name + "\" points outside its buffer");
        break;
      }
      entries[k].data = store + (off - 16 * count);
      entries[k].length = len;
    }
  }
  adopt_last();
  return err;
}

void Worker::Cancel(uint64_t request_id) {
  std::string payload(8, '\0');
  std::memcpy(payload.data(), &request_id, 8);
  (void)Control(static_cast<uint16_t>(WorkerOp::kCancel), payload, nullptr, 2000);
}

void Worker::Stop() {
  const auto close_all = [&] {
    for (auto& ch : channels_) {
      if (ch->fd >= 0) ::close(ch->fd);
      ch->fd = -1;
    }
    if (control_fd_ >= 0) ::close(control_fd_);
    control_fd_ = -1;
  };
  if (pid_ <= 0) {  // never started (Spawn failed): only descriptors to close
    close_all();
    return;
  }
  if (!stopping_.exchange(true)) {
    if (!dead_.load()) {
      (void)Control(static_cast<uint16_t>(WorkerOp::kShutdown), "", nullptr, 2000);
    }
    std::unique_lock<std::mutex> lock(death_mu_);
    if (!death_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return death_known_; })) {
      lock.unlock();
      ::kill(pid_, SIGKILL);
    }
  }
  if (monitor_.joinable()) monitor_.join();
  {
    std::lock_guard<std::mutex> lock(free_mu_);
    free_cv_.notify_all();
  }
  close_all();
  cgroup_.reset();
  pid_ = -1;
}

Worker::~Worker() { Stop(); }

}  // namespace mlos::sandbox
