// The HTTP transport's side of a libcurl transfer: the answer (Reply) and libcurl's callbacks
// that fill it (body, headers) or feed a request body given in pieces (upload, seek).
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"

namespace mlos::client::internal {

// libcurl's receive buffer for infer answers (its default is 16 KiB: 4,096 reads for 64 MB)
// and its upload buffer for large requests (default 64 KiB; 2 MiB is libcurl's maximum).
constexpr long kReceiveBufferBytes = 1L << 20;
constexpr long kUploadBufferBytes = 2L << 20;
// Request bodies under this size are put together and sent with the head.
constexpr size_t kGatherSendBytes = 64 * 1024;

struct Reply {
  long status = 0;
  std::string body;
  // An infer answer goes here instead (sized from Content-Length, its pages reused).
  bool into_buffer = false;
  Buffer buffer;
  // The body starts buffer_offset bytes into `buffer`: chosen when its first bytes arrive so
  // that the binary part (after Inference-Header-Content-Length bytes) is 64-byte aligned.
  size_t buffer_offset = 0;
  bool started = false;
  uint64_t content_length = 0;
  std::string_view buffer_view;  // set when `buffer` has moved elsewhere (kept by outputs)
  std::string_view text() const {
    if (!into_buffer) return body;
    if (buffer_view.data()) return buffer_view;
    return buffer.view().substr(std::min(buffer_offset, buffer.size()));
  }
  std::optional<uint64_t> header_length;  // Inference-Header-Content-Length
  uint32_t retry_after_s = 0;             // Retry-After (seconds; 0 = none)
};

// A request body in pieces (an infer request's JSON, then its tensors' bytes where they are),
// read by libcurl through CURLOPT_READFUNCTION; seekable so a retried request can rewind.
struct Upload {
  const std::vector<std::string_view>* parts = nullptr;
  size_t part = 0, offset = 0;
};

// CURLOPT_WRITEFUNCTION / HEADERFUNCTION with a Reply*; READFUNCTION / SEEKFUNCTION with an
// Upload*.
size_t OnBody(char* p, size_t size, size_t n, void* user);
size_t OnHeader(char* p, size_t size, size_t n, void* user);
size_t OnUpload(char* out, size_t size, size_t n, void* user);
int OnSeek(void* user, curl_off_t to, int origin);

}  // namespace mlos::client::internal
