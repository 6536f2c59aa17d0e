#include "axon/inspect/onnx_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <optional>
#include <set>
#include <system_error>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <onnx/onnx_pb.h>

namespace mlos::axon {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

// Field numbers from onnx.proto.
constexpr int kModelGraph = 7;
constexpr int kGraphInitializer = 5;
constexpr int kGraphSparseInitializer = 15;
constexpr int kSparseValues = 1;
constexpr int kSparseIndices = 2;
constexpr int kTensorDims = 1;
constexpr int kTensorDataType = 2;
constexpr int kTensorStringData = 6;
constexpr int kTensorName = 8;
constexpr int kTensorRawData = 9;
constexpr int kTensorExternalData = 13;
constexpr int kTensorDataLocation = 14;
constexpr uint32_t kMaxNameBytes = 1 << 20;

int FieldOf(uint32_t tag) {
  return static_cast<int>(tag >> 3);
}
int WireOf(uint32_t tag) {
  return static_cast<int>(tag & 7);
}

uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

// What a streamed TensorProto tells us; its payload is skipped, never held.
struct TensorStats {
  std::string name;
  int32_t data_type = 0;
  std::vector<int64_t> dims;
  uint64_t raw_bytes = 0;
  uint64_t string_bytes = 0;
  bool external = false;
  std::optional<uint64_t> external_length;
};

uint64_t TensorBytes(const TensorStats& t) {
  uint64_t numel = 1;
  for (int64_t d : t.dims) numel = SatMul(numel, d > 0 ? static_cast<uint64_t>(d) : 0);
  uint64_t elem = OnnxElemTypeSize(t.data_type);
  if (t.external) {
    if (t.external_length) return *t.external_length;
    return SatMul(numel, elem);
  }
  if (t.data_type == onnx::TensorProto_DataType_STRING) return t.string_bytes;
  if (elem == 0) return t.raw_bytes;
  return SatMul(numel, elem);
}

// Reads the stream of one message up to the current limit. Each parser below returns false on
// malformed input, leaving the offset of the failure in `*error_offset`.
class Scanner {
 public:
  explicit Scanner(CodedInputStream* in) : in_(in) {}

  int CurrentOffset() const { return in_->CurrentPosition(); }

  // Reads a length prefix and checks it fits in what is left of the enclosing limit.
  bool ReadLength(uint32_t* len) {
    if (!in_->ReadVarint32(len)) return false;
    int left = in_->BytesUntilLimit();
    return left < 0 || *len <= static_cast<uint32_t>(left);
  }

  // Loops over the fields of the current (limited) message; `on_field` returns false on error.
  // Stops at the limit; a zero tag before it (or an end-group) is an error.
  template <typename F>
  bool ForEachField(F&& on_field) {
    while (true) {
      uint32_t tag = in_->ReadTag();
      if (tag == 0) return in_->ConsumedEntireMessage();  // the limit or EOF, not a bad tag
      if (WireOf(tag) == WireFormatLite::WIRETYPE_END_GROUP) return false;
      if (!on_field(tag)) return false;
    }
  }

