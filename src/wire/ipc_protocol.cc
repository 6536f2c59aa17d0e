#include "wire/ipc_protocol.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>

namespace mlos::ipc {

void EncodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]) {
  std::memcpy(out + 0, &h.magic, 4);
  std::memcpy(out + 4, &h.version, 2);
  std::memcpy(out + 6, &h.op, 2);
  std::memcpy(out + 8, &h.request_id, 8);
  std::memcpy(out + 16, &h.status, 4);
  std::memcpy(out + 20, &h.length, 4);
}

Result<FrameHeader> DecodeHeader(const uint8_t in[kHeaderSize], uint32_t max_payload) {
  FrameHeader h;
  std::memcpy(&h.magic, in + 0, 4);
  std::memcpy(&h.version, in + 4, 2);
  std::memcpy(&h.op, in + 6, 2);
  std::memcpy(&h.request_id, in + 8, 8);
  std::memcpy(&h.status, in + 16, 4);
  std::memcpy(&h.length, in + 20, 4);
  if (h.magic != kMagic) return InvalidArgument("ipc: bad frame magic (not an MLIP frame)");
  if (h.length > max_payload) {
    return InvalidArgument("ipc: frame payload of " + std::to_string(h.length) +
                           " bytes exceeds the limit of " + std::to_string(max_payload));
  }
  return h;
}

namespace {

// The tensor's fields into g.meta(); its inline bytes, 8-byte aligned within the payload (the
// padding in meta), stay a view.
void GatherTensor(GatherPayload& g, const WireTensor& t) {
  Writer w(g.meta());
  w.Str(t.name);
  w.U8(t.dtype);
  w.U8(static_cast<uint8_t>(t.placement));
  w.U16(static_cast<uint16_t>(t.shape.size()));
  for (int64_t d : t.shape) w.I64(d);
  if (t.placement == Placement::kShm) {
    w.Str(t.region);
    w.U64(t.offset);
    w.U64(t.byte_size);
    return;
  }
  w.U64(t.data.size());
  while (g.offset() % 8) g.meta().push_back('\0');
  g.Data(t.data);
}

// The gathered pieces put together.
void Concat(const GatherPayload& g, std::string& out) {
  out.reserve(out.size() + g.size());
  for (std::string_view p : g.Parts()) out.append(p);
}

bool DecodeTensor(Reader& r, WireTensor& t) {
  t.name = r.Str();
  t.dtype = r.U8();
  const uint8_t placement = r.U8();
  const uint16_t rank = r.U16();
  if (!r.ok() || placement > 1) return false;
  t.placement = static_cast<Placement>(placement);
  t.shape.resize(rank);
  for (auto& d : t.shape) d = r.I64();
  if (t.placement == Placement::kShm) {
    t.region = r.Str();
    t.offset = r.U64();
    t.byte_size = r.U64();
  } else {
    const uint64_t n = r.U64();
    r.Align8();
    t.data = r.Bytes(n);
    t.byte_size = n;
  }
  return r.ok();
}

}  // namespace

void GatherInferRequest(const InferRequestMsg& m, GatherPayload& g) {
  g.Clear();
  Writer w(g.meta());
  w.Str(m.model);
  w.Str(m.version);
  w.U64(m.timeout_us);
  w.U32(static_cast<uint32_t>(m.inputs.size()));
  for (const WireTensor& t : m.inputs) GatherTensor(g, t);
  w.U32(static_cast<uint32_t>(m.outputs.size()));
  for (const WireOutputSpec& o : m.outputs) {
    w.Str(o.name);
    w.U8(static_cast<uint8_t>(o.placement));
    if (o.placement == Placement::kShm) {
      w.Str(o.region);
      w.U64(o.offset);
      w.U64(o.byte_size);
    }
  }
  if (m.priority || m.keep_alive_ms) {
    w.U8(static_cast<uint8_t>((m.priority ? kInferExtPriority : 0) |
                              (m.keep_alive_ms ? kInferExtKeepAlive : 0)));
    if (m.priority) w.U32(*m.priority);
    if (m.keep_alive_ms) w.I64(*m.keep_alive_ms);
  }
}

void EncodeInferRequest(const InferRequestMsg& m, std::string& out) {
  GatherPayload g;
  GatherInferRequest(m, g);
  Concat(g, out);
}

void GatherPayload::Data(std::string_view bytes) {
  pieces_.emplace_back(meta_.size(), bytes);
  data_bytes_ += bytes.size();
}

