// Bearer tokens: generation, hashing, comparison, redaction and small parsers (see token.h).
#include "security/token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>

namespace mlos::security {
namespace {

constexpr size_t kTokenRandomBytes = 32;
constexpr size_t kMinRedactedRun = 20;  // base64url characters after "mlos_" that look like a token
constexpr size_t kMaxTokenNameLength = 64;
constexpr size_t kMaxEchoedInput = 40;  // characters of bad input quoted in an error message
constexpr std::string_view kRedacted = "[redacted]";

bool IsBase64UrlChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool IsTokenNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '@' || c == ':';
}

// Where a bearer credential ends.
bool EndsCredential(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '"' ||
         c == '\'';
}

// True when `text` at `pos` starts with "bearer " in any letter case.
bool StartsBearer(std::string_view text, size_t pos) {
  static constexpr std::string_view kBearer = "bearer ";
  if (text.size() - pos < kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i) {
    char c = text[pos + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearer[i]) return false;
  }
  return true;
}

// `text` quoted for an error message: shortened, and only when printable.
std::string Quote(std::string_view text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxEchoedInput; ++i) {
    const char c = text[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMaxEchoedInput) out += "...";
  out += "'";
  return out;
}

// Seconds in a duration unit; 0 when `c` is not one.
int64_t UnitSeconds(char c) {
  switch (c) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    case 'w':
      return 7 * 86400;
    default:
      return 0;
  }
}

std::string Base64UrlNoPad(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

}  // namespace

std::string GenerateToken() {
  std::array<unsigned char, kTokenRandomBytes> bytes{};
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("getrandom failed: {}; cannot generate a token", std::strerror(errno));
      std::abort();
    }
    filled += static_cast<size_t>(n);
  }
  std::string token(kTokenPrefix);
  token += Base64UrlNoPad(bytes.data(), bytes.size());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return token;
}

// Runs once per authenticated request. OpenSSL 3's one-shot SHA256()/EVP_Digest fetch the
// algorithm and allocate a context on every call (2-3 mallocs, ~350 ns here); the SHA256_CTX
// API works on the stack and takes ~60 ns. It is deprecated in OpenSSL 3 but still built.
std::string HashToken(std::string_view token) {
  unsigned char md[SHA256_DIGEST_LENGTH];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, token.data(), token.size());
  SHA256_Final(md, &ctx);
#pragma GCC diagnostic pop
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA256_DIGEST_LENGTH, '\0');
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RedactSecrets(std::string_view text) {
  // Most lines hold neither marker: one substring search each, then a plain copy.
  if (text.find(kTokenPrefix) == std::string_view::npos &&
      text.find("earer ") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if ((text[i] == 'b' || text[i] == 'B') && StartsBearer(text, i)) {
      const size_t start = i + 7;  // after "bearer "
      size_t end = start;
      while (end < text.size() && !EndsCredential(text[end])) ++end;
      out.append(text.substr(i, start - i));
      if (end > start) out.append(kRedacted);
      i = end;
      continue;
    }
    if (text[i] == 'm' && text.substr(i, kTokenPrefix.size()) == kTokenPrefix) {
      const size_t start = i + kTokenPrefix.size();
      size_t end = start;
      while (end < text.size() && IsBase64UrlChar(text[end])) ++end;
      if (end - start >= kMinRedactedRun) {
        out.append(kRedacted);
        i = end;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

Result<int64_t> ParseDuration(std::string_view text) {
  static constexpr const char* kHint =
      ": expected a positive whole number with an optional unit s, m, h, d or w (90s, 12h, 30d)";
  if (text.empty()) return InvalidArgument(std::string("duration is empty") + kHint);
  std::string_view digits = text;
  int64_t unit = UnitSeconds(text.back());
  if (unit != 0) {
    digits.remove_suffix(1);
  } else {
    unit = 1;
  }
  if (digits.empty()) return InvalidArgument("invalid duration " + Quote(text) + kHint);
  // Seconds that still fit in int64 once turned into milliseconds.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000;
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return InvalidArgument("invalid duration " + Quote(text) + kHint);
    const int64_t d = c - '0';
    if (value > (kMaxSeconds - d) / 10) {
      return InvalidArgument("duration " + Quote(text) + " is too long");
    }
    value = value * 10 + d;
  }
  if (value == 0) return InvalidArgument("duration " + Quote(text) + " must be greater than zero");
  if (value > kMaxSeconds / unit) {
    return InvalidArgument("duration " + Quote(text) + " is too long");
  }
  return value * unit;
}

Status ValidateTokenName(std::string_view name) {
  if (name.empty()) return InvalidArgument("token name is empty");
  if (name.size() > kMaxTokenNameLength ||
      !std::all_of(name.begin(), name.end(), IsTokenNameChar)) {
    return InvalidArgument("token name " + Quote(name) + " is invalid: use 1 to " +
                           std::to_string(kMaxTokenNameLength) +
                           " letters, digits and . _ - @ :");
  }
  return Status::Ok();
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatUnixMs(int64_t ms) {
  if (ms <= 0) return "";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return "";
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace mlos::security