  // Runs `body` on a length-delimited sub-message.
  template <typename F>
  bool Sub(uint32_t tag, F&& body) {
    if (WireOf(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) return false;
    uint32_t len;
    if (!ReadLength(&len)) return false;
    auto limit = in_->PushLimit(static_cast<int>(len));
    bool ok = body() && in_->BytesUntilLimit() == 0;
    in_->PopLimit(limit);
    return ok;
  }

  bool Skip(uint32_t tag) { return WireFormatLite::SkipField(in_, tag); }
  bool Copy(uint32_t tag, CodedOutputStream* out) {
    return WireFormatLite::SkipField(in_, tag, out);
  }

  bool SkipBytes(uint32_t tag, uint64_t* len_out) {
    if (WireOf(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) return false;
    uint32_t len;
    if (!ReadLength(&len) || !in_->Skip(static_cast<int>(len))) return false;
    *len_out = len;
    return true;
  }

  bool ReadString(uint32_t tag, std::string* s, uint32_t max) {
    if (WireOf(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) return false;
    uint32_t len;
    if (!ReadLength(&len) || len > max) return false;
    return in_->ReadString(s, static_cast<int>(len));
  }

  bool ReadVarint(uint32_t tag, uint64_t* v) {
    return WireOf(tag) == WireFormatLite::WIRETYPE_VARINT && in_->ReadVarint64(v);
  }

  bool ReadInt64s(uint32_t tag, std::vector<int64_t>* out) {
    uint64_t v;
    if (WireOf(tag) == WireFormatLite::WIRETYPE_VARINT) {
      if (!in_->ReadVarint64(&v)) return false;
      out->push_back(static_cast<int64_t>(v));
      return true;
    }
    return Sub(tag, [&] {
      while (in_->BytesUntilLimit() > 0) {
        if (!in_->ReadVarint64(&v) || out->size() >= 4096) return false;
        out->push_back(static_cast<int64_t>(v));
      }
      return true;
    });
  }

  bool ScanTensor(TensorStats* t) {
    return ForEachField([&](uint32_t tag) {
      uint64_t v = 0;
      switch (FieldOf(tag)) {
        case kTensorDims:
          return ReadInt64s(tag, &t->dims);
        case kTensorDataType:
          if (!ReadVarint(tag, &v)) return false;
          t->data_type = static_cast<int32_t>(v);
          return true;
        case kTensorName:
          return ReadString(tag, &t->name, kMaxNameBytes);
        case kTensorRawData:
          if (!SkipBytes(tag, &v)) return false;
          t->raw_bytes = SatAdd(t->raw_bytes, v);
          return true;
        case kTensorStringData:
          if (!SkipBytes(tag, &v)) return false;
          t->string_bytes = SatAdd(t->string_bytes, v);
          return true;
        case kTensorDataLocation:
          if (!ReadVarint(tag, &v)) return false;
          t->external = v == onnx::TensorProto_DataLocation_EXTERNAL;
          return true;
        case kTensorExternalData: {
          std::string buf;
          onnx::StringStringEntryProto entry;
          if (!ReadString(tag, &buf, kMaxNameBytes) || !entry.ParseFromString(buf)) return false;
          if (entry.key() == "length") {
            try {
              t->external_length = std::stoull(entry.value());
            } catch (...) {
              // A malformed length: fall back to dims x element size.
            }
          }
          return true;
        }
        default:
          return Skip(tag);
      }
    });
  }

 private:
  CodedInputStream* in_;
};

struct ScanResult {
  std::string model_rest;  // the ModelProto without its graph
  std::string graph_rest;  // the GraphProto without (sparse) initializers
  bool has_graph = false;
  std::vector<TensorStats> initializers;
  std::set<std::string> initializer_names;
  uint64_t initializer_bytes = 0;
  bool uses_external = false;
};

bool ScanGraph(Scanner& sc, ScanResult* r, CodedOutputStream* graph_out) {
  return sc.ForEachField([&](uint32_t tag) {
    int field = FieldOf(tag);
    if (field == kGraphInitializer) {
      TensorStats t;
      if (!sc.Sub(tag, [&] { return sc.ScanTensor(&t); })) return false;
      r->initializer_bytes = SatAdd(r->initializer_bytes, TensorBytes(t));
      r->uses_external |= t.external;
      r->initializer_names.insert(t.name);
      r->initializers.push_back(std::move(t));
      return true;
    }
    if (field == kGraphSparseInitializer) {
      TensorStats values, indices;
      bool ok = sc.Sub(tag, [&] {
        return sc.ForEachField([&](uint32_t t2) {
          if (FieldOf(t2) == kSparseValues)
            return sc.Sub(t2, [&] { return sc.ScanTensor(&values); });
          if (FieldOf(t2) == kSparseIndices)
            return sc.Sub(t2, [&] { return sc.ScanTensor(&indices); });
          return sc.Skip(t2);
        });
      });
      if (!ok) return false;
      r->initializer_bytes =
          SatAdd(r->initializer_bytes, SatAdd(TensorBytes(values), TensorBytes(indices)));
      r->uses_external |= values.external || indices.external;
      r->initializer_names.insert(values.name);
      r->initializers.push_back(std::move(values));
      return true;
    }
    return sc.Copy(tag, graph_out);
  });
}

bool ScanModel(CodedInputStream* in, ScanResult* r) {
  Scanner sc(in);
  StringOutputStream model_sos(&r->model_rest);
  CodedOutputStream model_out(&model_sos);
  StringOutputStream graph_sos(&r->graph_rest);
  CodedOutputStream graph_out(&graph_sos);
  return sc.ForEachField([&](uint32_t tag) {
    if (FieldOf(tag) == kModelGraph) {
      r->has_graph = true;
      return sc.Sub(tag, [&] { return ScanGraph(sc, r, &graph_out); });
    }
    return sc.Copy(tag, &model_out);
  });
}

std::string ElemTypeName(int32_t t) {
  if (onnx::TensorProto_DataType_IsValid(t)) {
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(t));
  }
  return "element type " + std::to_string(t);
}

Result<OnnxTensorInfo> ToTensorInfo(const onnx::ValueInfoProto& v, const char* what,
                                    const std::string& file) {
  auto fail = [&](const std::string& why) -> Status {
    return InvalidArgument(file + ": " + what + " '" + v.name() + "': " + why);
  };
  if (!v.has_type()) return fail("has no type");
  const onnx::TypeProto& type = v.type();
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType:
      break;
    case onnx::TypeProto::kSequenceType:
      return fail("unsupported type: sequence (only tensors can be described)");
    case onnx::TypeProto::kMapType:
      return fail("unsupported type: map (only tensors can be described)");
    case onnx::TypeProto::kOptionalType:
      return fail("unsupported type: optional (only tensors can be described)");
    case onnx::TypeProto::kSparseTensorType:
      return fail("unsupported type: sparse tensor (only dense tensors can be described)");
    default:
      return fail("has no type");
  }
  const onnx::TypeProto_Tensor& tt = type.tensor_type();
  OnnxTensorInfo info;
  info.spec.name = v.name();
  info.spec.description = v.doc_string();
  info.spec.dtype = OnnxElemTypeToDtype(tt.elem_type());
  if (info.spec.dtype.empty())
    return fail("unsupported element type " + ElemTypeName(tt.elem_type()));
  if (!tt.has_shape()) {
    info.rank_known = false;
    info.spec.shape = {-1};
    info.dim_params = {""};
    return info;
  }
  for (const auto& dim : tt.shape().dim()) {
    if (dim.value_case() == onnx::TensorShapeProto_Dimension::kDimValue && dim.dim_value() >= 0) {
      info.spec.shape.push_back(dim.dim_value());
      info.dim_params.emplace_back();
    } else {
      info.spec.shape.push_back(-1);
      info.dim_params.push_back(
          dim.value_case() == onnx::TensorShapeProto_Dimension::kDimParam ? dim.dim_param() : "");
    }
  }
  return info;
}

uint64_t ConstantNodeBytes(const onnx::GraphProto& graph) {
  uint64_t total = 0;
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Constant" || !(node.domain().empty() || node.domain() == "ai.onnx")) {
      continue;
    }
    for (const auto& attr : node.attribute()) {
      if (!attr.has_t()) continue;
      const onnx::TensorProto& t = attr.t();
      TensorStats s;
      s.data_type = t.data_type();
      s.dims.assign(t.dims().begin(), t.dims().end());
      s.raw_bytes = t.raw_data().size();
      for (const auto& str : t.string_data()) s.string_bytes += str.size();
      total = SatAdd(total, TensorBytes(s));
    }
  }
  return total;
}

}  // namespace

