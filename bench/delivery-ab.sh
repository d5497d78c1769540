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
for tool in nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "delivery-ab: $tool is missing" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
start_nginx
token=bench-admin-token-0123456789
one() { # build label round
  local port data pid r
  port=$(free_port); data="$work/$2-$3"
  env HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$data" HOOKD_ADMIN_TOKEN=$token \
    HOOKD_ALLOW_PRIVATE_TARGETS=1 HOOKD_MAX_PENDING=10000000 HOOKD_MAX_PENDING_PER_ORG=10000000 \
    "$1/hookd" >"$data.out" 2>"$data.err" &
  pid=$!
  wait_port "$port"
  curl -sf -H "Authorization: token $token" -X POST "http://127.0.0.1:$port/api/stacks/acme/bench/one/hooks" \
    -d "{\"name\":\"nginx\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"$nginx_url/hook\"}" >/dev/null
  r=$("$loadgen" deliver "http://127.0.0.1:$port" "$token" "$events" 100 one "$nginx_url/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  printf '%s %.0f\n' "$2" "$r"
}
for i in $(seq "$rounds"); do
  one "$a" A "$i"
  one "$b" B "$i"
done
