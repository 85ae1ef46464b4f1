#!/usr/bin/env bash
# Static checks of the Prometheus rules in conf/prometheus/: `promtool check rules` on every rule file,
# `promtool test rules` on every unit test file, and the conventions the alerts and the README share (labels,
# annotations, runbook anchors in README.md, a firing and a quiet test case per alert, a value test per
# recording rule).
# Runs every check and exits non-zero if any failed. PROMTOOL overrides the promtool binary.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
promtool="${PROMTOOL:-promtool}"
rules_dir="$root/conf/prometheus/rules"
tests_dir="$root/conf/prometheus/tests"
status=0

shopt -s nullglob
rule_files=("$rules_dir"/*.yml)
test_files=("$tests_dir"/*.test.yml)
if ((${#rule_files[@]} == 0 || ${#test_files[@]} == 0)); then
  echo "check_rules: no rule files in $rules_dir or no test files in $tests_dir" >&2
  exit 1
fi

echo "== promtool check rules"
"$promtool" check rules "${rule_files[@]}" || status=1

echo "== promtool test rules"
# promtool resolves a test file's rule_files relative to the test file, so the working directory is free.
"$promtool" test rules "${test_files[@]}" || status=1

echo "== conventions"
/usr/bin/python3 - "$root" "${rule_files[@]}" -- "${test_files[@]}" <<'EOF' || status=1
import re
import sys

import yaml

root = sys.argv[1]
split = sys.argv.index("--")
rule_files, test_files = sys.argv[2:split], sys.argv[split + 1:]
errors = []

alerts, records = {}, set()
for path in rule_files:
    doc = yaml.safe_load(open(path))
    for group in doc.get("groups", []):
        where = f"{path}: group {group['name']}"
        if "interval" in group:
            errors.append(f"{where}: sets interval (the global evaluation_interval applies)")
        for rule in group.get("rules", []):
            if "record" in rule:
                records.add(rule["record"])
                continue
            name = rule["alert"]
            alerts.setdefault(name, path)
            labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
            if labels.get("severity") not in ("critical", "warning"):
                errors.append(f"{where}: {name}: severity must be critical or warning")
            if labels.get("team") not in ("devops", "developers"):
                errors.append(f"{where}: {name}: team must be devops or developers")
            if "component" not in labels:
                errors.append(f"{where}: {name}: no component label")
            for key in ("summary", "description", "runbook_url"):
                if not annotations.get(key):
                    errors.append(f"{where}: {name}: no {key} annotation")
            expected = f"README.md#runbook-{name.lower()}"
            if annotations.get("runbook_url") != expected:
                errors.append(f"{where}: {name}: runbook_url must be {expected}")

fired, quiet, tested_exprs = set(), set(), []
for path in test_files:
    doc = yaml.safe_load(open(path))
    for test in doc.get("tests", []):
        for case in test.get("alert_rule_test", []) or []:
            exp = case.get("exp_alerts") or []
            if not exp:
                quiet.add(case["alertname"])
            elif all(a.get("exp_labels") and a.get("exp_annotations") for a in exp):
                fired.add(case["alertname"])
            # What the routing and the Slack messages rely on, as the alert really comes out (the service
            # label often comes from the series, so only a firing case shows it).
            for a in exp:
                missing = [k for k in ("severity", "team", "service") if k not in (a.get("exp_labels") or {})]
                if missing:
                    errors.append(f"{path}: {case['alertname']} at {case['eval_time']}: fires without {missing}")
        for case in test.get("promql_expr_test", []) or []:
            if case.get("exp_samples"):
                tested_exprs.append(case["expr"])

for name, path in sorted(alerts.items()):
    if name not in fired:
        errors.append(f"{path}: {name}: no test case where it fires with exp_labels and exp_annotations")
    if name not in quiet:
        errors.append(f"{path}: {name}: no test case where it stays quiet (exp_alerts: [])")
for name in sorted(records):
    if not any(re.search(re.escape(name) + r"(?![\w:])", e) for e in tested_exprs):
        errors.append(f"recording rule {name}: no promql_expr_test with expected samples")

try:
    readme = open(f"{root}/README.md").read()
except OSError:
    readme = ""
for name in sorted(alerts):
    if f'<a id="runbook-{name.lower()}"></a>' not in readme:
        errors.append(f'README.md: no runbook anchor <a id="runbook-{name.lower()}"></a> for {name}')

for e in errors:
    print(e, file=sys.stderr)
print(f"{len(alerts)} alerts, {len(records)} recording rules, {len(errors)} problems")
sys.exit(1 if errors else 0)
EOF

exit "$status"
