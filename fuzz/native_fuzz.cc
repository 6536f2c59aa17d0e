// http::ParseNamedInputs (the original MLOS API's POST /models/{id}/inference body) over an
// arbitrary JSON body, against one of a few model IO schemas picked by the first byte.
#include "api/http/native_codec.h"
#include "fuzz/fuzz_util.h"

namespace {

using mlos::core::DataType;
using mlos::core::TensorInfo;

const std::vector<std::vector<TensorInfo>>& Schemas() {
  static const std::vector<std::vector<TensorInfo>> schemas = {
      {},
      {{"x", DataType::kFloat32, {-1, 3}}},
      {{"x", DataType::kInt64, {2, 2}}, {"y", DataType::kString, {-1}}},
      {{"inputs", DataType::kFloat16, {4}}, {"b", DataType::kBool, {}}},
      {{"u", DataType::kUInt8, {-1, -1}}, {"h", DataType::kBFloat16, {1, -1, 2}}},
      {{"d", DataType::kFloat64, {-1}}, {"i8", DataType::kInt8, {3}},
       {"u64", DataType::kUInt64, {-1}}, {"parameters", DataType::kInt32, {1}}},
  };
  return schemas;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& schema = Schemas()[data[0] % Schemas().size()];
  mlos::api::RequestOptions options;
  (void)mlos::http::ParseNamedInputs(mlos::fuzz::View(data + 1, size - 1), schema,
                                     data[0] & 0x80 ? &options : nullptr);
  return 0;
}
