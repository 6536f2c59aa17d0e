#include "core/tensor.h"

#include "wire/dtype.h"

namespace mlos::core {

const char* DataTypeName(DataType t) {
  const wire::DtypeInfo* d = wire::DtypeById(static_cast<int>(t));
  return d ? d->name : "invalid";
}

std::optional<DataType> DataTypeFromName(std::string_view name) {
  const wire::DtypeInfo* d = wire::DtypeByName(name);
  if (!d) return std::nullopt;
  return static_cast<DataType>(d->id);
}

const char* DataTypeKServeName(DataType t) {
  const wire::DtypeInfo* d = wire::DtypeById(static_cast<int>(t));
  return d ? d->kserve : "INVALID";
}

std::optional<DataType> DataTypeFromKServeName(std::string_view name) {
  const wire::DtypeInfo* d = wire::DtypeByKServeName(name);
  if (!d) return std::nullopt;
  return static_cast<DataType>(d->id);
}

int64_t ElementCount(const std::vector<int64_t>& shape) { return wire::ElementCount(shape); }

}  // namespace mlos::core
