# The two commands of the README:
#   make run   install what is missing, build, start hookd on 127.0.0.1:8080
#   make test  install what is missing, build, run the whole test suite
#   make bench the benchmark harness (BENCHMARKS.md)
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CONFIG     ?= config/hookd.conf
MAKEFLAGS  += --no-print-directory

.PHONY: run test build deps clean bench

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

# The benchmark harness: a Release build in build-bench/, about 5 minutes,
# prints the table that BENCHMARKS.md records.
bench: deps
	bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
