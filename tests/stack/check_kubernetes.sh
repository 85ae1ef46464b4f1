#!/usr/bin/env bash
# Static checks of docker/kubernetes/: the generated files are what their generators make from today's
# sources (prometheus-rules.yaml from conf/prometheus/rules/*.yml, configmap.yaml from
# conf/apimeter/shop.yaml), every manifest passes the Kubernetes OpenAPI schema and the strict field check
# (validate_kubernetes.mjs), and the validator's self-test shows it rejects broken manifests.
# Runs every check and exits non-zero if any failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
k8s="$root/docker/kubernetes"
tools="$root/tests/tools/stack-validate"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0

echo "== generated files are up to date"
for pair in "generate_prometheus_rules.py prometheus-rules.yaml" "generate_configmap.py configmap.yaml"; do
  read -r generator output <<<"$pair"
  if ! /usr/bin/python3 "$k8s/$generator" --output "$tmp/$output"; then
    echo "FAIL: $generator failed" >&2
    status=1
  elif ! diff -u "$k8s/$output" "$tmp/$output"; then
    echo "FAIL: docker/kubernetes/$output is stale: run python3 docker/kubernetes/$generator" >&2
    status=1
  else
    echo "ok   docker/kubernetes/$output"
  fi
done

echo "== manifests against the Kubernetes OpenAPI schema"
(cd "$tools" && node "$root/tests/stack/validate_kubernetes.mjs") || status=1

echo "== validator self-test"
(cd "$tools" && node "$root/tests/stack/validate_kubernetes.mjs" --self-test) || status=1

exit "$status"
