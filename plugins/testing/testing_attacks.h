// The attacks of the testing plugin's "attack" behaviour: things a model must not be able to do
// inside mlosd's sandbox (read or write other files, reach the network, run programs, fork,
// exhaust memory, signal or trace other processes). Each is tried once, in the calling process,
// and leaks nothing (fds closed, children killed and reaped, memory freed).
#pragma once

#include <string>

#include "testing_config.h"

namespace mlos::testing_plugin {

// Performs config.attack with its config keys; returns a one-line outcome:
//   "ok: <what happened>"                          the attack worked
//   "refused: <what failed>: <strerror(errno)>"    the OS refused it
// e.g. "ok: read 1234 bytes from /etc/passwd", "refused: open /etc/shadow: Permission denied".
// A memory-limited sandbox may kill the process during the "alloc" attack instead.
std::string RunAttack(const ModelConfig& config);

// behavior "segv": writes through a null pointer read from volatile storage, so the compiler
// cannot turn it into a trap: the process dies of a real SIGSEGV. Does not return.
[[noreturn]] void Segfault();

}  // namespace mlos::testing_plugin
