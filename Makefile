# Entry points; see README.md.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: setup configure build test test-asan test-asan-ci test-tsan demo demo-llm bench format clean package fuzz

setup:
	@scripts/setup.sh

configure:
	@if [ ! -f $(BUILD)/build.ninja ]; then cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# `make test` (the README's test command, .ci/run): the whole suite, then its ASan + UBSan subset
# (test-asan-ci; the whole suite under ASan would double CI's time: docs/reliability.md).
test: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@JOBS=$(JOBS) tests/sanitizers/run.sh asan-ci

# The suite under sanitizers, each in its own build folder (docs/reliability.md, "Sanitizers"):
# test-asan: ASan + UBSan, everything, in build-asan/; test-asan-ci: the subset `make test` runs
# (labels tsan, asan_ci, fuzz), same folder; test-tsan: TSan, the concurrency-heavy tests (label
# tsan), in build-tsan/. tests/sanitizers/run.sh configures, builds and runs them.
test-asan: setup
	@JOBS=$(JOBS) tests/sanitizers/run.sh asan

test-asan-ci: setup
	@JOBS=$(JOBS) tests/sanitizers/run.sh asan-ci

test-tsan: setup
	@JOBS=$(JOBS) tests/sanitizers/run.sh tsan

# `make demo` builds only what scripts/demo.sh runs (not the tests): the daemon, axon, the plugins.
DEMO_TARGETS = mlosd axon mlos_plugin_onnx mlos_plugin_testing

demo: setup configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(DEMO_TARGETS)
	@BUILD=$(abspath $(BUILD)) scripts/demo.sh

# `make demo-llm`: scripts/demo_llm.sh serves the tiny llama fixture with the llama.cpp plugin.
DEMO_LLM_TARGETS = mlosd axon mlos mlos_plugin_llama mlos_fixtures

demo-llm: setup configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(DEMO_LLM_TARGETS)
	@BUILD=$(abspath $(BUILD)) scripts/demo_llm.sh

# `make package`: the Debian packages (CPack; deploy/CMakeLists.txt, docs/deploy.md) in $(BUILD)/,
# mlos_<version>_amd64.deb and mlos-plugin-torch_<version>_amd64.deb. Builds only what they hold.
PACKAGE_TARGETS = mlosd mlos axon mlos-worker mlos_plugin_onnx mlos_plugin_llama mlos_plugin_tflite \
	mlos_plugin_torch

package: setup configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(PACKAGE_TARGETS)
	@cd $(BUILD) && cpack -G DEB

# `make fuzz FUZZ_SECONDS=N [FUZZ_RUNS=M] [FUZZ_TARGETS="router npy"]`: the libFuzzer targets of
# fuzz/ (clang, ASan + UBSan, in build-fuzz/), N seconds (or M runs) each, one at a time; fails
# on a crash (scripts/fuzz.sh; docs/reliability.md). scripts/setup_fuzz.sh installs clang and the
# Debian packages of scripts/setup.sh (not its downloads: the fuzz targets need none of them).
FUZZ_SECONDS ?= 60

fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) scripts/fuzz.sh

bench: setup build
	@bench/run.sh

# `make torture TORTURE_KILLS=N`: the kill -9 torture (tests/torture/torture.py) with N
# SIGKILLs of mlosd and N of axon at random moments; fails on any inconsistency
# (docs/reliability.md, "Crash consistency"). Builds only what it runs.
.PHONY: torture
TORTURE_KILLS ?= 200
TORTURE_TARGETS = mlosd axon mlos_plugin_testing mlos_plugin_onnx mlos_fixtures

torture: configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(TORTURE_TARGETS)
	@MLOS_BUILD_DIR=$(abspath $(BUILD)) tests/torture/run_torture.sh --kills $(TORTURE_KILLS) \
		--axon-kills $(TORTURE_KILLS)

# `make soak SOAK_MINUTES=N`: mlosd under HTTP, gRPC and IPC load at 80 % of the measured
# capacity with version switches, unloads and loads, for N minutes (bench/soak/soak.py); fails on
# any error or on memory/descriptor growth of 5 % or more; writes docs/bench/soak.{json,png} and
# the "Soak" section of docs/reliability.md. Builds only what it runs.
.PHONY: soak
SOAK_MINUTES ?= 30
SOAK_TARGETS = mlosd mlos-bench mlos_plugin_onnx mlos_fixtures

soak: setup configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(SOAK_TARGETS)
	@python3 bench/soak/soak.py --build $(BUILD) --minutes $(SOAK_MINUTES) --out docs/bench \
		--doc docs/reliability.md

format:
	@find src apps tests include plugins -name '*.cc' -o -name '*.h' 2>/dev/null | xargs -r clang-format -i

clean:
	rm -rf $(BUILD)
