#!/usr/bin/env bash
# Delivery throughput of two hookd builds, A against B, in one run: the
# same nginx, the same load generator, rounds alternating A and B so that
# both see the machine alike. For a change on the delivery path, next to
# `make bench` (BENCHMARKS.md says which figures came from here).
#
#   bench/delivery-ab.sh A_BUILD_DIR B_BUILD_DIR [rounds] [events]
#
# Each build dir holds a Release `hookd` (and B's `bench/hookd-loadgen` is
# used for both). Prints "A <deliveries/s>" and "B <deliveries/s>" lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$1; b=$2; rounds=${3:-3}; events=${4:-50000}
loadgen=$b/bench/hookd-loadgen
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
require_tools nginx curl python3
start_nginx
token=bench-admin-token-0123456789
one() { # build label round
  local r
  start_ab_hookd "$1" "$work/$2-$3"
  r=$("$loadgen" deliver "$ab_url" "$token" "$events" 100 one "$nginx_url/status")
  kill -TERM "$ab_pid"; wait "$ab_pid" 2>/dev/null || true
  printf '%s %.0f\n' "$2" "$r"
}
for i in $(seq "$rounds"); do
  one "$a" A "$i"
  one "$b" B "$i"
done
