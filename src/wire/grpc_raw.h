// KServe v2 gRPC messages read and written around their raw tensor bytes, for the server's
// ModelInfer and the SDK's gRPC transport. Protobuf would copy every raw_input_contents /
// raw_output_contents entry into a std::string when parsing and into one contiguous buffer
// when serialising; for a 64 MB tensor those copies (and the fresh pages they land in) cost more
// than moving the bytes through the socket. Here:
//   - reading, the message's other fields are parsed by protobuf as usual, and the entries of
//     the one raw field are copied once, straight from gRPC's slices, into a pooled Buffer, each
//     64-byte aligned so a float tensor is used where it lies;
//   - writing, the message's other fields are serialised by protobuf and each raw entry becomes
//     a slice that references the caller's memory (kept alive by `owner` until gRPC lets go).
// The bytes on the wire are ordinary protobuf: any client or server reads them.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include "common/buffer.h"
#include "common/status.h"

namespace mlos::wire {

// Field numbers of the raw byte fields in grpc_service.proto.
inline constexpr int kRawInputContentsField = 7;   // ModelInferRequest.raw_input_contents
inline constexpr int kRawOutputContentsField = 6;  // ModelInferResponse.raw_output_contents

// Parses `bytes` into `message` except for the repeated bytes field `raw_field`, whose entries
// land in `raw` (64-byte aligned) and are listed, in order, in `views`. kInvalidArgument when
// the bytes are not a valid message.
Status ParseWithRawField(grpc::ByteBuffer& bytes, int raw_field,
                         google::protobuf::Message& message, Buffer& raw,
                         std::vector<std::string_view>& views);

// Serialises `message` (which must not hold entries of `raw_field` itself) followed by one
// `raw_field` entry per piece, the pieces referenced, not copied (those under 4 KiB are
// copied). `owner` keeps the pieces' memory alive until gRPC releases the last slice.
void SerializeWithRawField(const google::protobuf::Message& message, int raw_field,
                           const std::vector<std::string_view>& pieces,
                           std::shared_ptr<const void> owner, grpc::ByteBuffer* out);

}  // namespace mlos::wire
