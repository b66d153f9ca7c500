"""What the fault tests of the example programs share: the integration harness, a process that
also shows a prompt (text without a newline), CPU use from /proc, the listening socket of a
program, the slowdown of a sanitized build, and a network namespace to start programs in.

Standard library only; Linux only (/proc, unshare, nsenter).
"""
import codecs
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'integration'))
import harness  # noqa: E402
from harness import EXAMPLES_DIR, LANGUAGES, command, finish  # noqa: E402,F401
from harness import wait_listening, wait_output  # noqa: E402,F401

CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def built(name='echo_server'):
    """unittest.skipUnless for tests that need the built C++ examples."""
    return unittest.skipUnless((EXAMPLES_DIR / name).exists(),
                               'set COSOCK_EXAMPLES_DIR to the folder of the built examples')


# The slow factor of a sanitized build or a busy machine: harness.SLOW, the one definition.
SANITIZED = bool(harness.SANITIZER)
UBSAN = harness.SANITIZER == 'address'  # the asan preset builds with UBSan too; tsan without
SLOW = harness.SLOW


class Process(harness.Process):
    """harness.Process that also shows the text after the last newline of stdout (a prompt), in
    `pending`: stdout's lines stay whole lines, as harness.wait_listening expects."""
    pending = ''

    def _read(self, stream, into):
        if into is self._err:
            return super()._read(stream, into)
        decoder = codecs.getincrementaldecoder('utf-8')('replace')
        for chunk in iter(lambda: stream.buffer.read1(65536), b''):
            with self._cond:
                *lines, self.pending = (self.pending + decoder.decode(chunk)).split('\n')
                into.extend(line + '\n' for line in lines)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            if self.pending:
                into.append(self.pending)
            self.pending = ''
            self._open -= 1
            self._cond.notify_all()


def start(cmd, stdin_text=None):
    """harness.start, with prompts visible to wait_prompt."""
    return Process(cmd, stdin_text)


def wait_prompt(proc, prompt, timeout=10):
    """Wait until stdout ends with `prompt` (no newline after it)."""
    proc.wait_for(lambda lines: proc.pending.endswith(prompt), timeout, f'the prompt {prompt!r}')


def cpu_seconds(pid):
    """User + system CPU time used so far by process `pid` (all its threads)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def child_pid(pid, timeout=10):
    """The first child of `pid` (the program that strace or a wrapper started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise AssertionError(f'process {pid} started no child within {timeout} s')


def tcp_sockets(port):
    """IPv4 TCP sockets from /proc/net/tcp whose local or remote port is `port`, as tuples
    (state, tx_queue, rx_queue, local port, remote port). States: '01' established, '02' SYN
    sent, '0A' listening (whose rx_queue is its accept queue, tx_queue its backlog)."""
    rows = []
    for line in Path('/proc/net/tcp').read_text().splitlines()[1:]:
        f = line.split()
        local, remote = int(f[1].split(':')[1], 16), int(f[2].split(':')[1], 16)
        tx, rx = (int(n, 16) for n in f[4].split(':'))
        if port in (local, remote):
            rows.append((f[3], tx, rx, local, remote))
    return rows


def until(condition, timeout, what):
    """Poll `condition()` every 10 ms until it is truthy (returned) or `timeout` s pass (raise)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f'waiting for {what}: timed out after {timeout} s')
        time.sleep(0.01)


def missing(*tools):
    """The tools of `tools` not on PATH, for skip reasons."""
    return [t for t in tools if shutil.which(t) is None]


class Namespace:
    """A network namespace of our own with its loopback up, kept alive by a sleeping shell.
    `cmd(...)` prefixes a command line so that it runs inside; `run(...)` runs one to its end."""

    def __init__(self):
        self.holder = harness.start(['unshare', '--net', 'sh', '-c',
                                     'ip link set lo up && echo ready && exec cat'])
        self.holder.wait_for(lambda lines: lines, 10, 'the namespace')
        if self.holder.stdout != 'ready\n':
            self.close()
            raise OSError(f'cannot set up a network namespace: {self.holder.stderr.strip()}')

    def cmd(self, *args):
        return ['nsenter', f'--net=/proc/{self.holder.popen.pid}/ns/net', '--', *map(str, args)]

    def run(self, *args, stdin_text=None):
        return subprocess.run(self.cmd(*args), input=stdin_text, capture_output=True, text=True,
                              timeout=30, check=True)

    def close(self):
        self.holder.kill()


def namespace_or_skip(test):
    """A Namespace for `test` (closed at its end), or skip it with the reason."""
    if missing('unshare', 'nsenter', 'ip'):
        test.skipTest(f'needs {", ".join(missing("unshare", "nsenter", "ip"))} (util-linux, iproute2)')
    if subprocess.run(['unshare', '--net', 'true'], capture_output=True).returncode != 0:
        test.skipTest('cannot create a network namespace here (needs root or user namespaces)')
    ns = Namespace()
    test.addCleanup(ns.close)
    return ns


ONE_LINE = re.compile(r'[^\n]+\n')


def assert_one_clear_line(test, proc, rc, err, name):
    """The failure shape every program must have: non-zero status (not a signal), exactly one line
    on stderr naming the program, and no C++ terminate or Python traceback."""
    test.assertGreater(rc, 0, proc.describe())
    test.assertNotIn(rc, (134, 139), proc.describe())  # abort, segfault through a shell
    test.assertTrue(ONE_LINE.fullmatch(err), proc.describe())
    test.assertTrue(err.startswith(f'{name}: '), proc.describe())
    for sign in ('terminate called', 'Traceback', 'Sanitizer', 'runtime error'):
        test.assertNotIn(sign, err, proc.describe())
