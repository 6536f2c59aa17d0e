#include "workload.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

namespace mlos::bench {
namespace {

// One input as the model declares it.
struct ModelInput {
  std::string name;
  const Dtype* dtype = nullptr;
  std::vector<int64_t> dims;        // -1: dynamic
  std::vector<std::string> labels;  // the dynamic dims' symbolic names ("" when unnamed)
  std::string Text() const { return "'" + name + "' " + ShapeText(dims, labels); }
};

[[noreturn]] void Throw(const std::string& msg) { throw std::runtime_error(msg); }

std::string NameList(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

// "" when `shape` fits `m` (same rank, the model's fixed dims), else why not.
std::string ShapeMismatch(const ModelInput& m, const std::vector<int64_t>& shape) {
  const std::string given = "shape " + ShapeText(shape);
  if (shape.size() != m.dims.size()) {
    return given + " has rank " + std::to_string(shape.size()) + ", the model's input " +
           m.Text() + " has rank " + std::to_string(m.dims.size());
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    if (m.dims[d] >= 0 && shape[d] != m.dims[d]) {
      return given + ": dim " + std::to_string(d) + " is " + std::to_string(shape[d]) +
             ", the model's input " + m.Text() + " fixes it to " + std::to_string(m.dims[d]);
    }
  }
  constexpr int64_t kMaxElements = int64_t{1} << 40;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d > 0 && n > kMaxElements / d) return given + " is too large";
    n *= d;
  }
  return "";
}

ModelInput ReadInput(Ort::Session& session, size_t i) {
  Ort::AllocatorWithDefaultOptions alloc;
  ModelInput m;
  m.name = session.GetInputNameAllocated(i, alloc).get();
  Ort::TypeInfo type = session.GetInputTypeInfo(i);
  if (type.GetONNXType() != ONNX_TYPE_TENSOR) Throw("input '" + m.name + "' is not a tensor");
  auto info = type.GetTensorTypeAndShapeInfo();
  m.dtype = DtypeOf(info.GetElementType());
  if (!m.dtype) {
    Throw("input '" + m.name + "': element type " +
          std::to_string(static_cast<int>(info.GetElementType())) +
          " is not supported by mlos-bench");
  }
  m.dims = info.GetShape();
  std::vector<const char*> symbols(m.dims.size(), nullptr);
  if (!symbols.empty()) info.GetSymbolicDimensions(symbols.data(), symbols.size());
  for (const char* s : symbols) m.labels.push_back(s ? s : "");
  return m;
}

// Random values for `t` (its shape set): see MakeWorkload.
void Generate(InputTensor& t, const Dtype& ti, int64_t int_max, std::mt19937_64& rng) {
  size_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  t.bytes.resize(n * ti.size);
  std::uniform_real_distribution<float> f32(-1.0f, 1.0f);
  std::uniform_real_distribution<double> f64(-1.0, 1.0);
  // Integers in [0, int_max), capped to what the type holds.
  const int bits = static_cast<int>(ti.size) * 8;
  const bool is_signed = ti.kserve[0] == 'I';
  const uint64_t cap = bits >= 64 ? UINT64_MAX : (uint64_t{1} << (bits - (is_signed ? 1 : 0)));
  const uint64_t hi =
      std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(int_max, 1)), cap);
  std::uniform_int_distribution<uint64_t> ints(0, hi - 1);
  for (size_t k = 0; k < n; ++k) {
    uint8_t* p = t.bytes.data() + k * ti.size;
    switch (ti.onnx) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: {
        const float v = f32(rng);
        std::memcpy(p, &v, 4);
        break;
      }
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: {
        const double v = f64(rng);
        std::memcpy(p, &v, 8);
        break;
      }
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: {
        // Values the type holds exactly (k / 1024, k / 128 in [-1, 1)), so the JSON text and the
        // binary bytes carry the same numbers.
        const bool half = ti.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
        const int scale = half ? 1024 : 128;
        const int q = static_cast<int>(rng() % (2 * scale)) - scale;
        const float v = static_cast<float>(q) / static_cast<float>(scale);
        const uint16_t b = half ? FloatToHalf(v) : FloatToBFloat16(v);
        std::memcpy(p, &b, 2);
        break;
      }
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
        *p = (rng() & 1) ? 1 : 0;
        break;
      default: {
        const uint64_t v = ints(rng);
        std::memcpy(p, &v, ti.size);  // little endian
        break;
      }
    }
  }
}

// An example --shape for `m`: its fixed dims, --batch first, 1 for the other dynamic dims.
std::string ShapeHint(const ModelInput& m, int64_t batch) {
  std::string s = "--shape " + m.name + "=";
  for (size_t d = 0; d < m.dims.size(); ++d) {
    s += (d ? "," : "") + std::to_string(m.dims[d] >= 0 ? m.dims[d] : d == 0 ? batch : 1);
  }
  return s;
}

}  // namespace

