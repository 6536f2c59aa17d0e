// What the user gives mlos-bench for a model's inputs: --input-data FILE (a KServe v2 JSON
// inference request body, as Triton's perf_analyzer takes) and --shape NAME=d0,d1,... Parsed and
// checked on their own here; MakeWorkload (workload.h) checks them against the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtype.h"

namespace mlos::bench {

// One input of the file, its values encoded for its datatype.
struct GivenTensor {
  std::string name;
  const Dtype* dtype = nullptr;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;        // row-major, little endian (numeric types and BOOL)
  std::vector<std::string> strings;  // BYTES
  std::string where;                 // "--input-data FILE: inputs[1] ('state')", for messages
};

struct InputData {
  std::string path;
  std::vector<GivenTensor> inputs;
  std::vector<std::string> outputs;  // the body's "outputs" names; empty: every output
};

// Reads `path`: {"inputs": [{"name", "shape", "datatype", "data"}, ...], "outputs"?: [{"name"}]}.
// `data` is flat or nested (then it must follow `shape`); a 0-d input may give a bare value.
// Datatypes: every one in KServeDatatypes(). Integers must fit their type, floats their range.
// Throws std::runtime_error with one line naming the file, and the input and field at fault.
InputData LoadInputData(const std::string& path);

struct ShapeFlag {
  std::string name;
  std::vector<int64_t> shape;
};

// "NAME=d0,d1,..." ("NAME=" for a 0-d tensor). Throws std::runtime_error naming the problem.
ShapeFlag ParseShapeFlag(const std::string& value);

}  // namespace mlos::bench
