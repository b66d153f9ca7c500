#!/usr/bin/env python3
"""bench/run.py — the cosock benchmark: every scenario on every server, interleaved, one table.

Servers: cosock's examples/echo_server against raw Asio (C++20 coroutines, and callbacks), plain
epoll (the one-thread ceiling), Tokio (current_thread runtimes, when bench/tokio_echo is built: see
TOKIO) and, for the timeout scenario, raw Asio with a naive `read || timer` per read. The load
generator (bench/loadgen) uses neither cosock nor Asio. Each run starts one server pinned to CPU 0
and the load pinned to CPU 1; repetitions go A B C A B C ... so that drift on this noisy machine
hits every server alike. What decides is the server's CPU time per operation (sum of
/proc/PID/task/*/schedstat's first field over the measured window, divided by the operations) and
its RSS per idle connection, as ratios to plain epoll in the same repetition.

The bulk scenario also runs iperf3 (when installed; Debian package iperf3) once per repetition,
after the servers, as an outside reference for what this kernel's loopback TCP carries: `iperf3 -s
-1 -B 127.0.0.1` pinned like the servers, `iperf3 -c 127.0.0.1 -t SECONDS -l 64K -J` pinned like the
load generator, on a free loopback port; its GB/s is end.sum_received.bits_per_second / 8 / 1e9. Its
row in the table, and each bulk server's GB/s ÷ iperf3's GB/s (median of per-repetition ratios),
compare unlike things on purpose: iperf3 moves every byte one way (client to server), while an
echo server reads every byte and writes it back, and the load generator counts the bytes that came
back. iperf3 takes whole seconds (-t): --duration is rounded, to at least 1 s; it has no warm-up.

    python3 bench/run.py --bench-dir BUILD/bench --cosock BUILD/examples/echo_server
    python3 bench/run.py ... --write-docs      # also rewrite docs/performance.md's results + chart
    python3 bench/run.py ... --quick           # smoke: every server, every scenario, ~1 s each
    python3 bench/run.py ... --callgrind       # instructions (valgrind) and system calls (perf) per op
    python3 bench/run.py ... --extra "cosock io_uring=OTHER/examples/echo_server" --only udp,churn

`--extra NAME=PATH[:ARGS]` (repeatable) adds one more server, for example cosock from another
build: it runs in every selected scenario beside cosock, interleaved like the others, and gets its
own rows (ARGS: extra arguments, split like a shell would). `--servers A,B,...` runs only those.

`cmake --build BUILD --target run_bench` runs the first line. Python 3 standard library only.
Every process it starts is bounded in time and stopped by its PID; traffic stays on loopback.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "performance.md")
CHART = os.path.join(ROOT, "docs", "performance-ratios.svg")
RESULTS = ("<!-- bench-results:begin -->", "<!-- bench-results:end -->")  # filled by a full run
COUNTS = ("<!-- bench-callgrind:begin -->", "<!-- bench-callgrind:end -->")  # filled by --callgrind
TIME_BUDGET = 570  # seconds: a full run stops repeating (after at least 3 repetitions) past this
TIMEOUT_S = "1"  # --timeout of the timeout scenario: the lazy timer fires, and re-arms, each second

# name -> how to start it (paths filled in by main); `refs` are the ratio denominators.
SERVERS = {
    "cosock": ["{cosock}"],
    "asio-coro": ["{bench}/asio_coro_echo"],
    "asio-callback": ["{bench}/asio_callback_echo"],
    "epoll": ["{bench}/epoll_echo"],
    "cosock --timeout": ["{cosock}", "--timeout", TIMEOUT_S],
    "asio-coro naive ||": ["{bench}/asio_naive_timeout_echo", "--timeout", TIMEOUT_S],
    # TLS: the same certificate and the same OpenSSL (so the same cipher suite) for both.
    "cosock --tls": ["{cosock}", "--tls", "{cert}", "{key}"],
    "asio-tls": ["{bench}/asio_tls_echo", "--tls", "{cert}", "{key}"],
    # Multi-core: one event loop per thread, each with its own SO_REUSEPORT listener.
    "cosock 2 loops": ["{cosock}", "--threads", "2"],
    "asio-coro 2 loops": ["{bench}/asio_coro_echo", "--threads", "2"],
    # Tokio (bench/tokio_echo, Rust): current_thread runtimes, one per thread.
    "tokio": ["{bench}/tokio_echo"],
    "tokio --timeout": ["{bench}/tokio_echo", "--timeout", TIMEOUT_S],
    "tokio 2 loops": ["{bench}/tokio_echo", "--threads", "2"],
    # UDP in batches: recvmmsg + sendmmsg (cosock: udp_endpoint::recv_many_into + send_many).
    "cosock --mmsg": ["{cosock}", "--mmsg"],
    "epoll --mmsg": ["{bench}/epoll_echo", "--mmsg"],
}
# Tokio runs, right after it, wherever its counterpart runs (SCENARIOS, CALLGRIND_CASES), when
# BENCH/tokio_echo is built (CMake target tokio_echo: cargo --offline with Debian's tokio crate);
# else the run goes on without it and says so. Its CPU ratios get a column of their own.
TOKIO = {"epoll": "tokio", "asio-coro naive ||": "tokio --timeout", "asio-coro 2 loops": "tokio 2 loops"}
FOUR = ["cosock", "asio-coro", "asio-callback", "epoll"]

# Each scenario: loadgen arguments, what one operation is, how throughput is shown.
SCENARIOS = [
    dict(key="pingpong-1", title="TCP ping-pong, 1 connection, 64 B", mode="pingpong",
         args=["--conns", "1", "--size", "64"], op="round trip", unit="k round trips/s", servers=FOUR),
    dict(key="pingpong-100", title="TCP ping-pong, 100 connections, 64 B", mode="pingpong",
         args=["--conns", "100", "--size", "64"], op="round trip", unit="k round trips/s", servers=FOUR),
    dict(key="bulk", title="TCP bulk, 1 connection, 64 KiB writes", mode="bulk", args=[],
         op="64 KiB echoed", unit="GB/s", servers=FOUR),
    dict(key="udp", title="UDP ping-pong, 64 B", mode="udp", args=["--conns", "1", "--size", "64"],
         op="datagram round trip", unit="k round trips/s", servers=FOUR),
    # 64 sockets in flight, so that a server finds several datagrams per wake-up; its CPU ratio
    # is to epoll with the same batching (shown in the asio-coro column).
    dict(key="udp-batch", title="UDP ping-pong, 64 sockets, 64 B, batched (recvmmsg/sendmmsg)", mode="udp",
         args=["--conns", "64", "--size", "64"], op="datagram round trip", unit="k round trips/s",
         ref="epoll --mmsg", servers=["cosock --mmsg", "epoll --mmsg", "cosock", "epoll"]),
    dict(key="churn", title="accept churn (8 clients: connect, 64 B echo, close)", mode="churn",
         args=["--conns", "8", "--size", "64"], op="connection", unit="k connections/s", servers=FOUR),
    dict(key="idle", title="idle connections (open, one 64 B echo, hold)", mode="idle",
         args=["--size", "64"], op="connection opened", unit="k connections/s", servers=FOUR),
    dict(key="timeout", title="TCP ping-pong, 100 connections, 64 B, read timeout " + TIMEOUT_S + " s",
         mode="pingpong", args=["--conns", "100", "--size", "64"], op="round trip",
         unit="k round trips/s",
         servers=["cosock --timeout", "asio-coro naive ||", "cosock", "asio-coro", "epoll"]),
    # Its load generator is an Asio ssl::stream client (tls_loadgen); its CPU ratio is to raw
    # Asio's ssl::stream with use_awaitable (asio-tls), shown in the asio-coro column.
    dict(key="tls", title="TLS ping-pong, 10 connections, 64 B", mode="pingpong", loadgen="tls_loadgen",
         args=["--conns", "10", "--size", "64"], op="round trip", unit="k round trips/s", ref="asio-tls",
         servers=["cosock --tls", "asio-tls"]),
    # Two event loops on two threads (cosock::run_parallel against two io_contexts): neither the
    # servers nor the load are pinned, since the servers want both CPUs; the load competes for
    # them, so read the ratio, not the absolute rate. Its CPU ratio is to raw Asio's two loops.
    dict(key="pingpong-100-2loops", title="TCP ping-pong, 100 connections, 64 B, 2 event loops",
         mode="pingpong", args=["--conns", "100", "--size", "64"], op="round trip", unit="k round trips/s",
         ref="asio-coro 2 loops", unpinned=True,
         servers=["cosock 2 loops", "asio-coro 2 loops", "cosock", "asio-coro"]),
]
REFS = ["asio-coro", "epoll"]  # ratio columns; main adds "tokio" when it runs
IPERF3 = "iperf3 (reference: one direction)"  # its row in the bulk scenario (not an echo server)
EXTRAS = []  # names given with --extra, in order


def add_extra(spec):
    """--extra NAME=PATH[:ARGS]: one more server, measured in every scenario right after cosock."""
    name, eq, rest = spec.partition("=")
    path, _, args = rest.partition(":")
    if not eq or not name or not path:
        sys.exit(f"run.py: --extra {spec!r} is not NAME=PATH[:ARGS]")
    if name in SERVERS:
        sys.exit(f"run.py: --extra {name!r}: a server of that name exists")
    if not os.access(path, os.X_OK):
        sys.exit(f"run.py: --extra {name!r}: {path} is not built")
    SERVERS[name] = [a.replace("{", "{{").replace("}", "}}") for a in [path, *shlex.split(args)]]
    EXTRAS.append(name)


class Failure(Exception):
    pass


# --- processes ----------------------------------------------------------------------------------

class Proc:
    """A child process with line reads under a deadline; stopped by its PID, never by name."""

    def __init__(self, argv, stdin=False, stderr_path=None):
        self.err = open(stderr_path or os.devnull, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err, bufsize=0)
        self.pid = self.p.pid
        self.buf = b""

    def line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no output from pid {self.pid} within {timeout:.0f} s")
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise Failure(f"pid {self.pid} exited (status {self.p.wait()})")
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def say(self, text):
        try:
            self.p.stdin.write(text.encode())
            self.p.stdin.flush()
        except OSError:  # it has exited already
            pass

    def stop(self, sig=signal.SIGTERM, grace=5):
        """Signals the process by its PID, waits `grace` s, then kills it. Returns its status."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
            except ProcessLookupError:
                pass
        self.err.close()
        for f in (self.p.stdin, self.p.stdout):
            try:
                if f:
                    f.close()
            except OSError:  # a pipe whose reader is gone
                pass
        return self.p.returncode

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.stop(signal.SIGKILL)


