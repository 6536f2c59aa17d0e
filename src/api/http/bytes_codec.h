// The KServe BYTES element encoding shared by every front-end (HTTP binary tensor extension,
// gRPC raw contents, IPC frames): each string is a little-endian u32 length followed by its
// bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "core/tensor.h"

namespace mlos::api {

// Splits `bytes` into t.strings; kInvalidArgument naming the tensor when an element is cut short
// or the element count differs from `count` (the shape's).
Status DecodeBytesElements(core::Tensor& t, std::string_view bytes, int64_t count);
// Appends t.strings in the same encoding.
void AppendBytesElements(const core::Tensor& t, std::string& out);

}  // namespace mlos::api
