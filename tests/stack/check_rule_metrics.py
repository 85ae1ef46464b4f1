#!/usr/bin/python3
"""Every metric a recording or alert rule reads is one that apimeter or a listed exporter produces: a name in
tests/stack/known_metrics.yaml (which stack.known_metrics checks against real scrapes where the exporter is in
Debian) or a recording rule built from such names. Exits 1 naming each rule and metric that is not."""

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboards import RULES, metric_names, metric_sources  # noqa: E402


def main():
    sources = metric_sources()
    problems = []
    checked = 0
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                for metric in metric_names(str(rule["expr"])):
                    checked += 1
                    if "unknown" in sources(metric):
                        problems.append(f"{path.name}: {name} reads {metric}, which no listed source produces")
    if checked == 0:
        problems.append("no rule expressions found")
    for p in problems:
        print(p)
    print(f"{checked} metric references checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
