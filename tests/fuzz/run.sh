#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang and runs them.
#
#   tests/fuzz/run.sh [--build-dir DIR] [--build-only | --no-build]
#                     [--smoke | --time SECONDS] [TARGET...]
#
# Without targets, every target of targets.cmake runs, one after the other.
#   --smoke      the test suite's budget: a fixed number of runs from a fixed
#                seed over the committed corpus, so the same inputs every
#                time; what it finds is not kept.
#   --time S     fuzz each target for S seconds (default: $FUZZ_TIME or 60),
#                growing DIR/corpus/<target> from the committed seeds.
# Crashes, hangs and broken invariants are written to DIR/crashes/<target>/
# and make the script fail once every target has run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build_dir=$root/build-fuzz
build=1
run=1
smoke=0
seconds=${FUZZ_TIME:-60}
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
  --build-dir) build_dir=$2; shift ;;
  --build-only) run=0 ;;
  --no-build) build=0 ;;
  --smoke) smoke=1 ;;
  --time) seconds=$2; shift ;;
  -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] ||
  mapfile -t targets < <(sed -n '/^set(hookd_fuzz_targets/,/)/{s/[()]//g;p}' \
    "$here/targets.cmake" | tail -n +2 | tr -s ' ' '\n' | sed '/^$/d')

# The smoke budget: enough runs to get past the corpus into mutations, with
# a time limit in case a machine is much slower than expected.
smoke_runs=${FUZZ_SMOKE_RUNS:-20000}
smoke_time=${FUZZ_SMOKE_TIME:-20}

if [ "$build" = 1 ]; then
  cxx=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
  if [ -z "$cxx" ]; then
    echo "run.sh: clang++ not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  [ -f "$build_dir/CMakeCache.txt" ] ||
    cmake -S "$root" -B "$build_dir" -DHOOKD_FUZZ=ON \
      -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" -j "${JOBS:-2}"
fi
[ "$run" = 1 ] || exit 0

# Symbolized reports: Debian installs llvm-symbolizer with a version suffix.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null \
  && [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  bin=$build_dir/tests/fuzz/fuzz_$t
  seeds=$here/corpus/$t
  crashes=$build_dir/crashes/$t
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "run.sh: no target $t (is it in targets.cmake, with a corpus?)" >&2
    exit 2
  fi
  mkdir -p "$crashes"
  # -timeout: an input that takes this long is a hang, reported as a crash.
  flags=(-timeout=10 -artifact_prefix="$crashes/" -print_final_stats=1)
  if [ "$smoke" = 1 ]; then
    corpus=$scratch/$t
    flags+=(-seed=1 -runs="$smoke_runs" -max_total_time="$smoke_time")
  else
    corpus=$build_dir/corpus/$t
    flags+=(-max_total_time="$seconds")
  fi
  mkdir -p "$corpus"
  echo "== fuzz_$t"
  # New inputs go to the first directory; the committed seeds stay as they
  # are.
  if ! "$bin" "${flags[@]}" "$corpus" "$seeds"; then
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}; inputs kept in $build_dir/crashes/<target>/" >&2
  exit 1
fi
