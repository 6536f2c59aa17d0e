// NumPy .npy codec.
#include <cstring>

#include "client/tensor_file.h"

namespace mlos::client {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

struct Descr {
  const char* dtype;
  const char* descr;
};
constexpr Descr kDescrs[] = {
    {"float16", "<f2"}, {"float32", "<f4"}, {"float64", "<f8"}, {"int8", "|i1"},
    {"int16", "<i2"},   {"int32", "<i4"},   {"int64", "<i8"},   {"uint8", "|u1"},
    {"uint16", "<u2"},  {"uint32", "<u4"},  {"uint64", "<u8"},  {"bool", "|b1"},
};

Status Bad(const std::string& what) { return InvalidArgument("malformed .npy: " + what); }

void SkipSpace(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
}

// Parses the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
Status ParseHeader(std::string_view h, std::string& descr, bool& fortran,
                   std::vector<int64_t>& shape) {
  size_t i = 0;
  SkipSpace(h, i);
  if (i >= h.size() || h[i] != '{') return Bad("header is not a dict");
  ++i;
  bool have_descr = false, have_fortran = false, have_shape = false;
  for (;;) {
    SkipSpace(h, i);
    if (i >= h.size()) return Bad("unterminated header dict");
    if (h[i] == '}') break;
    if (h[i] != '\'' && h[i] != '"') return Bad("header key is not a string");
    const char q = h[i++];
    const size_t end = h.find(q, i);
    if (end == std::string_view::npos) return Bad("unterminated header key");
    const std::string key(h.substr(i, end - i));
    i = end + 1;
    SkipSpace(h, i);
    if (i >= h.size() || h[i] != ':') return Bad("missing ':' after '" + key + "'");
    ++i;
    SkipSpace(h, i);
    if (key == "descr") {
      if (i >= h.size() || (h[i] != '\'' && h[i] != '"')) return Bad("descr is not a string");
      const char dq = h[i++];
      const size_t e = h.find(dq, i);
      if (e == std::string_view::npos) return Bad("unterminated descr");
      descr = std::string(h.substr(i, e - i));
      i = e + 1;
      have_descr = true;
    } else if (key == "fortran_order") {
      if (h.substr(i, 4) == "True") {
        fortran = true;
        i += 4;
      } else if (h.substr(i, 5) == "False") {
        fortran = false;
        i += 5;
      } else {
        return Bad("fortran_order is not True or False");
      }
      have_fortran = true;
    } else if (key == "shape") {
      if (i >= h.size() || h[i] != '(') return Bad("shape is not a tuple");
      ++i;
      shape.clear();
      for (;;) {
        SkipSpace(h, i);
        if (i >= h.size()) return Bad("unterminated shape");
        if (h[i] == ')') {
          ++i;
          break;
        }
        if (h[i] < '0' || h[i] > '9') return Bad("shape dims must be non-negative integers");
        int64_t v = 0;
        while (i < h.size() && h[i] >= '0' && h[i] <= '9') {
          if (v > (int64_t{1} << 48)) return Bad("shape dim too large");
          v = v * 10 + (h[i++] - '0');
        }
        shape.push_back(v);
        SkipSpace(h, i);
        if (i < h.size() && h[i] == ',') ++i;
        else if (i < h.size() && h[i] == ')') continue;
        else return Bad("bad shape tuple");
      }
      have_shape = true;
    } else {
      return Bad("unknown header key '" + key + "'");
    }
    SkipSpace(h, i);
    if (i < h.size() && h[i] == ',') {
      ++i;
      continue;
    }
    SkipSpace(h, i);
    if (i < h.size() && h[i] == '}') break;
    return Bad("expected ',' or '}' in header");
  }
  if (!have_descr || !have_fortran || !have_shape) {
    return Bad("header needs descr, fortran_order and shape");
  }
  return Status::Ok();
}

std::string DtypeForDescr(const std::string& d) {
  if (d.size() < 2) return "";
  std::string norm = d;
  // One-byte types may come with any byte-order mark; '=' means native (little endian here).
  if (norm[0] == '=') norm[0] = '<';
  for (const Descr& e : kDescrs) {
    std::string want = e.descr;
    if (norm == want) return e.dtype;
    if (want[0] == '|' && norm.size() == want.size() && (norm[0] == '<' || norm[0] == '|') &&
        norm.substr(1) == want.substr(1)) {
      return e.dtype;
    }
  }
  return "";
}

}  // namespace

