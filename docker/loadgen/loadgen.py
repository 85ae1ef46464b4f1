#!/usr/bin/env python3
"""Load generator for the apimeter demo system (docker/compose.yaml): steady, realistic traffic over the
shop, crm and mes APIs through their apimeter sidecars, with user ids from a skewed population, plus, on a
schedule, a traffic spike, an error burst and a slow period, so every dashboard panel and alert has
something to show. Python 3 standard library only.

It is bounded: a pacer thread draws requests at the target rate into a small queue that a fixed pool of
workers drains (a full queue drops the request and counts it as skipped, it never grows), every request
and fault call has a timeout, and --duration ends the run. Faults are switched through each upstream's
demo control endpoint (POST/DELETE /_demo/fault on port 3000, not through the sidecar, so they are not
client traffic) and are always switched off again on exit.

  apimeter-loadgen --shop http://shop-api:8080 --crm http://crm-api:8080 --mes http://mes-api:8080 \
      --rps 30 --duration 0 --seed 1

Every flag also reads an environment variable (LOADGEN_RPS, LOADGEN_DURATION, ...; see --help).
"""

import argparse
import bisect
import http.client
import itertools
import json
import os
import queue
import random
import signal
import string
import sys
import threading
import time
import urllib.parse

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "shop-app/4.2.0 (Android 15; Pixel 9)",
    "crm-sync/1.8.3 python-requests/2.32",
    "mes-line-controller/2.0 (PLC gateway)",
)
SEARCH_WORDS = ("drill", "bolt m8", "gear", "bearing 6204", "cable", "sensor", "valve", "pump", "belt", "gasket")
SKUS = tuple(f"SKU-{n:05d}" for n in range(1, 400))


# --- configuration ---------------------------------------------------------------------------------------

def parse_duration(text):
    """Seconds from "90", "90s", "2m", "1h" or "2500ms"."""
    text = str(text).strip()
    for suffix, factor in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90, 90s, 2m, 1h, 2500ms)")


