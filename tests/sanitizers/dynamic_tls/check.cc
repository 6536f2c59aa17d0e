// Regression check for the ASan runtime options of tests/sanitizers/env.sh (label asan_ci):
// LeakSanitizer's check at exit must survive a dlopen'd library whose dynamic TLS block sits at
// 4096*k + 16.
//
// GCC 12's sanitizer runtime records each dynamic TLS block it sees through __tls_get_addr (the
// common flag intercept_tls_get_addr, on by default under ASan) and guesses its bounds: a block
// at 4096*k + 16 is taken for glibc 2.19's layout, and the 16 bytes before it are read as
// {size, start}. Under ASan those bytes are the allocator's chunk header, so the "range" starts
// at the allocation's stack-depot id (a small number on the main thread: 0x418 in CI's report)
// and the leak check's tracer faults on it ("Tracer caught signal 11", "LeakSanitizer has
// encountered a fatal error") after the test itself passed. That is what five llama_plugin_test
// cases did on CI and never here: most likely CI's CPU made ggml load another backend variant,
// which shifted the allocations so that a thread_local block of the plugin's libraries landed
// there. env.sh turns the interception off (intercept_tls_get_addr=0); LeakSanitizer then keeps
// dynamic TLS reachable its older way, as allocations of the dynamic linker
// (use_ld_allocations, on by default).
//
// Usage: dynamic_tls_check <path of libmlos_dtls_module.so>
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: dynamic_tls_check MODULE\n");
    return 2;
  }
  void* module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr) {
    std::fprintf(stderr, "dynamic_tls_check: %s\n", dlerror());
    return 2;
  }
  auto block = reinterpret_cast<void* (*)()>(dlsym(module, "mlos_dtls_block"));
  if (block == nullptr) {
    std::fprintf(stderr, "dynamic_tls_check: %s\n", dlerror());
    return 2;
  }
  // Take 40-byte chunks (64 bytes apart in ASan's allocator) until one starts 48 bytes before a
  // page boundary: the next one, glibc's malloc(40) for the main thread's TLS block, then starts
  // 16 bytes after the boundary.
  std::vector<void*> taken;
  taken.reserve(1 << 16);
  for (int i = 0; i < (1 << 16); ++i) {
    void* p = std::malloc(40);
    taken.push_back(p);
    if (reinterpret_cast<std::uintptr_t>(p) % 4096 == 4096 - 48) break;
  }
  const auto at = reinterpret_cast<std::uintptr_t>(block());
  for (void* p : taken) std::free(p);
  if (at % 4096 != 16) {
    std::fprintf(stderr,
                 "dynamic_tls_check: the TLS block is at %#jx, not 4096*k + 16: the allocator "
                 "placed it elsewhere, so this run proves nothing\n",
                 static_cast<std::uintmax_t>(at));
    return 1;
  }
  std::printf("dynamic TLS block at %#jx (4096*k + 16); the leak check at exit follows\n",
              static_cast<std::uintmax_t>(at));
  std::fflush(stdout);
  return 0;
}
