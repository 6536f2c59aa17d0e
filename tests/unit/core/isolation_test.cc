// Sandboxed workers end to end in the core (docs/isolation.md): a model in `process` isolation
// runs in a real mlos-worker with namespaces, seccomp and no_new_privs; its results match
// in-process; a crash, an outside SIGSEGV or a hang fails only its own requests and the model
// comes back READY through a restart; a crash loop stops at the limit; the testing plugin's
// attacks are refused in the sandbox and succeed in-process (so these tests can fail).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core_fixture.h"
#include "mpf/signature.h"
#include "sandbox/sandbox.h"
#include "sandbox/shared_mappings.h"

namespace mlos::core {
namespace {

using namespace std::chrono_literals;

std::string ProcStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

std::string NsOf(const std::string& pid, const char* ns) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + pid + "/ns/" + ns, ec).string();
}

class IsolationTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    if (IsSkipped()) return;
    const sandbox::Support& s = sandbox::ProbeSupport();
    if (!s.namespaces || !s.seccomp) {
      GTEST_SKIP() << "no sandbox on this machine: " << s.namespaces_error << s.seccomp_error;
    }
    options_.isolation.restart_backoff_ms = 50;
  }

  Pkg Model(const std::string& name, const std::string& json) {
    Pkg p;
    p.name = name;
    p.testing_json = json;
    return p;
  }

  // The attack's one-line outcome ("ok: ..." / "refused: ...").
  std::string Attack(const std::string& model) {
    auto r = Run(model);
    if (!r.ok()) return "error: " + r.status().ToString();
    if (r->outputs.empty() || r->outputs[0].strings.empty()) return "error: no result";
    return r->outputs[0].strings[0];
  }

  ModelStatus Status(const std::string& id) {
    auto s = core_->Get(id);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : ModelStatus{};
  }

  // Waits until `id` is READY again (a restart), up to `limit`.
  // READY in a worker; with `not_pid`, in a worker other than that one (a restarted one).
  bool WaitReady(const std::string& id, std::chrono::milliseconds limit, int64_t not_pid = 0) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      auto s = core_->Get(id);
      if (s.ok() && s->state == ModelState::kReady && s->worker_pid > 0 &&
          static_cast<int64_t>(s->worker_pid) != not_pid) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

// Workers start several times slower in a sanitizer build (they are instrumented too): waits for
// a (re)started worker, and the bound on how long a restart takes, scale there.
#ifdef MLOS_SANITIZER_BUILD
constexpr int kScale = 5;
#else
constexpr int kScale = 1;
#endif

