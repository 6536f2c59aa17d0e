#pragma once

namespace mlos::mlosd {

// `mlosd token ...` (argv without the leading "mlosd"): exit status.
int RunTokenCommand(int argc, char** argv);

}  // namespace mlos::mlosd
