# Shared by the bench/ scripts (sourced, not run): a scratch directory
# cleaned up on exit with every process started, the tools a script needs,
# free loopback ports, and the nginx that stands in for receivers.
# Needs `here` (the bench/ directory) set by the sourcing script.

work=$(mktemp -d /tmp/hookd-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Stops the run unless every tool named is on the PATH.
require_tools() { # tool...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}

# Starts nginx (`return 200`, bench/nginx.conf.in) on a free port; sets
# nginx_url.
start_nginx() {
  local port; port=$(free_port)
  mkdir -p "$work/nginx"
  sed -e "s|@DIR@|$work/nginx|g" -e "s|@PORT@|$port|g" "$here/nginx.conf.in" > "$work/nginx.conf"
  nginx -c "$work/nginx.conf" -e "$work/nginx/error.log" &
  pids+=($!)
  wait_port "$port"
  nginx_url=http://127.0.0.1:$port
}

# Starts BUILD_DIR/hookd on a fresh data directory with one webhook to
# nginx (stack acme/bench/one, named "nginx"), as the A/B scripts measure
# it; sets ab_url and ab_pid. Needs `token` and nginx_url.
start_ab_hookd() { # build_dir data_dir
  local port
  port=$(free_port)
  env HOOKD_HTTP_PORT="$port" HOOKD_DATA_DIR="$2" HOOKD_ADMIN_TOKEN=$token \
    HOOKD_ALLOW_PRIVATE_TARGETS=1 HOOKD_MAX_PENDING=10000000 HOOKD_MAX_PENDING_PER_ORG=10000000 \
    "$1/hookd" >"$2.out" 2>"$2.err" &
  ab_pid=$!
  wait_port "$port"
  ab_url=http://127.0.0.1:$port
  curl -sf -H "Authorization: token $token" -X POST "$ab_url/api/stacks/acme/bench/one/hooks" \
    -d "{\"name\":\"nginx\",\"displayName\":\"bench\",\"active\":true,\"payloadUrl\":\"$nginx_url/hook\"}" >/dev/null
}
