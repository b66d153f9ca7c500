#!/usr/bin/env python3
"""bench/syscall_mix.py — which system calls each server makes per operation, and how many bytes each
receive and send moves: what `run.py --callgrind` sums into one count, split by name.

    python3 bench/syscall_mix.py --bench-dir BUILD/bench --cosock BUILD/examples/echo_server \\
        [--only bulk] [--servers cosock,epoll,asio-coro,tokio] [--extra NAME=PATH[:ARGS]] [--count N]

For each server (run.py's names, pinned as run.py pins them) it runs the scenario's load for N and
2N operations under `perf stat`, which counts the server's system calls at full speed through the
kernel's tracepoints (syscalls:sys_enter_NAME; receives and sends that fail with EAGAIN through
syscalls:sys_exit_NAME filtered on ret == -11) and its context switches, and prints
(count(2N) - count(N)) / N per operation, the median of --reps such pairs: start-up cancels out.
Bytes per receive and per send are the bytes echoed over the calls that moved some (the load
generator counts what came back; an echo server sends what it received). These counts depend on
timing (a read finds more when the server is slower), so a busy machine moves them a little; they
do not depend on the CPU time the run took. Needs perf with tracepoints (root, or
perf_event_paranoid <= 1 and a readable tracefs). Every process is stopped by its PID.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's servers, scenarios and process handling)

READS = ["recvfrom", "read", "recvmsg", "readv", "recvmmsg"]
WRITES = ["sendto", "write", "sendmsg", "writev", "sendmmsg"]
WAITS = ["poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_ctl", "io_uring_enter"]


def counted(name, scenario, cfg, count):
    """System calls by name of server `name` over `count` operations, and the bytes echoed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "perf")
        events = ["-e", "raw_syscalls:sys_enter", "-e", "context-switches"]
        for call in READS + WRITES + WAITS:
            events += ["-e", f"syscalls:sys_enter_{call}"]
        for call in READS + WRITES:
            events += ["-e", f"syscalls:sys_exit_{call}", "--filter", "ret == -11"]
        # The server runs under perf (counted from its start: a late attach would lose calls);
        # its set-up is in both runs, and cancels out.
        counter = ["perf", "stat", "-x,", "-o", out, *events, "--"]
        server, port = run.start_server(name, cfg, extra_prefix=counter, stderr_path=os.path.join(tmp, "err"),
                                        timeout=30)
        try:
            load = run.Proc(run.loadgen_argv(cfg, scenario, port, ["--count", str(count), "--warmup", "0",
                                                                   "--duration", "600"]))
            result = load.line(600)
            if load.wait(30) != 0 or not result.startswith("result"):
                raise run.Failure(f"loadgen failed: {result}")
        finally:  # stop the server, not perf, which then writes its counts and exits
            with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
                for child in f.read().split():
                    os.kill(int(child), signal.SIGTERM)
            server.wait(30)
            server.stop(signal.SIGTERM)
        counts = {}
        with open(out) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                    key = fields[2].replace("raw_syscalls:sys_enter", "all").replace("syscalls:sys_", "")
                    counts[key] = counts.get(key, 0) + int(float(fields[0]))
    return counts, int(re.search(r"bytes=(\d+)", result).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--cosock", required=True)
    ap.add_argument("--only", default="bulk", help="comma-separated scenario keys (default: bulk)")
    ap.add_argument("--servers", default="cosock,epoll,asio-coro,tokio")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH[:ARGS]")
    ap.add_argument("--count", type=int, default=20000, help="N: operations of the shorter run")
    ap.add_argument("--reps", type=int, default=3, help="pairs of runs (the median is shown)")
    cfg = ap.parse_args()
    if not shutil.which("perf"):
        sys.exit("syscall_mix.py: needs perf (Debian: linux-perf)")
    for spec in cfg.extra:
        run.add_extra(spec)
    cfg.tls_cert = cfg.tls_key = ""
    cfg.server_log = None
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2 and shutil.which("taskset")
    cfg.pin_server = ["taskset", "-c", str(cpus[0])] if pinned else []
    cfg.pin_load = ["taskset", "-c", str(cpus[1])] if pinned else []
    names = cfg.servers.split(",") + [e for e in run.EXTRAS if e not in cfg.servers.split(",")]
    for name in names:
        if name not in run.SERVERS:
            sys.exit(f"syscall_mix.py: no server {name!r}")
    if "tokio" in names and not os.access(os.path.join(cfg.bench_dir, "tokio_echo"), os.X_OK):
        print("syscall_mix.py: tokio_echo is not built: left out", file=sys.stderr)
        names.remove("tokio")

    for sc in (s for s in run.SCENARIOS if s["key"] in cfg.only.split(",")):
        n = cfg.count
        print(f"\n{sc['title']}: per {sc['op']}, (count({2 * n}) - count({n})) / {n}, median of {cfg.reps}\n")
        print("| server | all | receives | sends | readiness calls | EAGAIN receives "
              "| EAGAIN sends | bytes per receive | bytes per send | context switches |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in names:
            pairs = []
            for _ in range(cfg.reps):
                (a, bytes_a), (b, bytes_b) = counted(name, sc, cfg, n), counted(name, sc, cfg, 2 * n)
                per = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}
                per["bytes"] = (bytes_b - bytes_a) / n
                pairs.append(per)
            med = {k: statistics.median(p.get(k, 0) for p in pairs) for k in set().union(*pairs)}
            reads = sum(med.get(f"enter_{c}", 0) for c in READS)
            writes = sum(med.get(f"enter_{c}", 0) for c in WRITES)
            again_r = sum(med.get(f"exit_{c}", 0) for c in READS)
            again_w = sum(med.get(f"exit_{c}", 0) for c in WRITES)
            waits = ", ".join(f"{c} {med[f'enter_{c}']:.2f}" for c in WAITS if med.get(f"enter_{c}", 0) >= 0.005)
            print(f"| {run.md(name)} | {med.get('all', 0):.2f} | {reads:.2f} | {writes:.2f} | {waits or '–'} "
                  f"| {again_r:.2f} | {again_w:.2f} | {med['bytes'] / max(reads - again_r, 1e-9):,.0f} "
                  f"| {med['bytes'] / max(writes - again_w, 1e-9):,.0f} | {med.get('context-switches', 0):.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
