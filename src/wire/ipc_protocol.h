// The mlosd IPC protocol (docs/ipc.md): frames over a Unix stream socket, encoded and decoded
// here for both the server (src/api/ipc/server.cc) and clients (the C++ SDK, tests). This file
// depends on nothing but the standard library, POSIX sockets and common/status.h.
// Ops 14..29 were added without a version bump: a server that predates them answers
// kUnimplemented ("ipc: unknown operation N"), which is what a client needs to know. So was the
// INFER request's optional extension block (priority, keep_alive): a request without it is
// the original frame; a server that predates it refuses one with it (kInvalidArgument,
// "trailing bytes"), so clients send it only when a field is set.
//
// Frame = 24-byte header + payload, all integers little endian:
//   u32 magic 'M''L''I''P' | u16 version | u16 op | u64 request_id | u32 status | u32 length
// Requests carry status 0; responses echo the op and request_id and carry a StatusCode (0 = ok;
// otherwise the payload is the error message in UTF-8).
//
// Thread-safety: the codec functions are pure; SendFrame/RecvFrame on one descriptor must not
// run concurrently with another call on the same descriptor in the same direction.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"
#include "common/status.h"

namespace mlos::ipc {

inline constexpr uint32_t kMagic = 0x50494C4D;  // bytes "MLIP"
inline constexpr uint16_t kVersionMin = 1;
inline constexpr uint16_t kVersionMax = 1;
inline constexpr size_t kHeaderSize = 24;
inline constexpr uint32_t kMaxPayload = 1u << 30;  // 1 GiB

enum class Op : uint16_t {
  kHello = 1,          // u16 min, u16 max -> u16 chosen, u32 max_payload, str server
  kHealth = 2,         // -> u8 live, u8 ready
  kModelMetadata = 3,  // str model, str version -> JSON (KServe metadata)
  kInfer = 4,          // InferRequestMsg -> InferResponseMsg
  kModelList = 5,      // -> JSON array of model statuses
  kModelLoad = 6,      // str id -> JSON model status
  kModelUnload = 7,    // str id -> JSON model status
  kModelRegister = 8,  // JSON (the /models/register payload) -> JSON model status
  kModelUnregister = 9,// str id -> empty
  kShmRegister = 10,   // str name, u64 offset, u64 byte_size + one fd (SCM_RIGHTS) -> empty
  kShmUnregister = 11, // str name -> empty
  kShmStatus = 12,     // str name ("" = all) -> JSON array
  kPeerInfo = 13,      // -> str principal, u32 pid, u32 uid, u32 gid (debug)
  kModelGet = 14,      // str id -> JSON model status
  kModelSetDefault = 15,  // str id ("ns/name@version") -> JSON model status
  kModelRollback = 16,    // str name -> JSON model status
  kModelSetAlias = 17,    // str name, str alias, str version ("" removes) -> JSON model status
  kPlugins = 18,          // -> JSON {"plugins": [...], "count": N}
  kServerMetadata = 19,   // -> JSON {name, version, extensions}
  kModelReady = 20,       // str model, str version -> u8 ready (unknown model: an error)
  // Security (docs/security.md). kAuth sets the connection's bearer token ("" clears it); every
  // later call is authenticated with it (a revoked token stops working at once).
  kAuth = 21,             // str token -> str principal, str role
  kTokenCreate = 22,      // JSON {name, role, models, expires} -> JSON token doc with "token"
  kTokenList = 23,        // -> JSON {"tokens": [token doc...]}
  kTokenRevoke = 24,      // str name -> JSON token doc
  // Resources (operators): a pinned version is never evicted for memory nor unloaded by
  // keep_alive.
  kModelPin = 25,         // str id -> JSON model status
  kModelUnpin = 26,       // str id -> JSON model status
  // Generation (LLM models). GENERATE's answer is a sequence of frames with its request_id:
  // zero or more GENERATE_CHUNK frames (payload: the next piece of text, UTF-8, never a split
  // character), then one GENERATE frame: the usage JSON {model_id, finish_reason,
  // prompt_tokens, completion_tokens, cached_tokens, queue_time_us, first_token_us,
  // generate_time_us}, or the error (status != 0; then no chunk may have come, or some did
  // and the error is the generation's).
  kGenerate = 27,         // JSON {model, version, prompt, messages, params} -> chunks, usage JSON
  kGenerateChunk = 28,    // (server to client only) the text of one chunk
  // Stops the generation with request id `u64 request_id` (within one token; it then ends
  // with finish_reason "cancelled"). Seen during a generation when it is the next frame the
  // client sends after the GENERATE; its own answer (u8 1 = it stopped a generation, 0 =
  // nothing of that id was running) comes after the generation's last frame. Closing the
  // connection stops a generation too.
  kCancel = 29,           // u64 request_id -> u8 stopped
};

struct FrameHeader {
  uint32_t magic = kMagic;
  uint16_t version = kVersionMax;
  uint16_t op = 0;
  uint64_t request_id = 0;
  uint32_t status = 0;   // a mlos::StatusCode in responses
  uint32_t length = 0;   // payload bytes
};

void EncodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]);
// kInvalidArgument for a bad magic or a length over `max_payload`.
Result<FrameHeader> DecodeHeader(const uint8_t in[kHeaderSize],
                                 uint32_t max_payload = kMaxPayload);

