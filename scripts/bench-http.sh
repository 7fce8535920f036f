#!/usr/bin/env bash
# End-to-end benchmark of SM2 verification through the HTTP API, against the single-core
# rate of the same primitive measured in the same run. Needs wrk (Debian: apt-get install wrk).
# Usage: scripts/bench-http.sh [seconds per API run] [rounds]   — figures go to
# docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-5}
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
# The machine's speed drifts by ±10% within minutes, so each round measures the primitive just
# before and just after its API run and compares the API with their mean.
primitive() {
  local out value unit
  out=$(taskset -c 0 cargo bench --quiet -p govcloud-crypto --bench primitives -- --warm-up-time 1 --measurement-time 3 'sm2/verify \(256 B\)$' 2>/dev/null \
    | grep -A2 'sm2/verify (256 B)' | grep thrpt | sed -E 's/.*\[[^ ]+ [^ ]+ ([0-9.]+) (K?)elem.*/\1 \2/')
  read -r value unit <<<"$out"
  python3 -c "print(round($value * (1000 if '$unit' == 'K' else 1)))"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "== $rounds rounds: primitive (criterion, one core), API (wrk -t1 -c32, ${secs}s; server and wrk share the 2 cores), primitive"
printf '%-6s %10s %10s %12s %8s %12s %10s %12s\n' round "prim.pre" "prim.post" "API req/s" ratio "server cores" "wrk cores" "per srv core"
results="$work/rounds.txt"
for round in $(seq "$rounds"); do
  pre=$(primitive)
  before=$(ticks $server)
  wrk_out=$( { /usr/bin/time -f "WRKCPU %U %S" wrk -t1 -c32 -d"${secs}s" -s "$work/verify.lua" "$api/verify"; } 2>&1 )
  after=$(ticks $server)
  post=$(primitive)
  rps=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
  errors=$(echo "$wrk_out" | awk '/Non-2xx|Socket errors/' )
  [ -z "$errors" ] || { echo "wrk saw errors: $errors" >&2; exit 1; }
  wrk_cpu=$(echo "$wrk_out" | awk '/WRKCPU/ {print $2 + $3}')
  python3 - "$round" "$pre" "$post" "$rps" "$((after - before))" "$wrk_cpu" "$secs" "$hz" <<'PY' | tee -a "$results"
import sys
rnd, pre, post, rps, ticks, wrk_cpu, secs, hz = sys.argv[1:]
prim = (int(pre) + int(post)) / 2
rps, secs = float(rps), float(secs)
server = int(ticks) / int(hz) / secs
print(f"{rnd:<6} {pre:>10} {post:>10} {rps:>12.0f} {rps / prim:>7.2f}x {server:>12.2f} "
      f"{float(wrk_cpu) / secs:>10.2f} {rps / server / prim:>11.0%}")
PY
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
ratio = [float(r[4].rstrip("x")) for r in rows]
eff = [float(r[7].rstrip("%")) for r in rows]
print(f"median ratio to the single-core primitive: {statistics.median(ratio):.2f}x "
      f"(min {min(ratio):.2f}, max {max(ratio):.2f}); "
      f"median per server core: {statistics.median(eff):.0f}% of the primitive")
PY
