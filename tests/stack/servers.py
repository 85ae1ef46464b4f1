"""Real servers from the Debian 12 packages for the stack tests, each started as its own process.

Owns: free loopback ports, one data directory per server under a caller's temp dir, a deadline on every wait
(raising with the server's log tail), and stop by PID (SIGTERM or the server's own fast-shutdown signal,
then SIGKILL on the whole process group after a grace). It must never touch a system service, a system
data directory or a fixed port. Python 3 stdlib plus python3-yaml only.

Typical use:
    with servers.Stack(tmp) as stack:
        rmq = stack.add(servers.start_rabbitmq(tmp, definitions="conf/rabbitmq/definitions.json"))
        pg = stack.add(servers.start_postgres(tmp, name="shop-db"))
        ...
    # every server stopped here, in reverse order
"""

import base64
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

LOOPBACK = "127.0.0.1"
# Stop grace before SIGKILL; RabbitMQ's orderly shutdown is the slowest (a few seconds on 2 cores).
DEFAULT_GRACE_SECONDS = 20.0
# Startup deadlines. RabbitMQ boots in ~10-25 s on 2 busy cores, the Go servers in well under a second.
RABBITMQ_START_TIMEOUT = 120.0
POSTGRES_START_TIMEOUT = 60.0
DEFAULT_START_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server failed to start, answer or stop in time; the message carries its log tail."""


# ---------------------------------------------------------------------------------------------------------
# Ports, waiting, HTTP


_issued_ports = set()
_issued_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago.

    The kernel picks it (bind to port 0); the socket is closed before returning so the server can bind it.
    A port is never handed out twice by this process, so two servers started back to back cannot get the
    same one. Another process could still take it in between: that race is accepted (the ephemeral range
    is large and servers fail loudly on EADDRINUSE)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        with _issued_lock:
            if port not in _issued_ports:
                _issued_ports.add(port)
                return port
    raise ServerError("no free port found in 100 attempts")


def wait_until(predicate, timeout, what, server=None, interval=0.2):
    """Poll predicate() until it returns a truthy value (returned) or the deadline passes (ServerError).

    Exceptions from predicate count as 'not yet'. If server's process exits meanwhile, fail at once."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # a server that is still booting refuses connections, answers 503, ...
            last_error = exc
        if server is not None and not server.running():
            raise ServerError(f"{server.name} exited (code {server.returncode()}) while waiting for {what}"
                              f"{_last_error_text(last_error)}\n{server.log_tail()}")
        if time.monotonic() >= deadline:
            tail = server.log_tail() if server is not None else ""
            raise ServerError(f"timed out after {timeout:.0f} s waiting for {what}"
                              f"{_last_error_text(last_error)}\n{tail}")
        time.sleep(interval)


def _last_error_text(exc):
    return f" (last error: {exc!r})" if exc is not None else ""


# Every server is on loopback: never go through an http_proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(method, url, body=None, auth=None, headers=None, timeout=10.0):
    """One HTTP exchange; returns (status, body bytes) for every status, raises only on transport errors.

    body may be bytes, str, or any JSON-serialisable value (sent as application/json)."""
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_json(method, url, body=None, auth=None, timeout=10.0, ok=(200, 201, 202, 204)):
    """An HTTP exchange whose answer must have a status in ok; returns the decoded JSON (None if empty)."""
    status, payload = http_request(method, url, body=body, auth=auth, timeout=timeout)
    if status not in ok:
        raise ServerError(f"{method} {url} answered {status}: {payload[:500]!r}")
    return json.loads(payload) if payload.strip() else None


def _answers_200(url, auth=None):
    return http_request("GET", url, auth=auth, timeout=3.0)[0] == 200


# ---------------------------------------------------------------------------------------------------------
# Text exposition


_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
}


class Scrape(dict):
    """Samples of one scrape: the series name as PromQL sees it (e.g. foo_total, foo_bucket) -> list of
    (labels dict, float value). .types maps each # TYPE family to its type; .family maps every sample name
    to its family (foo_bucket -> foo for a histogram, foo_total -> foo or foo_total as declared)."""

    def __init__(self):
        super().__init__()
        self.types = {}
        self.family = {}

    def names(self):
        return set(self)

    def families(self):
        return set(self.family.values())

    def value(self, name, **labels):
        """Sum of the values of name's samples whose labels include the given ones (None if no sample)."""
        matched = [v for lbls, v in self.get(name, []) if all(lbls.get(k) == w for k, w in labels.items())]
        return sum(matched) if matched else None


def parse_exposition(text):
    """Parse the Prometheus text format (0.0.4, and the sample lines of OpenMetrics) into a Scrape."""
    result = Scrape()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                result.types[parts[2]] = parts[3].strip()
            continue
        name, labels, rest = _parse_sample(line)
        fields = rest.split()
        if not fields:
            raise ValueError(f"sample without value: {line!r}")
        result.setdefault(name, []).append((labels, _parse_float(fields[0])))
        result.family.setdefault(name, _family_of(name, result.types))
    return result


def _family_of(name, types):
    if name in types:
        return name
    for family, kind in types.items():
        for suffix in _SAMPLE_SUFFIXES.get(kind, ()):
            if name == family + suffix:
                return family
    return name


