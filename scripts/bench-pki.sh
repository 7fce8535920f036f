#!/usr/bin/env bash
# Strong authentication (signature+certificate mode) and RFC 3161 timestamps per second
# through the HTTP API, release build, server and load generator on the same machine.
# Needs wrk and openssl (Debian). Usage: scripts/bench-pki.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin govcloud --example auth_load
bin="$CARGO_TARGET_DIR/release/govcloud"
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export GOVCLOUD_ADMIN_PASSWORD="bench-admin-password"
RUST_LOG=warn "$bin" --data-dir "$work" serve --demo --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$("$bin" --data-dir "$work" --format json app add bench | json "['token']")
"$bin" --data-dir "$work" --format json pki issue --profile personal --cn 压测用户 --id-number 110101199001011234 \
  --out "$work/holder" --public-url "http://127.0.0.1:$port" >"$work/issued.json"
password=$(json "['key_password']" <"$work/issued.json")
openssl pkey -in "$work/holder/key.pem" -passin "pass:$password" -out "$work/holder/plain.pem"
echo "== strong authentication, signature+certificate (challenge + client SM2 signing + verify), ${secs}s, 16 workers"
"$CARGO_TARGET_DIR/release/examples/auth_load" "http://127.0.0.1:$port" "$token" "$work/holder/cert.pem" "$work/holder/plain.pem" "$secs" 16
echo "== RFC 3161 timestamps (SM3 → SM2 TSA), wrk -t1 -c16 ${secs}s"
echo "bench data" >"$work/data.txt"
openssl ts -query -data "$work/data.txt" -sm3 -cert -out "$work/q.tsq" 2>/dev/null
cat >"$work/tsa.lua" <<LUA
local f = io.open("$work/q.tsq", "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/timestamp-query"
wrk.headers["Authorization"] = "Bearer $token"
LUA
wrk -t1 -c16 -d"${secs}s" -s "$work/tsa.lua" "http://127.0.0.1:$port/tsa" | grep -E "Requests/sec|Latency|Non-2xx"
