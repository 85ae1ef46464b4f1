#!/usr/bin/env bash
# Static checks of the compose model (docker/compose.yaml) and the Prometheus config it runs, without a
# Docker engine: `docker-compose config -q` for the default services and the `logging` profile;
# `promtool check config` on conf/prometheus/prometheus.yml (which also checks the rule files it loads);
# and the model's own rules, on the resolved config: only the contract's ports are published (and all of
# them), every image is pinned to an exact tag, every repository file mounted exists, every dependency
# waits on a healthcheck or a finished job, and every long-running service has a healthcheck unless it
# has no way to run one. Runs every check and exits non-zero if any failed.
# COMPOSE overrides the compose command (default: docker-compose, else docker compose); PROMTOOL promtool.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
compose_file="$root/docker/compose.yaml"
promtool="${PROMTOOL:-promtool}"
if [[ -n "${COMPOSE:-}" ]]; then
  read -r -a compose <<<"$COMPOSE"
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  compose=(docker compose)
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0

# The variables the file reads, unset, so the defaults are what is checked.
unset STACK_BIND_ADDRESS SLACK_SECRET_SUFFIX GRAFANA_ADMIN_PASSWORD LOADGEN_RPS LOADGEN_PERIOD

echo "== ${compose[*]} config (default services)"
"${compose[@]}" -f "$compose_file" config -q || status=1
echo "== ${compose[*]} config (profile logging)"
"${compose[@]}" -f "$compose_file" --profile logging config -q || status=1
if ! "${compose[@]}" -f "$compose_file" --profile logging config > "$tmp/resolved.yaml"; then
  echo "FAIL: cannot resolve $compose_file" >&2
  exit 1
fi

echo "== promtool check config"
"$promtool" check config "$root/conf/prometheus/prometheus.yml" || status=1

echo "== the model's rules"
/usr/bin/python3 - "$root" "$tmp/resolved.yaml" <<'EOF' || status=1
import os
import re
import sys

import yaml

root, resolved = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(resolved, encoding="utf-8"))
services = config.get("services") or {}
errors = []

# The ports a person opens (README, tests/stack contract), by profile; nothing else may be published.
PORTS = {None: {8081, 8082, 8083, 3000, 9090, 9093, 16686}, "logging": {5601}}
# Services without a healthcheck, and why: they must stay few and deliberate.
NO_HEALTHCHECK = {
    "redis-exporter": "FROM scratch: no shell or client in the image",
    "fluent-bit": "distroless: no shell or client in the image",
    "loadgen": "a client: nothing to ask, nothing waits for it",
    "db-activity": "a client: nothing to ask, nothing waits for it",
    "cache-activity": "a client: nothing to ask, nothing waits for it",
}
# An exact version: major.minor[.patch...] somewhere in the tag, a MinIO release stamp, or a digest.
EXACT_TAG = re.compile(r"\d+\.\d+|^RELEASE\.\d{4}-\d\d-\d\dT")


def profiles_of(service):
    return service.get("profiles") or [None]


def host_port(entry):
    """The published host port of a ports entry (short or long syntax), or None when only exposed."""
    if isinstance(entry, dict):
        published = entry.get("published")
        return int(published) if published not in (None, "") else "random"
    text = str(entry).split("/")[0]
    parts = text.rsplit(":", 2)   # [HOST_IP:]HOST_PORT:CONTAINER_PORT, or CONTAINER_PORT alone
    if len(parts) == 1:
        return "random"   # "8080": a random host port, still published
    published = parts[-2]
    return int(published) if published.isdigit() else published


def image_problem(name, image, built):
    if not image:
        return "has no image"
    ref = image.split("@", 1)[0]
    digest = "@sha256:" in image
    last = ref.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag and not digest:
        return f"image {image} has no tag"
    if tag == "latest":
        return f"image {image} is :latest"
    if not built and not digest and not EXACT_TAG.search(tag):
        return f"image {image}: tag {tag!r} is not an exact version"
    return None


published = {}
for name, service in sorted(services.items()):
    built = "build" in service
    problem = image_problem(name, service.get("image"), built)
    if problem:
        errors.append(f"{name}: {problem}")

    for entry in service.get("ports") or []:
        port = host_port(entry)
        allowed = set().union(*(PORTS.get(p, set()) for p in profiles_of(service)))
        if port not in allowed:
            errors.append(f"{name}: publishes {entry!r}; only the contract's ports may be published "
                          f"({sorted(allowed)} for this service's profile)")
        for profile in profiles_of(service):
            published.setdefault(profile, set()).add(port)
    if service.get("network_mode", "").startswith("service:") and service.get("ports"):
        errors.append(f"{name}: shares another service's network namespace and publishes ports itself")

    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        errors.append(f"{name}: depends_on without conditions: {depends}")
        depends = {}
    for dependency, spec in depends.items():
        condition = (spec or {}).get("condition")
        if condition not in ("service_healthy", "service_completed_successfully"):
            errors.append(f"{name}: depends on {dependency} with condition {condition!r} "
                          "(use service_healthy, or service_completed_successfully for a job)")
        target = services.get(dependency)
        if target is None:
            errors.append(f"{name}: depends on unknown service {dependency}")
            continue
        if condition == "service_healthy" and not target.get("healthcheck"):
            errors.append(f"{name}: waits for {dependency} to be healthy, but {dependency} has no healthcheck")
        if condition == "service_completed_successfully" and target.get("restart", "no") != "no":
            errors.append(f"{name}: waits for {dependency} to finish, but {dependency} restarts")
        missing = [p for p in profiles_of(target) if p is not None and p not in profiles_of(service)]
        if missing and None in profiles_of(service):
            errors.append(f"{name} (default profile) depends on {dependency}, which only runs with {missing}")

    one_shot = service.get("restart", "no") == "no"
    healthcheck = service.get("healthcheck")
    if healthcheck and healthcheck.get("disable"):
        healthcheck = None
    if not healthcheck and not one_shot and name not in NO_HEALTHCHECK:
        errors.append(f"{name}: a long-running service without a healthcheck (add one, or add it to "
                      "NO_HEALTHCHECK in tests/stack/check_compose.sh with the reason)")
    if healthcheck and name in NO_HEALTHCHECK:
        errors.append(f"{name}: has a healthcheck now; remove it from NO_HEALTHCHECK")

    # Files and directories of this repository that the service mounts must exist.
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":", 1)[0]
        if source and os.path.isabs(source) and os.path.abspath(source).startswith(os.path.abspath(root) + os.sep):
            if not os.path.exists(source):
                errors.append(f"{name}: mounts {os.path.relpath(source, root)}, which does not exist")

for profile, expected in PORTS.items():
    got = {p for p in published.get(profile, set())}
    if profile is not None:
        got -= published.get(None, set())
    if got != expected:
        errors.append(f"profile {profile or 'default'}: publishes {sorted(got, key=str)}, the contract says "
                      f"{sorted(expected)}")

for name, secret in sorted((config.get("secrets") or {}).items()):
    file = secret.get("file")
    if file and not os.path.exists(file):
        errors.append(f"secret {name}: {os.path.relpath(file, root)} does not exist")

for error in errors:
    print(f"FAIL: {error}", file=sys.stderr)
print(f"compose model: {len(services)} services, {len(errors)} problems")
sys.exit(1 if errors else 0)
EOF

exit "$status"