def _parse_float(text):
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return float("inf")
    if lowered == "-inf":
        return float("-inf")
    return float(text)  # float() accepts NaN


_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _parse_sample(line):
    m = _NAME_RE.match(line)
    if not m:
        raise ValueError(f"bad sample line: {line!r}")
    name, pos, labels = m.group(0), m.end(), {}
    if pos < len(line) and line[pos] == "{":
        pos += 1
        while True:
            while pos < len(line) and line[pos] in " ,":
                pos += 1
            if pos >= len(line):
                raise ValueError(f"unterminated labels: {line!r}")
            if line[pos] == "}":
                pos += 1
                break
            lm = _NAME_RE.match(line, pos)
            if not lm or line[lm.end():lm.end() + 2] != '="':
                raise ValueError(f"bad label in: {line!r}")
            pos = lm.end() + 2
            value = []
            while True:
                if pos >= len(line):
                    raise ValueError(f"unterminated label value: {line!r}")
                ch = line[pos]
                if ch == "\\" and pos + 1 < len(line):
                    nxt = line[pos + 1]
                    value.append("\n" if nxt == "n" else nxt)
                    pos += 2
                elif ch == '"':
                    pos += 1
                    break
                else:
                    value.append(ch)
                    pos += 1
            labels[lm.group(0)] = "".join(value)
    return name, labels, line[pos:]


def scrape(url, auth=None, timeout=10.0):
    """GET url and parse its text exposition into a Scrape (raises ServerError unless it answers 200)."""
    status, body = http_request("GET", url, auth=auth, timeout=timeout)
    if status != 200:
        raise ServerError(f"scrape {url} answered {status}: {body[:300]!r}")
    return parse_exposition(body.decode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------------------------
# Processes


def _pids_in_group(pgid):
    """PIDs of live (non-zombie) processes whose process group is pgid, read from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


# setpriv (util-linux) sets the parent-death signal and execs the server under the same PID, so a test
# killed by its runner (ctest's timeout sends SIGKILL) takes its servers with it. The signal fires when the
# thread that started the process exits: start servers from the main thread.
SETPRIV = shutil.which("setpriv")
PDEATHSIG_PREFIX = [SETPRIV, "--pdeathsig", "KILL", "--"] if SETPRIV else []


class Process:
    """One child process in its own session (so its process group holds every child it spawns), its
    stdout and stderr in log_path, killed if this Python process dies. stop() signals the main PID, waits
    up to grace, then SIGKILLs the group."""

    def __init__(self, name, argv, log_path, env=None, cwd=None, user=None, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = str(log_path)
        self.stop_signal = stop_signal
        self.startup_seconds = None  # set by the start function once the server answers
        run_as = {}
        if user is not None:
            entry = pwd.getpwnam(user)
            run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        with open(self.log_path, "ab") as log:
            # user= switches credentials before exec'ing setpriv, so the death signal is not cleared.
            self.popen = subprocess.Popen(PDEATHSIG_PREFIX + self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                          start_new_session=True, close_fds=True, **run_as)
        self.pid = self.popen.pid
        self.pgid = self.pid  # start_new_session: the child leads its own group

    def running(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError as exc:
            text = [f"(cannot read: {exc})"]
        return "\n".join([f"--- {self.name}: last lines of {self.log_path} ---"] + text)

    def leftover_pids(self):
        """Live processes of this server: the main PID if not reaped, and any member of its group."""
        pids = set(_pids_in_group(self.pgid))
        if self.running():
            pids.add(self.pid)
        return sorted(pids)

    def stop(self, grace=DEFAULT_GRACE_SECONDS):
        """Stop the server and everything in its process group; returns the exit code of the main PID.
        Raises ServerError if anything survives SIGKILL for 5 s (it never should)."""
        if self.running():
            try:
                os.kill(self.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Children that outlive the main PID (or a main PID that ignored the signal) get SIGTERM, a
        # short moment, then SIGKILL.
        for sig, pause in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0.0)):
            if not self.leftover_pids():
                break
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass
            if sig == signal.SIGKILL and self.running():
                os.kill(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline and self.leftover_pids():
                time.sleep(0.05)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        wait_until(lambda: not self.leftover_pids(), 5, f"{self.name} (pid {self.pid}) to die")
        return self.popen.returncode


class Server:
    """Base of every started server: its processes (stopped in reverse start order), its directory and
    startup time. Subclasses add ports, URLs and helpers."""

    def __init__(self, name, directory):
        self.name = name
        self.directory = str(directory)
        self.processes = []
        self.startup_seconds = None
        self.stop_seconds = None
        self._stopped = False

    def _spawn(self, *args, **kwargs):
        proc = Process(*args, **kwargs)
        self.processes.append(proc)
        return proc

    @property
    def main(self):
        return self.processes[-1]

    def running(self):
        return all(p.running() for p in self.processes)

    def returncode(self):
        return self.main.returncode()

    def log_tail(self, lines=40):
        return "\n".join(p.log_tail(lines) for p in self.processes)

    def leftover_pids(self):
        return sorted(pid for p in self.processes for pid in p.leftover_pids())

    def stop(self, grace=DEFAULT_GRACE_SECONDS):
        """Idempotent: stops every process of this server, last started first."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        errors = []
        for proc in reversed(self.processes):
            try:
                proc.stop(grace)
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.stop_seconds = time.monotonic() - started
        if errors:
            raise errors[0]

    def _mark_started(self, started):
        self.startup_seconds = time.monotonic() - started
        self.main.startup_seconds = self.startup_seconds

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} pids={[p.pid for p in self.processes]}>"


