// Status codes <-> SMI error codes (include/mlos/smi.h), for the host side of the ABI: the core
// turning plugin errors into Status, and the sandbox carrying them across a worker's sockets.
#pragma once

#include "common/status.h"
#include "mlos/smi.h"

namespace mlos {

inline StatusCode StatusCodeFromSmi(smi_error_code code) {
  switch (code) {
    case SMI_ERROR_INVALID_ARGUMENT: return StatusCode::kInvalidArgument;
    case SMI_ERROR_NOT_FOUND: return StatusCode::kNotFound;
    case SMI_ERROR_UNSUPPORTED: return StatusCode::kUnimplemented;
    case SMI_ERROR_RESOURCE_EXHAUSTED: return StatusCode::kResourceExhausted;
    case SMI_ERROR_CANCELLED: return StatusCode::kCancelled;
    case SMI_ERROR_INTERNAL: return StatusCode::kInternal;
    case SMI_ERROR_UNAVAILABLE: return StatusCode::kUnavailable;
  }
  return StatusCode::kInternal;
}

// The reverse; a refused precondition (the host cannot run it now) is UNAVAILABLE.
inline smi_error_code SmiCodeFromStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return SMI_ERROR_INVALID_ARGUMENT;
    case StatusCode::kNotFound: return SMI_ERROR_NOT_FOUND;
    case StatusCode::kUnimplemented: return SMI_ERROR_UNSUPPORTED;
    case StatusCode::kResourceExhausted: return SMI_ERROR_RESOURCE_EXHAUSTED;
    case StatusCode::kCancelled: return SMI_ERROR_CANCELLED;
    case StatusCode::kUnavailable:
    case StatusCode::kFailedPrecondition: return SMI_ERROR_UNAVAILABLE;
    default: return SMI_ERROR_INTERNAL;
  }
}

}  // namespace mlos
