#!/usr/bin/env bash
# Event-to-delivery latency of two hookd builds, A against B, in one run:
# `hookd-loadgen rate` posts at a constant rate, each event carrying its
# send time, to a webhook whose receiver is the bare server, which records
# arrival minus send time (the latency row of `make bench`). Rounds
# alternate A and B so that both see the machine alike.
#
#   bench/latency-ab.sh A_BUILD_DIR B_BUILD_DIR [rounds] [rate] [seconds] [senders]
#
# Each build dir holds a Release `hookd`; B's `bench/hookd-bench-server`
# and `bench/hookd-loadgen` serve both. Prints "A p50 <ms> p99 <ms>" and
# "B p50 <ms> p99 <ms>" lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$1; b=$2; rounds=${3:-3}; rate=${4:-1000}; seconds=${5:-10}; senders=${6:-1}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
require_tools nginx curl python3
start_nginx
token=bench-admin-token-0123456789
bare_port=$(free_port)
"$b/bench/hookd-bench-server" "$bare_port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$bare_port"
stats() { curl -s "http://127.0.0.1:$bare_port/stats"; }
one() { # build label round
  start_ab_hookd "$1" "$work/$2-$3"
  pids+=("$ab_pid")
  curl -sf -H "Authorization: token $token" -X POST "$ab_url/api/stacks/acme/bench/lat/hooks" \
    -d "{\"name\":\"bare\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"http://127.0.0.1:$bare_port/latency\"}" >/dev/null
  curl -s "http://127.0.0.1:$bare_port/stats/reset" >/dev/null
  local achieved expected count
  achieved=$("$b/bench/hookd-loadgen" rate "$ab_url" "$token" "$rate" "$seconds" lat "$senders")
  expected=$(awk -v r="$achieved" -v s="$seconds" 'BEGIN { printf "%d", r * s * 0.99 }')
  for _ in $(seq 100); do
    count=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [ "$count" -ge "$expected" ] && break
    sleep 0.1
  done
  stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print("'"$2"' p50 %.2f p99 %.2f" % (d["p50_us"]/1000, d["p99_us"]/1000))'
  kill -TERM "$ab_pid"; wait "$ab_pid" 2>/dev/null || true
}
for i in $(seq "$rounds"); do
  one "$a" A "$i"
  one "$b" B "$i"
done
