// The machine's floor for moving bytes, measured in the same run as the transports so the size
// sweep can say how far each path is from it: memcpy bandwidth, and one-way transfers of N bytes
// over loopback TCP and over a Unix stream socket (plain blocking write / read loops between two
// threads of this process, into a buffer that is already touched, 4 MiB socket buffers, then a
// one-byte acknowledgement). The threads inherit the process's CPU affinity, so under
// `taskset -c 0` both ends share one CPU, as mlosd and the client do in the benchmark.
#pragma once

#include <cstddef>

namespace mlos::bench {

struct Floor {
  double memcpy_us = 0;  // p50 of one memcpy of `bytes` between touched buffers
  double tcp_us = 0;     // p50 of moving `bytes` one way over 127.0.0.1 TCP (+ 1-byte ack)
  double unix_us = 0;    // the same over a Unix stream socket pair
};

// p50 over `reps` repetitions (after one warm-up) for a transfer of `bytes`.
Floor MeasureFloor(size_t bytes, int reps);

}  // namespace mlos::bench
