#include "api/http/bytes_codec.h"

#include <cstring>

#include "api/http/tensor_json.h"

namespace mlos::api {

Status DecodeBytesElements(core::Tensor& t, std::string_view bytes, int64_t count) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 4) {
      return InvalidArgument("tensor '" + t.name + "': truncated BYTES element length");
    }
    uint32_t len;
    std::memcpy(&len, bytes.data() + pos, 4);  // little-endian host
    pos += 4;
    if (bytes.size() - pos < len) {
      return InvalidArgument("tensor '" + t.name + "': BYTES element longer than its data");
    }
    t.strings.emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  if (static_cast<int64_t>(t.strings.size()) != count) {
    return InvalidArgument("tensor '" + t.name + "': data holds " +
                           std::to_string(t.strings.size()) + " BYTES elements, shape " +
                           http::ShapeToString(t.shape) + " needs " + std::to_string(count));
  }
  return Status::Ok();
}

void AppendBytesElements(const core::Tensor& t, std::string& out) {
  for (const std::string& s : t.strings) {
    const uint32_t len = static_cast<uint32_t>(s.size());
    char b[4];
    std::memcpy(b, &len, 4);
    out.append(b, 4);
    out.append(s);
  }
}

}  // namespace mlos::api