std::vector<std::string_view> GatherPayload::Parts() const {
  std::vector<std::string_view> parts;
  parts.reserve(pieces_.size() * 2 + 1);
  size_t from = 0;
  for (const auto& [upto, bytes] : pieces_) {
    if (upto > from) parts.emplace_back(meta_.data() + from, upto - from);
    if (!bytes.empty()) parts.push_back(bytes);
    from = upto;
  }
  if (meta_.size() > from) parts.emplace_back(meta_.data() + from, meta_.size() - from);
  return parts;
}

Result<InferRequestMsg> DecodeInferRequest(std::string_view payload) {
  Reader r(payload);
  InferRequestMsg m;
  m.model = r.Str();
  m.version = r.Str();
  m.timeout_us = r.U64();
  const uint32_t n_in = r.U32();
  if (!r.ok()) return InvalidArgument("ipc: truncated infer request");
  // Each input takes at least 16 bytes: no huge reservation from a lying count.
  if (n_in > payload.size() / 16 + 1) return InvalidArgument("ipc: bad input count");
  m.inputs.resize(n_in);
  for (uint32_t i = 0; i < n_in; ++i) {
    if (!DecodeTensor(r, m.inputs[i])) {
      return InvalidArgument("ipc: malformed or truncated input " + std::to_string(i));
    }
  }
  const uint32_t n_out = r.U32();
  if (!r.ok() || n_out > payload.size() / 5 + 1) {
    return InvalidArgument("ipc: truncated infer request (outputs)");
  }
  m.outputs.resize(n_out);
  for (uint32_t i = 0; i < n_out; ++i) {
    WireOutputSpec& o = m.outputs[i];
    o.name = r.Str();
    const uint8_t placement = r.U8();
    if (placement > 1) return InvalidArgument("ipc: bad placement of output " + std::to_string(i));
    o.placement = static_cast<Placement>(placement);
    if (o.placement == Placement::kShm) {
      o.region = r.Str();
      o.offset = r.U64();
      o.byte_size = r.U64();
    }
  }
  if (!r.ok()) return InvalidArgument("ipc: truncated infer request (outputs)");
  if (r.done()) return m;  // no extension block: the original frame
  const uint8_t flags = r.U8();
  if (flags & ~kInferExtKnown) {
    return InvalidArgument("ipc: unknown infer request extension flags 0x" +
                           std::string(1, "0123456789abcdef"[flags >> 4]) +
                           std::string(1, "0123456789abcdef"[flags & 15]));
  }
  if (flags & kInferExtPriority) m.priority = r.U32();
  if (flags & kInferExtKeepAlive) m.keep_alive_ms = r.I64();
  if (!r.ok()) return InvalidArgument("ipc: truncated infer request (extension)");
  if (!r.done()) return InvalidArgument("ipc: trailing bytes after the infer request");
  return m;
}

void GatherInferResponse(const InferResponseMsg& m, GatherPayload& g) {
  g.Clear();
  Writer w(g.meta());
  w.Str(m.model_id);
  w.U64(m.queue_time_us);
  w.U64(m.inference_time_us);
  w.U32(static_cast<uint32_t>(m.outputs.size()));
  for (const WireTensor& t : m.outputs) GatherTensor(g, t);
}

void EncodeInferResponse(const InferResponseMsg& m, std::string& out) {
  GatherPayload g;
  GatherInferResponse(m, g);
  Concat(g, out);
}

Result<InferResponseMsg> DecodeInferResponse(std::string_view payload) {
  Reader r(payload);
  InferResponseMsg m;
  m.model_id = r.Str();
  m.queue_time_us = r.U64();
  m.inference_time_us = r.U64();
  const uint32_t n = r.U32();
  if (!r.ok() || n > payload.size() / 16 + 1) {
    return InvalidArgument("ipc: truncated infer response");
  }
  m.outputs.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!DecodeTensor(r, m.outputs[i])) {
      return InvalidArgument("ipc: malformed or truncated output " + std::to_string(i));
    }
  }
  if (!r.done()) return InvalidArgument("ipc: trailing bytes after the infer response");
  return m;
}

Status SendFrame(int fd, const FrameHeader& h, std::string_view payload, int pass_fd) {
  return SendFrameParts(fd, h, {payload}, pass_fd);
}