def cpu_ns(pid):
    """Time on CPU of every thread of `pid`, in ns (schedstat's first field)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total


def user_sys_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime (clock ticks)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure(f"no VmRSS for pid {pid}")


def sample(pid):
    return dict(t=time.monotonic(), cpu=cpu_ns(pid), ticks=user_sys_ticks(pid), rss=rss_kib(pid))


# --- one measurement ----------------------------------------------------------------------------

def start_server(name, cfg, extra_prefix=(), stderr_path=None, timeout=10, pinned=True):
    argv = [a.format(cosock=cfg.cosock, bench=cfg.bench_dir, cert=cfg.tls_cert, key=cfg.tls_key)
            for a in SERVERS[name]] + ["--port", "0"]
    server = Proc((cfg.pin_server if pinned else []) + list(extra_prefix) + argv, stderr_path=stderr_path)
    try:
        first = server.line(timeout)
    except Failure:
        server.stop(signal.SIGKILL)
        raise
    m = re.fullmatch(r"listening on (\S+):(\d+)", first)
    if not m:
        server.stop(signal.SIGKILL)
        raise Failure(f"{name}: first line was {first!r}, not 'listening on HOST:PORT'")
    return server, int(m.group(2))


def loadgen_argv(cfg, scenario, port, extra):
    pin = [] if scenario.get("unpinned") else cfg.pin_load
    return pin + [os.path.join(cfg.bench_dir, scenario.get("loadgen", "loadgen")), scenario["mode"],
                           "--port", str(port),
                           *scenario["args"], *extra]


def measure(name, scenario, cfg):
    """One server, one scenario: returns ops, seconds, server CPU ns, RSS before/after, ticks."""
    server, port = start_server(name, cfg, stderr_path=cfg.server_log, pinned=not scenario.get("unpinned"))
    load = None
    try:
        extra = ["--handshake", "--duration", str(cfg.duration), "--warmup", str(cfg.warmup)]
        if scenario["mode"] == "idle":
            extra += ["--conns", str(cfg.idle_conns)]
        load = Proc(loadgen_argv(cfg, scenario, port, extra), stdin=True)
        setup_time = 60 if scenario["mode"] == "idle" else 15
        if load.line(setup_time) != "ready":
            raise Failure("loadgen did not say ready")
        before = sample(server.pid)
        load.say("go\n")
        result = load.line(cfg.duration + 60)
        after = sample(server.pid)
        m = re.fullmatch(r"result ops=(\d+) seconds=([\d.]+) bytes=(\d+) lost=(\d+)", result)
        if not m:
            raise Failure(f"loadgen said {result!r}")
        if scenario["mode"] == "idle":
            load.say("close\n")  # it held the connections while we read the server's memory
        if load.wait(30) != 0:
            raise Failure(f"loadgen failed (status {load.p.returncode})")
        ops, seconds, nbytes, lost = int(m.group(1)), float(m.group(2)), int(m.group(3)), int(m.group(4))
        if ops <= 0:
            raise Failure("no operations completed")
        user = (after["ticks"][0] - before["ticks"][0])
        system = (after["ticks"][1] - before["ticks"][1])
        return dict(ops=ops, seconds=seconds, bytes=nbytes, lost=lost,
                    cpu_ns=after["cpu"] - before["cpu"], window=after["t"] - before["t"],
                    rss_before_kib=before["rss"], rss_after_kib=after["rss"],
                    user_ticks=user, sys_ticks=system)
    finally:
        if load:
            load.stop(signal.SIGKILL, grace=1)
        server.stop(signal.SIGTERM, grace=5)


def free_loopback_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_iperf3(cfg):
    """One iperf3 run on loopback, server pinned like the echo servers and client like the load
    generator: returns its one-direction throughput (bits per second received) and what it moved."""
    port = free_loopback_port()
    seconds = max(1, round(cfg.duration))  # iperf3 3.12 takes whole seconds
    server = Proc(cfg.pin_server + [cfg.iperf3, "-s", "-1", "-B", "127.0.0.1", "-p", str(port),
                                    "--forceflush"], stderr_path=cfg.server_log)
    try:
        for _ in range(5):  # a line of dashes, then "Server listening on PORT"
            if "Server listening" in server.line(10):
                break
        else:
            raise Failure("iperf3 server did not say it listens")
        argv = cfg.pin_load + [cfg.iperf3, "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds),
                               "-l", "64K", "-J", "--connect-timeout", "5000"]
        try:  # on timeout, subprocess.run kills the client by its PID
            client = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                    timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            raise Failure(f"iperf3 client did not finish within {seconds + 30} s")
        try:
            report = json.loads(client.stdout)
        except ValueError:
            raise Failure(f"iperf3 client (status {client.returncode}) wrote no JSON: "
                          f"{client.stderr.decode(errors='replace').strip()[:200]!r}")
        if report.get("error") or client.returncode != 0:
            raise Failure(f"iperf3 client (status {client.returncode}): {report.get('error')}")
        got = report["end"]["sum_received"]
        if got["bits_per_second"] <= 0:
            raise Failure("iperf3 received nothing")
        server.wait(10)  # -1: it ends after the one test
        return dict(bits_per_second=got["bits_per_second"], bytes=got["bytes"], seconds=got["seconds"],
                    retransmits=report["end"].get("sum_sent", {}).get("retransmits"))
    finally:
        server.stop(signal.SIGTERM, grace=5)


# --- the table ----------------------------------------------------------------------------------

def throughput(scenario, r):
    if "bits_per_second" in r:  # iperf3 (bulk): bytes one way, not bytes echoed
        return r["bits_per_second"] / 8 / 1e9
    if scenario["unit"] == "GB/s":
        return r["bytes"] / r["seconds"] / 1e9
    return r["ops"] / r["seconds"] / 1e3


def per_op_us(r):
    return r["cpu_ns"] / r["ops"] / 1e3


def rss_per_conn_bytes(r, conns):
    return (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / conns


def with_tokio(names):
    """`names` with each Tokio peer right after its counterpart (see TOKIO)."""
    return [m for n in names for m in ([n, TOKIO[n]] if n in TOKIO else [n])]


def after_cosock(names):
    """`names` with the --extra servers inserted right after cosock (unchanged without cosock)."""
    if "cosock" not in names:
        return names
    at = names.index("cosock") + 1
    return names[:at] + EXTRAS + names[at:]


def ratio_stats(reps, server, ref, value):
    """Median (min, max) over repetitions of value(server) / value(ref), paired within a repetition."""
    ratios = []
    for rep in reps:
        a, b = rep.get(server), rep.get(ref)
        if a and b and value(b) > 0:
            ratios.append(value(a) / value(b))
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios)


def md(name):
    """A server's name in a Markdown table cell ("naive ||" would end the cell)."""
    return name.replace("|", "\\|")


