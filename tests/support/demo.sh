#!/usr/bin/env bash
# `make demo`: the demo shop upstream on 127.0.0.1:3000, apimeter in front of it on :8080 (admin :9901)
# with conf/apimeter.yaml, a minute of sample traffic over the shop's routes, and where to look.
# Runs until Ctrl-C; DEMO_SECONDS=N stops it after N seconds and fails unless traffic went through.
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

"$bin/tests/support/demo_upstream" --listen 127.0.0.1:3000 > "$work/upstream.log" 2>&1 &
pids+=($!)
"$bin/proxy/apimeter" --config conf/apimeter.yaml --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 \
  --access-log "$work/access.log" 2> "$work/apimeter.log" &
pids+=($!)

for _ in $(seq 1 50); do
  "$bin/proxy/apimeter" healthcheck --admin 127.0.0.1:9901 2>/dev/null && break
  sleep 0.1
done
"$bin/proxy/apimeter" healthcheck --admin 127.0.0.1:9901

traffic_seconds=${DEMO_TRAFFIC_SECONDS:-60}
(
  end=$((SECONDS + traffic_seconds))
  paths=(/api/products /api/products/17 /api/products/3 /api/orders/1042 /api/orders/77 /api/users/5/cart
         /api/search?q=lamp /static/app.js /api/unknown/42)
  while [ $SECONDS -lt $end ]; do
    for p in "${paths[@]}"; do curl -s -o /dev/null -m 5 "http://127.0.0.1:8080$p" || true; done
    curl -s -o /dev/null -m 5 -X POST -H 'Content-Type: application/json' -d '{"product":17,"qty":1}' \
      http://127.0.0.1:8080/api/orders || true
    sleep 0.2
  done
) &
pids+=($!)

cat <<MSG

  apimeter is running in front of the demo shop API.

    proxy      http://127.0.0.1:8080     try: curl -i http://127.0.0.1:8080/api/orders/1042
    upstream   http://127.0.0.1:3000     (the demo shop, reached through the proxy)
    admin      http://127.0.0.1:9901/readyz   /healthz
    access log $work/access.log   (one JSON line per request, ECS field names)
    proxy log  $work/apimeter.log

  Sample traffic runs for ${traffic_seconds}s. Ctrl-C stops everything.

MSG

if [ "${DEMO_SECONDS:-0}" -gt 0 ]; then
  sleep "$DEMO_SECONDS"
  lines=$(wc -l < "$work/access.log")
  ok=$(grep -c '"http.response.status_code":20' "$work/access.log" || true)
  echo "demo: $lines requests logged, $ok answered 2xx"
  [ "$ok" -gt 0 ] || { echo "demo: no successful request went through the proxy" >&2; exit 1; }
  exit 0
fi
tail -n 0 -f "$work/access.log"
