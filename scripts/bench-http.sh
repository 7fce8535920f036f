#!/usr/bin/env bash
# End-to-end benchmark of SM2 verification through the HTTP API, against the single-core
# rate of the same primitive measured in the same run. Needs wrk (Debian: apt-get install wrk).
# Usage: scripts/bench-http.sh [seconds]   — figures go to docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin govcloud
bin="$CARGO_TARGET_DIR/release/govcloud"
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
GOVCLOUD_ADMIN_PASSWORD="bench-admin-password" RUST_LOG=warn "$bin" --data-dir "$work" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
token=$("$bin" --data-dir "$work" --format json app add bench | json token)
api="http://127.0.0.1:$port/api/v1/crypto"
key=$(curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"type":"sm2-sign"}' "$api/keys" | json id)
data=$(printf 'x%.0s' $(seq 256) | base64 -w0)
sig=$(curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "{\"key_id\":\"$key\",\"data\":\"$data\"}" "$api/sign" | json signature)
cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"key_id":"$key","data":"$data","signature":"$sig"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
echo "== single-core primitive (criterion, provider verify of 256 bytes)"
prim=$(taskset -c 0 cargo bench --quiet -p govcloud-crypto --bench primitives -- --warm-up-time 1 --measurement-time 5 'sm2/verify \(256 B\)$' 2>/dev/null \
  | grep -A2 'sm2/verify (256 B)' | grep thrpt | sed -E 's/.*\[[^ ]+ [^ ]+ ([0-9.]+) (K?)elem.*/\1 \2/')
read -r value unit <<<"$prim"
per_core=$(python3 -c "print(round($value * (1000 if '$unit' == 'K' else 1)))")
echo "verify/s on one core: $per_core"
echo "== through the API (wrk, 1 thread, 32 connections, ${secs}s; server and wrk share the cores)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks $server)
wrk_out=$( { /usr/bin/time -f "WRKCPU %U %S" wrk -t1 -c32 -d"${secs}s" -s "$work/verify.lua" "$api/verify"; } 2>&1 )
after=$(ticks $server)
echo "$wrk_out" | grep -v WRKCPU
rps=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
wrk_cpu=$(echo "$wrk_out" | awk '/WRKCPU/ {print $2 + $3}')
python3 - <<PY
rps, per_core, secs = float("$rps"), $per_core, $secs
server_cores = ($after - $before) / $hz / secs
wrk_cores = float("$wrk_cpu") / secs
print(f"API verify requests/s: {rps:.0f} = {rps/per_core:.2f} x the single-core primitive rate")
print(f"CPU used: server {server_cores:.2f} cores, wrk {wrk_cores:.2f} cores (of 2)")
print(f"per server core: {rps/server_cores:.0f} requests/s = {rps/server_cores/per_core:.0%} of the bare primitive")
PY
