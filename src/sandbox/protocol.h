// What mlosd and a model worker say to each other: MLIP frames (wire/ipc_protocol.h, the same
// codec as the IPC front-end) over Unix stream socketpairs, with worker operations. Tensor
// bytes never travel in frames: they are in arenas (arena.h) and frames carry their places.
//
// Sockets: one control socket (setup, cancel, memory, shutdown; one exchange at a time) and N
// channel sockets (one plugin call in flight each, a thread on each side). Per channel:
//   host -> worker  kMap    a client's shared-memory region (read-only descriptor attached),
//                           0..n: inputs that lie in one are mapped in place, not copied
//   host -> worker  kInfer  InferCall, with a new arena's memfd attached when arena_size != 0
//   worker -> host  kArena  u64 size, a new arena's memfd attached (outputs did not fit), 0..n
//   worker -> host  kAlloc  (only when the call says announce_outputs) before placing a big
//                           output: AllocAnnounce; mlosd allocates the outputs listed, in order,
//                           and answers kAlloc: u8 0 = use the arena (mlosd copies later), or
//                           u8 1 + u64 offset with a writable region descriptor attached: the
//                           output's destination is a client's shared memory, write it there
//                           (status != 0: the allocation was refused)
//   worker -> host  kInfer  InferResult (status 0) or the plugin's error (status = StatusCode,
//                           payload = message; request_id echoed)
// Generation (LLM plugins), per channel:
//   host -> worker  kGenerate  JSON {"prompt", "params"} (smi_generate_request)
//   worker -> host  kToken     0..n: one chunk of text each (request_id echoed)
//   worker -> host  kGenerate  the end: status 0 or the plugin's error (a StatusCode), payload
//                              JSON {"done": <on_done's JSON or null>, "error": "message"}
// mlosd stops a generation (its client went away) with kCancel on the control socket and
// reads on until the end frame.
// After a call, the channel's arena is the last one the worker sent during it, if any (both
// sides switch), else the one the call started with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mlos::sandbox {

enum class WorkerOp : uint16_t {
  kSetup = 100,     // control: JSON (setup.h) -> JSON (the loaded model) | error
  kInfer = 101,     // channel: see above
  kArena = 102,     // channel, worker -> host: u64 size + memfd
  kCancel = 103,    // control: u64 request_id -> empty
  // 104: unused (a worker reports its memory once, in the kSetup answer)
  kShutdown = 105,  // control: -> empty; the worker unloads and exits 0
  kMap = 106,       // channel, host -> worker: a read-only region descriptor for the next call
  kAlloc = 107,     // channel, worker -> host -> worker: see above
  kGenerate = 108,  // channel: a generation (see above)
  kToken = 109,     // channel, worker -> host: a chunk of generated text
};

// TensorRef::arena of an output written in place into its destination (nothing to copy).
inline constexpr uint32_t kInPlace = 0xffffffffu;

// A tensor in an arena. Numeric: byte_size bytes of elements. Strings in inputs: u64
// lengths[count] then the bytes, back to back; in outputs: count entries {u64 offset from the
// block's start, u64 length} then the bytes. byte_size is the whole block.
struct TensorRef {
  std::string name;
  uint8_t dtype = 0;  // smi_dtype
  std::vector<int64_t> dims;
  // Inputs: 0 = the channel's arena; k = the region of the call's k-th kMap (offset in its file).
  // Outputs: 0 = the arena the call started with; k = the k-th kArena of the call.
  uint32_t arena = 0;
  uint64_t offset = 0, byte_size = 0;
};

struct InferCall {
  uint64_t arena_size = 0;  // != 0: a new arena of this size is attached (use it from now on)
  // Big outputs are announced (kAlloc) so that mlosd can hand out a client's shared memory for
  // them; off when no client has registered any (saves the round trip).
  bool announce_outputs = false;
  std::vector<TensorRef> inputs;
  std::vector<std::string> outputs;  // wanted; empty = all
};

// kAlloc from the worker: outputs placed in the arena since the last announcement (mlosd
// allocates their destinations now, so that every output is allocated in the plugin's order),
// then the big one asking for a place (byte_size: a numeric output's bytes).
struct AllocAnnounce {
  std::vector<TensorRef> placed;
  TensorRef wanted;
};
void EncodeAllocAnnounce(const AllocAnnounce& a, std::string& out);
Result<AllocAnnounce> DecodeAllocAnnounce(std::string_view payload);

struct InferResult {
  std::vector<TensorRef> outputs;
};

void EncodeInferCall(const InferCall& call, std::string& out);
Result<InferCall> DecodeInferCall(std::string_view payload);
void EncodeInferResult(const InferResult& result, std::string& out);
Result<InferResult> DecodeInferResult(std::string_view payload);

}  // namespace mlos::sandbox