Status SendFrameParts(int fd, const FrameHeader& h, const std::vector<std::string_view>& parts,
                      int pass_fd) {
  uint8_t head[kHeaderSize];
  FrameHeader hh = h;
  size_t total = 0;
  for (std::string_view p : parts) total += p.size();
  if (total > kMaxPayload) {
    return InvalidArgument("ipc: frame payload of " + std::to_string(total) +
                           " bytes exceeds the limit of " + std::to_string(kMaxPayload));
  }
  hh.length = static_cast<uint32_t>(total);
  EncodeHeader(hh, head);
  std::vector<iovec> iov;
  iov.reserve(parts.size() + 1);
  iov.push_back({head, kHeaderSize});
  for (std::string_view p : parts) {
    if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
  }
  size_t first = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  bool attach = pass_fd >= 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    if (attach) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("ipc: send failed: ") + std::strerror(errno));
    }
    attach = false;
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

void SetLargeSocketBuffers(int fd) {
  const int size = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

namespace {

// Reads exactly the bytes of `iov` (in order, into both pieces); collects at most one passed
// descriptor (extra ones are closed).
Status ReadExactV(int fd, iovec* iov, int count, int* received_fd, bool at_frame_start) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  size_t got = 0;
  int first = 0;
  while (got < n) {
    while (first < count && iov[first].iov_len == 0) ++first;
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(count - first);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // the socket's receive timeout
        return Status(StatusCode::kDeadlineExceeded,
                      got == 0 && at_frame_start
                          ? "ipc: no frame arrived within the receive timeout"
                          : "ipc: a frame stalled for longer than the receive timeout");
      }
      return Unavailable(std::string("ipc: receive failed: ") + std::strerror(errno));
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int passed;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (received_fd && *received_fd < 0) {
          *received_fd = passed;
        } else {
          ::close(passed);
        }
      }
    }
    if (r == 0) {
      if (got == 0 && at_frame_start) return Status(StatusCode::kCancelled, "ipc: connection closed");
      return DataLoss("ipc: connection closed in the middle of a frame");
    }
    got += static_cast<size_t>(r);
    for (size_t left = static_cast<size_t>(r); left > 0 && first < count;) {
      const size_t take = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      left -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  return Status::Ok();
}

Status ReadExact(int fd, void* buf, size_t n, int* received_fd, bool at_frame_start) {
  iovec iov{buf, n};
  return ReadExactV(fd, &iov, 1, received_fd, at_frame_start);
}

}  // namespace

Status RecvFrame(int fd, FrameHeader& h, std::string& payload, int* received_fd,
                 uint32_t max_payload) {
  if (received_fd) *received_fd = -1;
  uint8_t head[kHeaderSize];
  MLOS_RETURN_IF_ERROR(ReadExact(fd, head, kHeaderSize, received_fd, true));
  MLOS_ASSIGN_OR_RETURN(h, DecodeHeader(head, max_payload));
  // Grow the buffer as bytes arrive (doubling from 1 MiB), so a header that merely claims a
  // huge payload does not make the receiver allocate it up front.
  size_t got = 0;
  while (got < h.length) {
    const size_t want = std::min<size_t>(h.length - got, std::max<size_t>(got, 1u << 20));
    if (payload.size() < got + want) payload.resize(got + want);
    Status st = ReadExact(fd, payload.data() + got, want, received_fd, false);
    if (!st.ok() && st.code() == StatusCode::kCancelled) return DataLoss(st.message());
    MLOS_RETURN_IF_ERROR(st);
    got += want;
  }
  payload.resize(h.length);
  return Status::Ok();
}

Status RecvFrame(int fd, FrameHeader& h, Buffer& payload, int* received_fd,
                 uint32_t max_payload, const FrameHeader* peeked) {
  if (received_fd) *received_fd = -1;
  uint8_t head[kHeaderSize];
  if (peeked) {
    // The header is known: header and payload in one read.
    h = *peeked;
    payload.Resize(h.length, /*keep=*/false);
    iovec iov[2] = {{head, kHeaderSize}, {payload.data(), h.length}};
    Status st = ReadExactV(fd, iov, 2, received_fd, true);
    if (!st.ok() && st.code() == StatusCode::kCancelled) return DataLoss(st.message());
    return st;
  }
  MLOS_RETURN_IF_ERROR(ReadExact(fd, head, kHeaderSize, received_fd, true));
  MLOS_ASSIGN_OR_RETURN(h, DecodeHeader(head, max_payload));
  payload.Resize(h.length, /*keep=*/false);
  Status st = ReadExact(fd, payload.data(), h.length, received_fd, false);
  if (!st.ok() && st.code() == StatusCode::kCancelled) return DataLoss(st.message());
  return st;
}

}  // namespace mlos::ipc