TEST_F(IsolationTest, AProcessModelRunsInASandboxedWorkerWithTheSameResults) {
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  ASSERT_TRUE(Register(Model("m", R"({"behavior":"identity"})")).ok());
  auto r = Run("local/m", {F32("input", {3}, {1.5f, -2.0f, 3.25f})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outputs.size(), 1u);
  const std::vector<float> want{1.5f, -2.0f, 3.25f};
  ASSERT_EQ(r->outputs[0].data.size(), want.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(r->outputs[0].data.data(), want.data(), r->outputs[0].data.size()), 0);

  const ModelStatus s = Status("local/m@1.0.0");
  EXPECT_EQ(s.isolation, Isolation::kProcess);
  EXPECT_EQ(s.worker_state, "running");
  ASSERT_GT(s.worker_pid, 0);
  ASSERT_NE(s.worker_pid, ::getpid());
  const pid_t pid = static_cast<pid_t>(s.worker_pid);
  EXPECT_EQ(ProcStatusField(pid, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(pid, "Seccomp"), "2");  // filter mode
  EXPECT_EQ(ProcStatusField(pid, "CapEff"), "0000000000000000");
  for (const char* ns : {"pid", "mnt", "net", "ipc", "uts", "user"}) {
    EXPECT_NE(NsOf(std::to_string(pid), ns), NsOf("self", ns)) << ns;
  }
  // Strings both ways through shared memory.
  ASSERT_TRUE(Register(Model("s", R"({"behavior":"identity","inputs":[{"name":"input",)"
                                  R"("dtype":"string","shape":[-1]}]})"))
                  .ok());
  Tensor t;
  t.name = "input";
  t.dtype = DataType::kString;
  t.shape = {3};
  t.strings = {"a", "", "hello, worker"};
  auto rs = Run("local/s", {t});
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ(rs->outputs[0].strings, t.strings);
  // A big input: the channel's arena grows.
  std::vector<float> big(3 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  auto rb = Run("local/m", {F32("input", {static_cast<int64_t>(big.size())}, big)});
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(std::memcmp(rb->outputs[0].data.data(), big.data(), big.size() * 4), 0);
  // Unload stops the worker.
  ASSERT_TRUE(core_->Unload("local/m@1.0.0").ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST_F(IsolationTest, InputsInAClientsSharedMemoryAreMappedInPlaceByTheWorker) {
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  ASSERT_TRUE(Register(Model("m", R"({"behavior":"identity"})")).ok());
  // A client's region, as the service maps and registers it (IPC memfd / KServe system shm).
  const size_t n = 1 << 18, bytes = n * sizeof(float), offset = 4096 + 64;
  const int fd = ::memfd_create("client-region", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(offset + bytes)), 0);
  void* base = ::mmap(nullptr, offset + bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(base, MAP_FAILED);
  sandbox::RegisterSharedMapping(base, offset + bytes, fd, 0);
  auto* in = reinterpret_cast<float*>(static_cast<uint8_t*>(base) + offset);
  for (size_t i = 0; i < n; ++i) in[i] = static_cast<float>(i) * 0.5f;
  Tensor t;
  t.name = "input";
  t.dtype = DataType::kFloat32;
  t.shape = {static_cast<int64_t>(n)};
  t.external = in;
  t.external_size = bytes;
  auto r = Run("local/m", {t});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outputs[0].data.size(), bytes);
  EXPECT_EQ(std::memcmp(r->outputs[0].data.data(), in, bytes), 0);
  // The output into the client's region too (an IPC-shm output): the worker writes it there.
  const int out_fd = ::memfd_create("client-out", MFD_CLOEXEC);
  ASSERT_EQ(::ftruncate(out_fd, static_cast<off_t>(offset + bytes)), 0);
  void* out_base = ::mmap(nullptr, offset + bytes, PROT_READ | PROT_WRITE, MAP_SHARED, out_fd, 0);
  ASSERT_NE(out_base, MAP_FAILED);
  sandbox::RegisterSharedMapping(out_base, offset + bytes, out_fd, 0);
  uint8_t* out = static_cast<uint8_t*>(out_base) + offset;
  InferRequest req;
  req.model = "local/m";
  req.inputs = {t};
  req.output_allocator = [&](const std::string&, DataType, const std::vector<int64_t>&,
                             uint64_t n) -> void* { return n <= bytes ? out : nullptr; };
  auto ro = core_->Infer(std::move(req));
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  ASSERT_EQ(ro->outputs.size(), 1u);
  EXPECT_EQ(ro->outputs[0].external, out);
  EXPECT_EQ(std::memcmp(out, in, bytes), 0);
  sandbox::UnregisterSharedMapping(out_base);
  ::munmap(out_base, offset + bytes);
  ::close(out_fd);
  sandbox::UnregisterSharedMapping(base);
  ::munmap(base, offset + bytes);
  ::close(fd);
  // Still served (copied into the channel's arena) once the region is gone.
  EXPECT_TRUE(Run("local/m").ok());
}

TEST_F(IsolationTest, StrictHasNoWritablePath) {
  options_.isolation.default_isolation = Isolation::kStrict;
  Start();
  ASSERT_TRUE(Register(Model("w", R"({"behavior":"attack","attack":"write_file",)"
                                  R"("attack_path":"/tmp/x"})"))
                  .ok());
  auto r = Run("local/w");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outputs[0].strings[0].rfind("refused: open /tmp/x:", 0), 0u)
      << r->outputs[0].strings[0];
  EXPECT_EQ(Status("local/w@1.0.0").isolation, Isolation::kStrict);
}

TEST_F(IsolationTest, AMissingWorkerFailsTheLoadWithTheReasonNeverRunsInProcess) {
  options_.isolation.default_isolation = Isolation::kProcess;
  options_.isolation.worker_executable = root_ / "no-such-worker";
  Start();
  ASSERT_TRUE(Register(Model("m", R"({"behavior":"identity"})")).ok());
  auto r = core_->Load("local/m@1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-worker is not an executable"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(Status("local/m@1.0.0").state, ModelState::kFailed);
}

TEST_F(IsolationTest, AModelTheSandboxUserCannotReadFailsWithAClearReason) {
  if (::geteuid() != 0) GTEST_SKIP() << "only as root does the worker become another user";
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  const Pkg p = Model("private", R"({"behavior":"identity"})");
  ASSERT_TRUE(Register(p).ok());
  std::filesystem::permissions(root_ / "pkgs" / "private-1.0.0", std::filesystem::perms(0700));
  auto r = core_->Load("local/private@1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not readable by the sandbox user (uid 65534)"),
            std::string::npos)
      << r.status().message();
}

TEST_F(IsolationTest, TheManifestOrUnsignedPackagesRaiseTheIsolation) {
  options_.isolation.unsigned_process = true;  // nothing is signed here
  Start();
  ASSERT_TRUE(Register(Model("m", R"({"behavior":"identity"})")).ok());
  EXPECT_EQ(Status("local/m@1.0.0").isolation, Isolation::kProcess);
  ASSERT_TRUE(Run("local/m").ok());
  EXPECT_GT(Status("local/m@1.0.0").worker_pid, 0);
}

TEST_F(IsolationTest, APackageSignedByATrustedKeyStaysInProcess) {
  ASSERT_TRUE(mpf::GenerateKeyPair(root_ / "team.key", root_ / "team.pub").ok());
  ASSERT_TRUE(mpf::GenerateKeyPair(root_ / "other.key", root_ / "other.pub").ok());
  options_.isolation.unsigned_process = true;
  options_.isolation.trusted_keys = {root_ / "team.pub"};
  Start();
  const Pkg signed_pkg = Model("signed", R"({"behavior":"identity"})");
  const Pkg foreign = Model("foreign", R"({"behavior":"identity"})");
  ASSERT_TRUE(mpf::SignPackage(MakePackage(signed_pkg), root_ / "team.key").ok());
  ASSERT_TRUE(mpf::SignPackage(MakePackage(foreign), root_ / "other.key").ok());
  ASSERT_TRUE(Register(signed_pkg).ok());
  ASSERT_TRUE(Register(foreign).ok());
  EXPECT_EQ(Status("local/signed@1.0.0").isolation, Isolation::kInProcess);
  EXPECT_EQ(Status("local/foreign@1.0.0").isolation, Isolation::kProcess);  // untrusted key
  ASSERT_TRUE(Run("local/signed").ok());
  EXPECT_EQ(Status("local/signed@1.0.0").worker_pid, 0);
}

TEST_F(IsolationTest, ACrashFailsOnlyItsRequestsAndTheModelComesBack) {
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  ASSERT_TRUE(Register(Model("bad", R"({"behavior":"segv"})")).ok());
  ASSERT_TRUE(Register(Model("good", R"({"behavior":"identity"})")).ok());
  ASSERT_TRUE(Run("local/good").ok());
  ASSERT_TRUE(core_->Load("local/bad@1.0.0").ok());
  auto r = Run("local/bad");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("crashed (signal 11"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("restarting"), std::string::npos) << r.status().message();
  EXPECT_TRUE(Run("local/good").ok());
  ASSERT_TRUE(WaitReady("local/bad@1.0.0", 2s));
  const ModelStatus s = Status("local/bad@1.0.0");
  EXPECT_EQ(s.worker_restarts, 1u);
  EXPECT_NE(s.last_crash.find("signal 11"), std::string::npos) << s.last_crash;
}

TEST_F(IsolationTest, AWorkerKilledFromOutsideIsRestartedAndServesCorrectResults) {
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  ASSERT_TRUE(Register(Model("m", R"({"behavior":"identity"})")).ok());
  ASSERT_TRUE(Run("local/m").ok());
  const pid_t pid = static_cast<pid_t>(Status("local/m@1.0.0").worker_pid);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSEGV), 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitReady("local/m@1.0.0", 2s * kScale, pid));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s * kScale);
  const ModelStatus s = Status("local/m@1.0.0");
  EXPECT_NE(s.worker_pid, pid);
  EXPECT_EQ(s.worker_restarts, 1u);
  auto r = Run("local/m", {F32("input", {2}, {7, 8})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float* out = reinterpret_cast<const float*>(r->outputs[0].data.data());
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[1], 8);
}

TEST_F(IsolationTest, ACrashLoopStopsAtTheLimitAndLeavesTheModelFailed) {
  options_.isolation.default_isolation = Isolation::kProcess;
  options_.isolation.restart_limit = 1;
  Start();
  ASSERT_TRUE(Register(Model("bad", R"({"behavior":"segv"})")).ok());
  ASSERT_TRUE(core_->Load("local/bad@1.0.0").ok());
  EXPECT_FALSE(Run("local/bad").ok());
  ASSERT_TRUE(WaitReady("local/bad@1.0.0", 2s));
  EXPECT_FALSE(Run("local/bad").ok());  // the second crash within the window: no restart
  std::this_thread::sleep_for(300ms);
  const ModelStatus s = Status("local/bad@1.0.0");
  EXPECT_EQ(s.state, ModelState::kFailed);
  EXPECT_EQ(s.worker_state, "stopped");
  EXPECT_NE(s.reason.find("not restarting"), std::string::npos) << s.reason;
  // An explicit load is still allowed (the operator decides).
  EXPECT_TRUE(core_->Load("local/bad@1.0.0").ok());
}

TEST_F(IsolationTest, AHungWorkerIsKilledByTheWatchdog) {
  options_.isolation.default_isolation = Isolation::kProcess;
  options_.isolation.watchdog_ms = 300;
  Start();
  ASSERT_TRUE(Register(Model("hang", R"({"behavior":"hang"})")).ok());
  ASSERT_TRUE(core_->Load("local/hang@1.0.0").ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Run("local/hang");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("watchdog"), std::string::npos) << r.status().message();
  ASSERT_TRUE(WaitReady("local/hang@1.0.0", 2s * kScale));
}

// ---- attacks: refused in the sandbox, done in-process ------------------------------------------

class AttackTest : public IsolationTest {
 protected:
  void SetUp() override {
    IsolationTest::SetUp();
    if (IsSkipped()) return;
    // A TCP server on loopback the attack tries to reach.
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    // Another model's private file, and a file outside any model.
    secret_ = root_ / "pkgs" / "victim-1.0.0" / "weights.bin";
    std::filesystem::create_directories(secret_.parent_path());
    std::ofstream(secret_) << "other model's weights";
    outside_ = root_ / "outside.txt";
  }
  void TearDown() override {
    if (listener_ >= 0) ::close(listener_);
    IsolationTest::TearDown();
  }

  void RegisterAttacks() {
    const auto reg = [&](const std::string& name, const std::string& json) {
      ASSERT_TRUE(Register(Model(name, R"({"behavior":"attack",)" + json + "}")).ok()) << name;
    };
    reg("shadow", R"("attack":"read_file","attack_path":"/etc/shadow")");
    reg("other", R"("attack":"read_file","attack_path":")" + secret_.string() + "\"");
    reg("connect", R"("attack":"connect","attack_port":)" + std::to_string(port_));
    reg("exec", R"("attack":"exec")");
    reg("fork", R"("attack":"fork","attack_count":40)");
    reg("write", R"("attack":"write_file","attack_path":")" + outside_.string() + "\"");
    reg("kill", R"("attack":"kill","attack_pid":)" + std::to_string(::getpid()) +
                    R"(,"attack_signal":0)");
  }

  int listener_ = -1;
  int port_ = 0;
  std::filesystem::path secret_, outside_;
};