def fmt_ratio(s):
    if s is None:
        return "–"
    med, lo, hi = s
    return f"{med:.2f} ({lo:.2f}–{hi:.2f})"


def ref_servers(sc):
    """The server each ratio column (REFS) divides by in scenario `sc`."""
    ref = sc.get("ref", "asio-coro")
    return {"asio-coro": ref, "epoll": "epoll", "tokio": TOKIO.get(ref, "tokio")}


def build_tables(results, cfg):
    """results[scenario_key] = list over repetitions of {server: measurement}."""
    out = []
    out.append("| scenario | server | throughput | server CPU per operation | kernel share | "
               + " | ".join(f"CPU ÷ {key}" for key in REFS) + " |")
    out.append("|---|---|---|---|---|" + "---|" * len(REFS))
    empty = " |" * (2 + len(REFS))  # the cells after "failed"
    summary = {}
    for sc in SCENARIOS:
        if sc["key"] not in results:  # not selected (--only)
            continue
        reps = results[sc["key"]]
        refs = ref_servers(sc)
        for name in sc["servers"]:
            runs = [rep[name] for rep in reps if name in rep]
            if not runs:
                out.append(f"| {sc['title']} | {md(name)} | failed |{empty}")
                continue
            tput = statistics.median(throughput(sc, r) for r in runs)
            cpu = statistics.median(per_op_us(r) for r in runs)
            ticks = sum(r["user_ticks"] + r["sys_ticks"] for r in runs)
            kshare = f"{100 * sum(r['sys_ticks'] for r in runs) / ticks:.0f} %" if ticks else "–"
            ratios = {key: ratio_stats(reps, name, refs[key], per_op_us) for key in REFS}
            summary.setdefault(sc["key"], {})[name] = dict(
                throughput=tput, cpu_us=cpu, **{f"cpu_ratio_{refs[key]}": ratios[key] for key in REFS})
            unit = sc["unit"]
            tp = f"{tput:.2f} {unit}" if unit == "GB/s" else f"{tput:.1f} {unit}"
            per = "64 KiB" if sc["key"] == "bulk" else sc["op"]
            cells = [fmt_ratio(ratios[key]) + ("" if refs[key] == key else " ÷ " + md(refs[key])) for key in REFS]
            out.append(f"| {sc['title']} | {md(name)} | {tp} | {cpu:.2f} µs per {per} | {kshare} | "
                       + " | ".join(cells) + " |")
        if sc["key"] == "bulk" and cfg.iperf3:
            runs = [rep[IPERF3] for rep in reps if IPERF3 in rep]
            if runs:
                tput = statistics.median(throughput(sc, r) for r in runs)
                summary.setdefault("bulk", {})[IPERF3] = dict(throughput=tput)
                out.append(f"| {sc['title']} | {md(IPERF3)} | {tput:.2f} GB/s | – | – |" + " – |" * len(REFS))
            else:
                out.append(f"| {sc['title']} | {md(IPERF3)} | failed |{empty}")
    out += bulk_vs_iperf3(results, cfg, summary)
    if cfg.tokio_note:
        out += ["", cfg.tokio_note]
    reps = results.get("idle", [])
    if not reps:  # idle not selected
        return "\n".join(out), summary
    out.append("")
    out.append(f"| server | RSS per idle connection ({cfg.idle_conns} connections) | "
               + " | ".join(f"RSS ÷ {ref}" for ref in REFS) + " |")
    out.append("|---|---|" + "---|" * len(REFS))
    for name in next(sc for sc in SCENARIOS if sc["key"] == "idle")["servers"]:
        runs = [rep[name] for rep in reps if name in rep]
        if not runs:
            out.append(f"| {name} | failed |" + " |" * len(REFS))
            continue
        per = statistics.median(rss_per_conn_bytes(r, cfg.idle_conns) for r in runs)
        ratios = {ref: ratio_stats(reps, name, ref, lambda r: max(rss_per_conn_bytes(r, cfg.idle_conns), 1))
                  for ref in REFS}
        summary.setdefault("idle-rss", {})[name] = dict(bytes=per, **{f"rss_ratio_{ref}": ratios[ref] for ref in REFS})
        out.append(f"| {name} | {per / 1024:.2f} KiB | " + " | ".join(fmt_ratio(ratios[ref]) for ref in REFS) + " |")
    return "\n".join(out), summary


