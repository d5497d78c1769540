#!/usr/bin/env bash
# The cost of forwarding (README, "Running a cluster"): `GET` one webhook
# on the node that owns its organization's partition, and the same `GET`
# through another node, which hands it to the owner over CAF's middleman;
# the same run, the same wrk settings as bench/run.sh. Two nodes and their
# own etcd on loopback.
#
#   bench/cluster.sh [--smoke] [--build-dir DIR]   (default: build-bench/)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dur=10
build=$root/build-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) dur=1; build=$root/build ;;
    --build-dir) build=$2; shift ;;
    *) echo "usage: bench/cluster.sh [--smoke] [--build-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$build/hookd" ] || { echo "bench: no $build/hookd; run make bench first" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

token=bench-admin-token-0123456789
client_port=$(free_port)
peer_port=$(free_port)
etcd --name b1 --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client_port" \
  --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "b1=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_port "$client_port"

urls=()
for n in 1 2; do
  port=$(free_port)
  env HOOKD_NODE_NAME="n$n" HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$work/n$n" \
    HOOKD_ADMIN_TOKEN=$token HOOKD_MASTER_KEY="$(printf '%064d' 7)" \
    HOOKD_PARTITIONS=16 HOOKD_CLUSTER_SIZE=2 \
    HOOKD_CLUSTER_ETCD="http://127.0.0.1:$client_port" \
    "$build/hookd" >"$work/n$n.out" 2>"$work/n$n.err" &
  pids+=($!)
  wait_port "$port"
  urls+=("http://127.0.0.1:$port")
done
for u in "${urls[@]}"; do
  for _ in $(seq 300); do curl -sf "$u/healthz" >/dev/null && break; sleep 0.1; done
done

# An organization of n1's partitions.
cluster=$(curl -sf -H "Authorization: token $token" "${urls[0]}/api/cluster")
org=$(python3 - "$cluster" <<'PY'
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
)
curl -sf -H "Authorization: token $token" -X POST "${urls[0]}/api/stacks/$org/bench/one/hooks" \
  -d '{"name":"h","displayName":"bench","active":true,"payloadUrl":"https://example.com/h"}' >/dev/null

wrk_run() { # url
  wrk -t2 -c64 -d"${dur}s" --latency -H "Authorization: token $token" "$1" > "$work/wrk.out" 2>&1
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "bench: non-2xx answers from $1:" >&2; cat "$work/wrk.out" >&2; exit 1
  fi
  echo "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out") $(awk '$1 == "99%" {print $2}' "$work/wrk.out")"
}
path=/api/stacks/$org/bench/one/hooks/h
read -r own own_p99 < <(wrk_run "${urls[0]}$path")
read -r fwd fwd_p99 < <(wrk_run "${urls[1]}$path")
echo "| GET one webhook on its owner | $own req/s, p99 $own_p99 |"
echo "| the same GET through the other node (forwarded) | $fwd req/s, p99 $fwd_p99 ($(awk -v a="$fwd" -v b="$own" 'BEGIN{printf "%.0f%%", 100*a/b}') of the owner) |"