// Appends little-endian values to a payload.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Raw(&v, 2); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }

 private:
  std::string& out_;  // little-endian host assumed (x86-64, aarch64)
};

// Reads little-endian values from a payload; every read is bounds-checked and a failure is
// sticky (ok() false, values 0/empty), so decoders check once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint8_t U8() { uint8_t v = 0; Raw(&v, 1); return v; }
  uint16_t U16() { uint16_t v = 0; Raw(&v, 2); return v; }
  uint32_t U32() { uint32_t v = 0; Raw(&v, 4); return v; }
  uint64_t U64() { uint64_t v = 0; Raw(&v, 8); return v; }
  int64_t I64() { int64_t v = 0; Raw(&v, 8); return v; }
  std::string_view Str() { return Bytes(U32()); }
  std::string_view Bytes(uint64_t n) {
    if (!ok_ || n > in_.size() - pos_) { ok_ = false; return {}; }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void Align8() { Bytes((8 - pos_ % 8) % 8); }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }

 private:
  void Raw(void* p, size_t n) {
    if (!ok_ || n > in_.size() - pos_) { ok_ = false; std::memset(p, 0, n); return; }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Where a tensor's bytes are: inline in the frame, or in a registered shared-memory region.
enum class Placement : uint8_t { kInline = 0, kShm = 1 };

// A tensor on the wire. Decoded inline data points into the decoded payload (`data`), which
// must outlive the message; BYTES tensors use 4-byte-length-prefixed elements as KServe does.
struct WireTensor {
  std::string name;
  uint8_t dtype = 0;               // smi_dtype / core::DataType value
  std::vector<int64_t> shape;
  Placement placement = Placement::kInline;
  std::string_view data;           // kInline
  std::string region;              // kShm
  uint64_t offset = 0, byte_size = 0;
};

// A wanted output: kInline (bytes come back in the response) or kShm (written into the region).
struct WireOutputSpec {
  std::string name;
  Placement placement = Placement::kInline;
  std::string region;
  uint64_t offset = 0, byte_size = 0;
};

// The INFER request's optional extension block, after the output specs: u8 flags, then the
// fields whose bit is set, in bit order. Unknown bits are refused (a field this codec cannot
// skip).
inline constexpr uint8_t kInferExtPriority = 1u << 0;   // u32 priority
inline constexpr uint8_t kInferExtKeepAlive = 1u << 1;  // i64 keep_alive_ms
inline constexpr uint8_t kInferExtKnown = kInferExtPriority | kInferExtKeepAlive;

struct InferRequestMsg {
  std::string model;
  std::string version;
  uint64_t timeout_us = 0;                 // 0: the server's default
  std::vector<WireTensor> inputs;
  std::vector<WireOutputSpec> outputs;     // empty: every output, inline
  // The extension block, written only when one of these is set.
  std::optional<uint32_t> priority;        // 1 = most urgent; 0 = the model's default
  std::optional<int64_t> keep_alive_ms;    // negative = keep loaded forever; 0 = unload after
};

struct InferResponseMsg {
  std::string model_id;
  uint64_t queue_time_us = 0, inference_time_us = 0;
  std::vector<WireTensor> outputs;  // kShm outputs: byte_size = bytes written
};

// Payload encoders append the whole payload to `out` (inline tensor bytes 8-byte aligned
// relative to where it starts in `out`, so `out` should start empty); GatherInfer* below give
// the same bytes in pieces, without copying the tensors.
void EncodeInferRequest(const InferRequestMsg& m, std::string& out);
Result<InferRequestMsg> DecodeInferRequest(std::string_view payload);
void EncodeInferResponse(const InferResponseMsg& m, std::string& out);
Result<InferResponseMsg> DecodeInferResponse(std::string_view payload);

// Blocking socket I/O (EINTR retried). SendFrame sends header + payload in one sendmsg, with
// `pass_fd` (>= 0) attached as SCM_RIGHTS. RecvFrame reads one frame into `payload` (reusing
// its capacity); a descriptor that arrives with it is stored in *received_fd (else -1; the
// caller owns it). Errors: kCancelled on a clean EOF before a header, kDataLoss on a truncated
// frame, kInvalidArgument for a bad header, kUnavailable on a socket error.
Status SendFrame(int fd, const FrameHeader& h, std::string_view payload, int pass_fd = -1);
// The same with the payload in pieces (gathered by sendmsg, never copied): header.length is
// set to their total.
Status SendFrameParts(int fd, const FrameHeader& h, const std::vector<std::string_view>& parts,
                      int pass_fd = -1);
Status RecvFrame(int fd, FrameHeader& h, std::string& payload, int* received_fd = nullptr,
                 uint32_t max_payload = kMaxPayload);
// The same into a Buffer, sized from the header at once (its memory is not initialised, so a
// header that claims more than is ever sent costs address space, not memory).
// `peeked`: the frame's header, already seen with MSG_PEEK and decoded (then header and
// payload are read with one recvmsg).
Status RecvFrame(int fd, FrameHeader& h, Buffer& payload, int* received_fd = nullptr,
                 uint32_t max_payload = kMaxPayload, const FrameHeader* peeked = nullptr);

// Large socket buffers (4 MiB each way, or what net.core.[rw]mem_max allow) for a connection
// that carries tensors inline: fewer wakeups per megabyte.
void SetLargeSocketBuffers(int fd);

// An INFER request or response in pieces for SendFrameParts: the encoded fields are written
// into `meta`, inline tensor bytes stay where they are (views into the message's tensors, which
// must outlive the send).
class GatherPayload {
 public:
  std::vector<std::string_view> Parts() const;
  size_t size() const { return meta_.size() + data_bytes_; }

  // Used by the encoders.
  std::string& meta() { return meta_; }
  void Data(std::string_view bytes);
  size_t offset() const { return size(); }
  void Clear() {
    meta_.clear();
    pieces_.clear();
    data_bytes_ = 0;
  }

 private:
  std::string meta_;
  std::vector<std::pair<size_t, std::string_view>> pieces_;  // meta up to .first, then .second
  size_t data_bytes_ = 0;
};
void GatherInferRequest(const InferRequestMsg& m, GatherPayload& out);
void GatherInferResponse(const InferResponseMsg& m, GatherPayload& out);

}  // namespace mlos::ipc
