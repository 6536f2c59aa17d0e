// Creating a model's Ort::Session, through the cache when there is one:
//
//   1. `<key>.ort` exists: the session is made from a shared read-only mapping of it (warm load:
//      no graph optimisation, weights and their prepacked forms shared with every other session
//      of the same file). An unusable file is deleted and step 3 rebuilds it.
//   2. `<key>.opt.onnx` exists (left by step 4): the session reads it with optimisation off.
//      An unusable file is deleted.
//   3. Cold load: ONNX Runtime optimises the model file and saves the result as `<key>.ort`
//      (temporary name, then rename; that session skips prepacking and is dropped); the session
//      is then made from its mapping as in step 1, so the first session shares its weights with
//      later ones too. If that mapping fails, step 5.
//   4. When ONNX Runtime cannot save ORT format, the optimised graph is saved as ONNX to
//      `<key>.opt.onnx` and that session serves.
//   5. Without a cache (no cache_dir, optimized_model_cache off, level "disable") or when every
//      step above failed: the model file is loaded as it is.
//
// Steps 1 to 4 run under a per-cache-path lock, so concurrent loads of one file build the cache
// once and map the same `.ort`. Failures before step 5 are silent (the plugin logs nothing);
// step 5's failure is the load's error.
#pragma once

#include <cstdint>
#include <memory>

#include <onnxruntime_cxx_api.h>

#include "mapped_ort_model.h"
#include "mlos/smi.h"
#include "session_config.h"

namespace mlos::onnx_plugin {

enum class SessionSource {
  kOrtFormatMapping,   // steps 1 and 3: from a shared mapping of `<key>.ort`
  kOptimizedOnnxFile,  // step 2: from `<key>.opt.onnx`
  kModelFile,          // steps 4 and 5: from the model file
};

struct LoadedSession {
  // Set for kOrtFormatMapping: the mapping the session's weights live in. Declared before
  // `session` so that the session is destroyed first.
  std::shared_ptr<MappedOrtModel> mapping;
  std::unique_ptr<Ort::Session> session;
  SessionSource source = SessionSource::kModelFile;
};

// Creates the session for params.model_path (which must exist) with `config` (already merged
// with the per-model options), following the steps above. Throws the Ort::Exception of step 5
// when the model file itself cannot be loaded; other exceptions (std::bad_alloc) pass through.
// Any thread, concurrently.
LoadedSession LoadSession(Ort::Env& env, const SessionConfig& config,
                          const smi_model_load_params& params, MappedOrtModelCache& mappings);

}  // namespace mlos::onnx_plugin
