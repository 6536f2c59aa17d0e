// Tensor files for the mlos CLI and SDK users: NumPy .npy (format 1.0/2.0/3.0 read, 1.0 or 2.0
// written; little-endian <f2 <f4 <f8 <i1..<i8 <u1..<u8 |b1, C order) and JSON (nested arrays,
// or {"shape": [...], "data": [...flat or nested...], "dtype": "float32"}).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "mlos/client.h"

namespace mlos::client {

// The .npy descr for a dtype ("float32" -> "<f4"); "" when .npy cannot hold it (string,
// bfloat16).
std::string NpyDescr(std::string_view dtype);

// Parses a whole .npy file. kInvalidArgument naming the problem for a bad magic, version,
// header, a big-endian or Fortran-order array, an unsupported dtype, or a data size that does
// not match the shape.
Result<Tensor> DecodeNpy(std::string_view bytes, std::string name = "");
// Encodes a tensor as .npy (v1.0, or v2.0 when the header needs it).
Result<std::string> EncodeNpy(const Tensor& t);

// Parses a JSON tensor. `dtype_hint` (from the model's metadata) wins over guessing; a "dtype"
// field in the document wins over both. Guessing: all integers -> int64, any float -> float32,
// booleans -> bool, strings -> string.
Result<Tensor> DecodeJsonTensor(std::string_view text, std::string name,
                                std::string_view dtype_hint = "");

// Reads `path` by extension (.npy or .json). kNotFound when it cannot be opened.
Result<Tensor> ReadTensorFile(const std::filesystem::path& path, std::string name,
                              std::string_view dtype_hint = "");
// Writes `t` as .npy at `path` (atomic: temp file + rename).
Status WriteNpyFile(const std::filesystem::path& path, const Tensor& t);

}  // namespace mlos::client