std::string OnnxElemTypeToDtype(int32_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto_DataType_FLOAT:
      return "float32";
    case onnx::TensorProto_DataType_DOUBLE:
      return "float64";
    case onnx::TensorProto_DataType_FLOAT16:
      return "float16";
    case onnx::TensorProto_DataType_BFLOAT16:
      return "bfloat16";
    case onnx::TensorProto_DataType_INT8:
      return "int8";
    case onnx::TensorProto_DataType_INT16:
      return "int16";
    case onnx::TensorProto_DataType_INT32:
      return "int32";
    case onnx::TensorProto_DataType_INT64:
      return "int64";
    case onnx::TensorProto_DataType_UINT8:
      return "uint8";
    case onnx::TensorProto_DataType_UINT16:
      return "uint16";
    case onnx::TensorProto_DataType_UINT32:
      return "uint32";
    case onnx::TensorProto_DataType_UINT64:
      return "uint64";
    case onnx::TensorProto_DataType_BOOL:
      return "bool";
    case onnx::TensorProto_DataType_STRING:
      return "string";
    default:
      return "";
  }
}

uint64_t OnnxElemTypeSize(int32_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto_DataType_INT8:
    case onnx::TensorProto_DataType_UINT8:
    case onnx::TensorProto_DataType_BOOL:
    case 17:
    case 18:
    case 19:
    case 20:  // FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ
      return 1;
    case onnx::TensorProto_DataType_FLOAT16:
    case onnx::TensorProto_DataType_BFLOAT16:
    case onnx::TensorProto_DataType_INT16:
    case onnx::TensorProto_DataType_UINT16:
      return 2;
    case onnx::TensorProto_DataType_FLOAT:
    case onnx::TensorProto_DataType_INT32:
    case onnx::TensorProto_DataType_UINT32:
      return 4;
    case onnx::TensorProto_DataType_DOUBLE:
    case onnx::TensorProto_DataType_INT64:
    case onnx::TensorProto_DataType_UINT64:
    case onnx::TensorProto_DataType_COMPLEX64:
      return 8;
    case onnx::TensorProto_DataType_COMPLEX128:
      return 16;
    default:
      return 0;
  }
}

