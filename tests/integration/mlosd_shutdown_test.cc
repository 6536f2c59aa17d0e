// SIGTERM with idle keep-alive connections open: mlosd closes them and exits 0, every time.
// (Server::Stop once held the sessions lock while dropping what could be a session's last
// reference; the session's destructor took the same lock: a hang about one stop in five.)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

TEST(MlosdShutdownTest, SigtermWithIdleKeepAliveConnectionsExitsEveryTime) {
  const fs::path root = fs::temp_directory_path() / ("mlos-shutdown-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  for (int round = 0; round < 20; ++round) {
    Daemon d(root / "state", {"--threads", "2"});
    ASSERT_TRUE(d.Start());
    // Keep-alive connections that each made one request and now sit idle.
    std::vector<int> fds;
    for (int i = 0; i < 32; ++i) {
      int fd = Connect(d.port());
      ASSERT_GE(fd, 0);
      ASSERT_TRUE(SendAll(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
      char buf[4096];
      ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
      fds.push_back(fd);
    }
    // Half close right as the signal lands: their sessions end on the io threads while Stop
    // walks the session table.
    d.Signal(SIGTERM);
    for (size_t i = 0; i < fds.size(); i += 2) {
      ::close(fds[i]);
      fds[i] = -1;
    }
    // Exits within the drain timeout's order of magnitude, not never.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int code = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      if (d.TryWait(&code)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
    ASSERT_EQ(code, 0) << "round " << round << ": mlosd did not exit after SIGTERM\n" << d.Log();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace mlostest
