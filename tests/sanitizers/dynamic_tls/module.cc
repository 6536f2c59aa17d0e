// The dlopen'd half of dynamic_tls_check (check.cc): one 40-byte thread_local, the size of the
// llama plugin's (a std::string and its guard), so glibc allocates each thread's block with
// malloc(40) the first time the thread touches it (__tls_get_addr).
#include <cstring>

namespace {
thread_local char t_block[40];
}  // namespace

extern "C" __attribute__((visibility("default"))) void* mlos_dtls_block() {
  std::memset(t_block, 1, sizeof t_block);
  return t_block;
}
