#!/usr/bin/env python3
"""bench/idle_heap.py — what one idle connection holds on a server's heap, block by block.

Runs the server under bench/live_heap.c (LD_PRELOAD), opens --conns idle connections with
`loadgen idle` (one 64 B echo each, then held), and compares the live heap blocks before and
after: every block size that grew by about one per connection, and the sum, as requested and as
glibc's malloc lays it out (8 bytes of header, 16-byte steps, 32 at least). run.py's "RSS per
idle connection" is the memory the kernel counts; this says where it goes.

  python3 bench/idle_heap.py --bench-dir build/release/bench --server build/release/examples/echo_server
"""
import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time


def chunk(n):
    return max(32, (n + 8 + 15) // 16 * 16)


def read_counts(path):
    counts = {}
    for line in open(path):
        size, count = line.split()
        if size != "larger":
            counts[int(size)] = int(count)
    return counts


def dump(server, path, deadline=10):
    server.send_signal(signal.SIGUSR2)
    end = time.monotonic() + deadline
    while not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit(f"idle_heap: the server wrote no {path}")
        time.sleep(0.05)
    time.sleep(0.2)  # written whole
    return read_counts(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-dir", required=True, help="where loadgen is")
    ap.add_argument("--server", required=True, help="the echo server: it prints its address on its first line")
    ap.add_argument("--conns", type=int, default=2000)
    cfg = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, cfg.conns + 1024)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        library = os.path.join(tmp, "live_heap.so")
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_heap.c")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, source], check=True)
        out = os.path.join(tmp, "heap")
        env = dict(os.environ, LD_PRELOAD=library, LIVE_HEAP_OUT=out)
        server = subprocess.Popen([cfg.server, "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
        load = None
        try:
            port = re.search(r":(\d+)\s*$", server.stdout.readline()).group(1)
            load = subprocess.Popen([os.path.join(cfg.bench_dir, "loadgen"), "idle", "--port", port,
                                     "--conns", str(cfg.conns), "--handshake", "--duration", "5",
                                     "--warmup", "0.1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if load.stdout.readline().strip() != "ready":
                sys.exit("idle_heap: loadgen did not say ready")
            before = dump(server, out + ".0")
            load.stdin.write("go\n")
            load.stdin.flush()
            result = load.stdout.readline().strip()
            opened = int(re.search(r"ops=(\d+)", result).group(1))
            after = dump(server, out + ".1")
            load.stdin.write("close\n")
            load.stdin.flush()
            load.wait(30)
        finally:
            if load and load.poll() is None:
                load.kill()
            server.terminate()
            server.wait(10)
    print(f"{opened} idle connections: live heap blocks per connection, by requested size")
    print("| bytes requested | blocks per connection |")
    print("|---|---|")
    requested = laid_out = 0
    for size in sorted(set(before) | set(after)):
        per = (after.get(size, 0) - before.get(size, 0)) / opened
        if abs(per) >= 0.5:
            print(f"| {size} | {per:.2f} |")
            requested += size * per
            laid_out += chunk(size) * per
    print(f"\nper connection: {requested:.0f} bytes requested, {laid_out:.0f} bytes in malloc chunks")


if __name__ == "__main__":
    main()