def server_dir(base_dir, name):
    """Create and return base_dir/name, the directory of one server (an error if it exists already)."""
    path = os.path.join(str(base_dir), name)
    if os.path.exists(path):
        raise ServerError(f"{path} already exists: give each server its own name")
    os.makedirs(path)
    return path


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def _to_yaml_text(config):
    return config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)


def _start_http_server(server, argv, url, ready_path, timeout, env=None, user=None, cwd=None):
    started = time.monotonic()
    server._spawn(server.name, argv, os.path.join(server.directory, "server.log"), env=env, user=user,
                  cwd=cwd or server.directory)
    wait_until(lambda: _answers_200(url + ready_path), timeout, f"{server.name} at {url}{ready_path}", server)
    server._mark_started(started)
    return server


def start_process(base_dir, name, argv, ready_url=None, env=None, cwd=None, timeout=DEFAULT_START_TIMEOUT,
                  stop_signal=signal.SIGTERM):
    """Any other program (apimeter, the demo upstream) as a Server: its own directory base_dir/name (the
    cwd unless given, with server.log), the same stop by PID. With ready_url, returns once it answers 200;
    env defaults to this process's environment."""
    server = Server(name, server_dir(base_dir, name))
    started = time.monotonic()
    server._spawn(name, argv, os.path.join(server.directory, "server.log"), env=env, cwd=cwd or server.directory,
                  stop_signal=stop_signal)
    if ready_url is not None:
        try:
            wait_until(lambda: _answers_200(ready_url), timeout, f"{name} at {ready_url}", server)
        except BaseException:
            server.stop(grace=5)
            raise
    server._mark_started(started)
    return server


# ---------------------------------------------------------------------------------------------------------
# RabbitMQ


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


class RabbitMQ(Server):
    """RabbitMQ with rabbitmq_management and rabbitmq_prometheus, its own epmd, and the loaded definitions.

    Attributes: amqp_port, management_port, prometheus_port, dist_port, epmd_port, nodename,
    management_url, prometheus_url (base, no path), metrics_url (/metrics/per-object), auth (the test's
    administrator: (user, password)), definitions_file (the copy loaded at boot)."""

    # Management API (basic auth). Management statistics lag by collect_statistics_interval.
    def api(self, method, path, body=None, ok=(200, 201, 202, 204)):
        return http_json(method, self.management_url + "/api" + path, body=body, auth=self.auth, ok=ok)

    @staticmethod
    def _q(text):
        return urllib.parse.quote(text, safe="")

    def publish(self, exchange, routing_key, payload, vhost="/", properties=None):
        """Publish one message; returns True if it was routed to at least one queue."""
        if not isinstance(payload, str):
            payload = json.dumps(payload)
        body = {"properties": properties or {"delivery_mode": 2, "content_type": "application/json"},
                "routing_key": routing_key, "payload": payload, "payload_encoding": "string"}
        return self.api("POST", f"/exchanges/{self._q(vhost)}/{self._q(exchange)}/publish", body)["routed"]

    def get(self, queue, count=1, ackmode="ack_requeue_false", vhost="/"):
        """Take up to count messages. ackmode: ack_requeue_true, ack_requeue_false, reject_requeue_true,
        reject_requeue_false (the last dead-letters them through the queue's x-dead-letter-exchange)."""
        body = {"count": count, "ackmode": ackmode, "encoding": "auto", "truncate": 50000}
        return self.api("POST", f"/queues/{self._q(vhost)}/{self._q(queue)}/get", body)

    def purge(self, queue, vhost="/"):
        self.api("DELETE", f"/queues/{self._q(vhost)}/{self._q(queue)}/contents")

    def queue(self, queue, vhost="/"):
        return self.api("GET", f"/queues/{self._q(vhost)}/{self._q(queue)}")

    def queue_depths(self, vhost="/"):
        """{queue: {"ready": n, "unacked": n, "total": n, "consumers": n}} from the management API."""
        depths = {}
        for q in self.api("GET", f"/queues/{self._q(vhost)}"):
            depths[q["name"]] = {"ready": q.get("messages_ready", 0),
                                 "unacked": q.get("messages_unacknowledged", 0),
                                 "total": q.get("messages", 0), "consumers": q.get("consumers", 0)}
        return depths

    def wait_queue_depth(self, queue, total, timeout=30.0, vhost="/"):
        """Wait until the management API reports total messages in queue (its stats are periodic)."""
        return wait_until(lambda: self.queue(queue, vhost).get("messages") == total, timeout,
                          f"{queue} to hold {total} messages", self)


