# The two commands of the README:
#   make run   install what is missing, build, start hookd on 127.0.0.1:8080
#   make test  install what is missing, build, run the whole test suite
#   make bench the benchmark harness (BENCHMARKS.md)
#   make fuzz  every fuzz target for FUZZ_TIME seconds (README, "Fuzzing")
#   make sanitize  the test suite under ASan and UBSan (README, "Sanitizers")
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CONFIG     ?= config/hookd.conf
FUZZ_TIME  ?= 60
MAKEFLAGS  += --no-print-directory

.PHONY: run test build deps clean bench fuzz sanitize

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/hookd --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

# The benchmark harness: a Release build in build-bench/, under 5 minutes,
# prints the table that BENCHMARKS.md records.
bench: deps
	bench/run.sh

# The fuzz targets, each for FUZZ_TIME seconds, in build-fuzz/ (clang).
fuzz: deps
	JOBS=$(JOBS) tests/fuzz/run.sh --build-dir build-fuzz --time $(FUZZ_TIME)

# The whole test suite built with ASan and UBSan in build-asan/; fails on
# any report, the hookd processes' included.
sanitize: deps
	JOBS=$(JOBS) tests/sanitizers/run.sh --build-dir build-asan

clean:
	rm -rf $(BUILD_DIR)