Workload MakeWorkload(Ort::Session& session, const WorkloadOptions& o) {
  Workload w;
  Ort::AllocatorWithDefaultOptions alloc;
  std::vector<std::string> model_outputs;
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    model_outputs.push_back(session.GetOutputNameAllocated(i, alloc).get());
  }
  std::vector<ModelInput> model;
  std::vector<std::string> names;
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    model.push_back(ReadInput(session, i));
    names.push_back(model.back().name);
  }
  auto find_input = [&](const std::string& n) -> const ModelInput* {
    for (const ModelInput& m : model) {
      if (m.name == n) return &m;
    }
    return nullptr;
  };
  auto given = [&](const std::string& n) -> const GivenTensor* {
    if (o.data) {
      for (const GivenTensor& g : o.data->inputs) {
        if (g.name == n) return &g;
      }
    }
    return nullptr;
  };

  // What the user gave, checked against the model first: names, datatypes, shapes.
  if (o.data) {
    for (const GivenTensor& g : o.data->inputs) {
      const ModelInput* m = find_input(g.name);
      if (!m) {
        Throw(g.where + ": the model has no input '" + g.name + "' (its inputs: " +
              NameList(names) + ")");
      }
      if (g.dtype != m->dtype) {
        Throw(g.where + ": datatype " + g.dtype->kserve + " does not match the model's " +
              m->dtype->kserve + " for input " + m->Text());
      }
      if (std::string err = ShapeMismatch(*m, g.shape); !err.empty()) Throw(g.where + ": " + err);
    }
  }
  for (size_t i = 0; i < o.shapes.size(); ++i) {
    const ShapeFlag& s = o.shapes[i];
    const ModelInput* m = find_input(s.name);
    if (!m) {
      Throw("--shape " + s.name + ": the model has no input '" + s.name + "' (its inputs: " +
            NameList(names) + ")");
    }
    for (size_t j = 0; j < i; ++j) {
      if (o.shapes[j].name == s.name) Throw("--shape " + s.name + " is given twice");
    }
    if (given(s.name)) {
      Throw("--shape " + s.name + ": input '" + s.name + "' is given by --input-data " +
            o.data->path + " (its shape is there)");
    }
    if (std::string err = ShapeMismatch(*m, s.shape); !err.empty()) {
      Throw("--shape " + s.name + ": " + err);
    }
  }
  w.outputs = model_outputs;
  if (o.data && !o.data->outputs.empty()) {
    for (const std::string& n : o.data->outputs) {
      if (std::find(model_outputs.begin(), model_outputs.end(), n) == model_outputs.end()) {
        Throw("--input-data " + o.data->path + ": outputs: the model has no output '" + n +
              "' (its outputs: " + NameList(model_outputs) + ")");
      }
    }
    w.outputs = o.data->outputs;
    w.outputs_named = true;
  }

  std::mt19937_64 rng(12345);
  for (const ModelInput& m : model) {
    InputTensor t;
    t.name = m.name;
    t.onnx_type = m.dtype->onnx;
    t.dtype = m.dtype->sdk;
    t.kserve = m.dtype->kserve;
    if (const GivenTensor* g = given(m.name)) {  // checked above
      t.shape = g->shape;
      t.strings = g->strings;
      t.bytes = IsBytes(*m.dtype) ? EncodeBytesElements(g->strings) : g->bytes;
    } else {
      auto flag = std::find_if(o.shapes.begin(), o.shapes.end(),
                               [&](const ShapeFlag& s) { return s.name == m.name; });
      if (IsBytes(*m.dtype)) {
        Throw("input " + m.Text() + " is a BYTES (string) tensor: mlos-bench does not make up "
              "strings; give its values with --input-data FILE");
      }
      if (flag != o.shapes.end()) {  // checked above
        t.shape = flag->shape;
      } else {
        t.shape = m.dims;
        for (size_t d = 0; d < t.shape.size(); ++d) {
          if (t.shape[d] >= 0) continue;
          if (d > 0) {
            const std::string label = m.labels[d].empty() ? "" : " ('" + m.labels[d] + "')";
            Throw("input " + m.Text() + ": dim " + std::to_string(d) + label +
                  " is dynamic and --batch sets only the first; give the shape with " +
                  ShapeHint(m, o.batch) + " or the values with --input-data FILE");
          }
          t.shape[d] = o.batch;
        }
      }
      Generate(t, *m.dtype, o.int_max, rng);
    }
    if (o.with_json) t.json = ValuesJson(*m.dtype, t.bytes, t.strings);
    w.inputs.push_back(std::move(t));
  }
  return w;
}

}  // namespace mlos::bench
