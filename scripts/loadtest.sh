#!/usr/bin/env bash
# Load test of `cordon serve` on loopback with wrk (Debian package `wrk`):
# POST /v1/analyze and POST /v1/executions of print(1), 50 concurrent
# connections each, bounded in time. Prints requests/s, p50/p95/p99 and the
# failures, then checks that every execution the server answered for is in
# the audit log and that the chain verifies.
#
#   bash scripts/loadtest.sh                 # release build, 20 s per endpoint
#   DURATION=10s CONNECTIONS=50 CORDON=target/debug/cordon bash scripts/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-50}
PORT=${PORT:-18080}
CORDON=${CORDON:-target/release/cordon}

command -v wrk >/dev/null || { echo "loadtest: installing wrk"; apt-get install -y wrk >/dev/null; }
if [ "$CORDON" = target/release/cordon ]; then cargo build --release --bin cordon; fi

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
export CORDON_AUDIT_URL="sqlite://$work/audit.db" CORDON_AUDIT_KEY_FILE="$work/audit.key"

# Generous per-tenant limits: the test measures the gateway, not the rate limiter.
# Admission: up to 50 may wait for one of the host's slots instead of being refused.
cat > "$work/serve.yaml" <<EOF
listen: 127.0.0.1:$PORT
policies_dir: $PWD/policies
rate_limits:
  tenants:
    load: { concurrent: 1000, per_hour: 1000000 }
admission:
  queue: 1000
  queue_timeout: 120s
EOF
KEY=$("$CORDON" keys create --tenant load --role submitter 2>/dev/null)
AUDITOR=$("$CORDON" keys create --tenant load --role auditor 2>/dev/null)
CORDON_LOG=warn "$CORDON" serve --config "$work/serve.yaml" 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.body = '{"language":"python","code":"print(1)"}'
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  io.write(string.format("requests/s: %.1f  p50: %.1f ms  p95: %.1f ms  p99: %.1f ms  requests: %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.requests))
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d; non-2xx: %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
EOF

export KEY
echo "== POST /v1/analyze (print(1)), $CONNECTIONS connections, $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s -s "$work/post.lua" "http://127.0.0.1:$PORT/v1/analyze"
echo "== POST /v1/executions (print(1), wait for the result), $CONNECTIONS connections, $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 60s -s "$work/post.lua" "http://127.0.0.1:$PORT/v1/executions" | tee "$work/exec.txt"

# Every execution answered must be in the audit log, finished, and the chain must verify.
sleep 2
curl -fsS -H "Authorization: Bearer $AUDITOR" "http://127.0.0.1:$PORT/metrics" >/dev/null 2>&1 || true
kill -TERM $server; wait $server || true
total=$("$CORDON" audit query --tenant load --limit 100000000 --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
unfinished=$("$CORDON" audit query --tenant load --limit 100000000 --format json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if not r["termination_reason"]))')
exited=$("$CORDON" audit query --tenant load --reason exited --limit 100000000 --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "audit: $total executions recorded, $exited exited normally, $unfinished unfinished"
"$CORDON" audit verify
