#!/usr/bin/env bash
# A three-node hookd cluster and its etcd on this machine (README, "Running
# a cluster"): etcd on 127.0.0.1:2379, the nodes' APIs on 8081-8083, data
# under a temporary directory. Ctrl-C stops everything.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
hookd=${HOOKD_BINARY:-$here/build/hookd}
[ -x "$hookd" ] || { echo "build hookd first: make build" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing: make deps" >&2; exit 1; }

dir=$(mktemp -d /tmp/hookd-cluster-XXXXXX)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

etcd --name e1 --data-dir "$dir/etcd" \
  --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster e1=http://127.0.0.1:2380 >"$dir/etcd.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:2379/health >/dev/null; do sleep 0.1; done

export HOOKD_CLUSTER_ETCD=http://127.0.0.1:2379 HOOKD_CLUSTER_SIZE=3
export HOOKD_PARTITIONS=16
export HOOKD_ADMIN_TOKEN=${HOOKD_ADMIN_TOKEN:-hookd_admin_$(openssl rand -hex 16)}
export HOOKD_MASTER_KEY=${HOOKD_MASTER_KEY:-$(openssl rand -hex 32)}
for n in 1 2 3; do
  HOOKD_NODE_NAME=node$n HOOKD_HTTP_PORT=808$n HOOKD_DATA_DIR="$dir/node$n" \
    "$hookd" >"$dir/node$n.out" 2>"$dir/node$n.log" &
  pids+=($!)
done
for n in 1 2 3; do
  until curl -sf "http://127.0.0.1:808$n/healthz" >/dev/null; do sleep 0.1; done
done
echo "three nodes up: http://127.0.0.1:8081 .. 8083"
echo "admin token: $HOOKD_ADMIN_TOKEN"
curl -s -H "Authorization: token $HOOKD_ADMIN_TOKEN" \
  http://127.0.0.1:8081/api/cluster | head -c 400
echo
echo "logs in $dir; Ctrl-C stops the cluster"
wait