def env(name, default):
    return os.environ.get("LOADGEN_" + name, default)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Realistic traffic for the apimeter demo APIs, with a spike, an error burst and a slow "
                    "period on a schedule.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shop", default=env("SHOP", "http://shop-api:8080"),
                   help="shop API base URL (its sidecar); empty to leave it out [LOADGEN_SHOP]")
    p.add_argument("--crm", default=env("CRM", "http://crm-api:8080"), help="crm API base URL [LOADGEN_CRM]")
    p.add_argument("--mes", default=env("MES", "http://mes-api:8080"), help="mes API base URL [LOADGEN_MES]")
    for name in ("shop", "crm", "mes"):
        p.add_argument(f"--{name}-control", default=env(name.upper() + "_CONTROL", ""),
                       help=f"{name} upstream's own URL for /_demo/fault; default: the API's host on "
                            f"--control-port [LOADGEN_{name.upper()}_CONTROL]")
    p.add_argument("--control-port", type=int, default=int(env("CONTROL_PORT", "3000")),
                   help="port of the demo upstreams behind the sidecars [LOADGEN_CONTROL_PORT]")
    p.add_argument("--rps", type=float, default=float(env("RPS", "30")),
                   help="steady requests per second over all APIs [LOADGEN_RPS]")
    p.add_argument("--duration", type=parse_duration, default=parse_duration(env("DURATION", "0")),
                   help="run this long, then stop (0 = until SIGTERM/SIGINT) [LOADGEN_DURATION]")
    p.add_argument("--seed", type=int, default=int(env("SEED", "1")),
                   help="random seed: the same seed draws the same request sequence [LOADGEN_SEED]")
    p.add_argument("--concurrency", type=int, default=int(env("CONCURRENCY", "48")),
                   help="worker threads, each with its own keep-alive connections [LOADGEN_CONCURRENCY]")
    p.add_argument("--timeout", type=parse_duration, default=parse_duration(env("TIMEOUT", "15s")),
                   help="per request: connect, and each read [LOADGEN_TIMEOUT]")
    p.add_argument("--users", type=int, default=int(env("USERS", "5000")),
                   help="size of the user population (Zipf-skewed: a few heavy users, a long tail) "
                        "[LOADGEN_USERS]")
    p.add_argument("--anonymous-percent", type=float, default=float(env("ANONYMOUS_PERCENT", "3")),
                   help="requests sent without X-User-Id [LOADGEN_ANONYMOUS_PERCENT]")
    p.add_argument("--malformed-percent", type=float, default=float(env("MALFORMED_PERCENT", "4")),
                   help="crm POST /api/orders bodies that are malformed (they end in the dead-letter "
                        "queue) [LOADGEN_MALFORMED_PERCENT]")
    p.add_argument("--report-every", type=parse_duration, default=parse_duration(env("REPORT_EVERY", "10s")),
                   help="print a one-line summary this often [LOADGEN_REPORT_EVERY]")
    # The schedule: each event starts at its offset within every period.
    p.add_argument("--period", type=parse_duration, default=parse_duration(env("PERIOD", "15m")),
                   help="the event schedule repeats this often; 0 = steady traffic only [LOADGEN_PERIOD]")
    p.add_argument("--spike-at", type=parse_duration, default=parse_duration(env("SPIKE_AT", "3m")),
                   help="traffic spike: offset in the period [LOADGEN_SPIKE_AT]")
    p.add_argument("--spike-length", type=parse_duration, default=parse_duration(env("SPIKE_LENGTH", "2m")),
                   help="[LOADGEN_SPIKE_LENGTH]")
    p.add_argument("--spike-factor", type=float, default=float(env("SPIKE_FACTOR", "4")),
                   help="traffic multiplier during the spike [LOADGEN_SPIKE_FACTOR]")
    p.add_argument("--errors-at", type=parse_duration, default=parse_duration(env("ERRORS_AT", "7m")),
                   help="error burst (shop and crm in turn): offset in the period [LOADGEN_ERRORS_AT]")
    p.add_argument("--errors-length", type=parse_duration, default=parse_duration(env("ERRORS_LENGTH", "2m")),
                   help="[LOADGEN_ERRORS_LENGTH]")
    p.add_argument("--error-percent", type=float, default=float(env("ERROR_PERCENT", "30")),
                   help="share of requests the upstream fails during the burst [LOADGEN_ERROR_PERCENT]")
    p.add_argument("--slow-at", type=parse_duration, default=parse_duration(env("SLOW_AT", "11m")),
                   help="slow period (--slow-service, --slow-path): offset in the period [LOADGEN_SLOW_AT]")
    p.add_argument("--slow-length", type=parse_duration, default=parse_duration(env("SLOW_LENGTH", "2m")),
                   help="[LOADGEN_SLOW_LENGTH]")
    p.add_argument("--slow-delay", default=env("SLOW_DELAY", "2500ms"),
                   help="delay the upstream adds during the slow period [LOADGEN_SLOW_DELAY]")
    p.add_argument("--slow-service", choices=("shop", "crm", "mes"), default=env("SLOW_SERVICE", "mes"),
                   help="the API that turns slow [LOADGEN_SLOW_SERVICE]")
    p.add_argument("--slow-path", default=env("SLOW_PATH", "/api/schedule"),
                   help="path prefix of the requests it delays [LOADGEN_SLOW_PATH]")
    args = p.parse_args(argv)
    if args.rps <= 0:
        p.error("--rps must be positive")
    if args.concurrency < 1 or args.users < 1:
        p.error("--concurrency and --users must be at least 1")
    if args.period and max(args.spike_at, args.errors_at, args.slow_at) >= args.period:
        p.error("every --*-at offset must be inside --period")
    return args


# --- the APIs -------------------------------------------------------------------------------------------

class Target:
    """One API: where its sidecar listens, and its upstream's demo control endpoint."""

    def __init__(self, name, base_url, control_url, control_port):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise SystemExit(f"loadgen: --{name} wants http://HOST:PORT, got {base_url!r}")
        self.name = name
        self.host, self.port = url.hostname, url.port or 80
        self.host_header = url.netloc
        if not control_url:
            control_url = f"http://{url.hostname}:{control_port}"
        control = urllib.parse.urlsplit(control_url)
        self.control = (control.hostname, control.port or 80)


def product_id(rng):
    return rng.randint(1, 5000)