def start_rabbitmq(base_dir, definitions=None, name="rabbitmq", extra_conf="",
                   timeout=RABBITMQ_START_TIMEOUT, stats_interval_ms=1000):
    """Start RabbitMQ 3.10 as root, on free loopback ports, with its own epmd and data under
    base_dir/name; load definitions (a definitions.json path) at boot if given. Returns RabbitMQ once the
    management API answers and the prometheus endpoint serves /metrics (and every queue in definitions
    exists)."""
    server = RabbitMQ(name, server_dir(base_dir, name))
    d = server.directory
    for sub in ("home", "mnesia", "log"):
        os.makedirs(os.path.join(d, sub))
    server.amqp_port, server.management_port, server.prometheus_port = free_port(), free_port(), free_port()
    server.dist_port, server.epmd_port = free_port(), free_port()
    server.nodename = f"rabbit-{secrets.token_hex(4)}@localhost"
    server.management_url = f"http://{LOOPBACK}:{server.management_port}"
    server.prometheus_url = f"http://{LOOPBACK}:{server.prometheus_port}"
    server.metrics_url = server.prometheus_url + "/metrics/per-object"

    conf = [
        f"listeners.tcp.default = {LOOPBACK}:{server.amqp_port}",
        f"management.tcp.ip = {LOOPBACK}",
        f"management.tcp.port = {server.management_port}",
        f"prometheus.tcp.ip = {LOOPBACK}",
        f"prometheus.tcp.port = {server.prometheus_port}",
        f"collect_statistics_interval = {stats_interval_ms}",
        "log.console = true",
        "log.console.level = info",
        "log.console.use_colors = off",
        "log.file.level = info",
        # Low, so a test box short of disk space does not raise the disk alarm and block publishers.
        "disk_free_limit.absolute = 10MB",
    ]
    # Definitions imported at boot suppress the default guest user, so the test's own administrator is
    # added to a copy of them (the repo's file is never changed); without definitions the copy holds only
    # the administrator and the "/" vhost.
    defs = {}
    if definitions is not None:
        with open(os.path.abspath(str(definitions))) as f:
            defs = json.load(f)
    else:
        defs = {"vhosts": [{"name": "/"}]}
    expected_queues = [(q.get("vhost", "/"), q["name"]) for q in defs.get("queues", [])]
    server.auth = (f"stacktest-{secrets.token_hex(3)}", secrets.token_hex(12))
    vhosts = [v["name"] for v in defs.get("vhosts", [])] or ["/"]
    defs["users"] = list(defs.get("users", [])) + [
        {"name": server.auth[0], "password": server.auth[1], "tags": ["administrator"]}]
    defs["permissions"] = list(defs.get("permissions", [])) + [
        {"user": server.auth[0], "vhost": v, "configure": ".*", "write": ".*", "read": ".*"} for v in vhosts]
    server.definitions_file = _write(os.path.join(d, "definitions.json"), json.dumps(defs, indent=2))
    conf.append(f"load_definitions = {server.definitions_file}")
    conf_file = _write(os.path.join(d, "rabbitmq.conf"), "\n".join(conf) + "\n" + extra_conf)
    _write(os.path.join(d, "enabled_plugins"), "[rabbitmq_management,rabbitmq_prometheus].\n")
    env_file = _write(os.path.join(d, "rabbitmq-env.conf"), "")  # keeps /etc/rabbitmq/rabbitmq-env.conf out

    env = {
        "PATH": "/usr/lib/rabbitmq/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "HOME": os.path.join(d, "home"),  # the Erlang cookie is created here
        "RABBITMQ_CONF_ENV_FILE": env_file,
        "RABBITMQ_CONFIG_FILE": conf_file,
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
        "RABBITMQ_ENABLED_PLUGINS": "rabbitmq_management,rabbitmq_prometheus",
        "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
        "RABBITMQ_NODENAME": server.nodename,
        "RABBITMQ_USE_LONGNAME": "false",
        "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
        "RABBITMQ_NODE_PORT": str(server.amqp_port),
        "RABBITMQ_DIST_PORT": str(server.dist_port),
        "ERL_EPMD_PORT": str(server.epmd_port),
        "ERL_EPMD_ADDRESS": LOOPBACK,
        # Our epmd is started below as a child we can stop; erl must not daemonise another one (a
        # daemonised epmd leaves our process group and would outlive the test). Distribution on loopback.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
    }
    started = time.monotonic()
    try:
        epmd = server._spawn(f"{name}-epmd", [EPMD, "-port", server.epmd_port, "-address", LOOPBACK],
                             os.path.join(d, "epmd.log"), env=env, cwd=d)
        wait_until(lambda: _port_open(server.epmd_port), 10, f"epmd on port {server.epmd_port}", epmd)
        # The console log (server.log) holds what the node's own log file in log/ holds.
        server._spawn(name, [RABBITMQ_SERVER], os.path.join(d, "server.log"), env=env, cwd=d)
        wait_until(lambda: _answers_200(server.prometheus_url + "/metrics"), timeout,
                   f"rabbitmq_prometheus at {server.prometheus_url}/metrics", server)
        remaining = max(5.0, timeout - (time.monotonic() - started))
        wait_until(lambda: _answers_200(server.management_url + "/api/overview", server.auth), remaining,
                   f"management API at {server.management_url}", server)
        for vhost, queue in expected_queues:
            wait_until(lambda: _answers_200(f"{server.management_url}/api/queues/{server._q(vhost)}/"
                                            f"{server._q(queue)}", server.auth),
                       remaining, f"queue {queue} from {definitions}", server)
    except BaseException:
        server.stop(grace=5)
        raise
    server._mark_started(started)
    return server


