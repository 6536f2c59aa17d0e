#include "client/http_io.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace mlos::client::internal {
namespace {

// The value of header `line` when its name is `name` (lowercase, with the colon), else nullopt.
std::optional<std::string_view> HeaderValue(std::string_view line, std::string_view name) {
  if (line.size() <= name.size()) return std::nullopt;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return std::nullopt;
  }
  return line.substr(name.size());
}

std::optional<uint64_t> ParseNumber(std::string_view v) {
  try {
    return std::stoull(std::string(v));
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

size_t OnBody(char* p, size_t size, size_t n, void* user) {
  auto* reply = static_cast<Reply*>(user);
  if (reply->into_buffer) {
    if (!reply->started) {
      // Every header is in: place the body so its binary part starts 64-byte aligned.
      reply->started = true;
      const uint64_t json = reply->header_length.value_or(0);
      reply->buffer_offset = (64 - json % 64) % 64;
      reply->buffer.Clear();
      if (reply->content_length && reply->content_length <= (uint64_t{4} << 30)) {
        reply->buffer.Reserve(reply->buffer_offset + reply->content_length);
      }
      reply->buffer.Resize(reply->buffer_offset);
    }
    reply->buffer.Append(p, size * n);
  } else {
    reply->body.append(p, size * n);
  }
  return size * n;
}



size_t OnUpload(char* out, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t room = size * n, written = 0;
  while (room && u->part < u->parts->size()) {
    std::string_view p = (*u->parts)[u->part];
    const size_t take = std::min(room, p.size() - u->offset);
    std::memcpy(out + written, p.data() + u->offset, take);
    written += take;
    room -= take;
    u->offset += take;
    if (u->offset == p.size()) {
      ++u->part;
      u->offset = 0;
    }
  }
  return written;
}

int OnSeek(void* user, curl_off_t to, int origin) {
  auto* u = static_cast<Upload*>(user);
  if (origin != SEEK_SET || to < 0) return CURL_SEEKFUNC_CANTSEEK;
  u->part = 0;
  u->offset = 0;
  auto left = static_cast<size_t>(to);
  while (u->part < u->parts->size() && left >= (*u->parts)[u->part].size()) {
    left -= (*u->parts)[u->part].size();
    ++u->part;
  }
  if (left && u->part == u->parts->size()) return CURL_SEEKFUNC_FAIL;
  u->offset = left;
  return CURL_SEEKFUNC_OK;
}

size_t OnHeader(char* p, size_t size, size_t n, void* user) {
  const std::string_view line(p, size * n);
  auto* reply = static_cast<Reply*>(user);
  if (reply->into_buffer) {
    if (auto v = HeaderValue(line, "content-length:")) {
      // Room for the whole body at once (a 64 MB answer is not grown by doubling; OnBody
      // reserves it). A lying length costs address space only: the memory is not touched
      // until bytes arrive.
      if (auto len = ParseNumber(*v)) reply->content_length = *len;
    }
  }
  if (auto v = HeaderValue(line, "inference-header-content-length:")) {
    if (auto len = ParseNumber(*v)) reply->header_length = *len;
  } else if (auto ra = HeaderValue(line, "retry-after:")) {
    // Seconds only (mlosd never sends an HTTP date); capped to what the field holds.
    if (auto secs = ParseNumber(*ra)) {
      reply->retry_after_s = static_cast<uint32_t>(std::min<uint64_t>(*secs, UINT32_MAX));
    }
  }
  return size * n;
}

}  // namespace mlos::client::internal
