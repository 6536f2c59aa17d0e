// Validation of an inference request against a model's IO schema. Pure; errors are
// kInvalidArgument and name the tensor at fault:
//   unknown input "y"                      duplicate input "x"
//   missing input "x"                      input "x": expected float32, got int64
//   input "x": expected rank 2, got 1      input "x": dim 1 must be 4, got 3
//   input "x": negative dim 0 (-1)         input "x": expected 48 bytes for shape [3,4] float32, got 40
//   input "x": expected 6 strings for shape [2,3], got 5
//   unknown output "z"
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "core/tensor.h"

namespace mlos::core {

// An empty `inputs` schema accepts any inputs (the model declares none); likewise outputs.
// A schema shape of exactly [-1] accepts any rank (the plugins' "anything goes" schema).
Status ValidateInputs(const std::vector<TensorInfo>& schema, const std::vector<Tensor>& inputs);
Status ValidateOutputNames(const std::vector<TensorInfo>& schema,
                           const std::vector<std::string>& wanted);

}  // namespace mlos::core
