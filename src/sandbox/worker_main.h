// The worker side (apps/mlos-worker): reads its setup from the control socket, enters the
// sandbox (sandbox.h), loads the plugin and the model, then serves plugin calls, one thread per
// channel, with tensors in shared arenas (protocol.h). Exits when mlosd says so or goes away.
#pragma once

namespace mlos::sandbox {

// argv: --control FD --channels FD[,FD...] [--model ID]. Returns the process exit code.
int WorkerMain(int argc, char** argv);

}  // namespace mlos::sandbox
