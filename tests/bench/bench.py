#!/usr/bin/env python3
"""Side-by-side proxy benchmark: direct to the upstream, apimeter (metrics on and off), nginx and HAProxy, in
the same run, on the same cores, alternating the targets in every round so drift hits every target alike.

wrk (keep-alive) runs pinned to one core; the proxy under test and the demo upstream share the other.
Reported per target: requests/s and p50/p99 latency (median over rounds), proxy CPU microseconds per
request (utime+stime from /proc over the measured runs), RSS idle and with 1,000 idle keep-alive client
connections open. One more apimeter target has 5 live-view viewers polling its /stats every second during
its runs (threads of this script on wrk's core), to show what the dashboard and `apimeter top` cost the data
plane. Loopback only; every phase is bounded in time.

A second table terminates TLS in apimeter, nginx and HAProxy with the same ECDSA P-256 certificate (made with
the openssl CLI in the run's directory): keep-alive HTTPS requests/s, and new TLS connections per second
(wrk sends `Connection: close`, so every request is a new connection and a full handshake: wrk does not
resume sessions), with the proxy's CPU per request or handshake.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    except OSError:
        return []


class Target:
    def __init__(self, name, port, proc, measured_pids):
        self.name, self.port, self.proc, self.measured_pids = name, port, proc, measured_pids
        self.runs = []
        self.cpu_ticks = 0
        self.requests = 0
        self.rss_idle = self.rss_1000 = None
        self.viewers_admin = None  # admin port to poll /stats on during the runs
        self.polls = self.poll_failures = 0


class Viewers:
    """`count` threads on `core`, each fetching /stats every `interval` seconds until stopped, like open
    dashboards or `apimeter top` sessions."""

    def __init__(self, admin_port, core, count=5, interval=1.0):
        self.url = f"http://127.0.0.1:{admin_port}/stats"
        self.core, self.interval = core, interval
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.polls = self.failures = 0
        self.threads = [threading.Thread(target=self.poll, daemon=True) for _ in range(count)]

    def poll(self):
        os.sched_setaffinity(0, {self.core})
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    ok = response.status == 200 and b'"version":2' in response.read()
            except OSError:
                ok = False
            with self.lock:
                self.polls += 1
                self.failures += 0 if ok else 1
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def pinned(core, argv):
    return ["taskset", "-c", str(core)] + argv


def start_upstream(args, core):
    proc = subprocess.Popen(pinned(core, [args.upstream_bin, "--listen", "127.0.0.1:0", "--threads", "1"]),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise RuntimeError(f"demo upstream did not start: {line!r}")
    return proc, int(m.group(1))


def start_apimeter(args, core, upstream_port, extra, admin_port=0):
    port = free_port()
    argv = [args.apimeter_bin, "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin_port}",
            "--upstream", f"127.0.0.1:{upstream_port}", "--workers", "1", "--access-log", "off",
            "--drain-delay", "0"] + extra
    proc = subprocess.Popen(pinned(core, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def make_certificate(workdir):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1; (cert, key, cert+key for HAProxy)."""
    cert, key, both = (os.path.join(workdir, n) for n in ("bench.pem", "bench.key", "bench-haproxy.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    with open(both, "w") as out:
        out.write(open(cert).read() + open(key).read())
    return cert, key, both


def start_nginx(workdir, core, upstream_port, tls=None):
    port = free_port()
    # Each nginx has its own prefix: pid file, logs and temp paths must not collide.
    prefix = os.path.join(workdir, "nginx-tls" if tls else "nginx")
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    listen = (f"listen 127.0.0.1:{port} ssl;\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};\n"
              "    ssl_protocols TLSv1.2 TLSv1.3;" if tls else f"listen 127.0.0.1:{port};")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
worker_cpu_affinity auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    {listen}
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
    proc = subprocess.Popen(pinned(core, ["nginx", "-p", prefix, "-c", conf]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_haproxy(workdir, core, upstream_port, tls=None):
    port = free_port()
    conf = os.path.join(workdir, "haproxy-tls.cfg" if tls else "haproxy.cfg")
    bind = f"bind 127.0.0.1:{port} ssl crt {tls[2]} alpn http/1.1" if tls else f"bind 127.0.0.1:{port}"
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always
frontend fe
  {bind}
  default_backend be
backend be
  server s1 127.0.0.1:{upstream_port}
""")
    proc = subprocess.Popen(pinned(core, ["haproxy", "-f", conf, "-db"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def parse_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(args, port, scheme="http", new_connections=False):
    close = ["-H", "Connection: close"] if new_connections else []
    argv = pinned(args.client_core, ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency"] +
                  close + [f"{scheme}://127.0.0.1:{port}/"])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 30).stdout
    if "Requests/sec" not in out or "99%" not in out:
        raise RuntimeError(f"unexpected wrk output for port {port}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = parse_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = parse_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  warning: {errors.group(0)}", file=sys.stderr)
    return {"rps": rps, "requests": total, "p50": p50, "p99": p99}


def open_idle_connections(port, count, timeout=30.0):
    """Opens `count` keep-alive connections, each completes one GET, then all stay open and idle."""
    conns = []
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    deadline = time.monotonic() + timeout
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(request)
        conns.append(s)
    for s in conns:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"ok\n"):
            if time.monotonic() > deadline:
                raise RuntimeError("idle connection setup timed out")
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("connection closed during idle setup")
            data += chunk
    return conns


def run_tls_table(args, workdir, upstream_port, procs):
    """HTTPS through each proxy: keep-alive requests/s, and new connections (full handshakes) per second."""
    tls = make_certificate(workdir)
    targets = []
    p, port = start_apimeter(args, args.server_core, upstream_port, ["--tls-cert-file", tls[0], "--tls-key-file", tls[1]])
    procs.append(p)
    targets.append(Target("apimeter", port, p, [p.pid]))
    p, port = start_nginx(workdir, args.server_core, upstream_port, tls)
    procs.append(p)
    time.sleep(0.3)
    targets.append(Target("nginx", port, p, children(p.pid) or [p.pid]))
    p, port = start_haproxy(workdir, args.server_core, upstream_port, tls)
    procs.append(p)
    targets.append(Target("HAProxy", port, p, [p.pid]))
    for t in targets:
        subprocess.run(pinned(args.client_core, ["wrk", "-t1", f"-c{args.connections}", "-d1s",
                                                 f"https://127.0.0.1:{t.port}/"]), capture_output=True)
    results = {t.name: {"keepalive": [], "handshake": [], "cpu": {"keepalive": 0, "handshake": 0},
                        "requests": {"keepalive": 0, "handshake": 0}} for t in targets}
    for r in range(args.rounds):
        for mode in ("keepalive", "handshake"):
            for t in targets:
                before = cpu_ticks(t.measured_pids)
                result = run_wrk(args, t.port, "https", new_connections=(mode == "handshake"))
                cell = results[t.name]
                cell["cpu"][mode] += cpu_ticks(t.measured_pids) - before
                cell["requests"][mode] += result["requests"]
                cell[mode].append(result)
                print(f"round {r + 1} TLS {mode:9} {t.name:10} {result['rps']:>10.0f} req/s  "
                      f"p99 {result['p99']:.3f} ms", flush=True)
    lines = [
        f"HTTPS (TLS terminated by the proxy, ECDSA P-256, TLS 1.3 as wrk negotiates it), same cores and wrk "
        f"settings. Keep-alive: {args.connections} connections reused; new connections: `Connection: close` on "
        "every request, so each one is a TCP connect plus a full handshake.",
        "",
        "| target | keep-alive requests/s | p99 ms | proxy CPU µs/request | new TLS connections/s | p99 ms | "
        "proxy CPU µs/connection |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        cell = results[t.name]
        row = [t.name]
        for mode in ("keepalive", "handshake"):
            rps = statistics.median(x["rps"] for x in cell[mode])
            p99 = statistics.median(x["p99"] for x in cell[mode])
            cpu = cell["cpu"][mode] / CLK_TCK * 1e6 / max(cell["requests"][mode], 1)
            row += [f"{rps:.0f}", f"{p99:.3f}", f"{cpu:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A B C D; medians are reported")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--output", default=None, help="also write the markdown table here")
    args = parser.parse_args()
    args.apimeter_bin = os.path.join(args.build, "proxy", "apimeter")
    args.upstream_bin = os.path.join(args.build, "tests", "support", "demo_upstream")

    workdir = tempfile.mkdtemp(prefix="apimeter-bench-")
    procs = []
    try:
        upstream, upstream_port = start_upstream(args, args.server_core)
        procs.append(upstream)
        targets = [Target("direct (upstream only)", upstream_port, upstream, [upstream.pid])]
        p, port = start_apimeter(args, args.server_core, upstream_port, [])
        procs.append(p)
        targets.append(Target("apimeter", port, p, [p.pid]))
        # The same proxy with measurement off: the price of the metrics is the difference.
        p, port = start_apimeter(args, args.server_core, upstream_port, ["--metrics-enabled", "false"])
        procs.append(p)
        targets.append(Target("apimeter, metrics off", port, p, [p.pid]))
        # The same proxy with 5 live views open: the /stats scrapes run on its control thread, on its core.
        admin_port = free_port()
        p, port = start_apimeter(args, args.server_core, upstream_port, [], admin_port)
        procs.append(p)
        wait_port(admin_port)
        viewed = Target("apimeter, 5 /stats viewers", port, p, [p.pid])
        viewed.viewers_admin = admin_port
        targets.append(viewed)
        # Tracing on at 1 % and 100 % sampling, exporting to a sink on the client's core (a collector is
        # normally on another machine); the exporter thread itself runs, and is measured, in the proxy.
        sink, sink_port = start_upstream(args, args.client_core)
        procs.append(sink)
        for label, ratio in (("1 %", "0.01"), ("100 %", "1")):
            p, port = start_apimeter(args, args.server_core, upstream_port, [
                "--tracing-enabled", "true", "--tracing-endpoint", f"http://127.0.0.1:{sink_port}/sink",
                "--tracing-sampler", "traceidratio", "--tracing-sampler-ratio", ratio])
            procs.append(p)
            targets.append(Target(f"apimeter, tracing {label}", port, p, [p.pid]))
        p, port = start_nginx(workdir, args.server_core, upstream_port)
        procs.append(p)
        time.sleep(0.3)
        targets.append(Target("nginx", port, p, children(p.pid) or [p.pid]))
        p, port = start_haproxy(workdir, args.server_core, upstream_port)
        procs.append(p)
        targets.append(Target("HAProxy", port, p, [p.pid]))

        # Warm every path (pools, caches) before measuring.
        for t in targets:
            subprocess.run(pinned(args.client_core, ["wrk", "-t1", f"-c{args.connections}", "-d1s",
                                                     f"http://127.0.0.1:{t.port}/"]), capture_output=True)
        for r in range(args.rounds):
            for t in targets:
                before = cpu_ticks(t.measured_pids)
                if t.viewers_admin:
                    with Viewers(t.viewers_admin, args.client_core) as viewers:
                        result = run_wrk(args, t.port)
                    t.polls += viewers.polls
                    t.poll_failures += viewers.failures
                else:
                    result = run_wrk(args, t.port)
                t.cpu_ticks += cpu_ticks(t.measured_pids) - before
                t.requests += result["requests"]
                t.runs.append(result)
                print(f"round {r + 1} {t.name:24} {result['rps']:>10.0f} req/s  p50 {result['p50']:.3f} ms"
                      f"  p99 {result['p99']:.3f} ms", flush=True)

        for t in targets[1:]:
            time.sleep(0.5)
            t.rss_idle = rss_kib(t.measured_pids)
            conns = open_idle_connections(t.port, args.idle_connections)
            time.sleep(0.5)
            t.rss_1000 = rss_kib(t.measured_pids)
            for s in conns:
                s.close()

        tls_lines = run_tls_table(args, workdir, upstream_port, procs)

        lines = [
            f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds (medians), wrk on core "
            f"{args.client_core}, proxy + demo upstream on core {args.server_core}; one worker each.",
            "",
            "| target | requests/s | p50 ms | p99 ms | proxy CPU µs/request | RSS idle MiB | RSS with "
            f"{args.idle_connections} idle conns MiB | RSS per idle conn KiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for t in targets:
            rps = statistics.median(x["rps"] for x in t.runs)
            p50 = statistics.median(x["p50"] for x in t.runs)
            p99 = statistics.median(x["p99"] for x in t.runs)
            cpu_us = t.cpu_ticks / CLK_TCK * 1e6 / max(t.requests, 1)
            if t.rss_idle is None:
                lines.append(f"| {t.name} | {rps:.0f} | {p50:.3f} | {p99:.3f} | (upstream {cpu_us:.1f}) | | | |")
            else:
                per_conn = (t.rss_1000 - t.rss_idle) / args.idle_connections
                lines.append(f"| {t.name} | {rps:.0f} | {p50:.3f} | {p99:.3f} | {cpu_us:.1f} | "
                             f"{t.rss_idle / 1024:.1f} | {t.rss_1000 / 1024:.1f} | {per_conn:.1f} |")
        on = next(t for t in targets if t.name == "apimeter")
        off = next(t for t in targets if t.name == "apimeter, metrics off")
        rps_on = statistics.median(x["rps"] for x in on.runs)
        rps_off = statistics.median(x["rps"] for x in off.runs)
        lines.append("")
        cpu_on = on.cpu_ticks / CLK_TCK * 1e6 / max(on.requests, 1)
        cpu_off = off.cpu_ticks / CLK_TCK * 1e6 / max(off.requests, 1)
        lines.append(f"Metrics cost: {100 * (rps_off - rps_on) / rps_off:+.1f} % of requests/s "
                     f"({rps_on:.0f} with metrics on, {rps_off:.0f} off; target at most 3 %), "
                     f"{100 * (cpu_on - cpu_off) / cpu_off:+.1f} % CPU per request "
                     f"({cpu_on:.1f} vs {cpu_off:.1f} µs). On a shared machine requests/s swings by more than "
                     f"3 % between rounds; CPU per request is the steadier of the two.")
        rps_viewed = statistics.median(x["rps"] for x in viewed.runs)
        cpu_viewed = viewed.cpu_ticks / CLK_TCK * 1e6 / max(viewed.requests, 1)
        lines.append("")
        lines.append(f"Live view cost, 5 viewers polling /stats every second ({viewed.polls} polls, "
                     f"{viewed.poll_failures} failed): {100 * (rps_on - rps_viewed) / rps_on:+.1f} % of requests/s "
                     f"({rps_viewed:.0f} against {rps_on:.0f} with none), "
                     f"{100 * (cpu_viewed - cpu_on) / cpu_on:+.1f} % CPU per request "
                     f"({cpu_viewed:.1f} vs {cpu_on:.1f} µs, the scrapes' own CPU included).")
        for label, target_pct in (("1 %", 3), ("100 %", 15)):
            traced = next(t for t in targets if t.name == f"apimeter, tracing {label}")
            rps_traced = statistics.median(x["rps"] for x in traced.runs)
            cpu_traced = traced.cpu_ticks / CLK_TCK * 1e6 / max(traced.requests, 1)
            lines.append("")
            lines.append(f"Tracing cost at {label} sampling: {100 * (rps_on - rps_traced) / rps_on:+.1f} % of requests/s "
                         f"({rps_traced:.0f} against {rps_on:.0f} with tracing off; target at most {target_pct} %), "
                         f"{100 * (cpu_traced - cpu_on) / cpu_on:+.1f} % CPU per request "
                         f"({cpu_traced:.1f} vs {cpu_on:.1f} µs).")
        table = "\n".join(lines + [""] + tls_lines)
        print()
        print(table)
        if args.output:
            with open(args.output, "w") as f:
                f.write(table + "\n")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
