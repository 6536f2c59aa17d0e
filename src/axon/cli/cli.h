// The axon command line: parses arguments, runs one command, returns the exit status
// (0 ok, 1 the command failed, 2 bad usage). Errors are one line on stderr: "axon: error: ...".
#pragma once

namespace mlos::axon::cli {

int RunAxon(int argc, char** argv);

}  // namespace mlos::axon::cli
