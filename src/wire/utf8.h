// UTF-8 checking for generated text: a model can produce bytes that are not UTF-8 (byte
// tokens that never complete a character). Protocols whose text must be UTF-8 (protobuf
// `string` fields, JSON, IPC's GENERATE_CHUNK) carry it through ValidUtf8, which replaces each
// byte that does not start a well-formed character with U+FFFD; the server (gRPC, IPC) and the
// SDK (HTTP event streams) apply the same rule, so the same generation gives the same text on
// every transport. Header-only, pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mlos::wire {

// The length of the well-formed UTF-8 character at the start of `s` (1..4), or 0.
inline size_t Utf8CharLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  }
  return n;
}

inline bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8CharLength(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// `s` with every byte that does not start a well-formed character replaced by U+FFFD.
inline std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8CharLength(s.substr(i));
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace mlos::wire