def json_body(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def shop_order(rng, args):
    items = [{"product_id": product_id(rng), "qty": rng.randint(1, 4)} for _ in range(rng.randint(1, 5))]
    return json_body({"items": items, "shipping": rng.choice(["standard", "express"])})


def crm_customer(rng, args):
    name = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    return json_body({"name": name.title() + " GmbH", "email": f"{name}@example.com",
                      "segment": rng.choice(["smb", "mid-market", "enterprise"])})


def crm_order(rng, args):
    """The order event CRM publishes to RabbitMQ; a few are malformed so the MES worker dead-letters them."""
    good = {"order_id": rng.randint(1, 10**7), "customer_id": rng.randint(1, 20000),
            "items": [{"sku": rng.choice(SKUS), "qty": rng.randint(1, 20)} for _ in range(rng.randint(1, 6))]}
    if rng.uniform(0, 100) >= args.malformed_percent:
        return json_body(good)
    text = json.dumps(good)
    return rng.choice((
        text[: len(text) // 2].encode(),                                   # truncated JSON
        json_body({"order_id": str(good["order_id"]), "items": "none"}),   # wrong types
        json_body({"customer_id": good["customer_id"]}),                   # no order_id, no items
        b"order=" + str(good["order_id"]).encode(),                        # not JSON at all
    ))


def mes_telemetry(rng, args):
    # About 1 KB: a second of samples from one machine.
    samples = [{"t": i * 50, "spindle_rpm": rng.randint(800, 12000), "temp_c": round(rng.uniform(30, 85), 1),
                "vibration_mm_s": round(rng.uniform(0.1, 7.5), 2)} for i in range(15)]
    return json_body({"machine_state": rng.choice(["running", "running", "running", "idle", "setup"]),
                      "samples": samples})


# (weight, method, path template, body maker). {id}: a random id; {uid}: the request's user id number.
ROUTES = {
    "shop": (
        (28, "GET", "/api/products?page={page}", None),
        (30, "GET", "/api/products/{id}", None),
        (6, "POST", "/api/orders", shop_order),
        (10, "GET", "/api/orders/{id}", None),
        (14, "GET", "/api/users/{uid}/cart", None),
        (12, "GET", "/api/search?q={q}", None),
    ),
    "crm": (
        (22, "GET", "/api/customers?page={page}", None),
        (5, "POST", "/api/customers", crm_customer),
        (30, "GET", "/api/customers/{id}", None),
        (20, "GET", "/api/customers/{id}/deals", None),
        (18, "POST", "/api/orders", crm_order),
        (5, "GET", "/api/reports/pipeline", None),
    ),
    "mes": (
        (18, "GET", "/api/work-orders?status={status}", None),
        (20, "GET", "/api/work-orders/{id}", None),
        (36, "POST", "/api/machines/{machine}/telemetry", mes_telemetry),
        (15, "GET", "/api/machines/{machine}/status", None),
        (3, "GET", "/api/parts/{id}/model", None),
        (4, "GET", "/api/schedule", None),
        (4, "GET", "/api/quality/reports/{id}", None),
    ),
}
SERVICE_SHARE = {"shop": 45, "crm": 25, "mes": 30}


class Population:
    """Zipf-skewed users: user-00001 sends the most, a long tail sends little, so apimeter's top-20 and
    `_other` both show. Each user keeps one client (user agent)."""

    def __init__(self, size, anonymous_percent):
        weights = [1.0 / (rank ** 1.1) for rank in range(1, size + 1)]
        self.cumulative = list(itertools.accumulate(weights))
        self.anonymous = anonymous_percent / 100.0

    def draw(self, rng):
        if rng.random() < self.anonymous:
            return None
        rank = bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1]) + 1
        return rank


class Request:
    __slots__ = ("target", "method", "path", "body", "user")

    def __init__(self, target, method, path, body, user):
        self.target, self.method, self.path, self.body, self.user = target, method, path, body, user


class Drawer:
    """Draws the next request; only the pacer thread calls it, so one seeded RNG gives one sequence."""

    def __init__(self, targets, args):
        self.rng = random.Random(args.seed)
        self.args = args
        self.population = Population(args.users, args.anonymous_percent)
        self.targets = targets
        self.service_weights = list(itertools.accumulate(SERVICE_SHARE[t.name] for t in targets))
        self.route_weights = {t.name: list(itertools.accumulate(r[0] for r in ROUTES[t.name])) for t in targets}

    def pick(self, cumulative):
        return bisect.bisect_left(cumulative, self.rng.random() * cumulative[-1])

    def draw(self):
        rng = self.rng
        target = self.targets[self.pick(self.service_weights)]
        _, method, template, body_maker = ROUTES[target.name][self.pick(self.route_weights[target.name])]
        user = self.population.draw(rng)
        path = template.format(
            id=product_id(rng), uid=user if user is not None else rng.randint(1, self.args.users),
            page=rng.randint(1, 20), q=urllib.parse.quote(rng.choice(SEARCH_WORDS)),
            status=rng.choice(("open", "in_progress", "done")), machine=rng.randint(1, 64))
        body = body_maker(rng, self.args) if body_maker else None
        return Request(target, method, path, body, user)


# --- counting ---------------------------------------------------------------------------------------------

class Stats:
    KEYS = ("sent", "2xx", "3xx", "4xx", "5xx", "failed", "skipped")

    def __init__(self):
        self.lock = threading.Lock()
        self.total = dict.fromkeys(self.KEYS, 0)
        self.failures = {}

    def add(self, key, failure=None):
        with self.lock:
            self.total[key] += 1
            if failure:
                self.failures[failure] = self.failures.get(failure, 0) + 1

    def snapshot(self):
        with self.lock:
            return dict(self.total), dict(self.failures)


