// Acceptance test with a third-party client: Python's grpcio (Debian python3-grpcio, stubs
// generated from proto/grpc_service.proto with grpc_tools at run time) runs ModelInfer against
// the real mlosd and must get bit-identical outputs to the HTTP /v2 infer endpoint
// (tests/integration/grpc_python_client.py does the comparing).
#include <cstdio>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

const fs::path kPython = "/usr/bin/python3";

bool PythonGrpcAvailable() {
  return fs::exists(kPython) &&
         std::system(
             (kPython.string() + " -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1").c_str()) ==
             0;
}

// Starts mlosd with --http and --grpc on free ports; both ports from its stdout.
class Daemon2 {
 public:
  explicit Daemon2(fs::path state_dir) : state_dir_(std::move(state_dir)) {}
  ~Daemon2() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  ::testing::AssertionResult Start() {
    log_ = state_dir_.parent_path() / "mlosd-py.log";
    int fds[2];
    if (::pipe(fds) != 0) return ::testing::AssertionFailure() << "pipe";
    std::vector<std::string> args = {kMlosd.string(), "--http",      "127.0.0.1:0",      "--grpc",
                                     "127.0.0.1:0",   "--state-dir", state_dir_.string()};
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
    const std::string hm = "mlosd listening on http://127.0.0.1:";
    const std::string gm = "mlosd grpc listening on 127.0.0.1:";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      const size_t h = out.find(hm);
      const size_t g = out.find(gm);
      if (h != std::string::npos && g != std::string::npos &&
          out.find('\n', h) != std::string::npos) {
        http_port = static_cast<uint16_t>(std::stoi(out.substr(h + hm.size())));
        grpc_port = static_cast<uint16_t>(std::stoi(out.substr(g + gm.size())));
        return ::testing::AssertionSuccess();
      }
    }
    return ::testing::AssertionFailure() << "mlosd did not start: " << out;
  }
  std::string Log() const { return ReadFileBytes(log_); }

  uint16_t http_port = 0, grpc_port = 0;

 private:
  fs::path state_dir_;
  fs::path log_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

TEST(GrpcPythonClientTest, ModelInferMatchesHttpBitForBit) {
  std::string why;
  if (!Prerequisites(&why)) GTEST_SKIP() << why;
  if (!PythonGrpcAvailable()) GTEST_SKIP() << "python3 grpcio / grpc_tools not installed";
  TempDir tmp;
  Daemon2 d(tmp.path() / "state");
  ASSERT_TRUE(d.Start());
  Package p = MlpPackage();
  Reply reg = Http(d.http_port, "POST", "/models/register",
                   RegisterBody(p, WritePackage(tmp.path() / "pkgs", p)));
  ASSERT_EQ(reg.status, 200) << reg.body;

  const std::string cmd =
      kPython.string() + " " +
      (fs::path(MLOS_SOURCE_DIR) / "tests/integration/grpc_python_client.py").string() +
      " --grpc 127.0.0.1:" + std::to_string(d.grpc_port) + " --http " +
      std::to_string(d.http_port) + " --proto-dir " +
      (fs::path(MLOS_SOURCE_DIR) / "proto").string() + " --model test/mlp 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  EXPECT_EQ(rc, 0) << out << "\nmlosd log:\n" << d.Log();
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace mlostest