def bulk_vs_iperf3(results, cfg, summary):
    """Lines after the main table: each bulk server's GB/s ÷ iperf3's GB/s, paired within a
    repetition (or one note line when iperf3 is not installed; nothing when bulk did not run)."""
    reps = results.get("bulk")
    if not reps:
        return []
    if not cfg.iperf3:
        return ["", "No iperf3 reference for bulk: iperf3 is not installed (Debian: apt-get install iperf3)."]
    sc = next(s for s in SCENARIOS if s["key"] == "bulk")
    out = ["", "iperf3 moves each byte one way; an echo server reads it and writes it back "
               "(the load generator counts the bytes echoed).", "",
           "| server | bulk GB/s ÷ iperf3 |", "|---|---|"]
    for name in sc["servers"]:
        ratio = ratio_stats(reps, name, IPERF3, lambda r: throughput(sc, r))
        summary.setdefault("bulk-iperf3", {})[name] = dict(throughput_ratio_iperf3=ratio)
        out.append(f"| {md(name)} | {fmt_ratio(ratio)} |")
    return out


# --- chart (gnuplot, when installed) ------------------------------------------------------------

def draw_chart(summary, path):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "no chart: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
    columns = after_cosock(["cosock", "asio-coro", "asio-callback", "cosock --timeout", "asio-coro naive ||"])
    columns += [c for c in ("tokio", "tokio --timeout") if any(c in row for row in summary.values())]
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w") as f:
            for sc in SCENARIOS:
                row = summary.get(sc["key"], {})
                cells = []
                for c in columns:
                    r = row.get(c, {}).get("cpu_ratio_epoll")
                    cells.append(f"{r[0]:.3f}" if r else "-")
                f.write('"{}" {}\n'.format(sc["key"], " ".join(cells)))
        plots = ", ".join(
            f"'{data}' using {i + 2}{':xtic(1)' if i == 0 else ''} title '{c}'" for i, c in enumerate(columns))
        script = f"""
set terminal svg size 960,440 dynamic font "sans,12" background "white"
set output '{path}'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set title "Server CPU time per operation, as a multiple of plain epoll's (median of paired repetitions)"
set ylabel "CPU per operation ÷ epoll"
set yrange [0:*]
set grid ytics
set key top left box opaque
set xtics scale 0
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 linewidth 1.5
plot {plots}
"""
        subprocess.run([gnuplot], input=script.encode(), check=True, timeout=60)
    return None