def status_class(status):
    return f"{status // 100}xx" if 200 <= status < 600 else "failed"


# --- workers ------------------------------------------------------------------------------------------------

class Worker(threading.Thread):
    """Sends requests from the queue over its own keep-alive connections, one per API."""

    def __init__(self, index, work, stats, args):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.work, self.stats, self.args = work, stats, args
        self.connections = {}

    def connection(self, target):
        conn = self.connections.get(target.name)
        if conn is None:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=self.args.timeout)
            self.connections[target.name] = conn
        return conn

    def drop(self, target):
        conn = self.connections.pop(target.name, None)
        if conn is not None:
            conn.close()

    def run(self):
        while True:
            request = self.work.get()
            if request is None:
                break
            self.send(request)
        for name in list(self.connections):
            self.connections.pop(name).close()

    def send(self, r):
        headers = {"Host": r.target.host_header, "Accept": "application/json",
                   "User-Agent": USER_AGENTS[(r.user or 0) % len(USER_AGENTS)]}
        if r.user is not None:
            headers["X-User-Id"] = f"user-{r.user:05d}"
        if r.body is not None:
            headers["Content-Type"] = "application/json"
        # One retry on a fresh connection when a pooled one turned out closed by the peer.
        for attempt in (0, 1):
            conn = self.connection(r.target)
            reused = conn.sock is not None
            try:
                conn.request(r.method, r.path, body=r.body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    self.drop(r.target)
                self.stats.add("sent")
                self.stats.add(status_class(response.status))
                return
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.drop(r.target)
                if attempt == 0 and reused:
                    continue
                failure = type(error).__name__
            except (OSError, http.client.HTTPException) as error:
                self.drop(r.target)
                failure = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
            self.stats.add("sent")
            self.stats.add("failed", f"{r.target.name}:{failure}")
            return


# --- the schedule --------------------------------------------------------------------------------------------

class Faults:
    """Switches the demo upstreams' fault injection; remembers what is on so it can always switch it off."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.active = {}
        self.lock = threading.Lock()

    def call(self, target, method, query=""):
        host, port = target.control
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request(method, "/_demo/fault" + (("?" + query) if query else ""),
                         headers={"User-Agent": "apimeter-loadgen"})
            response = conn.getresponse()
            response.read()
            return 200 <= response.status < 300, f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as error:
            return False, f"{type(error).__name__}: {error}"
        finally:
            conn.close()

    def set(self, target, query):
        ok, detail = self.call(target, "POST", query)
        log(f"fault on {target.name}: {query} -> {'ok' if ok else detail}")
        if ok:
            with self.lock:
                self.active[target.name] = target
        return ok

    def clear(self, target, quiet=False):
        for _ in range(3):
            ok, detail = self.call(target, "DELETE")
            if ok:
                break
            time.sleep(0.5)
        if not quiet or not ok:
            log(f"fault off {target.name} -> {'ok' if ok else detail}")
        with self.lock:
            self.active.pop(target.name, None)

    def clear_all(self):
        with self.lock:
            targets = list(self.active.values())
        for target in targets:
            self.clear(target)


class Schedule(threading.Thread):
    """Every --period: a traffic spike, an error burst (shop and crm in turn) and a slow period (by default
    mes /api/schedule)."""

    def __init__(self, targets, args, faults, stop):
        super().__init__(name="schedule", daemon=True)
        self.targets = {t.name: t for t in targets}
        self.args, self.faults, self.stop = args, faults, stop
        self.multiplier = 1.0
        self.running = set()   # names of the events in progress, for the summary line

    def windows(self, cycle):
        """(name, start, end, begin action, end action) of the events in one period."""
        a, base = self.args, cycle * self.args.period
        events = [("spike", a.spike_at, a.spike_length, self.spike_on, self.spike_off)]
        candidates = [name for name in ("shop", "crm") if name in self.targets]
        if candidates:
            t = self.targets[candidates[cycle % len(candidates)]]
            events.append((f"errors:{t.name}", a.errors_at, a.errors_length,
                           lambda t=t: self.faults.set(t, f"error_percent={a.error_percent:g}"),
                           lambda t=t: self.faults.clear(t)))
        if a.slow_service in self.targets:
            t = self.targets[a.slow_service]
            query = f"delay={urllib.parse.quote(a.slow_delay)}&path_prefix={urllib.parse.quote(a.slow_path)}"
            events.append((f"slow:{t.name}", a.slow_at, a.slow_length,
                           lambda t=t: self.faults.set(t, query), lambda t=t: self.faults.clear(t)))
        return [(name, base + at, base + at + length, on, off) for name, at, length, on, off in events]

    def spike_on(self):
        self.multiplier = self.args.spike_factor
        log(f"spike: {self.args.spike_factor:g}x for {self.args.spike_length:g}s")

    def spike_off(self):
        self.multiplier = 1.0
        log("spike over")

    def run(self):
        start = time.monotonic()
        cycle, pending, ending = 0, [], []
        while not self.stop.is_set():
            now = time.monotonic() - start
            while not pending or pending[-1][1] <= now + self.args.period:
                pending.extend(self.windows(cycle))
                pending.sort(key=lambda e: e[1])
                cycle += 1
            while pending and pending[0][1] <= now:
                name, _, end, on, off = pending.pop(0)
                if end <= now:
                    continue   # missed entirely (the process was paused)
                self.running.add(name)
                on()
                ending.append((end, name, off))
            for item in [e for e in ending if e[0] <= now]:
                ending.remove(item)
                self.running.discard(item[1])
                item[2]()
            self.stop.wait(0.5)
        for _, name, off in ending:
            if name == "spike":
                off()
        self.faults.clear_all()


# --- main ----------------------------------------------------------------------------------------------------

def log(message):
    print(f"loadgen {time.strftime('%H:%M:%S')} {message}", flush=True)


def summary_line(stats, previous, elapsed, interval, schedule):
    total, failures = stats.snapshot()
    sent = total["sent"] - previous.get("sent", 0)
    classes = " ".join(f"{k}={total[k]}" for k in ("2xx", "3xx", "4xx", "5xx", "failed", "skipped"))
    events = ",".join(sorted(schedule.running)) if schedule else ""
    line = (f"t={elapsed:.0f}s sent={total['sent']} rate={sent / interval if interval else 0:.1f}/s {classes}"
            f" events={events or '-'}")
    if failures:
        line += " failures=" + ",".join(f"{k}:{v}" for k, v in sorted(failures.items()))
    return line, total


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    targets = [Target(name, url, getattr(args, f"{name}_control"), args.control_port)
               for name, url in (("shop", args.shop), ("crm", args.crm), ("mes", args.mes)) if url]
    if not targets:
        raise SystemExit("loadgen: no target (--shop, --crm and --mes are all empty)")

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    stats = Stats()
    faults = Faults(timeout=min(args.timeout, 5.0))
    # A fault left on by an earlier run that was killed would spoil the steady traffic.
    for target in targets:
        faults.clear(target, quiet=True)

    work = queue.Queue(maxsize=args.concurrency * 2)
    workers = [Worker(i, work, stats, args) for i in range(args.concurrency)]
    for w in workers:
        w.start()
    schedule = Schedule(targets, args, faults, stop) if args.period > 0 else None
    if schedule:
        schedule.start()

    log(f"targets {', '.join(f'{t.name}={t.host}:{t.port}' for t in targets)}; {args.rps:g} req/s, "
        f"{args.concurrency} workers, seed {args.seed}, "
        f"{'forever' if not args.duration else f'{args.duration:g}s'}, "
        f"{f'events every {args.period:g}s' if schedule else 'no events'}")

    drawer = Drawer(targets, args)
    start = time.monotonic()
    next_send = start
    next_report = start + args.report_every
    previous, last_report = {}, start
    while not stop.is_set():
        now = time.monotonic()
        if args.duration and now - start >= args.duration:
            break
        if now >= next_report:
            line, previous = summary_line(stats, previous, now - start, now - last_report, schedule)
            log(line)
            last_report, next_report = now, now + args.report_every
        if now < next_send:
            stop.wait(min(next_send - now, 0.25))
            continue
        # Poisson arrivals at the current rate; after a stall, restart the clock rather than catch up.
        rate = args.rps * (schedule.multiplier if schedule else 1.0)
        next_send = max(next_send, now - 1.0) + drawer.rng.expovariate(rate)
        request = drawer.draw()
        try:
            work.put_nowait(request)
        except queue.Full:
            stats.add("skipped")

    stop.set()
    # Let the workers finish what they hold (each request is bounded by --timeout), then switch faults off.
    for _ in workers:
        try:
            work.put(None, timeout=args.timeout)
        except queue.Full:
            break
    deadline = time.monotonic() + args.timeout + 1
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    if schedule:
        schedule.join(10)
    faults.clear_all()
    line, _ = summary_line(stats, previous, time.monotonic() - start, time.monotonic() - last_report, schedule)
    log("done " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
