// axon: the model package manager CLI (see src/axon/cli).
#include "axon/cli/cli.h"

int main(int argc, char** argv) { return mlos::axon::cli::RunAxon(argc, argv); }