# --- machine and docs ---------------------------------------------------------------------------

def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()
    return dict(cpu=model, cpus=os.cpu_count(), kernel=platform.release(),
                compiler=gxx[0] if gxx else "unknown", python=platform.python_version())


def write_docs(text, markers):
    """Replaces what stands between the two markers in docs/performance.md; keeps the rest."""
    begin, end = markers
    if not os.path.exists(DOC):
        sys.exit(f"run.py: {DOC} is missing; it holds the method around the results")
    with open(DOC) as f:
        doc = f.read()
    if begin not in doc or end not in doc:
        sys.exit(f"run.py: {DOC} has no {begin} ... {end} block to fill")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(DOC, "w") as f:
        f.write(head + begin + "\n" + text + "\n" + end + tail)


# --- callgrind: instructions per operation ------------------------------------------------------

CALLGRIND_CASES = [  # (scenario key, servers, operations in the short run; the long run does twice)
    ("pingpong-1", ["cosock", "asio-coro", "asio-callback", "epoll"], 5000),
    ("pingpong-100", ["cosock", "asio-coro", "epoll"], 5000),
    ("timeout", ["cosock --timeout", "asio-coro naive ||"], 5000),
    ("udp", ["cosock", "asio-coro", "asio-callback", "epoll"], 5000),
    ("udp-batch", ["cosock", "epoll", "cosock --mmsg", "epoll --mmsg"], 5000),
    ("churn", ["cosock", "asio-coro", "asio-callback", "epoll"], 1000),
    ("bulk", ["cosock", "asio-coro", "epoll"], 2000),  # an operation: 64 KiB echoed
    ("tls", ["cosock --tls", "asio-tls"], 2000),
]


