#!/usr/bin/env bash
# `make demo`: the demo shop API on 127.0.0.1:3000, apimeter in front of it on :8080 (admin :9901) with the
# shop's config (named routes, user ids from X-User-Id), and the load generator sending shop traffic with
# user ids, a spike, an error burst and a slow period, so the live view has something to show at once.
# Runs until Ctrl-C; DEMO_SECONDS=N stops it after N seconds and fails unless the live view showed traffic.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/release
work=build/demo
mkdir -p "$work"
: > "$work/access.log"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$bin/tests/support/demo_upstream" --listen 127.0.0.1:3000 --shape shop --quiet > "$work/upstream.log" 2>&1 &
pids+=($!)
"$bin/proxy/apimeter" --config conf/apimeter/shop.yaml --listen 127.0.0.1:8080 \
  --admin 127.0.0.1:9901 --tracing-enabled false --access-log "$work/access.log" 2> "$work/apimeter.log" &
pids+=($!)

for _ in $(seq 1 50); do
  "$bin/proxy/apimeter" healthcheck --admin 127.0.0.1:9901 2>/dev/null && break
  sleep 0.1
done
"$bin/proxy/apimeter" healthcheck --admin 127.0.0.1:9901

# Two-minute cycles: a 3x spike at 20 s, 30 % errors at 50 s, /api/search slowed by 2.5 s at 85 s.
traffic_seconds=${DEMO_TRAFFIC_SECONDS:-0}
python3 docker/loadgen/loadgen.py --shop http://127.0.0.1:8080 --crm "" --mes "" \
  --shop-control http://127.0.0.1:3000 --rps 25 --concurrency 16 --users 300 --duration "$traffic_seconds" \
  --period 2m --spike-at 20s --spike-length 15s --spike-factor 3 --errors-at 50s --errors-length 20s \
  --slow-service shop --slow-path /api/search --slow-at 85s --slow-length 20s --slow-delay 2500ms \
  --report-every 30s > "$work/loadgen.log" 2>&1 &
pids+=($!)

cat <<MSG

  apimeter is measuring the demo shop API. Open the live view:

    http://127.0.0.1:9901/dashboard            (or in this terminal: $bin/proxy/apimeter top)

    proxy       http://127.0.0.1:8080          try: curl -i -H 'X-User-Id: you' http://127.0.0.1:8080/api/products
    metrics     http://127.0.0.1:9901/metrics  JSON: /stats   learned routes: /routes
    access log  $work/access.log   (one JSON line per request, ECS field names)
    traffic     $work/loadgen.log  (steady traffic with user ids; a spike, an error burst and a slow
                                     /api/search every two minutes)

  Ctrl-C stops everything.

MSG

if [ "${DEMO_SECONDS:-0}" -gt 0 ]; then
  sleep "$DEMO_SECONDS"
  # What the live view shows, once, as a script sees it: the routes table with traffic on it.
  "$bin/proxy/apimeter" top --admin 127.0.0.1:9901 | tee "$work/top.txt"
  routes=$(grep -c '^/api/' "$work/top.txt" || true)
  status=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9901/dashboard)
  echo "demo: the live view lists $routes routes with traffic; /dashboard answered $status"
  [ "$routes" -gt 0 ] && [ "$status" = 200 ] || { echo "demo: no traffic reached the live view" >&2; exit 1; }
  exit 0
fi
wait "${pids[2]}" 2>/dev/null || true
echo "demo: the load generator stopped (see $work/loadgen.log); the proxy keeps running until Ctrl-C"
wait
