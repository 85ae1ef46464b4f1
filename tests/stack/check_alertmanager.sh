#!/usr/bin/env bash
# Static checks of conf/alertmanager/: `amtool check-config` (the config and its Slack templates parse), then
# `amtool config routes test` on label sets: a critical API alert pages #alerts-critical, a warning goes to
# #devops, a RabbitMQ alert to #developers, and every alert of conf/prometheus/rules/ lands where its
# severity and team say. Exits non-zero if any check failed. AMTOOL overrides the amtool binary.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
amtool="${AMTOOL:-amtool}"
config="$root/conf/alertmanager/alertmanager.yml"
status=0
checked=0

echo "== amtool check-config"
"$amtool" check-config "$config" || status=1

# expect_receiver RECEIVER LABEL=VALUE...: the label set must route to exactly RECEIVER.
expect_receiver() {
  local expected="$1"
  shift
  local got
  checked=$((checked + 1))
  if ! got="$("$amtool" config routes test --config.file="$config" --verify.receivers="$expected" "$@" 2>/dev/null)"; then
    echo "FAIL: {$*} routes to '${got%%$'\n'*}', expected '$expected'" >&2
    status=1
  fi
}

echo "== amtool config routes test"
expect_receiver slack-critical alertname=ApiLatencyHigh severity=critical team=devops component=api service=shop \
  'http_route=/api/search'
expect_receiver slack-critical alertname=ApiErrorRateHigh severity=critical team=devops component=api service=crm
expect_receiver devops alertname=ApimeterSeriesDropped severity=warning team=devops component=apimeter service=mes
expect_receiver devops alertname=NodeFilesystemSpaceLow severity=warning team=devops component=node service=node
expect_receiver developers alertname=RabbitmqDeadLetterQueueNotEmpty severity=warning team=developers \
  component=rabbitmq service=rabbitmq queue=mes.orders.dlq
# The developers' route comes first: a critical of theirs goes to them too.
expect_receiver developers alertname=RabbitmqQueueNoConsumers severity=critical team=developers service=rabbitmq
# An alert without a severity (someone else's rule) still reaches a human.
expect_receiver devops alertname=SomethingElse service=billing

# Every alert rule in the repository, with its static labels (a templated label gets a sample value):
# team="developers" -> developers, else severity="critical" -> slack-critical, else devops.
shopt -s nullglob
rule_files=("$root"/conf/prometheus/rules/*.yml)
if ((${#rule_files[@]} == 0)); then
  echo "FAIL: no rule files in $root/conf/prometheus/rules" >&2
  exit 1
fi
if ! cases="$(/usr/bin/python3 - "${rule_files[@]}" <<'EOF'
import sys

import yaml

for path in sys.argv[1:]:
    for group in yaml.safe_load(open(path)).get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            labels = {"alertname": rule["alert"]}
            for key, value in (rule.get("labels") or {}).items():
                labels[key] = "sample" if "{{" in str(value) else str(value)
            labels.setdefault("service", "sample")
            if labels.get("team") == "developers":
                expected = "developers"
            elif labels.get("severity") == "critical":
                expected = "slack-critical"
            else:
                expected = "devops"
            print(expected, " ".join(f"{k}={v}" for k, v in labels.items()))
EOF
)"; then
  echo "FAIL: could not read the alert rules" >&2
  exit 1
fi
while read -r expected labels; do
  # shellcheck disable=SC2086 # labels is a list of words by construction (no spaces in values)
  expect_receiver "$expected" $labels
done <<<"$cases"

echo "$checked label sets routed, status $status"
exit "$status"
