// The KServe BYTES element encoding, as the HTTP binary tensor extension, gRPC raw contents and
// IPC frames carry string tensors: each element is a little-endian u32 length followed by its
// bytes. Shared by every front-end and the SDK. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mlos::wire {

// Appends the elements of `bytes` to *out. kInvalidArgument naming `tensor` when an element is
// cut short, or, with expected_count >= 0, when the number of elements differs from it (the
// message then spells `shape`).
Status DecodeBytesElements(std::string_view bytes, std::string_view tensor,
                           int64_t expected_count, const std::vector<int64_t>& shape,
                           std::vector<std::string>* out);
// Appends `elements` in the same encoding.
void AppendBytesElements(const std::vector<std::string>& elements, std::string& out);

}  // namespace mlos::wire