Result<OnnxModelInfo> InspectOnnx(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return NotFound(file + ": no such file");
  if (!std::filesystem::is_regular_file(status)) {
    return InvalidArgument(file + ": not a valid ONNX model: not a regular file");
  }
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Internal(file + ": cannot stat: " + ec.message());
  if (size > static_cast<uint64_t>(INT_MAX)) {
    return ResourceExhausted(file + ": " + std::to_string(size) +
                             " bytes is over protobuf's 2 GiB limit for one ONNX file "
                             "(larger models must keep their weights in external data)");
  }
  if (size == 0) return InvalidArgument(file + ": not a valid ONNX model: empty file");

  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(errno == EACCES ? StatusCode::kPermissionDenied : StatusCode::kInternal,
                  file + ": cannot open: " + std::system_category().message(errno));
  }
  ScanResult scan;
  bool scanned;
  int fail_offset = 0;
  {
    google::protobuf::io::FileInputStream fis(fd);
    CodedInputStream in(&fis);
    in.SetTotalBytesLimit(INT_MAX);
    in.SetRecursionLimit(100);
    scanned = ScanModel(&in, &scan);
    fail_offset = in.CurrentPosition();
  }
  ::close(fd);
  auto invalid = [&](const std::string& why) -> Status {
    return InvalidArgument(file + ": not a valid ONNX model: " + why);
  };
  if (!scanned) return invalid("malformed protobuf near byte " + std::to_string(fail_offset));

  onnx::ModelProto model;
  onnx::GraphProto graph;
  if (!model.ParseFromString(scan.model_rest)) return invalid("malformed ModelProto fields");
  if (!graph.ParseFromString(scan.graph_rest)) return invalid("malformed GraphProto");
  if (!scan.has_graph) return invalid("no graph");
  if (model.ir_version() <= 0) return invalid("no ir_version");

  OnnxModelInfo info;
  info.file_size = size;
  info.ir_version = model.ir_version();
  info.producer_name = model.producer_name();
  info.producer_version = model.producer_version();
  info.domain = model.domain();
  info.model_version = model.model_version();
  info.graph_name = graph.name();
  info.doc_string = !model.doc_string().empty() ? model.doc_string() : graph.doc_string();
  for (const auto& op : model.opset_import()) info.opsets.push_back({op.domain(), op.version()});
  for (const auto& p : model.metadata_props()) info.metadata_props.emplace_back(p.key(), p.value());
  info.initializer_count = scan.initializers.size();
  info.initializer_bytes = SatAdd(scan.initializer_bytes, ConstantNodeBytes(graph));
  info.uses_external_data = scan.uses_external;

  for (const auto& v : graph.input()) {
    if (scan.initializer_names.count(v.name())) continue;  // an overridable initializer
    MLOS_ASSIGN_OR_RETURN(auto t, ToTensorInfo(v, "input", file));
    info.inputs.push_back(std::move(t));
  }
  for (const auto& v : graph.output()) {
    MLOS_ASSIGN_OR_RETURN(auto t, ToTensorInfo(v, "output", file));
    info.outputs.push_back(std::move(t));
  }
  return info;
}

mpf::Io OnnxIo(const OnnxModelInfo& info) {
  mpf::Io io;
  for (const auto& t : info.inputs) io.inputs.push_back(t.spec);
  for (const auto& t : info.outputs) io.outputs.push_back(t.spec);
  return io;
}

}  // namespace mlos::axon
