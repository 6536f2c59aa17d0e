#include "core/io_validate.h"

#include <set>

namespace mlos::core {
namespace {

std::string Q(const std::string& s) { return "\"" + s + "\""; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

Status CheckOne(const TensorInfo& spec, const Tensor& t) {
  const std::string what = "input " + Q(t.name);
  if (t.dtype != spec.dtype && spec.dtype != DataType::kInvalid) {
    return InvalidArgument(what + ": expected " + DataTypeName(spec.dtype) + ", got " +
                           DataTypeName(t.dtype));
  }
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] < 0) {
      return InvalidArgument(what + ": negative dim " + std::to_string(d) + " (" +
                             std::to_string(t.shape[d]) + ")");
    }
  }
  // A schema shape of exactly [-1] accepts any rank (as the plugins treat it).
  const bool any_rank = spec.shape.size() == 1 && spec.shape[0] == -1;
  if (!any_rank && t.shape.size() != spec.shape.size()) {
    return InvalidArgument(what + ": expected rank " + std::to_string(spec.shape.size()) +
                           ", got " + std::to_string(t.shape.size()));
  }
  for (size_t d = 0; d < spec.shape.size() && !any_rank; ++d) {
    if (spec.shape[d] >= 0 && spec.shape[d] != t.shape[d]) {
      return InvalidArgument(what + ": dim " + std::to_string(d) + " must be " +
                             std::to_string(spec.shape[d]) + ", got " +
                             std::to_string(t.shape[d]));
    }
  }
  int64_t count = ElementCount(t.shape);
  if (count < 0) return InvalidArgument(what + ": shape " + ShapeString(t.shape) + " too large");
  if (t.dtype == DataType::kString) {
    if (t.strings.size() != static_cast<uint64_t>(count)) {
      return InvalidArgument(what + ": expected " + std::to_string(count) +
                             " strings for shape " + ShapeString(t.shape) + ", got " +
                             std::to_string(t.strings.size()));
    }
    return Status::Ok();
  }
  uint64_t elem = DataTypeSize(t.dtype);
  if (elem == 0) return InvalidArgument(what + ": invalid dtype");
  uint64_t want = static_cast<uint64_t>(count) * elem;
  if (t.byte_size() != want) {
    return InvalidArgument(what + ": expected " + std::to_string(want) + " bytes for shape " +
                           ShapeString(t.shape) + " " + DataTypeName(t.dtype) + ", got " +
                           std::to_string(t.byte_size()));
  }
  return Status::Ok();
}

}  // namespace

Status ValidateInputs(const std::vector<TensorInfo>& schema, const std::vector<Tensor>& inputs) {
  std::set<std::string> seen;
  for (const Tensor& t : inputs) {
    if (!seen.insert(t.name).second) return InvalidArgument("duplicate input " + Q(t.name));
    if (schema.empty()) continue;
    const TensorInfo* spec = nullptr;
    for (const TensorInfo& s : schema) {
      if (s.name == t.name) spec = &s;
    }
    if (!spec) return InvalidArgument("unknown input " + Q(t.name));
    MLOS_RETURN_IF_ERROR(CheckOne(*spec, t));
  }
  for (const TensorInfo& s : schema) {
    if (!seen.count(s.name)) return InvalidArgument("missing input " + Q(s.name));
  }
  return Status::Ok();
}

Status ValidateOutputNames(const std::vector<TensorInfo>& schema,
                           const std::vector<std::string>& wanted) {
  std::set<std::string> seen;
  for (const std::string& w : wanted) {
    if (!seen.insert(w).second) return InvalidArgument("duplicate output " + Q(w));
    if (schema.empty()) continue;
    bool found = false;
    for (const TensorInfo& s : schema) found = found || s.name == w;
    if (!found) return InvalidArgument("unknown output " + Q(w));
  }
  return Status::Ok();
}

}  // namespace mlos::core
