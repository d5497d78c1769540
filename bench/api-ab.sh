#!/usr/bin/env bash
# One API figure of two hookd builds, A against B, in one run: the same
# nginx receiver and wrk settings as `make bench`, rounds alternating A and
# B so that both see the machine alike. For a change on a request path,
# next to `make bench` (BENCHMARKS.md says which figures came from here).
#
#   bench/api-ab.sh A_BUILD_DIR B_BUILD_DIR FIGURE [rounds] [seconds]
#
# FIGURE: get (GET one webhook), one (POST one event matching one webhook
# that delivers to nginx), nohooks (POST one event no webhook matches),
# batch (POST 100 events a request). Each build dir holds a Release
# `hookd`. Prints "A <requests/s> <p99>" and "B <requests/s> <p99>" lines,
# and before them, each round, "bare <requests/s> <p99>": the bare RESTinio
# server (`bench/hookd-bench-server` of B's build, or else A's) answering
# the same request, so that A and B can be read as shares of a ceiling
# measured beside them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$1; b=$2; figure=$3; rounds=${4:-3}; seconds=${5:-5}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
require_tools nginx curl wrk
start_nginx
token=bench-admin-token-0123456789
event='{"event":"update_succeeded","projectName":"bench","stackName":"one","data":{"n":1}}'
script() { # body
  printf 'wrk.method = "POST"\nwrk.body = [==[%s]==]\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "token %s"\n' "$1" "$token" > "$work/post.lua"
}
case $figure in
  get) path=/api/stacks/acme/bench/one/hooks/nginx; args=(-H "Authorization: token $token") ;;
  one) path=/api/orgs/acme/events; script "$event"; args=(-s "$work/post.lua") ;;
  nohooks) path=/api/orgs/nohooks/events; script "$event"; args=(-s "$work/post.lua") ;;
  batch)
    path=/api/orgs/acme/events
    script "[$(for i in $(seq 100); do printf '%s%s' "$([ "$i" = 1 ] || echo ,)" "$event"; done)]"
    args=(-s "$work/post.lua") ;;
  *) echo "api-ab: FIGURE is get, one, nohooks or batch" >&2; exit 2 ;;
esac
# Runs wrk on url and prints "label <requests/s> <p99>".
measure() { # label url
  wrk -t2 -c64 -d"${seconds}s" --latency "${args[@]}" "$2" > "$work/wrk.out" 2>&1
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "api-ab: non-2xx answers from $1:" >&2; cat "$work/wrk.out" >&2; exit 1
  fi
  printf '%s %s %s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")" \
    "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")"
}
one() { # build label round
  start_ab_hookd "$1" "$work/$2-$3"
  pids+=("$ab_pid") # stopped on the way out if measure fails
  measure "$2" "$ab_url$path"
  kill -TERM "$ab_pid"; wait "$ab_pid" 2>/dev/null || true
}
bare_port=$(free_port)
bare_server=$b/bench/hookd-bench-server
[ -x "$bare_server" ] || bare_server=$a/bench/hookd-bench-server
"$bare_server" "$bare_port" >/dev/null 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
wait_port "$bare_port"
bare_path=/events
[ "$figure" = get ] && bare_path=/json
for i in $(seq "$rounds"); do
  measure bare "http://127.0.0.1:$bare_port$bare_path"
  one "$a" A "$i"
  one "$b" B "$i"
done
kill "$bare_pid" 2>/dev/null || true
