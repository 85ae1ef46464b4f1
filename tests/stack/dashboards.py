"""Every query of the Grafana dashboards, template variables substituted, for the end-to-end test to run.

Reads conf/grafana/dashboards/*.json, the known-metrics list and the recording rules; writes nothing. The static
validator (validate_dashboards.mjs) parses the same expressions with Prometheus's own grammar; the metric names
here come from a small tokenizer that is enough for PromQL as these dashboards write it (names, label matchers,
ranges, grouping clauses, function calls).
"""

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "conf" / "grafana" / "dashboards"
KNOWN_METRICS = REPO / "tests" / "stack" / "known_metrics.yaml"
RULES = REPO / "conf" / "prometheus" / "rules"

# Grafana's global variables, as Grafana would fill them for a short dashboard range; `values` may override them.
GRAFANA_DEFAULTS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
# A variable's value meaning "All": its allValue (.*) goes in unescaped, as Grafana does.
ALL = "$__all"

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_IN_REGEX_STRING = re.compile(r"(=~|!~)\s*\"[^\"]*$")
_IN_STRING = re.compile(r"\"[^\"]*$")

_STRING = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")
_NAME_MATCHER = re.compile(r"__name__\s*=\s*\"([^\"]*)\"")
_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
             "unless", "inf", "nan", "atan2"}


def _as_list(value):
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def substitute(expr: str, values: dict, all_values: dict = None) -> str:
    """Fills Grafana template variables: inside a regex matcher (=~"$var", !~"$var") the values joined by | (as
    regexes: ".*" selects everything; Grafana would escape the values a user picks, so escape literal
    metacharacters yourself), or the variable's allValue for ALL; elsewhere the single value. A variable missing
    from `values` takes its entry in `all_values` (the dashboard's All); one with neither raises ValueError, so a
    query never goes out half-filled."""
    all_values = all_values or {}
    merged = {**GRAFANA_DEFAULTS, **{k: ALL for k in all_values}, **values}
    out = []
    pos = 0
    for m in _VARIABLE.finditer(expr):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in merged:
            raise ValueError(f"no value for ${name} in {expr!r}")
        vals = _as_list(merged[name])
        before = expr[:m.start()]
        if vals == [ALL]:
            if not _IN_REGEX_STRING.search(before):
                raise ValueError(f"${name} is All but not in a regex matcher in {expr!r}")
            text = all_values.get(name, ".*")
        elif _IN_REGEX_STRING.search(before):
            # Escaped for the PromQL string literal only: the values are regexes.
            text = "|".join(v.replace("\\", "\\\\").replace('"', '\\"') for v in vals)
        elif len(vals) == 1:
            text = vals[0].replace("\\", "\\\\").replace('"', '\\"') if _IN_STRING.search(before) else vals[0]
        else:
            raise ValueError(f"${name} has several values but is not in a regex matcher in {expr!r}")
        out.append(expr[pos:m.start()])
        out.append(text)
        pos = m.end()
    out.append(expr[pos:])
    return "".join(out)


def metric_names(expr: str) -> list:
    """Metric names a PromQL expression selects, sorted."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)       # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)        # ranges and subqueries
    text = _CLAUSE.sub(" ", text)                 # grouping and matching labels
    names.update(n for n in _IDENTIFIER.findall(text) if n not in _KEYWORDS)
    return sorted(names)


def metric_sources(known: Path = KNOWN_METRICS, rules: Path = RULES):
    """A function from a metric name to the sources (keys of the known-metrics list) it comes from; a recording
    rule comes from the sources of what its expression reads, a metric nobody lists from "unknown"."""
    listed = {}
    doc = (yaml.safe_load(known.read_text()) or {}) if known.exists() else {}
    for source, entry in (doc.get("sources", doc)).items():
        for n in (entry if isinstance(entry, list) else (entry or {}).get("metrics", [])) or []:
            listed.setdefault(n if isinstance(n, str) else n.get("name"), set()).add(source)
    records = {}
    for path in sorted(rules.glob("*.y*ml")) if rules.is_dir() else []:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    records.setdefault(rule["record"], set()).update(metric_names(str(rule["expr"])))

    def sources(metric, seen=()):
        if metric in records and metric not in seen:
            return set().union(set(), *(sources(m, seen + (metric,)) for m in records[metric]))
        found = listed.get(metric) or listed.get(re.sub(r"_(bucket|count|sum)$", "", metric))
        if found:
            return set(found)
        return {"unknown"}
    return sources


def _panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else ()


def dashboard_queries(values: dict, directory: Path = DASHBOARDS) -> list:
    """One item per panel target of every dashboard: {dashboard, panel, ref_id, expr, metrics, sources,
    exemplar}, with `expr` ready for the Prometheus HTTP API and `sources` the known-metrics sources its metrics
    come from. `values` maps a variable name (service, route, queue, instance, container, or a Grafana global such
    as __rate_interval) to a value, a list of values, or ALL; a dashboard variable left out means All."""
    sources_of = metric_sources()
    items = []
    for path in sorted(Path(directory).glob("*.json")):
        dashboard = json.loads(path.read_text())
        all_values = {v["name"]: v.get("allValue") or ".*"
                      for v in dashboard.get("templating", {}).get("list", []) if v.get("includeAll")}
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                if "expr" not in target:
                    continue
                expr = substitute(target["expr"], values, all_values)
                metrics = metric_names(expr)
                items.append({
                    "dashboard": dashboard.get("uid", path.stem),
                    "panel": panel.get("title", ""),
                    "ref_id": target.get("refId", ""),
                    "expr": expr,
                    "metrics": metrics,
                    "sources": sorted(set().union(set(), *(sources_of(m) for m in metrics))),
                    "exemplar": bool(target.get("exemplar", False)),
                })
    return items


def variable_queries(directory: Path = DASHBOARDS) -> list:
    """The template variables' label_values queries: {dashboard, variable, selector, label}; `selector` is the
    series selector (None for label_values(label)), for the test to ask /api/v1/series or /label/<label>/values."""
    items = []
    for path in sorted(Path(directory).glob("*.json")):
        dashboard = json.loads(path.read_text())
        for var in dashboard.get("templating", {}).get("list", []):
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else (query or "")
            m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*", query, re.S)
            if var.get("type") == "query" and m:
                items.append({"dashboard": dashboard.get("uid", path.stem), "variable": var["name"],
                              "selector": m.group(1), "label": m.group(2)})
    return items


if __name__ == "__main__":
    example = {"service": ["shop", "crm", "mes"], "route": ALL, "queue": ["mes.orders", "mes.orders.dlq"]}
    for item in dashboard_queries(example):
        print(f"{item['dashboard']} | {item['panel']} | {item['ref_id']} | {','.join(item['sources'])} | {item['expr']}")
