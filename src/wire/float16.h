// IEEE 754 binary16 ("float16", KServe FP16) and bfloat16 (BF16) conversions, the one copy for
// the server's JSON codecs, the SDK's tensor files, the CLI and the load generator. Float to
// 16 bits rounds to nearest even; NaN stays a (quiet) NaN; values beyond the range become
// infinity; binary16 subnormals are exact. Pure functions.
#pragma once

#include <cstdint>

namespace mlos::wire {

uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBFloat16(float f);
float BFloat16ToFloat(uint16_t b);

}  // namespace mlos::wire
