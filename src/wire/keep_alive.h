// keep_alive as text (Ollama's "keep_alive"): how long a model stays loaded after a request.
// The one grammar for the server's front-ends (api/common/request_options.h reads the HTTP
// header, KServe and gRPC parameters with it) and for the SDK and the CLI, which write it and
// read `mlos infer --keep-alive`. Pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos::wire {

// "5m", "30s", "1h30m", "500ms", "2d" (units ms, s, m, h, d, w; whole numbers; groups add up),
// a plain number of seconds ("300"), "0" (unload right after the request), or anything negative
// ("-1", "-5m": keep loaded forever, returned as -1 ms). Surrounding spaces are ignored.
// kInvalidArgument "invalid duration '5x': expected ..." (or "... is too long") otherwise.
Result<std::chrono::milliseconds> ParseKeepAlive(std::string_view text);

// The text ParseKeepAlive reads back as the same value: "-1" for any negative (forever), "0",
// else groups from hours down to milliseconds ("5m", "1h30m", "2s500ms", "48h").
std::string FormatKeepAlive(std::chrono::milliseconds keep_alive);

}  // namespace mlos::wire
