#include "wire/bytes_codec.h"

#include <cstring>

#include "wire/dtype.h"

namespace mlos::wire {

Status DecodeBytesElements(std::string_view bytes, std::string_view tensor,
                           int64_t expected_count, const std::vector<int64_t>& shape,
                           std::vector<std::string>* out) {
  const size_t first = out->size();
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 4) {
      return InvalidArgument("tensor '" + std::string(tensor) +
                             "': truncated BYTES element length");
    }
    uint32_t len;
    std::memcpy(&len, bytes.data() + pos, 4);  // little-endian host
    pos += 4;
    if (bytes.size() - pos < len) {
      return InvalidArgument("tensor '" + std::string(tensor) +
                             "': BYTES element longer than its data");
    }
    out->emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  const auto got = static_cast<int64_t>(out->size() - first);
  if (expected_count >= 0 && got != expected_count) {
    return InvalidArgument("tensor '" + std::string(tensor) + "': data holds " +
                           std::to_string(got) + " BYTES elements, shape " +
                           ShapeToString(shape) + " needs " + std::to_string(expected_count));
  }
  return Status::Ok();
}

void AppendBytesElements(const std::vector<std::string>& elements, std::string& out) {
  for (const std::string& s : elements) {
    const uint32_t len = static_cast<uint32_t>(s.size());
    char b[4];
    std::memcpy(b, &len, 4);
    out.append(b, 4);
    out.append(s);
  }
}

}  // namespace mlos::wire