TEST_F(AttackTest, InProcessEveryAttackSucceeds) {
  Start();
  RegisterAttacks();
  for (const char* m : {"shadow", "other", "connect", "exec", "fork", "write", "kill"}) {
    const std::string out = Attack(std::string("local/") + m);
    EXPECT_EQ(out.rfind("ok:", 0), 0u) << m << ": " << out;
  }
  EXPECT_TRUE(std::filesystem::exists(outside_));
}

TEST_F(AttackTest, InTheSandboxEveryAttackIsRefusedAndTheCoreKeepsServing) {
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  RegisterAttacks();
  ASSERT_TRUE(Register(Model("good", R"({"behavior":"identity"})")).ok());
  for (const char* m : {"shadow", "other", "connect", "exec", "fork", "write", "kill"}) {
    const std::string out = Attack(std::string("local/") + m);
    EXPECT_EQ(out.rfind("refused:", 0), 0u) << m << ": " << out;
    std::printf("%s: %s\n", m, out.c_str());
    EXPECT_TRUE(Run("local/good").ok()) << "after " << m;
  }
  EXPECT_FALSE(std::filesystem::exists(outside_));
}

TEST_F(AttackTest, MemoryPastTheLimitKillsOnlyTheWorker) {
  if (!sandbox::ProbeSupport().cgroup) GTEST_SKIP() << "no per-worker cgroups here";
  options_.isolation.default_isolation = Isolation::kProcess;
  Start();
  Pkg p = Model("hog", R"({"behavior":"attack","attack":"alloc","alloc_bytes":268435456})");
  ASSERT_TRUE(Register(p).ok());
  // The quota becomes the worker's cgroup memory limit.
  const auto dir = root_ / "pkgs" / "hog-1.0.0";
  std::string yaml;
  {
    std::ifstream in(dir / "manifest.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    yaml = ss.str();
  }
  ASSERT_TRUE(core_->Unregister("local/hog@1.0.0").ok());
  yaml += "security:\n  quotas:\n    max_memory: 96MiB\n";
  std::ofstream(dir / "manifest.yaml") << yaml;
  RegisterRequest rr;
  rr.model_id = "local/hog@1.0.0";
  rr.path = dir.string();
  auto reg = core_->Register(rr);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  ASSERT_TRUE(Register(Model("good", R"({"behavior":"identity"})")).ok());
  auto r = Run("local/hog");
  ASSERT_FALSE(r.ok()) << (r.ok() ? r->outputs[0].strings[0] : "");
  EXPECT_NE(r.status().message().find("memory"), std::string::npos) << r.status().message();
  EXPECT_TRUE(Run("local/good").ok());
  ASSERT_TRUE(WaitReady("local/hog@1.0.0", 2s));
}

}  // namespace
}  // namespace mlos::core
