#include "wire/grpc_raw.h"

#include <climits>
#include <string>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/slice.h>

namespace mlos::wire {
namespace {

using google::protobuf::internal::WireFormatLite;
namespace pio = google::protobuf::io;

constexpr size_t kAlign = 64;
constexpr size_t kCopyBelow = 4096;

size_t RoundUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

Status ParseWithRawField(grpc::ByteBuffer& bytes, int raw_field,
                         google::protobuf::Message& message, Buffer& raw,
                         std::vector<std::string_view>& views) {
  views.clear();
  raw.Clear();
  // The raw entries cannot be larger than the message: reserve that once (address space; the
  // pages are touched as bytes are copied in), so they never move while being filled.
  raw.Reserve(bytes.Length() + 16 * kAlign);
  std::vector<std::pair<size_t, size_t>> spans;  // (offset, length) in raw
  std::string rest;
  {
    grpc::ProtoBufferReader reader(&bytes);
    pio::CodedInputStream in(&reader);
    in.SetTotalBytesLimit(INT_MAX);
    pio::StringOutputStream rest_stream(&rest);
    pio::CodedOutputStream out(&rest_stream);
    const uint32_t raw_tag = WireFormatLite::MakeTag(
        raw_field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    for (;;) {
      const uint32_t tag = in.ReadTag();
      if (tag == 0) {
        if (!in.ConsumedEntireMessage()) return InvalidArgument("malformed protobuf message");
        break;
      }
      if (tag != raw_tag) {
        if (!WireFormatLite::SkipField(&in, tag, &out)) {
          return InvalidArgument("malformed protobuf message");
        }
        continue;
      }
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return InvalidArgument("malformed protobuf message");
      // An entry cannot be longer than the message: refused before anything is reserved for
      // it (a length over INT_MAX would also turn negative in ReadRaw).
      if (length > bytes.Length() || length > static_cast<uint32_t>(INT_MAX)) {
        return InvalidArgument("malformed protobuf message (raw contents longer than the message)");
      }
      const size_t at = RoundUp(raw.size());
      if (at + length > raw.capacity()) {
        // More entries than the reservation's padding allowed for: grow (offsets stay valid).
        raw.Reserve(std::max(at + length, raw.capacity() * 2));
      }
      raw.Resize(at + length);
      if (length && !in.ReadRaw(raw.data() + at, static_cast<int>(length))) {
        return InvalidArgument("malformed protobuf message (truncated raw contents)");
      }
      spans.emplace_back(at, length);
    }
  }
  if (!message.ParseFromString(rest)) return InvalidArgument("malformed protobuf message");
  views.reserve(spans.size());
  for (auto [at, length] : spans) views.emplace_back(raw.data() + at, length);
  return Status::Ok();
}

void SerializeWithRawField(const google::protobuf::Message& message, int raw_field,
                           const std::vector<std::string_view>& pieces,
                           std::shared_ptr<const void> owner, grpc::ByteBuffer* out) {
  std::string head;
  message.SerializeToString(&head);
  std::vector<grpc::Slice> slices;
  slices.reserve(pieces.size() * 2 + 1);
  const uint32_t tag =
      WireFormatLite::MakeTag(raw_field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  auto field_head = [&](std::string& s, size_t length) {
    pio::StringOutputStream stream(&s);
    pio::CodedOutputStream coded(&stream);
    coded.WriteTag(tag);
    coded.WriteVarint64(length);
  };
  for (std::string_view p : pieces) {
    if (p.size() < kCopyBelow) {
      field_head(head, p.size());
      head.append(p);
      continue;
    }
    field_head(head, p.size());
    slices.emplace_back(head);
    head.clear();
    auto* keep = new std::shared_ptr<const void>(owner);
    slices.emplace_back(const_cast<char*>(p.data()), p.size(),
                        [](void* k) { delete static_cast<std::shared_ptr<const void>*>(k); },
                        keep);
  }
  if (!head.empty() || slices.empty()) slices.emplace_back(head);
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  out->Swap(&buffer);
}

}  // namespace mlos::wire
