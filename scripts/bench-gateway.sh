#!/usr/bin/env bash
# SM2 verify through the crypto front proxy 密码前置 against the same node directly, in one
# run: requests/s (wrk, 32 connections) and latency p50/p99 (1 and 8 connections).
# Needs wrk (Debian: apt-get install wrk). Usage: scripts/bench-gateway.sh [seconds]
#
# With nginx installed (Debian: apt-get install nginx-light), nginx as a plain reverse proxy
# (keepalive upstream; no authentication, policy or metrics) is measured too, for reference.
#
# Two layouts:
#   shared  — node, gateway and wrk float over all cores (one small machine does everything);
#   pinned  — the node has core 1 to itself; wrk and the gateway share core 0 (the gateway
#             on its own host, as deployed), so the node's throughput is what is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin govcloud
bin="$CARGO_TARGET_DIR/release/govcloud"
work=$(mktemp -d)
np=$((20000 + RANDOM % 20000)); gp=$((np + 1))
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
start() { # cpus, args…
  local cpus=$1; shift
  GOVCLOUD_ADMIN_PASSWORD="bench-admin-password" RUST_LOG=warn taskset -c "$cpus" "$bin" --data-dir "$work" "$@" >>"$work/procs.log" 2>&1 &
  pids+=($!)
}
wait_up() { for _ in $(seq 100); do curl -fs "$1/healthz" >/dev/null && return; sleep 0.1; done; echo "$1 not up" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

run_layout() { # name node_cpus gw_cpus wrk_cpus
  local name=$1 ncpu=$2 gcpu=$3 wcpu=$4
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
  start "$ncpu" serve --listen "127.0.0.1:$np"
  wait_up "http://127.0.0.1:$np"
  start "$gcpu" gateway --listen "127.0.0.1:$gp" --node "http://127.0.0.1:$np"
  wait_up "http://127.0.0.1:$gp"
  local targets="direct gateway"
  if command -v nginx >/dev/null; then
    local workers=$(( $(echo "$gcpu" | tr ',-' '  ' | wc -w) ))
    cat >"$work/nginx.conf" <<NGX
worker_processes $workers;
pid $work/nginx.pid;
error_log $work/nginx.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream node { server 127.0.0.1:$np; keepalive 64; }
  server {
    listen 127.0.0.1:$((np + 2));
    location / { proxy_pass http://node; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
    taskset -c "$gcpu" nginx -c "$work/nginx.conf"
    targets="direct gateway nginx"
  fi
  sleep 1.5
  echo "== layout: $name (node cpus $ncpu, gateway cpus $gcpu, wrk cpus $wcpu)"
  for target in $targets; do
    local port=$np; [ "$target" = gateway ] && port=$gp; [ "$target" = nginx ] && port=$((np + 2))
    local url="http://127.0.0.1:$port/api/v1/crypto/verify"
    taskset -c "$wcpu" wrk -t1 -c4 -d2s -s "$work/verify.lua" "$url" >/dev/null # warm up
    local t=$(taskset -c "$wcpu" wrk -t1 -c32 -d"${secs}s" -s "$work/verify.lua" "$url" | awk '/Requests\/sec/ {print $2}')
    local l1=$(taskset -c "$wcpu" wrk -t1 -c1 -d"${secs}s" --latency -s "$work/verify.lua" "$url")
    local l8=$(taskset -c "$wcpu" wrk -t1 -c8 -d"${secs}s" --latency -s "$work/verify.lua" "$url")
    p() { echo "$1" | awk -v q="$2" '$1 == q {print $2}'; }
    printf '%-8s %-7s rps(c=32) %8s | c=1 p50 %8s p99 %8s | c=8 p50 %8s p99 %8s\n' \
      "$name" "$target" "$t" "$(p "$l1" 50%)" "$(p "$l1" 99%)" "$(p "$l8" 50%)" "$(p "$l8" 99%)"
  done
  [ -f "$work/nginx.pid" ] && nginx -c "$work/nginx.conf" -s stop 2>/dev/null || true
  sleep 0.5
}

# One data directory for both layouts: the app and its key are made once.
start 0-1 serve --listen "127.0.0.1:$np"
wait_up "http://127.0.0.1:$np"
token=$("$bin" --data-dir "$work" --format json app add bench | json token)
api="http://127.0.0.1:$np/api/v1/crypto"
key=$(curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"type":"sm2-sign"}' "$api/keys" | json id)
data=$(printf 'x%.0s' $(seq 256) | base64 -w0)
sig=$(curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "{\"key_id\":\"$key\",\"data\":\"$data\"}" "$api/sign" | json signature)
# The policy the gateway checks per request: verify with this key only (body is read).
"$bin" --data-dir "$work" app allow bench --operation verify --key "$key" >/dev/null
cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"key_id":"$key","data":"$data","signature":"$sig"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
run_layout shared 0-1 0-1 0-1
run_layout pinned 1 0 0
