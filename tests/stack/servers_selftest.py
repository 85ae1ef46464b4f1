#!/usr/bin/python3
"""Self-test of servers.py and known_metrics.yaml (ctest stack.known_metrics): starts every packaged server
on free loopback ports, loads it (queued and dead-lettered messages, a database, keys, a firing alert),
checks that every name known_metrics.yaml lists for a scraped source is in the real scrape, then stops
everything and checks that no process and no listener is left. Exit 0 pass, 1 fail, 77 skip (a package is
missing). It must not touch a system service or a fixed port.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
KNOWN_METRICS = os.path.join(HERE, "known_metrics.yaml")
METRIC_NAMES_HPP = os.path.join(REPO, "metrics", "metric_names.hpp")
REQUIRED_BINARIES = [servers.RABBITMQ_SERVER, servers.EPMD, os.path.join(servers.PG_BIN, "postgres"),
                     "prometheus-postgres-exporter", "prometheus-node-exporter", "redis-server", "redis-cli",
                     "prometheus-redis-exporter", "prometheus", "prometheus-alertmanager"]
VERIFIED_KINDS = {"scrape", "source", "query", "docs"}
SYSTEM_EPMD_PORT = 4369
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

ALWAYS_FIRING_RULES = """groups:
- name: selftest
  interval: 1s
  rules:
  - alert: SelftestAlwaysFiring
    expr: vector(1)
    labels: {severity: critical, service: shop, team: devops}
    annotations: {summary: "selftest alert", description: "value {{ $value }}"}
  - alert: SelftestPending
    expr: vector(1)
    for: 1h
    labels: {severity: warning, service: shop, team: devops}