def _port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((LOOPBACK, port)) == 0


# Topology of the contract, for tests that do not load the repo's conf/rabbitmq/definitions.json.
CONTRACT_DEFINITIONS = {
    "vhosts": [{"name": "/"}],
    "exchanges": [
        {"name": "crm.events", "vhost": "/", "type": "topic", "durable": True, "auto_delete": False,
         "internal": False, "arguments": {}},
        {"name": "crm.events.dlx", "vhost": "/", "type": "fanout", "durable": True, "auto_delete": False,
         "internal": False, "arguments": {}},
    ],
    "queues": [
        {"name": "mes.orders", "vhost": "/", "durable": True, "auto_delete": False,
         "arguments": {"x-queue-type": "classic", "x-dead-letter-exchange": "crm.events.dlx"}},
        {"name": "mes.orders.dlq", "vhost": "/", "durable": True, "auto_delete": False,
         "arguments": {"x-queue-type": "classic"}},
    ],
    "bindings": [
        {"source": "crm.events", "vhost": "/", "destination": "mes.orders", "destination_type": "queue",
         "routing_key": "order.#", "arguments": {}},
        {"source": "crm.events.dlx", "vhost": "/", "destination": "mes.orders.dlq",
         "destination_type": "queue", "routing_key": "", "arguments": {}},
    ],
}


def write_contract_definitions(path):
    """Write CONTRACT_DEFINITIONS to path (JSON) and return the path."""
    return _write(str(path), json.dumps(CONTRACT_DEFINITIONS, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------
# PostgreSQL and postgres_exporter


PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"  # postgres refuses to run as root; it runs as the Debian system user


class Postgres(Server):
    """PostgreSQL 15 listening on 127.0.0.1:port (trust auth for local connections) and a unix socket in
    socket_dir. Attributes: port, host, socket_dir, data_dir, user, dsn(dbname)."""

    def dsn(self, dbname="postgres"):
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}?sslmode=disable"

    def psql(self, sql, dbname="postgres", timeout=60.0):
        """Run sql through psql (tuples only, unaligned, stop on error); returns stdout."""
        proc = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname,
                               "-c", sql],
                              capture_output=True, text=True, timeout=timeout,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PGCONNECT_TIMEOUT": "5"})
        if proc.returncode != 0:
            raise ServerError(f"psql failed ({proc.returncode}): {proc.stderr.strip()}\nSQL: {sql}")
        return proc.stdout


def _make_traversable(path, stop_at):
    """Give 'others' search (x) permission on path and its ancestors up to stop_at (included), so the
    postgres user can reach its data directory inside a root-owned 0700 temp dir."""
    path = os.path.abspath(path)
    stop_at = os.path.abspath(stop_at)
    while True:
        mode = os.stat(path).st_mode
        if not mode & 0o001:
            os.chmod(path, (mode & 0o7777) | 0o001)
        if path == stop_at or path == "/":
            break
        path = os.path.dirname(path)


def _check_reachable(path, user):
    """Raise a clear error if user cannot traverse to path (an ancestor above the temp dir lacks o+x)."""
    entry = pwd.getpwnam(user)
    probe = subprocess.run(["/usr/bin/test", "-x", path], user=entry.pw_uid, group=entry.pw_gid,
                           extra_groups=[])
    if probe.returncode != 0:
        raise ServerError(f"user {user} cannot reach {path}: give its ancestors o+x or use another temp dir")


def start_postgres(base_dir, name="postgres", settings=None, timeout=POSTGRES_START_TIMEOUT):
    """initdb and start PostgreSQL 15 as the postgres system user with data under base_dir/name (which is
    chowned to it; base_dir gets o+x). settings: extra postgresql.conf entries (dict). Returns Postgres
    once it accepts queries. Stop is a fast shutdown (SIGINT), which does not wait for clients."""
    server = Postgres(name, server_dir(base_dir, name))
    d = server.directory
    server.port, server.host, server.user = free_port(), LOOPBACK, PG_USER
    server.data_dir = os.path.join(d, "data")
    server.socket_dir = os.path.join(d, "socket")
    os.makedirs(server.socket_dir)
    entry = pwd.getpwnam(PG_USER)
    _make_traversable(d, str(base_dir))
    os.chown(d, entry.pw_uid, entry.pw_gid)
    os.chown(server.socket_dir, entry.pw_uid, entry.pw_gid)
    _check_reachable(d, PG_USER)
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": d, "TZ": "UTC"}

    started = time.monotonic()
    init_log = os.path.join(d, "initdb.log")
    with open(init_log, "wb") as log:
        init = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", server.data_dir, "-U", PG_USER,
                               "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d, timeout=timeout,
                              user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    if init.returncode != 0:
        with open(init_log) as f:
            raise ServerError(f"initdb failed ({init.returncode}):\n{f.read()[-3000:]}")
    conf = {
        "listen_addresses": f"'{LOOPBACK}'",
        "port": str(server.port),
        "unix_socket_directories": f"'{server.socket_dir}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "logging_collector": "off",
        "shared_preload_libraries": "''",
    }
    conf.update({k: str(v) for k, v in (settings or {}).items()})
    with open(os.path.join(server.data_dir, "postgresql.conf"), "a") as f:
        f.write("\n# stack test settings\n")
        f.writelines(f"{k} = {v}\n" for k, v in conf.items())

    server._spawn(name, [os.path.join(PG_BIN, "postgres"), "-D", server.data_dir],
                  os.path.join(d, "server.log"), env=env, cwd=d, user=PG_USER, stop_signal=signal.SIGINT)
    try:
        wait_until(lambda: _pg_ready(server), timeout, f"postgres on {server.host}:{server.port}", server)
    except BaseException:
        server.stop(grace=5)
        raise
    server._mark_started(started)
    return server


