#!/usr/bin/env bash
# hookd's benchmark harness. Every figure is measured in this run, on this
# machine, next to the ceiling it is compared with.
#
#   bench/run.sh            full run: Release build in build-bench/, 10 s a figure
#   bench/run.sh --smoke    a second or so a figure, on an existing build
#                           (--build-dir DIR, default build/); used by the tests
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mode=full
build=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --build-dir) build=$2; shift ;;
    *) echo "usage: bench/run.sh [--smoke] [--build-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = full ]; then
  dur=10; hooks=100000; stacks=1000; events=50000; lat_seconds=10
  fan_hooks=1000; fan_events=50
  build=${build:-$root/build-bench}
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target hookd hookd-bench-server hookd-loadgen >/dev/null
else
  dur=1; hooks=2000; stacks=20; events=2000; lat_seconds=1
  fan_hooks=100; fan_events=5
  build=${build:-$root/build}
fi

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
require_tools wrk nginx

token=bench-admin-token-0123456789
start_hookd() { # data dir, extra env...
  local data=$1; shift
  local port; port=$(free_port)
  env HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$data" HOOKD_ADMIN_TOKEN=$token \
    HOOKD_ALLOW_PRIVATE_TARGETS=1 HOOKD_MAX_PENDING=10000000 HOOKD_MAX_PENDING_PER_ORG=10000000 HOOKD_MAX_HOOKS_PER_ORG=10000000 "$@" \
    "$build/hookd" >"$data.out" 2>"$data.err" &
  pids+=($!)
  hookd_pid=$!
  wait_port "$port"
  hookd_url=http://127.0.0.1:$port
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Waits (up to 5 minutes) until the hookd at $hookd_url has no delivery
# pending: the deliveries a figure queued are finished before the next
# figure is timed, so that no figure pays for another's backlog.
settle() {
  for _ in $(seq 600); do
    pending=$(curl -s "$hookd_url/metrics" | awk '/^hookd_deliveries_pending / {print $2}')
    [ "${pending:-0}" = 0 ] && return 0
    sleep 0.5
  done
  echo "bench: $hookd_url still has $pending deliveries pending" >&2
}

# wrk's requests per second and p99 latency (ms).
wrk_run() { # url [wrk args...]
  local url=$1; shift
  wrk -t2 -c64 -d"${dur}s" --latency "$@" "$url" > "$work/wrk.out" 2>&1
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "bench: non-2xx answers from $url:" >&2; cat "$work/wrk.out" >&2; exit 1
  fi
  echo "$rps $p99"
}

lua_post() { # file body
  printf 'wrk.method = "POST"\nwrk.body = [==[%s]==]\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "token %s"\n' "$2" "$token" > "$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
table=()
# A row of the table; on stderr, when it was done (seconds since the
# start, the build included), so that a slow figure shows where the time of
# a run goes.
row() {
  table+=("| $1 | $2 | $3 | $4 | $5 |")
  printf 'bench: %5d s  %s\n' "$SECONDS" "$1" >&2
}

# --- ceilings -------------------------------------------------------------
bare_port=$(free_port)
"$build/bench/hookd-bench-server" "$bare_port" >/dev/null 2>&1 &
pids+=($!)
start_nginx
wait_port "$bare_port"

# --- hookd with one webhook to nginx ---------------------------------------
start_hookd "$work/hookd"
curl -sf -H "Authorization: token $token" -X POST "$hookd_url/api/stacks/acme/bench/one/hooks" \
  -d "{\"name\":\"nginx\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"$nginx_url/hook\"}" >/dev/null
curl -sf -H "Authorization: token $token" -X POST "$hookd_url/api/stacks/acme/bench/lat/hooks" \
  -d "{\"name\":\"bare\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"http://127.0.0.1:$bare_port/latency\"}" >/dev/null

read -r bare_get bare_get_p99 < <(wrk_run "http://127.0.0.1:$bare_port/json")
read -r get get_p99 < <(wrk_run "$hookd_url/api/stacks/acme/bench/one/hooks/nginx" -H "Authorization: token $token")
row "GET one webhook" "$get req/s, p99 $get_p99" "bare RESTinio $bare_get req/s, p99 $bare_get_p99" "$(ratio "$get" "$bare_get")" "≥ 70%, p99 < 5 ms"

event='{"event":"update_succeeded","projectName":"bench","stackName":"one","data":{"n":1}}'
lua_post "$work/one.lua" "$event"
read -r bare_post _ < <(wrk_run "http://127.0.0.1:$bare_port/events" -s "$work/one.lua")
read -r post _ < <(wrk_run "$hookd_url/api/orgs/acme/events" -s "$work/one.lua")
row "single-event ingestion (1 matching webhook)" "$post events/s" "bare RESTinio $bare_post req/s" "$(ratio "$post" "$bare_post")" "≥ 50%"

# The same with HOOKD_SYNC=1: every acknowledged write is fsynced. The
# first hookd finishes its deliveries first: it shares the cores.
settle
main_url=$hookd_url; main_pid=$hookd_pid
start_hookd "$work/sync" HOOKD_SYNC=1
curl -sf -H "Authorization: token $token" -X POST "$hookd_url/api/stacks/acme/bench/one/hooks" \
  -d "{\"name\":\"nginx\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"$nginx_url/hook\"}" >/dev/null
read -r post_sync _ < <(wrk_run "$hookd_url/api/orgs/acme/events" -s "$work/one.lua")
row "single-event ingestion, HOOKD_SYNC=1" "$post_sync events/s" "HOOKD_SYNC=0: $post events/s" "$(ratio "$post_sync" "$post")" "≥ 80% (group commit)"
kill -TERM "$hookd_pid"; wait "$hookd_pid" 2>/dev/null || true
hookd_url=$main_url; hookd_pid=$main_pid

settle
batch="[$(for i in $(seq 100); do printf '%s%s' "$([ "$i" = 1 ] || echo ,)" "$event"; done)]"
lua_post "$work/batch.lua" "$batch"
read -r batch_rps _ < <(wrk_run "$hookd_url/api/orgs/acme/events" -s "$work/batch.lua")
batch_eps=$(awk -v r="$batch_rps" 'BEGIN { printf "%.0f", r * 100 }')
row "batched ingestion (100 events a request)" "$batch_eps events/s" "" "" "≥ 150,000 events/s"

# Let the deliveries these figures queued finish before timing deliveries.
settle

lua_post "$work/nginx.lua" '{"ok":true}'
read -r nginx_rps _ < <(wrk_run "$nginx_url/hook" -s "$work/nginx.lua")
deliver=$("$build/bench/hookd-loadgen" deliver "$hookd_url" "$token" "$events" 100 one "$nginx_url/status")
row "delivery throughput to nginx" "$(printf '%.0f' "$deliver") deliveries/s" "wrk → nginx $nginx_rps req/s" "$(ratio "$deliver" "$nginx_rps")" "≥ 50%"

# Event-to-delivery latency at a constant rate: the receiver (the bare
# server) records arrival minus the send time each event carries.
latency_row() { # events per second, sending threads, target
  curl -s "http://127.0.0.1:$bare_port/stats/reset" >/dev/null
  local achieved expected lat p99
  achieved=$("$build/bench/hookd-loadgen" rate "$hookd_url" "$token" "$1" "$lat_seconds" lat "$2")
  # Every event accepted is delivered: wait for the last ones.
  expected=$(awk -v r="$achieved" -v s="$lat_seconds" 'BEGIN { printf "%d", r * s * 0.99 }')
  for _ in $(seq 100); do
    lat=$(curl -s "http://127.0.0.1:$bare_port/stats")
    [ "$(echo "$lat" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')" -ge "$expected" ] && break
    sleep 0.1
  done
  p99=$(echo "$lat" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f ms (p50 %.2f ms, %d events)" % (d["p99_us"]/1000, d["p50_us"]/1000, d["count"]))')
  row "event-to-delivery latency at $(printf "%'d" "$1") events/s" "p99 $p99" "offered $(printf '%.0f' "$achieved")/s" "" "$3"
}
latency_row 1000 1 "p99 < 2 ms"
latency_row 10000 32 "p99 < 2 ms"

# --- fan-out: one event to many webhooks ------------------------------------
main_url=$hookd_url; main_pid=$hookd_pid
start_hookd "$work/fan"
"$build/bench/hookd-loadgen" populate "$hookd_url" "$token" "$fan_hooks" 1 "$nginx_url/hook" >/dev/null
fan=$("$build/bench/hookd-loadgen" fanout "$hookd_url" "$token" "$fan_events" "$fan_hooks" s0 "$nginx_url/status")
row "fan-out: one event to $(printf "%'d" "$fan_hooks") webhooks, $fan_events events, all delivered" "$(printf '%.0f' "$fan") deliveries/s" "wrk → nginx $nginx_rps req/s" "$(ratio "$fan" "$nginx_rps")" "≥ 50,000 deliveries/s"
kill -TERM "$hookd_pid"; wait "$hookd_pid" 2>/dev/null || true
hookd_url=$main_url; hookd_pid=$main_pid

# --- many webhooks ----------------------------------------------------------
dead_port=$(free_port) # nothing listens: deliveries stay pending
start_hookd "$work/many" HOOKD_RETRY_SCHEDULE=0s,1h
rss_before=$(rss_kb "$hookd_pid")
"$build/bench/hookd-loadgen" populate "$hookd_url" "$token" "$hooks" "$stacks" "http://127.0.0.1:$dead_port/x" >/dev/null
sleep 1
rss_after=$(rss_kb "$hookd_pid")
per_hook=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$hooks" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
row "memory, $hooks webhooks idle" "$per_hook B per webhook (RSS $((rss_before / 1024)) → $((rss_after / 1024)) MiB)" "" "" "≤ 632 B per webhook"

"$build/bench/hookd-loadgen" pending "$hookd_url" "$token" "$stacks"
for _ in $(seq 600); do
  pending=$(curl -s "$hookd_url/metrics" | awk '/^hookd_deliveries_pending / {print $2}')
  [ "${pending:-0}" -ge "$hooks" ] && break
  sleep 0.2
done
kill -TERM "$hookd_pid"; wait "$hookd_pid" 2>/dev/null || true
port=$(free_port)
env HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$work/many" HOOKD_ADMIN_TOKEN=$token \
  HOOKD_ALLOW_PRIVATE_TARGETS=1 HOOKD_RETRY_SCHEDULE=0s,1h HOOKD_MAX_PENDING=10000000 HOOKD_MAX_PENDING_PER_ORG=10000000 HOOKD_MAX_HOOKS_PER_ORG=10000000 \
  "$build/hookd" >"$work/many2.out" 2>&1 &
pids+=($!)
ready_ms=$("$build/bench/hookd-loadgen" ready "http://127.0.0.1:$port" 60)
row "restart, $hooks webhooks and $pending pending deliveries" "serving after $ready_ms ms" "" "" "< 2 s"

echo
echo "hookd benchmark ($mode), $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo
echo "| figure | hookd | ceiling | ratio | target |"
echo "|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
echo
echo "$SECONDS s in all, the build included"
