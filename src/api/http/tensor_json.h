// JSON <-> core::Tensor for both HTTP protocols: decoding nested or flat JSON arrays into typed
// tensor bytes, shaping a flat array by a model's IO schema, and writing tensors as flat JSON
// arrays. Pure functions; errors are kInvalidArgument naming the tensor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/common/json_writer.h"
#include "common/status.h"
#include "core/tensor.h"
#include "wire/dtype.h"
#include "wire/float16.h"

namespace mlos::http {

using api::JsonWriter;
using api::WriteShape;
using wire::ShapeToString;  // "[1, 16]" for messages

// Flattens `value` (a scalar, or arrays nested to any depth) in row-major order into t.data or
// t.strings, converting each element to t.dtype (numbers to numeric types, integral values
// only for integer types, true/false (or 0/1) for bool, strings for kString). `shape` gets the
// nesting dims ({} for a scalar); ragged nesting is an error.
Status DecodeJsonTensorData(const nlohmann::json& value, core::Tensor& t,
                            std::vector<int64_t>& shape);

// Shape of a flat array of `count` elements for an input declared with `schema_shape`
// (-1 = dynamic): no dynamic dim: count must equal the product; one dynamic dim takes
// count / product(fixed dims), which must divide; more than one dynamic dim is refused (the
// caller must send nested arrays or an explicit shape).
Result<std::vector<int64_t>> InferFlatShape(const std::vector<int64_t>& schema_shape,
                                            int64_t count, std::string_view tensor_name);

// The dtype to use for an input the schema does not describe: float32 for numbers, bool for
// booleans, string for strings (looks at the first leaf).
core::DataType GuessJsonDataType(const nlohmann::json& value);

// Writes t's elements as one flat JSON array (float16/bfloat16 as their float values).
void WriteTensorDataFlat(JsonWriter& w, const core::Tensor& t);


// IEEE half / bfloat16 conversions (round to nearest even): the wire layer's.
using wire::BFloat16ToFloat;
using wire::FloatToBFloat16;
using wire::FloatToHalf;
using wire::HalfToFloat;

}  // namespace mlos::http