def _pg_ready(server):
    proc = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", server.host, "-p", str(server.port),
                           "-U", server.user, "-d", "postgres", "-t", "2"], timeout=10)
    return proc.returncode == 0


class Exporter(Server):
    """An exporter or a Go server with an HTTP endpoint. Attributes: port, url (base), metrics_url."""

    def scrape(self):
        return scrape(self.metrics_url)


def _new_http_server(cls, base_dir, name):
    server = cls(name, server_dir(base_dir, name))
    server.port = free_port()
    server.address = f"{LOOPBACK}:{server.port}"
    server.url = f"http://{server.address}"
    server.metrics_url = server.url + "/metrics"
    return server


def _start_exporter(server, argv, timeout, env=None, ready_path="/metrics"):
    full_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": server.directory}
    full_env.update(env or {})
    try:
        return _start_http_server(server, argv, server.url, ready_path, timeout, env=full_env)
    except BaseException:
        server.stop(grace=5)
        raise


def start_postgres_exporter(base_dir, postgres, name=None, dbname="postgres", extra_args=(),
                            timeout=DEFAULT_START_TIMEOUT):
    """postgres_exporter 0.11 for postgres (a Postgres, or a DSN string). Returns Exporter once /metrics
    answers and pg_up is 1."""
    dsn = postgres.dsn(dbname) if isinstance(postgres, Postgres) else str(postgres)
    name = name or (f"{postgres.name}-exporter" if isinstance(postgres, Postgres) else "postgres-exporter")
    server = _new_http_server(Exporter, base_dir, name)
    _start_exporter(server, ["prometheus-postgres-exporter", f"--web.listen-address={server.address}",
                             *extra_args], timeout, env={"DATA_SOURCE_NAME": dsn})
    try:
        wait_until(lambda: server.scrape().value("pg_up") == 1, timeout, f"{name}: pg_up == 1", server)
    except BaseException:
        server.stop(grace=5)
        raise
    return server


# Collectors that only log errors in a container or VM without systemd/udev.
NODE_EXPORTER_DISABLED = ("systemd",)


def start_node_exporter(base_dir, name="node-exporter", extra_args=(), timeout=DEFAULT_START_TIMEOUT):
    """node_exporter 1.5 (host metrics are read from /proc and /sys; the textfile directory is its own)."""
    server = _new_http_server(Exporter, base_dir, name)
    textfile_dir = os.path.join(server.directory, "textfile")
    os.makedirs(textfile_dir)
    return _start_exporter(server, ["prometheus-node-exporter", f"--web.listen-address={server.address}",
                                    f"--collector.textfile.directory={textfile_dir}",
                                    *[f"--no-collector.{c}" for c in NODE_EXPORTER_DISABLED], *extra_args],
                           timeout)


