#include "axon/inspect/sidecar_io.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <system_error>

#include <yaml-cpp/yaml.h>

#include "common/fs.h"
#include "wire/dtype.h"

namespace mlos::axon {
namespace {

constexpr uint64_t kMaxSidecarBytes = 1 << 20;

std::string Quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string DtypeNames() {
  std::string out;
  for (const auto& d : wire::Dtypes()) out += (out.empty() ? "" : " ") + std::string(d.name);
  return out;
}

Status CheckDtype(std::string_view dtype) {
  if (dtype.empty())
    return InvalidArgument("the dtype is empty (expected one of " + DtypeNames() + ")");
  if (!mpf::IsKnownDtype(std::string(dtype)))
    return InvalidArgument("unknown dtype " + Quote(dtype) + " (expected one of " + DtypeNames() +
                           ")");
  return Status::Ok();
}

Result<int64_t> ParseDim(std::string_view text, size_t index) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return InvalidArgument("dimension " + std::to_string(index) + " " + Quote(text) +
                           " is not an integer");
  if (v < -1)
    return InvalidArgument("dimension " + std::to_string(index) + " is " + std::to_string(v) +
                           " (expected -1 for dynamic, or >= 0)");
  return v;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One entry of a sidecar's inputs/outputs list; `where` is "inputs[0]".
Result<mpf::TensorSpec> ReadSidecarTensor(const YAML::Node& e, const std::string& where) {
  if (!e.IsMap()) return InvalidArgument(where + ": expected a mapping {name, dtype, shape}");
  for (const auto& kv : e) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (key != "name" && key != "dtype" && key != "shape" && key != "description")
      return InvalidArgument(where + ": unknown key " + Quote(key) +
                             " (expected name, dtype, shape, description)");
  }
  mpf::TensorSpec t;
  const YAML::Node name = e["name"];
  if (!name.IsDefined() || !name.IsScalar() || name.Scalar().empty())
    return InvalidArgument(where + ".name: required (a non-empty string)");
  t.name = name.Scalar();
  const YAML::Node dtype = e["dtype"];
  if (!dtype.IsDefined() || !dtype.IsScalar())
    return InvalidArgument(where + ".dtype: required (one of " + DtypeNames() + ")");
  t.dtype = dtype.Scalar();
  if (Status st = CheckDtype(t.dtype); !st.ok()) return st.WithPrefix(where + ".dtype");
  const YAML::Node shape = e["shape"];
  if (!shape.IsDefined() || !shape.IsSequence())
    return InvalidArgument(
        where + ".shape: required, a list of integers such as [-1, 3] ([] for a scalar)");
  for (size_t i = 0; i < shape.size(); ++i) {
    const YAML::Node d = shape[i];
    if (!d.IsScalar())
      return InvalidArgument(where + ".shape[" + std::to_string(i) + "]: expected an integer");
    auto v = ParseDim(Trim(d.Scalar()), i);
    if (!v.ok()) return v.status().WithPrefix(where + ".shape");
    t.shape.push_back(*v);
  }
  const YAML::Node description = e["description"];
  if (description.IsDefined()) {
    if (!description.IsScalar()) return InvalidArgument(where + ".description: expected a string");
    t.description = description.Scalar();
  }
  return t;
}

Status ReadSidecarList(const YAML::Node& root, const char* key, std::vector<mpf::TensorSpec>* out) {
  const YAML::Node list = root[key];
  if (!list.IsDefined() || list.IsNull()) return Status::Ok();
  if (!list.IsSequence())
    return InvalidArgument(std::string(key) + ": expected a list of {name, dtype, shape}");
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    MLOS_ASSIGN_OR_RETURN(mpf::TensorSpec t, ReadSidecarTensor(list[i], where));
    if (!seen.insert(t.name).second)
      return InvalidArgument(where + ".name: " + Quote(t.name) + " is listed twice");
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

std::string Names(const std::vector<mpf::TensorSpec>& ts) {
  std::string out;
  for (const auto& t : ts) out += (out.empty() ? "" : ", ") + t.name;
  return out.empty() ? "none" : out;
}

Status ApplyList(const std::vector<mpf::TensorSpec>& given, bool complete, const std::string& model,
                 const char* flag, const char* role, std::vector<mpf::TensorSpec>* list) {
  for (const mpf::TensorSpec& t : given) {
    auto it = std::find_if(list->begin(), list->end(),
                           [&](const mpf::TensorSpec& m) { return m.name == t.name; });
    if (it != list->end()) {
      std::string description = it->description;
      *it = t;
      if (it->description.empty()) it->description = std::move(description);
      continue;
    }
    if (complete)
      return InvalidArgument(std::string(flag) + " " + Quote(t.name) + ": " + model + " has no " +
                             role + " " + Quote(t.name) + " (its " + role + "s: " + Names(*list) +
                             ")");
    list->push_back(t);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<int64_t>> ParseShapeText(std::string_view text) {
  std::string_view s = Trim(text);
  const bool open = !s.empty() && s.front() == '[';
  const bool close = !s.empty() && s.back() == ']';
  if (open != close || (open && s.size() < 2))
    return InvalidArgument("unbalanced brackets in shape " + Quote(text));
  if (open) s = Trim(s.substr(1, s.size() - 2));
  std::vector<int64_t> shape;
  if (s.empty() || Lower(std::string(s)) == "scalar") return shape;
  size_t index = 0;
  for (size_t start = 0;; ++index) {
    const size_t comma = s.find(',', start);
    const std::string_view part = Trim(
        s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    MLOS_ASSIGN_OR_RETURN(int64_t v, ParseDim(part, index));
    shape.push_back(v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return shape;
}

Result<mpf::TensorSpec> ParseTensorFlag(std::string_view flag, std::string_view value) {
  const std::string head = std::string(flag) + " " + Quote(value);
  const size_t shape_colon = value.rfind(':');
  const size_t dtype_colon = shape_colon == std::string_view::npos || shape_colon == 0
                                 ? std::string_view::npos
                                 : value.rfind(':', shape_colon - 1);
  if (dtype_colon == std::string_view::npos)
    return InvalidArgument(head + ": expected name:dtype:shape, e.g. x:float32:-1,3,224,224");
  mpf::TensorSpec t;
  t.name = std::string(Trim(value.substr(0, dtype_colon)));
  if (t.name.empty()) return InvalidArgument(head + ": the tensor name is empty");
  t.dtype = std::string(Trim(value.substr(dtype_colon + 1, shape_colon - dtype_colon - 1)));
  if (Status st = CheckDtype(t.dtype); !st.ok()) return st.WithPrefix(head);
  auto shape = ParseShapeText(value.substr(shape_colon + 1));
  if (!shape.ok()) return shape.status().WithPrefix(head + ": shape");
  t.shape = std::move(shape).value();
  return t;
}

Result<std::vector<mpf::TensorSpec>> ParseTensorFlags(std::string_view flag,
                                                      const std::vector<std::string>& values) {
  std::vector<mpf::TensorSpec> out;
  std::set<std::string> seen;
  for (const std::string& v : values) {
    MLOS_ASSIGN_OR_RETURN(mpf::TensorSpec t, ParseTensorFlag(flag, v));
    if (!seen.insert(t.name).second)
      return InvalidArgument(std::string(flag) + " " + Quote(v) + ": tensor " + Quote(t.name) +
                             " is given twice");
    out.push_back(std::move(t));
  }
  return out;
}

Result<IoOverride> ParseIoSidecar(const std::string& yaml, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    return InvalidArgument(file + ": not valid YAML: " + what);
  }
  if (!root.IsMap())
    return InvalidArgument(file + ": expected a mapping with inputs: and outputs: lists");
  for (const auto& kv : root) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (key != "inputs" && key != "outputs")
      return InvalidArgument(file + ": unknown key " + Quote(key) +
                             " (expected inputs and outputs)");
  }
  IoOverride io;
  if (Status st = ReadSidecarList(root, "inputs", &io.inputs); !st.ok()) return st.WithPrefix(file);
  if (Status st = ReadSidecarList(root, "outputs", &io.outputs); !st.ok())
    return st.WithPrefix(file);
  if (io.inputs.empty() && io.outputs.empty())
    return InvalidArgument(file + ": lists no inputs and no outputs");
  return io;
}

Result<IoOverride> LoadIoSidecar(const std::filesystem::path& path, const std::string& display) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound(display + ": " + ec.message());
  if (size > kMaxSidecarBytes)
    return InvalidArgument(display + ": " + std::to_string(size) +
                           " bytes is too large for an IO sidecar");
  auto text = ReadFile(path);
  if (!text.ok()) return text.status().WithPrefix(display);
  return ParseIoSidecar(*text, display);
}

std::vector<std::string> IoSidecarPaths(const std::string& model_path) {
  const size_t slash = model_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : model_path.substr(0, slash + 1);
  std::string stem = slash == std::string::npos ? model_path : model_path.substr(slash + 1);
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  return {dir + stem + ".io.yaml", dir + "io.yaml"};
}

bool IsIoSidecarName(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = Lower(slash == std::string::npos ? path : path.substr(slash + 1));
  return base == "io.yaml" || (base.size() > 8 && base.ends_with(".io.yaml"));
}

Status ApplyIoOverride(const IoOverride& given, bool model_io_is_complete, const std::string& model,
                       mpf::Io* io) {
  MLOS_RETURN_IF_ERROR(
      ApplyList(given.inputs, model_io_is_complete, model, "--input", "input", &io->inputs));
  return ApplyList(given.outputs, model_io_is_complete, model, "--output", "output", &io->outputs);
}

}  // namespace mlos::axon