"""


class Checks:
    def __init__(self):
        self.failures = []

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            self.failures.append(what)
        return ok


def check_parser(checks):
    text = "\n".join([
        "# TYPE req_seconds histogram",
        'req_seconds_bucket{le="0.1",path="/a\\"b\\\\c\\n"} 3',
        'req_seconds_bucket{le="+Inf",path="x"} 5 1700000000000',
        "req_seconds_sum 1.5e-1",
        "req_seconds_count 5",
        "# TYPE hits counter",
        "hits_total{a=\"1\",} 7",
        "plain NaN",
    ])
    s = servers.parse_exposition(text)
    checks.check(s.names() == {"req_seconds_bucket", "req_seconds_sum", "req_seconds_count", "hits_total", "plain"}
                 and s.family["req_seconds_bucket"] == "req_seconds" and s.family["hits_total"] == "hits"
                 and s["req_seconds_bucket"][0][0]["path"] == '/a"b\\c\n'
                 and s.value("req_seconds_bucket", le="+Inf") == 5 and s.value("hits_total", a="1") == 7,
                 "exposition parser: families, escapes, timestamps, trailing comma")


def load_known(checks):
    with open(KNOWN_METRICS) as f:
        doc = yaml.safe_load(f)
    sources = doc.get("sources") or {}
    for name, src in sources.items():
        metrics = src.get("metrics") or []
        checks.check(src.get("verified") in VERIFIED_KINDS and metrics
                     and len(metrics) == len(set(metrics))
                     and all(METRIC_NAME_RE.match(m) for m in metrics + src.get("not_on_endpoint", [])),
                     f"known_metrics.yaml: {name} is well formed ({len(metrics)} names, verified "
                     f"{src.get('verified')})")
    return sources


def apimeter_names_from_header():
    """Series names of every family declared in metrics/metric_names.hpp (histograms expanded)."""
    with open(METRIC_NAMES_HPP) as f:
        text = f.read()
    names = set()
    for name, kind in re.findall(r'FamilyName\s+k\w+\{\s*"([a-z_:][a-z0-9_:]*)",\s*T::(\w+)', text):
        if kind == "Histogram":
            names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
        elif kind == "Summary":
            names.update((name, name + "_sum", name + "_count"))
        else:
            names.add(name)
    return names


def check_names(checks, sources, source, scraped):
    src = sources[source]
    missing = sorted(set(src["metrics"]) - scraped)
    checks.check(not missing, f"{source}: all {len(src['metrics'])} known names in the real scrape"
                              + (f"; missing: {missing}" if missing else ""))
    unexpected = sorted(set(src.get("not_on_endpoint", [])) & scraped)
    if src.get("not_on_endpoint"):
        checks.check(not unexpected, f"{source}: not_on_endpoint names absent"
                                     + (f"; present: {unexpected}" if unexpected else ""))


def wait_scrape(server, url, predicate, what, timeout=30.0):
    """Scrape url until predicate(scrape) holds; returns the scrape."""
    return servers.wait_until(lambda: (lambda s: s if predicate(s) else None)(servers.scrape(url)),
                              timeout, what, server, interval=0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definitions", help="RabbitMQ definitions.json to load (default: the contract "
                                              "topology written to the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data) afterwards")
    args = parser.parse_args()

    missing = [b for b in REQUIRED_BINARIES if not (shutil.which(b) or os.access(b, os.X_OK))]
    if missing:
        print(f"SKIP: not installed: {missing}")
        return 77

    checks = Checks()
    check_parser(checks)
    sources = load_known(checks)

    header = apimeter_names_from_header()
    listed = set(sources["apimeter"]["metrics"])
    checks.check(not (listed - header), "apimeter: every listed name is declared in metrics/metric_names.hpp"
                                        + (f"; not declared: {sorted(listed - header)}" if listed - header else ""))
    checks.check(not (header - listed), "apimeter: every family of metric_names.hpp is listed"
                                        + (f"; not listed: {sorted(header - listed)}" if header - listed else ""))

    tmp = tempfile.mkdtemp(prefix="apimeter-stack-selftest-")
    epmd_was_open = servers._port_open(SYSTEM_EPMD_PORT)
    stack = servers.Stack(tmp)
    ports = []
    try:
        definitions = args.definitions or servers.write_contract_definitions(os.path.join(tmp, "definitions.json"))

        # Exporters and servers.
        rmq = stack.add(servers.start_rabbitmq(tmp, definitions=definitions))
        checks.check(servers._port_open(SYSTEM_EPMD_PORT) == epmd_was_open,
                     f"rabbitmq uses its own epmd (port {rmq.epmd_port}), nothing on {SYSTEM_EPMD_PORT}")
        pg = stack.add(servers.start_postgres(tmp, name="shop-db", settings={"max_connections": 40}))
        pge = stack.add(servers.start_postgres_exporter(tmp, pg))
        node = stack.add(servers.start_node_exporter(tmp))
        redis = stack.add(servers.start_redis(tmp))
        rde = stack.add(servers.start_redis_exporter(tmp, redis))
        sink = stack.add(servers.SlackSink())
        hook = os.path.join(tmp, "slack-critical.url")
        with open(hook, "w") as f:
            f.write(sink.webhook_url("/hooks/critical"))
        am = stack.add(servers.start_alertmanager(tmp, {
            "route": {"receiver": "critical", "group_by": ["alertname", "service"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "critical", "slack_configs": [
                {"api_url_file": hook, "channel": "#alerts-critical", "send_resolved": True,
                 "title": '{{ .CommonLabels.alertname }} {{ .CommonLabels.service }}'}]}]}))
        rules = os.path.join(tmp, "selftest-rules.yml")
        with open(rules, "w") as f:
            f.write(ALWAYS_FIRING_RULES)

        # Load: a queue with messages and one dead-lettered message, a database with a table, keys.
        for i in range(3):
            checks.check(rmq.publish("crm.events", "order.created", {"order_id": i, "customer_id": 7,
                                                                    "items": [{"sku": "A-1", "qty": 1}]}),
                         f"rabbitmq: order event {i} routed")
        checks.check(rmq.publish("crm.events", "order.created", "{malformed"), "rabbitmq: malformed event routed")
        rmq.wait_queue_depth("mes.orders", 4)
        got = rmq.get("mes.orders", count=1, ackmode="reject_requeue_false")
        checks.check(len(got) == 1, "rabbitmq: one message rejected without requeue")
        pg.psql("CREATE DATABASE shop")
        pg.psql("CREATE TABLE orders(id int primary key, body text); "
                "INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g", dbname="shop")
        for i in range(50):
            redis.cli("SET", f"cart:{i}", "x" * 64)

        # Real scrapes, values where they prove the topology.
        per_object = wait_scrape(
            rmq, rmq.metrics_url,
            lambda s: s.value("rabbitmq_queue_messages", queue="mes.orders.dlq") == 1
            and s.value("rabbitmq_queue_messages_ready", queue="mes.orders") == 3
            and (s.value("rabbitmq_global_messages_dead_lettered_rejected_total",
                         queue_type="rabbit_classic_queue", dead_letter_strategy="at_most_once") or 0) >= 1,
            "rabbitmq per-object: 3 ready in mes.orders, 1 in mes.orders.dlq, 1 dead-lettered (rejected)")
        checks.check(True, "rabbitmq: the rejected message was dead-lettered into mes.orders.dlq")
        check_names(checks, sources, "rabbitmq", per_object.names())
        pg_scrape = wait_scrape(pge, pge.metrics_url,
                                lambda s: s.value("pg_database_size_bytes", datname="shop") is not None,
                                "postgres_exporter: pg_database_size_bytes{datname=shop}")
        checks.check(pg_scrape.value("pg_settings_max_connections") == 40,
                     "postgres_exporter: pg_settings_max_connections is the configured 40")
        check_names(checks, sources, "postgres", pg_scrape.names())
        check_names(checks, sources, "node", node.scrape().names())
        rd_scrape = wait_scrape(rde, rde.metrics_url, lambda s: s.value("redis_db_keys", db="db0") == 50,
                                "redis_exporter: redis_db_keys{db=db0} == 50")
        check_names(checks, sources, "redis", rd_scrape.names())

        # Prometheus scraping everything as the contract's jobs, with a firing alert routed to Slack.
        prom = stack.add(servers.start_prometheus(tmp, {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.address]}]}]},
            "scrape_configs": [
                {"job_name": "rabbitmq", "metrics_path": "/metrics/per-object",
                 "static_configs": [{"targets": [f"127.0.0.1:{rmq.prometheus_port}"]}]},
                {"job_name": "postgres", "static_configs": [{"targets": [pge.address],
                                                             "labels": {"service": "shop"}}]},
                {"job_name": "node", "static_configs": [{"targets": [node.address]}]},
                {"job_name": "redis", "static_configs": [{"targets": [rde.address]}]},
                {"job_name": "alertmanager", "static_configs": [{"targets": [am.address]}]},
            ]}, rule_files=[rules]))
        targets = prom.wait_targets_up(timeout=30, min_targets=5)
        checks.check(len(targets) == 5, f"prometheus: {len(targets)} targets up")
        result = prom.query('rabbitmq_queue_messages{job="rabbitmq",queue="mes.orders.dlq"}')
        checks.check(len(result) == 1 and result[0]["value"][1] == "1",
                     "prometheus: rabbitmq_queue_messages{queue=mes.orders.dlq} == 1 through the per-object job")
        result = prom.query('pg_settings_max_connections{job="postgres"}')
        checks.check(len(result) == 1 and result[0]["metric"].get("service") == "shop",
                     "prometheus: postgres target label service=shop")
        prom.wait_alert("SelftestAlwaysFiring", timeout=20)
        prom.wait_alert("SelftestPending", state="pending", timeout=20)
        delivered = sink.wait_for(lambda r: r["path"] == "/hooks/critical", timeout=30)
        body = delivered["body"]
        checks.check(isinstance(body, dict) and body.get("channel") == "#alerts-critical"
                     and "SelftestAlwaysFiring shop" in body["attachments"][0]["title"],
                     "alertmanager: Slack-shaped payload for the firing alert delivered to the sink")
        checks.check(any(a["labels"]["alertname"] == "SelftestAlwaysFiring" for a in am.alerts()),
                     "alertmanager: /api/v2/alerts lists the alert")
        synthetic = sources["synthetic"]["metrics"]
        empty = [n for n in synthetic if not prom.query(n)]
        checks.check(not empty, f"synthetic: all {len(synthetic)} series return data"
                                + (f"; empty: {empty}" if empty else ""))
        check_names(checks, sources, "prometheus", prom.scrape().names())
        check_names(checks, sources, "alertmanager", am.scrape().names())

        ports = [rmq.amqp_port, rmq.management_port, rmq.prometheus_port, rmq.dist_port, rmq.epmd_port,
                 pg.port, pge.port, node.port, redis.port, rde.port, am.port, prom.port, sink.port]
        for server in stack.servers:
            print(f"     startup {server.name}: {server.startup_seconds:.2f} s", flush=True)
    except servers.ServerError as exc:
        checks.check(False, f"server error: {exc}")
    finally:
        try:
            stack.stop()
        except servers.ServerError as exc:
            checks.check(False, str(exc))
        for server in stack.servers:
            if server.stop_seconds is not None:
                print(f"     stop {server.name}: {server.stop_seconds:.2f} s", flush=True)
        left = {s.name: s.leftover_pids() for s in stack.servers if s.leftover_pids()}
        checks.check(not left, "stop: no process left" + (f"; left: {left}" if left else ""))
        listening = [p for p in ports if servers._port_open(p)]
        checks.check(not listening, "stop: no port still listening" + (f"; open: {listening}" if listening else ""))
        if args.keep or checks.failures:
            print(f"     logs and data kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{len(checks.failures)} failure(s)" if checks.failures else "all checks passed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