class Redis(Server):
    """Redis 7 on 127.0.0.1:port, no persistence. Attributes: port, addr ("redis://127.0.0.1:port")."""

    def cli(self, *args, timeout=30.0):
        """Run redis-cli against this server; returns stdout."""
        proc = subprocess.run(["redis-cli", "-h", LOOPBACK, "-p", str(self.port), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise ServerError(f"redis-cli {args} failed: {proc.stderr.strip()}")
        return proc.stdout


def start_redis(base_dir, name="redis", timeout=DEFAULT_START_TIMEOUT):
    server = Redis(name, server_dir(base_dir, name))
    server.port = free_port()
    server.addr = f"redis://{LOOPBACK}:{server.port}"
    started = time.monotonic()
    server._spawn(name, ["redis-server", "--port", server.port, "--bind", LOOPBACK, "--dir", server.directory,
                         "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
                         "--protected-mode", "yes"],
                  os.path.join(server.directory, "server.log"), cwd=server.directory)
    try:
        wait_until(lambda: server.cli("PING").strip() == "PONG", timeout, f"redis on port {server.port}", server)
    except BaseException:
        server.stop(grace=5)
        raise
    server._mark_started(started)
    return server


def start_redis_exporter(base_dir, redis, name="redis-exporter", extra_args=(), timeout=DEFAULT_START_TIMEOUT):
    """redis_exporter 1.45 for redis (a Redis or an address). Returns Exporter once redis_up is 1."""
    addr = redis.addr if isinstance(redis, Redis) else str(redis)
    server = _new_http_server(Exporter, base_dir, name)
    _start_exporter(server, ["prometheus-redis-exporter", f"--redis.addr={addr}",
                             f"--web.listen-address={server.address}", *extra_args], timeout)
    try:
        wait_until(lambda: server.scrape().value("redis_up") == 1, timeout, f"{name}: redis_up == 1", server)
    except BaseException:
        server.stop(grace=5)
        raise
    return server


# ---------------------------------------------------------------------------------------------------------
# Prometheus and Alertmanager


class Prometheus(Exporter):
    """Prometheus 2.42 with exemplar storage and the lifecycle API. Attributes: port, url, config_file,
    metrics_url. Query helpers return the API's data field and raise ServerError on an error status."""

    def api(self, path, params=None, method="GET"):
        query = urllib.parse.urlencode(params or {}, doseq=True)
        if method == "POST":
            status, body = http_request("POST", f"{self.url}/api/v1/{path}", body=query.encode(),
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            status, body = http_request("GET", f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""))
        try:
            doc = json.loads(body)
        except ValueError:
            raise ServerError(f"prometheus {path} answered {status}: {body[:300]!r}")
        if status != 200 or doc.get("status") != "success":
            raise ServerError(f"prometheus {path} {params} answered {status}: {doc.get('errorType')}: "
                              f"{doc.get('error')}")
        return doc["data"]

    def query(self, expr, at=None):
        """Instant query; returns the result list (vector) or value (scalar/string)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = str(at)
        return self.api("query", params, method="POST")["result"]

    def query_range(self, expr, start, end, step):
        return self.api("query_range", {"query": expr, "start": str(start), "end": str(end),
                                        "step": str(step)}, method="POST")["result"]

    def query_exemplars(self, expr, start, end):
        return self.api("query_exemplars", {"query": expr, "start": str(start), "end": str(end)}, method="POST")

    def alerts(self):
        """Active alerts (pending and firing) as Prometheus evaluates them."""
        return self.api("alerts")["alerts"]

    def rules(self):
        return self.api("rules")["groups"]

    def targets(self):
        """Active targets (each with labels, scrapeUrl, health, lastError)."""
        return self.api("targets", {"state": "active"})["activeTargets"]

    def wait_targets_up(self, timeout=60.0, jobs=None, min_targets=1):
        """Wait until every active target (of jobs, if given) has health 'up'; returns the targets."""
        def all_up():
            targets = [t for t in self.targets() if jobs is None or t["labels"].get("job") in jobs]
            if len(targets) >= min_targets and all(t["health"] == "up" for t in targets):
                return targets
            self._last_targets = [(t["labels"].get("job"), t["scrapeUrl"], t["health"], t.get("lastError"))
                                  for t in targets]
            return None
        self._last_targets = []
        try:
            return wait_until(all_up, timeout, "all Prometheus targets up", self, interval=0.5)
        except ServerError as exc:
            raise ServerError(f"{exc}\ntargets not up: {self._last_targets}") from None

    def wait_alert(self, alertname, state="firing", timeout=120.0, **labels):
        """Wait until an alert named alertname is in state with the given labels; returns it."""
        def find():
            for a in self.alerts():
                if a["labels"].get("alertname") == alertname and a["state"] == state and \
                        all(a["labels"].get(k) == v for k, v in labels.items()):
                    return a
            return None
        return wait_until(find, timeout, f"alert {alertname}{labels} {state}", self, interval=0.5)

    def wait_for_data(self, expr, timeout=60.0):
        """Wait until the instant query expr returns a non-empty result; returns it."""
        return wait_until(lambda: self.query(expr), timeout, f"data for {expr}", self, interval=0.5)

    def reload(self):
        status, body = http_request("POST", self.url + "/-/reload")
        if status != 200:
            raise ServerError(f"prometheus reload answered {status}: {body[:300]!r}")


def start_prometheus(base_dir, config, rule_files=(), name="prometheus", extra_args=(),
                     alert_resend_delay="2s", timeout=DEFAULT_START_TIMEOUT):
    """Prometheus 2.42 with config (a dict or YAML text). rule_files (paths) are copied into its directory
    and appended to the config's rule_files. Exemplar storage and the lifecycle API (reload) are on.
    alert_resend_delay (--rules.alert.resend-delay, Prometheus' default 1m; None keeps it): an alert that
    fires before the notifier has discovered Alertmanager (~5 s after start) is dropped and only sent
    again after this delay. Returns Prometheus once /-/ready answers."""
    server = _new_http_server(Prometheus, base_dir, name)
    d = server.directory
    doc = (yaml.safe_load(config) if isinstance(config, str) else json.loads(json.dumps(config))) or {}
    rules_dir = os.path.join(d, "rules")
    os.makedirs(rules_dir)
    copied = []
    for i, path in enumerate(rule_files):
        target = os.path.join(rules_dir, f"{i:02d}-{os.path.basename(str(path))}")
        shutil.copyfile(str(path), target)
        copied.append(target)
    if copied:
        doc["rule_files"] = list(doc.get("rule_files") or []) + copied
    server.config_file = _write(os.path.join(d, "prometheus.yml"), _to_yaml_text(doc))
    server.rule_files = copied
    os.makedirs(os.path.join(d, "data"))
    return _start_exporter(server, ["prometheus", f"--config.file={server.config_file}",
                                    f"--storage.tsdb.path={os.path.join(d, 'data')}",
                                    f"--web.listen-address={server.address}", "--web.enable-lifecycle",
                                    "--enable-feature=exemplar-storage",
                                    *([f"--rules.alert.resend-delay={alert_resend_delay}"]
                                      if alert_resend_delay else []), *extra_args],
                           timeout, ready_path="/-/ready")


class Alertmanager(Exporter):
    """Alertmanager 0.25, clustering off. Attributes: port, url, config_file, metrics_url."""

    def alerts(self, active=True, silenced=False, inhibited=False, filters=()):
        """GET /api/v2/alerts; filters are matchers such as 'alertname="X"'."""
        params = [("active", str(active).lower()), ("silenced", str(silenced).lower()),
                  ("inhibited", str(inhibited).lower())] + [("filter", f) for f in filters]
        return http_json("GET", f"{self.url}/api/v2/alerts?{urllib.parse.urlencode(params)}")

    def groups(self):
        return http_json("GET", f"{self.url}/api/v2/alerts/groups")

    def status(self):
        return http_json("GET", f"{self.url}/api/v2/status")

    def wait_alert(self, alertname, timeout=60.0, **labels):
        """Wait until /api/v2/alerts holds an active alert named alertname with labels; returns it."""
        def find():
            for a in self.alerts():
                if a["labels"].get("alertname") == alertname and \
                        all(a["labels"].get(k) == v for k, v in labels.items()):
                    return a
            return None
        return wait_until(find, timeout, f"alertmanager alert {alertname}{labels}", self, interval=0.5)

    def post_alerts(self, alerts):
        """POST alerts (a list of {labels, annotations, startsAt?, endsAt?}) straight to /api/v2/alerts."""
        return http_json("POST", f"{self.url}/api/v2/alerts", body=alerts)


def start_alertmanager(base_dir, config, name="alertmanager", extra_args=(), timeout=DEFAULT_START_TIMEOUT):
    """Alertmanager 0.25 with config (a dict or YAML text; files it names, e.g. api_url_file, must exist).
    Returns Alertmanager once /-/ready answers."""
    server = _new_http_server(Alertmanager, base_dir, name)
    d = server.directory
    server.config_file = _write(os.path.join(d, "alertmanager.yml"), _to_yaml_text(config))
    os.makedirs(os.path.join(d, "data"))
    return _start_exporter(server, ["prometheus-alertmanager", f"--config.file={server.config_file}",
                                    f"--storage.path={os.path.join(d, 'data')}",
                                    f"--web.listen-address={server.address}", "--cluster.listen-address=",
                                    *extra_args],
                           timeout, ready_path="/-/ready")


# ---------------------------------------------------------------------------------------------------------
# Slack sink


class SlackSink:
    """A local stand-in for Slack incoming webhooks: a threaded HTTP server on 127.0.0.1:0 that answers
    every POST with 200 "ok" and records (path, JSON body or raw text, headers). Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._requests = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with sink._cond:
                    sink._requests.append({"path": self.path, "body": body, "headers": dict(self.headers),
                                           "time": time.time()})
                    sink._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.name = "slack-sink"
        self.startup_seconds = 0.0
        self.stop_seconds = None
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="slack-sink", daemon=True)
        self._thread.start()

    def webhook_url(self, path="/hooks/alerts"):
        return self.url + path

    def requests(self, path=None):
        """Copies of the recorded requests (of one path, if given), oldest first."""
        with self._lock:
            return [dict(r) for r in self._requests if path is None or r["path"] == path]

    def wait_for(self, predicate, timeout=60.0):
        """Wait until a recorded request satisfies predicate(request); returns it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self._requests:
                    if predicate(r):
                        return dict(r)
                left = deadline - time.monotonic()
                if left <= 0:
                    paths = [(r["path"], str(r["body"])[:200]) for r in self._requests[-10:]]
                    raise ServerError(f"slack sink: no matching request in {timeout:.0f} s; last: {paths}")
                self._cond.wait(min(left, 1.0))

    def clear(self):
        with self._lock:
            self._requests.clear()

    def running(self):
        return self._thread.is_alive()

    def leftover_pids(self):
        return []

    def stop(self, grace=None):
        self.stop_seconds = 0.0
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


# ---------------------------------------------------------------------------------------------------------
# A group of servers stopped together


class Stack:
    """Collects started servers and stops them all (last added first) on stop() or leaving a with block,
    even if one of them fails to stop. check_clean() raises if any of their processes survived."""

    def __init__(self, base_dir=None):
        self.base_dir = base_dir
        self.servers = []

    def add(self, server):
        self.servers.append(server)
        return server

    def stop(self):
        errors = []
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception as exc:
                errors.append(f"{getattr(server, 'name', server)}: {exc}")
        if errors:
            raise ServerError("stopping the stack failed:\n" + "\n".join(errors))

    def check_clean(self):
        left = {s.name: s.leftover_pids() for s in self.servers if s.leftover_pids()}
        if left:
            raise ServerError(f"processes left after stop: {left}")

    def startup_times(self):
        return {s.name: s.startup_seconds for s in self.servers}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
