#include "sandbox/sanitizer_report.h"

#ifdef MLOS_SANITIZER_BUILD
#include <fcntl.h>
#include <signal.h>
#include <sanitizer/common_interface_defs.h>
#include <stdlib.h>

#include <cstdint>
#include <string>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#endif

namespace mlos::sandbox {

#ifdef MLOS_SANITIZER_BUILD
namespace {

int g_report_fd = -1;

// The last log_path= of the runtime's options (tests/sanitizers/env.sh and launcher.sh set it).
std::string LogPath() {
  for (const char* var : {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* value = ::getenv(var);
    if (!value) continue;
    const std::string options = value;
    std::string path;
    size_t pos = 0;
    while (pos <= options.size()) {
      size_t end = options.find(':', pos);
      if (end == std::string::npos) end = options.size();
      const std::string option = options.substr(pos, end - pos);
      if (option.rfind("log_path=", 0) == 0) path = option.substr(9);
      pos = end + 1;
    }
    if (!path.empty()) return path;
  }
  return "";
}

void SetReportFd(int fd) {
  __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
}

}  // namespace

void PrepareSanitizerForSandbox(bool sandboxed) {
  // A worker's crash is a death by signal, which mlosd reports and the isolation tests cause on
  // purpose (a plugin's segfault, kill -SEGV from outside): ASan's SEGV handler would make it an
  // exit with a report instead. Memory errors ASan detects itself are still reported.
  ::signal(SIGSEGV, SIG_DFL);
  ::signal(SIGBUS, SIG_DFL);
  if (!sandboxed) return;
  const std::string path = LogPath();
  if (!path.empty() && path != "stderr" && path != "stdout") {
    // The worker is pid 1 of its namespace: a name of its own, not the runtime's <path>.<exe>.1.
    std::string name = path + ".mlos-worker.XXXXXX";
    g_report_fd = ::mkostemp(name.data(), O_CLOEXEC | O_APPEND);
    if (g_report_fd >= 0) SetReportFd(g_report_fd);
  }
#ifdef __SANITIZE_ADDRESS__
  __lsan_do_leak_check();
#endif
}

void AdoptSanitizerReportFile() {
  if (g_report_fd >= 0) SetReportFd(g_report_fd);
}
#else
void PrepareSanitizerForSandbox(bool) {}
void AdoptSanitizerReportFile() {}
#endif

}  // namespace mlos::sandbox