std::string NpyDescr(std::string_view dtype) {
  for (const Descr& e : kDescrs) {
    if (dtype == e.dtype) return e.descr;
  }
  return "";
}

Result<Tensor> DecodeNpy(std::string_view bytes, std::string name) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view(kMagic, 6)) {
    return Bad("missing \\x93NUMPY magic");
  }
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, pos = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Bad("truncated v2 header");
    header_len = 0;
    for (int k = 3; k >= 0; --k) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + k]);
    pos = 12;
  } else {
    return Bad("unsupported format version " + std::to_string(major));
  }
  if (bytes.size() - pos < header_len) return Bad("header longer than the file");
  const std::string_view header = bytes.substr(pos, header_len);
  std::string descr;
  bool fortran = false;
  Tensor t;
  t.name = std::move(name);
  MLOS_RETURN_IF_ERROR(ParseHeader(header, descr, fortran, t.shape));
  if (fortran) return InvalidArgument("unsupported .npy: Fortran-order arrays (save in C order)");
  if (!descr.empty() && descr[0] == '>') {
    return InvalidArgument("unsupported .npy: big-endian dtype '" + descr + "'");
  }
  t.dtype = DtypeForDescr(descr);
  if (t.dtype.empty()) return InvalidArgument("unsupported .npy dtype '" + descr + "'");
  const int64_t n = ElementCount(t.shape);
  if (n < 0) return Bad("shape too large");
  const uint64_t want = static_cast<uint64_t>(n) * DtypeSize(t.dtype);
  const std::string_view data = bytes.substr(pos + header_len);
  if (data.size() != want) {
    return Bad("data holds " + std::to_string(data.size()) + " bytes, shape needs " +
               std::to_string(want));
  }
  const auto* raw = reinterpret_cast<const uint8_t*>(data.data());
  t.data.assign(raw, raw + data.size());  // one memmove
  if (t.dtype == "bool") {
    for (uint8_t& b : t.data) b = b ? 1 : 0;
  }
  return t;
}

Result<std::string> EncodeNpy(const Tensor& t) {
  const std::string descr = NpyDescr(t.dtype);
  if (descr.empty()) {
    return InvalidArgument("tensor '" + t.name + "': dtype '" + t.dtype +
                           "' cannot be written as .npy");
  }
  const int64_t n = ElementCount(t.shape);
  if (n < 0 || static_cast<uint64_t>(n) * DtypeSize(t.dtype) != t.data.size()) {
    return InvalidArgument("tensor '" + t.name + "': data size does not match its shape");
  }
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    dict += std::to_string(t.shape[i]);
    if (t.shape.size() == 1 || i + 1 < t.shape.size()) dict += ",";
    if (i + 1 < t.shape.size()) dict += " ";
  }
  dict += "), }";
  size_t prefix = 10;
  uint8_t major = 1;
  size_t total = prefix + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  if (padded - prefix > 65535) {
    major = 2;
    prefix = 12;
    total = prefix + dict.size() + 1;
    padded = (total + 63) / 64 * 64;
  }
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::string out(kMagic, 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  const uint32_t hl = static_cast<uint32_t>(dict.size());
  out.push_back(static_cast<char>(hl & 0xff));
  out.push_back(static_cast<char>((hl >> 8) & 0xff));
  if (major == 2) {
    out.push_back(static_cast<char>((hl >> 16) & 0xff));
    out.push_back(static_cast<char>((hl >> 24) & 0xff));
  }
  out += dict;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  return out;
}

}  // namespace mlos::client
