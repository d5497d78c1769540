#!/usr/bin/env bash
# The price of replication (README, "Running a cluster": "Acknowledged
# means on two machines"). An event's 202 waits until the write is on the
# owner and on every follower in sync, so with HOOKD_REPLICAS=2 each
# acknowledged write pays a round trip to a follower (grouped: one pull
# carries everything committed since the last). This script measures what
# that costs and what it buys:
#
#   - single-event and batched (100 a request) ingestion on the owner of
#     the organization's partition, with HOOKD_REPLICAS=1 and then 2: a
#     fresh etcd, three fresh nodes and fresh data directories for each,
#     the same wrk settings as bench/run.sh;
#   - with HOOKD_REPLICAS=2, the time from a `kill -9` of that owner
#     (once its deliveries are done and every partition has a follower in
#     sync) until its organization is served again through another node:
#     the follower in sync claims the partition once the dead owner's lease
#     runs out, so it is about HOOKD_LEASE_TTL (2 s here). With
#     HOOKD_REPLICAS=1 it would answer 503 until the node came back.
#
# Three nodes and their own etcd on loopback; one webhook, delivering to
# nginx (bench/nginx.conf.in), so every event also queues a delivery.
#
#   bench/replication.sh [--smoke] [--build-dir DIR]   (default: build-bench/)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dur=10
build=$root/build-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) dur=1; build=$root/build ;;
    --build-dir) build=$2; shift ;;
    *) echo "usage: bench/replication.sh [--smoke] [--build-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$build/hookd" ] || { echo "bench: no $build/hookd; run make bench first" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
require_tools wrk etcd nginx curl python3

token=bench-admin-token-0123456789
lease_ttl=2s

# Stops with a message and the end of every node's stderr of this round.
fail() { # message
  echo "bench: $1" >&2
  for f in "$dir"/n*.err; do
    [ -e "$f" ] || continue
    echo "--- $f (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

# From bench/run.sh: a wrk script POSTing one body with the admin token.
lua_post() { # file body
  printf 'wrk.method = "POST"\nwrk.body = [==[%s]==]\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "token %s"\n' "$2" "$token" > "$1"
}

# wrk's requests per second against a URL, as in bench/run.sh; any non-2xx
# answer fails the run.
wrk_rps() { # url [wrk args...]
  local url=$1; shift
  wrk -t2 -c64 -d"${dur}s" --latency "$@" "$url" > "$work/wrk.out" 2>&1
  if grep -q "Non-2xx" "$work/wrk.out"; then
    cat "$work/wrk.out" >&2
    fail "non-2xx answers from $url"
  fi
  awk '/Requests\/sec/ {print $2}' "$work/wrk.out"
}

# Forgets the given pids (already stopped and reaped) so lib.sh's cleanup
# does not signal whatever process gets the number next.
forget() { # pid...
  local keep=() p q gone
  for p in "${pids[@]}"; do
    gone=0
    for q in "$@"; do [ "$p" = "$q" ] && gone=1; done
    [ "$gone" = 1 ] || keep+=("$p")
  done
  pids=("${keep[@]}")
}

# A fresh etcd and three fresh nodes in $work/r<replicas>/; sets dir, urls,
# node_pids and etcd_pid, and returns once every node's /healthz is 200.
start_cluster() { # replicas
  dir=$work/r$1
  mkdir -p "$dir"
  local client_port peer_port n port
  client_port=$(free_port)
  peer_port=$(free_port)
  etcd --name b1 --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$client_port" \
    --advertise-client-urls "http://127.0.0.1:$client_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "b1=http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
  etcd_pid=$!
  pids+=("$etcd_pid")
  wait_port "$client_port" || fail "etcd does not listen on $client_port"

  urls=()
  node_pids=()
  for n in 1 2 3; do
    port=$(free_port)
    # The pending limits are run.sh's: a 10 s run queues more deliveries
    # than the defaults allow, and a 429 is not what is measured here.
    env HOOKD_NODE_NAME="n$n" HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$dir/n$n" \
      HOOKD_ADMIN_TOKEN=$token HOOKD_MASTER_KEY="$(printf '%064d' 7)" \
      HOOKD_PARTITIONS=16 HOOKD_CLUSTER_SIZE=3 HOOKD_REPLICAS="$1" \
      HOOKD_LEASE_TTL=$lease_ttl HOOKD_ALLOW_PRIVATE_TARGETS=1 \
      HOOKD_MAX_PENDING=10000000 HOOKD_MAX_PENDING_PER_ORG=10000000 \
      HOOKD_CLUSTER_ETCD="http://127.0.0.1:$client_port" \
      "$build/hookd" >"$dir/n$n.out" 2>"$dir/n$n.err" &
    pids+=($!)
    node_pids+=($!)
    # Listening before the next free_port, which could hand out this port.
    wait_port "$port" || fail "n$n does not listen on $port"
    urls+=("http://127.0.0.1:$port")
  done
  local u ok
  for u in "${urls[@]}"; do
    ok=0
    for _ in $(seq 300); do
      curl -sf "$u/healthz" >/dev/null && { ok=1; break; }
      sleep 0.1
    done
    [ "$ok" = 1 ] || fail "$u/healthz is not 200 after 30 s"
  done
}

# Stops the nodes (TERM, as lib.sh's cleanup does), then their etcd.
stop_cluster() {
  local p
  for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  kill "$etcd_pid" 2>/dev/null || true
  wait "$etcd_pid" 2>/dev/null || true
  forget "${node_pids[@]}" "$etcd_pid"
}

# Waits (60 s at most) until, seen from n1 and from n2, every partition is
# owned and has a follower in sync, and the followers of the partitions each
# of them owns are not behind, for a second on end: twice the quarter of the
# lease TTL (500 ms) a follower may leave a write unacknowledged before its
# owner drops it from the partition's followers in sync. A partition killed
# while it has none is not taken over (nothing acknowledged may be lost): it
# answers 503 until its owner comes back.
wait_in_sync() {
  local views=() u steady=0
  for _ in $(seq 600); do
    views=()
    for u in "${urls[0]}" "${urls[1]}"; do
      views+=("$(curl -sf -H "Authorization: token $token" "$u/api/cluster" || true)")
    done
    if python3 - "${views[@]}" <<'PY'
import json, sys
ok = True
for arg in sys.argv[1:]:
    view = json.loads(arg or '{"node": null, "partitions": [{}]}')
    for p in view["partitions"]:
        ok = ok and bool(p.get("owner") and p.get("followers"))
        if ok and p["owner"] == view["node"]:
            ok = all(r["inSync"] and r["behind"] == 0 for r in p["replication"] or [])
sys.exit(0 if ok else 1)
PY
    then
      steady=$((steady + 1))
      [ "$steady" -lt 10 ] || return 0
    else
      steady=0
    fi
    sleep 0.1
  done
  printf '%s\n' "${views[@]}" >&2
  fail "the partitions' followers are not in sync after 60 s"
}

# Waits (5 minutes at most) until a node has no delivery pending: each
# delivery's outcome is a write too, and the kill is timed on a quiet owner.
drain() { # url
  local pending
  for _ in $(seq 3000); do
    pending=$(curl -s "$1/metrics" | awk '/^hookd_deliveries_pending / {print $2}')
    [ "${pending:-1}" != 0 ] || return 0
    sleep 0.1
  done
  fail "$1 still has $pending deliveries pending after 5 minutes"
}

# An organization of n1's partitions (as bench/cluster.sh picks it).
pick_org() {
  local cluster
  cluster=$(curl -sf -H "Authorization: token $token" "${urls[0]}/api/cluster")
  python3 - "$cluster" <<'PY'
import json, sys
view = json.loads(sys.argv[1])
owners = {p["partition"]: p["owner"] for p in view["partitions"]}
def part(name):
    h = 14695981039346656037
    for b in name.encode():
        h ^= b
        h = (h * 1099511628211) % 2**64
    return h % view["partitionCount"]
print(next(f"org{i}" for i in range(1000) if owners[part(f"org{i}")] == "n1"))
PY
}

# The bodies: one stack event (bench/run.sh's), and 100 of them in an array.
event='{"event":"update_succeeded","projectName":"bench","stackName":"one","data":{"n":1}}'
batch="[$(for i in $(seq 100); do printf '%s%s' "$([ "$i" = 1 ] || echo ,)" "$event"; done)]"
lua_post "$work/one.lua" "$event"
lua_post "$work/batch.lua" "$batch"

start_nginx

declare -A single batched
for replicas in 1 2; do
  start_cluster "$replicas"
  # With replicas 2 a write waits while its partition has no follower in
  # sync (one is being seeded at first): measure the steady state.
  [ "$replicas" = 1 ] || wait_in_sync
  org=$(pick_org)
  curl -sf -H "Authorization: token $token" -X POST "${urls[0]}/api/orgs/$org/hooks" \
    -d "{\"name\":\"h\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"$nginx_url/h\"}" >/dev/null \
    || fail "cannot create $org's webhook"

  rps=$(wrk_rps "${urls[0]}/api/orgs/$org/events" -s "$work/one.lua")
  single[$replicas]=$(awk -v r="$rps" 'BEGIN { printf "%.0f", r }')
  rps=$(wrk_rps "${urls[0]}/api/orgs/$org/events" -s "$work/batch.lua")
  batched[$replicas]=$(awk -v r="$rps" 'BEGIN { printf "%.0f", r * 100 }')

  if [ "$replicas" = 2 ]; then
    # Kill the owner once its deliveries are done and every partition has
    # a follower in sync (under the runs above one may have been dropped),
    # and time until its organization is served again through n2: the dead
    # owner's lease runs out, its follower in sync claims the partition
    # under a new epoch, and n2 routes to it.
    drain "${urls[0]}"
    wait_in_sync
    victim=${node_pids[0]}
    kill -9 "$victim"
    t0=$(date +%s%N)
    wait "$victim" 2>/dev/null || true
    forget "$victim"
    node_pids=("${node_pids[@]:1}")
    restored=""
    declare -A meanwhile=() # the other answers' codes (000: no answer), counted
    while [ $(( $(date +%s%N) - t0 )) -lt 30000000000 ]; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H "Authorization: token $token" "${urls[1]}/api/orgs/$org/hooks" || true)
      if [ "$code" = 200 ]; then restored=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
      meanwhile[$code]=$(( ${meanwhile[$code]:-0} + 1 ))
      sleep 0.02
    done
    [ -n "$restored" ] || fail "$org is not served through n2 30 s after n1's kill"
    before=$(for c in "${!meanwhile[@]}"; do printf '%s %s × %s' "${sep:-}" "${meanwhile[$c]}" "$c"; sep=,; done)
  fi
  stop_cluster
done

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
echo "| single-event ingestion, replicas 1 / 2 | ${single[1]} / ${single[2]} events/s (${single[2]} is $(pct "${single[2]}" "${single[1]}") of ${single[1]}) |"
echo "| batched ingestion (100 a request), replicas 1 / 2 | ${batched[1]} / ${batched[2]} events/s (${batched[2]} is $(pct "${batched[2]}" "${batched[1]}") of ${batched[1]}) |"
echo "| kill -9 of an owner to its organizations served again (lease TTL ${lease_ttl%s} s) | $restored ms (answers before it:${before:- none}) |"
