# Entry points; see README.md.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: setup configure build test demo bench format clean

setup:
	@scripts/setup.sh

configure:
	@if [ ! -f $(BUILD)/build.ninja ]; then cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: setup build
	@scripts/demo.sh

bench: setup build
	@bench/run.sh

format:
	@find src apps tests include plugins -name '*.cc' -o -name '*.h' 2>/dev/null | xargs -r clang-format -i

clean:
	rm -rf $(BUILD)
