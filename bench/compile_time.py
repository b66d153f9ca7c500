#!/usr/bin/env python3
"""bench/compile_time.py — what including cosock costs at compile time, against raw Asio.

Usage: python3 bench/compile_time.py [--runs 3] [--cxx g++] [--detail]

Compiles each translation unit RUNS times (`-c -o /dev/null`) with the flags of the dev preset
(Debug: -g) and of the release preset (-O3 -DNDEBUG), and prints the median CPU time (user +
system of the compiler, which other load on the machine disturbs less than wall time) and peak
memory:
  a  examples/tcp_hello_server.cpp            the example, with cosock
  b  bench/compile_time/asio_hello_server.cpp  the same program with raw Asio coroutines
  c  #include <boost/asio.hpp>                 Asio's umbrella header alone
  d  #include <cosock/cosock.hpp>              cosock's umbrella header alone
and the preprocessed size of each. --detail adds each public header alone, the example with a
precompiled cosock.hpp, and the example with Asio's separate compilation
(BOOST_ASIO_SEPARATE_COMPILATION), with what each one-time step costs. The generated headers
(cosock/export.hpp, version.hpp) come from configuring build/compile-time (nothing is built).
docs/performance.md has the figures.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"Debug": ["-g"], "Release": ["-O3", "-DNDEBUG"]}


def configure(build):
    if not (build / "lib/include/cosock/version.hpp").exists():
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCOSOCK_BUILD_TESTS=OFF",
                        "-DCOSOCK_BUILD_EXAMPLES=OFF", "-DCOSOCK_BUILD_BENCH=OFF"],
                       check=True, stdout=subprocess.DEVNULL)
    return build / "lib/include"


def run_child(cmd):
    """Runs cmd; returns (CPU seconds, peak MiB) of it and the processes it waited for (cc1plus)."""
    child = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss is in KiB


def measure(cxx, flags, source, runs, output=os.devnull):
    times, peak = [], 0.0
    for _ in range(runs):
        cpu, rss = run_child([cxx, *flags, "-c", str(source), "-o", str(output)])
        times.append(cpu)
        peak = max(peak, rss)
    return statistics.median(times), peak


def preprocessed_lines(cxx, flags, source):
    out = subprocess.run([cxx, *flags, "-E", "-P", str(source)], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--detail", action="store_true")
    ap.add_argument("--only", default="", help="measure only the rows whose label contains this")
    args = ap.parse_args()

    generated = configure(ROOT / "build/compile-time")
    tmp = Path(tempfile.mkdtemp(prefix="cosock-compile-time-"))
    try:
        def tu(name, text):
            path = tmp / name
            path.write_text(text)
            return path

        common = ["-std=gnu++20", "-Wall", "-Wextra", "-Wpedantic", "-DCOSOCK_STATIC_DEFINE",
                  f"-I{ROOT / 'lib/include'}", f"-I{generated}", f"-I{ROOT / 'examples'}"]
        # (label, source, extra flags, kind): kind "pch" compiles with cosock.hpp precompiled,
        # "pch-build" times the precompilation itself.
        units = [
            ("a  tcp_hello_server.cpp (cosock)", ROOT / "examples/tcp_hello_server.cpp", [], ""),
            ("b  asio_hello_server.cpp (raw Asio)", ROOT / "bench/compile_time/asio_hello_server.cpp", [], ""),
            ("c  #include <boost/asio.hpp>", tu("asio_only.cpp", "#include <boost/asio.hpp>\n"), [], ""),
            ("d  #include <cosock/cosock.hpp>", tu("cosock_only.cpp", "#include <cosock/cosock.hpp>\n"), [], ""),
        ]
        if args.detail:
            separate = ["-DBOOST_ASIO_SEPARATE_COMPILATION"]
            headers = sorted(p.name for p in (ROOT / "lib/include/cosock").glob("*.hpp") if p.name != "cosock.hpp")
            units += [(f"   #include <cosock/{h}>", tu(f"only_{h}.cpp", f"#include <cosock/{h}>\n"), [], "")
                      for h in headers]
            units += [
                ("   #include <fmt/format.h>", tu("fmt_only.cpp", "#include <fmt/format.h>\n"), [], ""),
                ("   #include <boost/asio/ip/tcp.hpp>", tu("tcp_only.cpp", "#include <boost/asio/ip/tcp.hpp>\n"),
                 [], ""),
                ("a' a, with cosock.hpp precompiled", ROOT / "examples/tcp_hello_server.cpp", [], "pch"),
                ("   precompiling cosock.hpp (once per target)", tu("pch.hpp", "#include <cosock/cosock.hpp>\n"),
                 ["-x", "c++-header"], "pch-build"),
                ('a" a, with BOOST_ASIO_SEPARATE_COMPILATION', ROOT / "examples/tcp_hello_server.cpp", separate, ""),
                ('d" d, with BOOST_ASIO_SEPARATE_COMPILATION', tmp / "cosock_only.cpp", separate, ""),
                ("   boost/asio/impl/src.hpp (once per program)",
                 tu("asio_src.cpp", "#include <boost/asio/impl/src.hpp>\n"), separate, ""),
            ]

        version = subprocess.run([args.cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"compiler: {version}; median of {args.runs} runs: CPU seconds (user+sys) and peak MiB")
        print(f"{'':52}" + "".join(f"{c:>17}" for c in CONFIGS) + f"{'lines':>9}")
        for label, source, extra, kind in units:
            if args.only not in label:
                continue
            row = f"{label:52}"
            for config, flags in CONFIGS.items():
                cmd_flags = common + flags + extra
                if kind == "pch":  # precompile once with the same flags, then use it
                    pch = tmp / config / "pch.hpp"
                    pch.parent.mkdir(exist_ok=True)
                    pch.write_text("#include <cosock/cosock.hpp>\n")
                    subprocess.run([args.cxx, *common, *flags, "-x", "c++-header", str(pch), "-o", f"{pch}.gch"],
                                   check=True, cwd=ROOT)
                    cmd_flags = cmd_flags + ["-include", str(pch)]
                output = tmp / "out.gch" if kind == "pch-build" else os.devnull  # a PCH needs a file
                cpu, rss = measure(args.cxx, cmd_flags, source, args.runs, output)
                row += f"{cpu:>8.2f} s {rss:>5.0f} M"
            if not kind:
                row += f"{preprocessed_lines(args.cxx, common + extra, source):>9}"
            print(row, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
