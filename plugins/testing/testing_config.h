// Per-model configuration of the testing plugin: which behaviour a model has and its IO schema.
// Parsed from JSON (manifest, the testing.json execution file, per-model options), never from
// project code: the plugin depends on the SMI headers (smi.h, smi_plugin.h) alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlos/smi.h"

namespace mlos::testing_plugin {

enum class Behavior {
  kIdentity,  // output i = input i (same dtype, dims and bytes)
  kAdd,       // output 0 = input 0 + input 1, float32 elementwise
  kSleep,     // sleeps sleep_ms (cancellable, checked every ms), then identity
  kFail,      // returns {error_code, error_message}
  kAlloc,     // holds alloc_bytes (touched) from load to unload, then identity
  kHang,      // sleeps sleep_ms ignoring cancellation (0 = forever)
  kCrash,     // abort()s the process
  kSegv,      // writes through a null pointer: a real SIGSEGV
  kAttack,    // performs `attack` (see Attack) and returns its outcome as a string
};

// What an "attack" model tries at infer time (sandbox tests: each must be refused there).
enum class Attack {
  kNone,
  kReadFile,   // open + read attack_path
  kWriteFile,  // create/truncate attack_path and write a few bytes
  kConnect,    // TCP connect to 127.0.0.1:attack_port
  kExec,       // fork a child that execve()s /bin/sh -c "exit 7"
  kFork,       // fork up to attack_count sleeping children, then kill and reap them
  kAlloc,      // malloc and touch alloc_bytes, then free them
  kKill,       // kill(attack_pid, attack_signal)
  kPtrace,     // ptrace(PTRACE_ATTACH, attack_pid), detaching if it worked
};

struct TensorSpec {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_FLOAT32;
  std::vector<int64_t> shape;  // -1 = dynamic; empty = scalar
};

struct ModelConfig {
  Behavior behavior = Behavior::kIdentity;
  int64_t sleep_ms = 0;
  smi_error_code error_code = SMI_ERROR_INTERNAL;
  std::string error_message = "testing plugin: failure on demand";
  uint64_t alloc_bytes = 0;
  std::optional<std::string> load_fail;  // model_load fails with this message (error_code)
  int64_t load_sleep_ms = 0;
  // behavior "attack" (alloc_bytes above sizes the "alloc" attack):
  Attack attack = Attack::kNone;
  std::string attack_path;     // read_file, write_file
  int64_t attack_port = 0;     // connect: 1..65535
  int64_t attack_count = 200;  // fork: children to make at most (>= 1)
  int64_t attack_pid = 0;      // kill, ptrace: > 0 (never 0 or -1: no process groups)
  int64_t attack_signal = 9;   // kill: 0..64, default SIGKILL
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// The result of parsing: a config, or an error (code + message) naming the field at fault.
struct ParseResult {
  std::optional<ModelConfig> config;
  smi_error_code code = SMI_ERROR_INVALID_ARGUMENT;
  std::string error;
};

// Builds the model's config. Sources, later ones overriding earlier keys:
//   manifest_json: "testing" or "spec.testing" object; "spec.io" inputs/outputs give the schema;
//   file_json: the execution file (testing.json) when it holds a JSON object;
//   options_json: per-model options.
// Any of them may be empty. Unset IO defaults: "input" -> "output" float32 [-1]
// (add: "a", "b" -> "sum"; attack: "result" string [1]); unset outputs mirror the inputs' specs.
ParseResult ParseModelConfig(const std::string& manifest_json, const std::string& file_json,
                             const std::string& options_json);

// The config name of an attack ("read_file", ...); "" for kNone.
const char* AttackName(Attack attack);

// "float32" ... "string" (the names smi_dtype_name gives); SMI_DTYPE_INVALID when unknown.
smi_dtype DtypeFromName(const std::string& name);

}  // namespace mlos::testing_plugin
