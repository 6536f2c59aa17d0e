#include "sandbox/protocol.h"

#include "wire/ipc_protocol.h"

namespace mlos::sandbox {
namespace {

constexpr uint32_t kMaxTensors = 4096;
constexpr uint32_t kMaxRank = 16;

void PutRef(ipc::Writer& w, const TensorRef& t) {
  w.Str(t.name);
  w.U8(t.dtype);
  w.U32(static_cast<uint32_t>(t.dims.size()));
  for (int64_t d : t.dims) w.I64(d);
  w.U32(t.arena);
  w.U64(t.offset);
  w.U64(t.byte_size);
}

bool GetRef(ipc::Reader& r, TensorRef& t) {
  t.name = std::string(r.Str());
  t.dtype = r.U8();
  const uint32_t rank = r.U32();
  if (!r.ok() || rank > kMaxRank) return false;
  t.dims.resize(rank);
  for (int64_t& d : t.dims) d = r.I64();
  t.arena = r.U32();
  t.offset = r.U64();
  t.byte_size = r.U64();
  return r.ok();
}

}  // namespace

void EncodeInferCall(const InferCall& call, std::string& out) {
  ipc::Writer w(out);
  w.U64(call.arena_size);
  w.U8(call.announce_outputs ? 1 : 0);
  w.U32(static_cast<uint32_t>(call.inputs.size()));
  for (const TensorRef& t : call.inputs) PutRef(w, t);
  w.U32(static_cast<uint32_t>(call.outputs.size()));
  for (const std::string& n : call.outputs) w.Str(n);
}

Result<InferCall> DecodeInferCall(std::string_view payload) {
  ipc::Reader r(payload);
  InferCall call;
  call.arena_size = r.U64();
  call.announce_outputs = r.U8() != 0;
  const uint32_t n_in = r.U32();
  if (!r.ok() || n_in > kMaxTensors) return InvalidArgument("worker: malformed infer call");
  call.inputs.resize(n_in);
  for (TensorRef& t : call.inputs) {
    if (!GetRef(r, t)) return InvalidArgument("worker: malformed infer call input");
  }
  const uint32_t n_out = r.U32();
  if (!r.ok() || n_out > kMaxTensors) return InvalidArgument("worker: malformed infer call");
  for (uint32_t i = 0; i < n_out; ++i) call.outputs.emplace_back(r.Str());
  if (!r.ok() || !r.done()) return InvalidArgument("worker: malformed infer call outputs");
  return call;
}

void EncodeAllocAnnounce(const AllocAnnounce& a, std::string& out) {
  ipc::Writer w(out);
  w.U32(static_cast<uint32_t>(a.placed.size()));
  for (const TensorRef& t : a.placed) PutRef(w, t);
  PutRef(w, a.wanted);
}

Result<AllocAnnounce> DecodeAllocAnnounce(std::string_view payload) {
  ipc::Reader r(payload);
  AllocAnnounce a;
  const uint32_t n = r.U32();
  if (!r.ok() || n > kMaxTensors) return InvalidArgument("worker: malformed output announcement");
  a.placed.resize(n);
  for (TensorRef& t : a.placed) {
    if (!GetRef(r, t)) return InvalidArgument("worker: malformed output announcement");
  }
  if (!GetRef(r, a.wanted) || !r.done()) {
    return InvalidArgument("worker: malformed output announcement");
  }
  return a;
}

void EncodeInferResult(const InferResult& result, std::string& out) {
  ipc::Writer w(out);
  w.U32(static_cast<uint32_t>(result.outputs.size()));
  for (const TensorRef& t : result.outputs) PutRef(w, t);
}

Result<InferResult> DecodeInferResult(std::string_view payload) {
  ipc::Reader r(payload);
  InferResult result;
  const uint32_t n = r.U32();
  if (!r.ok() || n > kMaxTensors) return InvalidArgument("worker: malformed infer result");
  result.outputs.resize(n);
  for (TensorRef& t : result.outputs) {
    if (!GetRef(r, t)) return InvalidArgument("worker: malformed infer result output");
  }
  if (!r.done()) return InvalidArgument("worker: malformed infer result (trailing bytes)");
  return result;
}

}  // namespace mlos::sandbox