def syscall_tool():
    """'perf' when the kernel's syscall tracepoints can be counted (native speed), else 'strace'
    (which slows the server, and so changes how often a speculative read finds data), else None."""
    if shutil.which("perf"):
        probe = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and "raw_syscalls:sys_enter" in probe.stderr:
            return "perf"
    return "strace" if shutil.which("strace") else None


def counted_run(name, scenario, cfg, count, tool):
    """Runs `count` operations against `name` and returns the server's user-space instructions
    (tool 'callgrind') or system calls ('perf' or 'strace') over the run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        prefix = {"callgrind": ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"],
                  "strace": ["strace", "-f", "-c", "-o", out]}.get(tool, [])
        server, port = start_server(name, cfg, extra_prefix=prefix, stderr_path=os.path.join(tmp, "err"),
                                    timeout=60)
        counter = None
        try:
            if tool == "perf":
                counter = Proc(["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter",
                                "-p", str(server.pid)])
                time.sleep(0.5)  # attached
            load = Proc(loadgen_argv(cfg, scenario, port, ["--count", str(count), "--warmup", "0",
                                                            "--duration", "600"]))
            result = load.line(600)
            if load.wait(30) != 0 or not result.startswith("result"):
                raise Failure(f"loadgen failed: {result}")
            if tool == "callgrind":  # write the counts now (to out.1): under valgrind a server on
                # io_uring never takes SIGTERM (valgrind blocks signals during io_uring_enter)
                subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, timeout=120,
                               capture_output=True)
                out += ".1"
        finally:
            if counter:
                counter.stop(signal.SIGINT, grace=10)  # perf writes its count on SIGINT
            if tool == "strace":  # signal the traced server, not strace (which would detach)
                with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
                    for child in f.read().split():
                        os.kill(int(child), signal.SIGTERM)
                server.wait(60)
            server.stop(signal.SIGTERM, grace=5 if tool == "callgrind" else 60)
        with open(out) as f:
            text = f.read()
    if tool == "callgrind":
        m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
        return int(m.group(1))
    if tool == "perf":
        return sum(int(float(line.split(",")[0])) for line in text.splitlines()
                   if "raw_syscalls:sys_enter" in line)
    total = [line.split() for line in text.splitlines() if line.rstrip().endswith(" total")]
    return int(total[-1][3])  # % time, seconds, usecs/call, calls, [errors,] "total"


def callgrind(cfg):
    tools = (["callgrind"] if shutil.which("valgrind") else []) + [t for t in [syscall_tool()] if t]
    by_key = {s["key"]: s for s in SCENARIOS}
    lines = ["| operation | server | user-space instructions per operation | system calls per operation |",
             "|---|---|---|---|"]
    for key, servers, n in CALLGRIND_CASES:
        if key not in by_key or (cfg.only and key not in cfg.only.split(",")):
            continue  # not selected, or not runnable here (tls without its programs)
        sc = by_key[key]
        for name in servers:
            cells = []
            for kind in ("callgrind", "syscalls"):
                tool = kind if kind == "callgrind" else (tools[-1] if tools and tools[-1] != "callgrind" else None)
                if tool not in tools:
                    cells.append("–")
                    continue
                if tool == "callgrind":
                    per = (counted_run(name, sc, cfg, 2 * n, tool) - counted_run(name, sc, cfg, n, tool)) / n
                    cells.append(f"{per:,.0f}")
                    continue
                # System calls at native speed depend on timing: 4 times the operations, median of 3.
                m = 4 * n
                per = statistics.median(
                    (counted_run(name, sc, cfg, 2 * m, tool) - counted_run(name, sc, cfg, m, tool)) / m
                    for _ in range(3))
                cells.append(f"{per:.2f}")
            lines.append(f"| {sc['op']} ({key}) | {md(name)} | {cells[0]} | {cells[1]} |")
            print(lines[-1], file=sys.stderr, flush=True)
    how = {"perf": "natively under `perf stat -e raw_syscalls:sys_enter`",
           "strace": "under `strace -f -c` (which slows the server)"}.get(tools[-1] if tools else "", "")
    text = (f"Counted {datetime.date.today().isoformat()}: each server ran N and 2N operations under "
            f"`valgrind --tool=callgrind` (instructions) and {how} (system calls; N four times larger, "
            f"median of three); the table shows (count(2N) − count(N)) / N, so start-up and set-up "
            f"cancel out.\n\n" + "\n".join(lines) + (f"\n\n{cfg.tokio_note}" if cfg.tokio_note else ""))
    print(text)
    return text


# --- main ---------------------------------------------------------------------------------------

def find_tokio(cfg):
    """True when BENCH/tokio_echo is built; sets cfg.tokio_version (built by what, for the
    header) or cfg.tokio_note (why Tokio is missing, for stderr and under the tables)."""
    program = os.path.join(cfg.bench_dir, "tokio_echo")
    cfg.tokio_version = cfg.tokio_note = ""
    if os.access(program, os.X_OK):
        try:
            with open(program + ".version") as f:  # written by tokio_echo/build.cmake
                cfg.tokio_version = f.read().strip()
        except FileNotFoundError:
            cfg.tokio_version = "tokio_echo"
        return True
    build = os.path.dirname(os.path.normpath(cfg.bench_dir))
    cfg.tokio_note = (f"No Tokio peer: {program} is not built (`cmake --build {build} --target tokio_echo`, "
                      f"which needs cargo and Debian's tokio crate: `apt-get install cargo librust-tokio-dev`).")
    print(f"run.py: {cfg.tokio_note}", file=sys.stderr)
    return False

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", required=True, help="the build directory's bench/ (loadgen, baselines)")
    ap.add_argument("--cosock", required=True, help="cosock's echo_server program")
    ap.add_argument("--build-type", default="", help="CMAKE_BUILD_TYPE of the build (checked)")
    ap.add_argument("--reps", type=int, default=8, help="repetitions (at least 3 for a full run)")
    ap.add_argument("--duration", type=float, default=1.5, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.3, help="warm-up seconds per run (not measured)")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--only", default="", help="comma-separated scenario keys")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 repetition of ~1 s per run")
    ap.add_argument("--write-docs", action="store_true", help="rewrite docs/performance.md's results")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--callgrind", action="store_true", help="instructions and syscalls per operation")
    ap.add_argument("--server-log", default=None, help="append servers' stderr here (default: discard)")
    ap.add_argument("--servers", default="", help="comma-separated server names: run only these")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH[:ARGS]",
                    help="one more server (e.g. cosock from another build), measured beside cosock")
    cfg = ap.parse_args()
    for spec in cfg.extra:
        add_extra(spec)
    keep = cfg.servers.split(",") if cfg.servers else list(SERVERS)
    if set(keep) - set(SERVERS):
        sys.exit(f"run.py: --servers: no server {', '.join(sorted(set(keep) - set(SERVERS)))}")
    tokio = find_tokio(cfg)
    if tokio and "tokio" in keep:
        REFS.append("tokio")
    peers = with_tokio if tokio else list
    for sc in SCENARIOS:
        sc["servers"] = [n for n in after_cosock(peers(sc["servers"])) if n in keep]
    for i, (key, servers, n) in enumerate(CALLGRIND_CASES):
        CALLGRIND_CASES[i] = (key, [s for s in after_cosock(peers(servers)) if s in keep], n)

    if cfg.quick:
        cfg.reps, cfg.duration, cfg.warmup, cfg.idle_conns = 1, 0.2, 0.05, 200
    elif cfg.build_type and cfg.build_type != "Release" and not cfg.callgrind:
        sys.exit(f"run.py: the numbers matter only optimised: configure with -DCMAKE_BUILD_TYPE=Release "
                 f"(this build is {cfg.build_type!r}); --quick runs anyway")
    if not cfg.quick and not cfg.callgrind and cfg.reps < 3:
        sys.exit("run.py: a full run needs at least 3 repetitions")
    for path in (cfg.cosock, os.path.join(cfg.bench_dir, "loadgen")):
        if not os.access(path, os.X_OK):
            sys.exit(f"run.py: {path} is not built")

    # N idle connections need N descriptors in the server and as many in the load generator:
    # raise the soft limit to the hard one (inherited by the children), the hard one too where
    # that is allowed (root, up to fs.nr_open: 100,000 connections), or use what fits.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = cfg.idle_conns + 1024
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            hard = want
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cfg.idle_conns > hard - 64:
        print(f"run.py: RLIMIT_NOFILE hard limit {hard}: {hard - 64} idle connections, not "
              f"{cfg.idle_conns}", file=sys.stderr)
        cfg.idle_conns = hard - 64

    # Server on CPU 0, load (and this script) on CPU 1: the first two CPUs this process may use.
    cfg.iperf3 = shutil.which("iperf3")  # the bulk scenario's outside reference, when installed
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2 and shutil.which("taskset")
    cfg.pin_server = ["taskset", "-c", str(cpus[0])] if pinned else []
    cfg.pin_load = ["taskset", "-c", str(cpus[1])] if pinned else []
    if pinned:
        os.sched_setaffinity(0, {cpus[1]})
    else:
        print("run.py: fewer than 2 CPUs or no taskset: server and load are not pinned", file=sys.stderr)

    # The TLS scenario's certificate: made for this run (openssl req), removed at exit.
    cfg.tls_cert = cfg.tls_key = ""
    tls_programs = [os.path.join(cfg.bench_dir, p) for p in ("tls_loadgen", "asio_tls_echo")]
    if shutil.which("openssl") and all(os.access(p, os.X_OK) for p in tls_programs):
        tls_dir = tempfile.mkdtemp(prefix="cosock-bench-tls-")
        atexit.register(shutil.rmtree, tls_dir, True)
        cfg.tls_cert, cfg.tls_key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", cfg.tls_key, "-out", cfg.tls_cert, "-days", "1", "-subj", "/CN=localhost"],
                       check=True, capture_output=True, timeout=30)
    else:
        print("run.py: no TLS scenario: needs the openssl command and bench/tls_loadgen, asio_tls_echo",
              file=sys.stderr)
        SCENARIOS[:] = [sc for sc in SCENARIOS if sc["key"] != "tls"]

    if cfg.callgrind:
        text = callgrind(cfg)
        if cfg.write_docs:
            write_docs(text, COUNTS)
        return 0

    scenarios = [s for s in SCENARIOS if not cfg.only or s["key"] in cfg.only.split(",")]
    runs_per_rep = sum(len(s["servers"]) for s in scenarios)
    with_iperf3 = bool(cfg.iperf3) and any(s["key"] == "bulk" for s in scenarios)
    print(f"run.py: {cfg.reps} repetitions x {runs_per_rep} runs, {cfg.duration} s measured each "
          f"(+{cfg.warmup} s warm-up)" + (", and 1 iperf3 run in bulk" if with_iperf3 else ""),
          file=sys.stderr, flush=True)
    results = {s["key"]: [] for s in scenarios}
    failures = []
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    reps_done = 0
    for rep in range(cfg.reps):
        if not cfg.quick and rep >= 3 and (time.monotonic() - started) * (rep + 1) / rep > TIME_BUDGET:
            print(f"run.py: stopping after {rep} repetitions to stay within the time budget", file=sys.stderr)
            break
        for sc in scenarios:
            row = {}
            for name in sc["servers"]:
                try:
                    r = measure(name, sc, cfg)
                except Failure as e:
                    failures.append(f"{sc['key']} {name}: {e}")
                    print(f"[{rep + 1}/{cfg.reps}] {sc['key']:12} {name:20} FAILED: {e}", file=sys.stderr, flush=True)
                    continue
                row[name] = r
                print(f"[{rep + 1}/{cfg.reps}] {sc['key']:12} {name:20} {throughput(sc, r):9.2f} {sc['unit']:17} "
                      f"{per_op_us(r):8.2f} µs CPU/op", file=sys.stderr, flush=True)
            if sc["key"] == "bulk" and with_iperf3:  # the reference, interleaved like a server
                try:
                    r = measure_iperf3(cfg)
                except Failure as e:
                    failures.append(f"bulk iperf3: {e}")
                    print(f"[{rep + 1}/{cfg.reps}] {sc['key']:12} {'iperf3':20} FAILED: {e}", file=sys.stderr, flush=True)
                else:
                    row[IPERF3] = r
                    print(f"[{rep + 1}/{cfg.reps}] {sc['key']:12} {'iperf3':20} {throughput(sc, r):9.2f} "
                          f"{sc['unit']:17} (one direction)", file=sys.stderr, flush=True)
            results[sc["key"]].append(row)
        reps_done += 1
    elapsed = time.monotonic() - started

    table, summary = build_tables(results, cfg)
    m = machine()
    ran_tokio = any(n in TOKIO.values() for s in scenarios for n in s["servers"])
    peer = f", Tokio peer {cfg.tokio_version}" if ran_tokio else ""
    header = (f"Run {datetime.date.today().isoformat()}: {reps_done} repetitions interleaved, "
              f"{cfg.duration} s measured per run after {cfg.warmup} s of warm-up, {elapsed / 60:.1f} minutes "
              f"in all. Machine: {m['cpus']} vCPUs ({m['cpu']}), Linux {m['kernel']}, {m['compiler']}, "
              f"build type {cfg.build_type or 'unknown'}{peer}; load average {load_before:.1f} at the start, "
              f"{os.getloadavg()[0]:.1f} at the end (other work on the machine competes for both CPUs). "
              f"Each cell: median over repetitions; ratios are medians of per-repetition ratios (min–max "
              f"in brackets).")
    print(header + "\n\n" + table)
    if failures:
        print("\nFailed runs:\n" + "\n".join(f"- {f}" for f in failures))
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(dict(machine=m, config=dict(reps=reps_done, duration=cfg.duration, warmup=cfg.warmup,
                                                  idle_conns=cfg.idle_conns), results=results,
                           summary=summary), f, indent=1)
    if cfg.write_docs:
        note = draw_chart(summary, CHART)
        chart = f"\n\n{note}." if note else "\n\n![CPU per operation, ratio to epoll](performance-ratios.svg)"
        write_docs(header + "\n\n" + table + chart, RESULTS)
        print(f"\nrun.py: wrote {DOC}" + ("" if note else f" and {CHART}"), file=sys.stderr)

    if cfg.quick:
        missing = [f"{s['key']} {n}" for s in scenarios for n in s["servers"]
                   if not any(n in row for row in results[s["key"]])]
        if missing:
            print("bench smoke: no numbers for " + ", ".join(missing), file=sys.stderr)
            return 1
        print(f"bench smoke: {runs_per_rep} runs produced numbers")
    return 1 if failures and not cfg.quick and len(failures) > runs_per_rep else 0


if __name__ == "__main__":
    sys.exit(main())
