#include "format.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "wire/float16.h"
#include "wire/keep_alive.h"

namespace mlos::cli {
namespace {

using nlohmann::json;

template <typename T>
T At(const client::Tensor& t, size_t i) {
  T v;
  std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

json Value(const client::Tensor& t, size_t i) {
  const std::string& d = t.dtype;
  if (d == "string") return t.strings[i];
  if (d == "float32") return At<float>(t, i);
  if (d == "float64") return At<double>(t, i);
  if (d == "float16") return wire::HalfToFloat(At<uint16_t>(t, i));
  if (d == "bfloat16") return wire::BFloat16ToFloat(At<uint16_t>(t, i));
  if (d == "bool") return t.data[i] != 0;
  if (d == "int8") return At<int8_t>(t, i);
  if (d == "int16") return At<int16_t>(t, i);
  if (d == "int32") return At<int32_t>(t, i);
  if (d == "int64") return At<int64_t>(t, i);
  if (d == "uint8") return At<uint8_t>(t, i);
  if (d == "uint16") return At<uint16_t>(t, i);
  if (d == "uint32") return At<uint32_t>(t, i);
  if (d == "uint64") return At<uint64_t>(t, i);
  return nullptr;
}

size_t Count(const client::Tensor& t) {
  if (t.dtype == "string") return t.strings.size();
  const uint64_t size = client::DtypeSize(t.dtype);
  return size ? t.data.size() / size : 0;
}

}  // namespace

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string ValuesPreview(const client::Tensor& t, size_t max) {
  if (t.shm.used()) {
    return "(in shared memory region " + t.shm.region + " at " + std::to_string(t.shm.offset) + ")";
  }
  const size_t n = Count(t);
  std::string s = "[";
  for (size_t i = 0; i < n && i < max; ++i) {
    if (i) s += ", ";
    json v = Value(t, i);
    if (v.is_number_float()) {
      char b[32];
      std::snprintf(b, sizeof b, "%.6g", v.get<double>());
      s += b;
    } else {
      s += v.dump();
    }
  }
  if (n > max) s += ", ... (" + std::to_string(n) + " values)";
  return s + "]";
}

json TensorValues(const client::Tensor& t) {
  json arr = json::array();
  const size_t n = Count(t);
  for (size_t i = 0; i < n; ++i) arr.push_back(Value(t, i));
  return arr;
}

json ToJson(const client::TensorInfo& t) {
  return {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
}

std::string MemoryMiB(uint64_t bytes) {
  if (bytes == 0) return "-";
  const double kib = static_cast<double>(bytes) / 1024.0;
  char b[32];
  if (kib < 1024.0) {
    std::snprintf(b, sizeof b, "%.0f KiB", std::max(1.0, kib));  // a model under 1 MiB
  } else {
    std::snprintf(b, sizeof b, "%.1f MiB", kib / 1024.0);
  }
  return b;
}

std::string LastUsed(int64_t last_used_unix_ms, int64_t now_unix_ms) {
  if (last_used_unix_ms <= 0) return "never";
  const int64_t s = std::max<int64_t>(0, (now_unix_ms - last_used_unix_ms) / 1000);
  if (s < 60) return std::to_string(s) + "s ago";
  if (s < 3600) return std::to_string(s / 60) + "m ago";
  if (s < 86400) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

std::string KeepAliveLabel(int64_t keep_alive_ms) {
  if (keep_alive_ms < 0) return "forever";
  return wire::FormatKeepAlive(std::chrono::milliseconds(keep_alive_ms));
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json ToJson(const client::ModelInfo& m) {
  json in = json::array(), out = json::array();
  for (const auto& t : m.inputs) in.push_back(ToJson(t));
  for (const auto& t : m.outputs) out.push_back(ToJson(t));
  json j = {{"id", m.id},
            {"name", m.name},
            {"version", m.version},
            {"state", m.state},
            {"framework", m.framework},
            {"execution_format", m.execution_format},
            {"plugin", m.plugin},
            {"path", m.path},
            {"description", m.description},
            {"is_default", m.is_default},
            {"aliases", m.aliases},
            {"desired_loaded", m.desired_loaded},
            {"memory_bytes", m.memory_bytes},
            {"shared_memory_bytes", m.shared_memory_bytes},
            {"memory_estimate_bytes", m.memory_estimate_bytes},
            {"load_time_ms", m.load_time_ms},
            {"load_kind", m.load_kind},
            {"pinned", m.pinned},
            {"keep_alive_ms", m.keep_alive_ms},
            {"priority", m.priority},
            {"last_used_unix_ms", m.last_used_unix_ms},
            {"evictions", m.evictions},
            {"unload_reason", m.unload_reason},
            {"isolation", m.isolation},
            {"worker_restarts", m.worker_restarts},
            {"inputs", in},
            {"outputs", out},
            {"dependencies", m.dependencies}};
  if (!m.reason.empty()) j["reason"] = m.reason;
  // As the server writes them: only when there is something to say.
  if (m.worker_pid != 0) j["worker_pid"] = m.worker_pid;
  if (!m.worker_state.empty()) j["worker_state"] = m.worker_state;
  if (!m.last_crash.empty()) j["last_crash"] = m.last_crash;
  return j;
}

json ToJson(const client::PluginInfo& p) {
  return {{"name", p.name},
          {"version", p.version},
          {"framework", p.framework},
          {"execution_formats", p.execution_formats},
          {"capabilities", p.capabilities},
          {"path", p.path}};
}

}  // namespace mlos::cli
