#!/usr/bin/env bash
# `make bench`: every benchmark of the project. The older ones each write their
# docs/benchmarks-*.md (resources: the resource manager's, docs/benchmarks-resources.md;
# isolation: process isolation against in-process on one mlosd, docs/benchmarks-isolation.md); the
# suite (bench/suite.sh, mlosd against ONNX Runtime direct and a Node.js peer on several models)
# writes docs/benchmarks.md, docs/bench/results.json and the plots.
# frameworks: the ONNX, TorchScript and TFLite plugins against their frameworks called directly,
# docs/benchmarks-frameworks.md (bench/mlosd/frameworks.sh).
# llm: mlosd's llama plugin against libllama direct and llama-server, docs/benchmarks-llm.md (bench/llm/run.sh).
# peers: the suite's peers part (MLOS_BENCH_PART=peers): KServe, MLServer and LitServe from PyPI beside
# mlosd, and Triton's perf_analyzer against mlosd; section e of docs/benchmarks.md (bench/peers/).
# MLOS_BENCH_ONLY picks some of "axon mlosd protocols frameworks resources isolation llm suite peers" (default: all, in
# that order); MLOS_BENCH_SCALE scales the suite's, resources' and isolation's durations (0.2 for a
# quick check).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build}"
only=" ${MLOS_BENCH_ONLY:-axon mlosd protocols frameworks resources isolation llm suite peers} "
[[ "$only" == *" axon "* ]] && "$root/bench/axon/run.sh" "$build"
[[ "$only" == *" mlosd "* ]] && "$root/bench/mlosd/run.sh" "$build"
[[ "$only" == *" protocols "* ]] && "$root/bench/mlosd/protocols.sh" "$build"
[[ "$only" == *" frameworks "* ]] && "$root/bench/mlosd/frameworks.sh" "$build"
[[ "$only" == *" resources "* ]] && "$root/bench/mlosd/resources.sh" "$build"
[[ "$only" == *" isolation "* ]] && "$root/bench/mlosd/isolation.sh" "$build"
[[ "$only" == *" llm "* ]] && "$root/bench/llm/run.sh" "$build"
[[ "$only" == *" suite "* ]] && "$root/bench/suite.sh" "$build"
[[ "$only" == *" peers "* ]] && MLOS_BENCH_PART=peers "$root/bench/suite.sh" "$build"
exit 0
