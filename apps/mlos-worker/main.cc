// mlos-worker: one sandboxed model, started by mlosd (docs/isolation.md). Not for direct use.
#include "sandbox/worker_main.h"

int main(int argc, char** argv) { return mlos::sandbox::WorkerMain(argc, argv); }
