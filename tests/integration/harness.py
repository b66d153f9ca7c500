"""Integration-test helper: start example programs (C++ binaries or examples/python/*.py),
read a server's `listening on HOST:PORT`, feed stdin, wait for the end with a bound.

Standard library only. Every process runs in its own process group; whatever is still running
when its `with` block ends, or when the interpreter exits, is killed (SIGKILL to the group).
"""
import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON_EXAMPLES = ROOT / 'examples' / 'python'
_LISTENING = re.compile(r'listening on \[?([^\]\s]+?)\]?:(\d+)')
_started = []


# The folder of the built C++ examples (ctest sets it), and the two languages of every program.
EXAMPLES_DIR = Path(os.environ.get('COSOCK_EXAMPLES_DIR', ''))
LANGUAGES = ('cpp', 'python')


def _sanitizer():
    """'address' or 'thread' when the built examples carry that sanitizer, else ''."""
    try:
        data = (EXAMPLES_DIR / 'echo_server').read_bytes()
    except OSError:
        return ''
    if b'__asan_init' in data:
        return 'address'
    if b'__tsan_init' in data:
        return 'thread'
    return ''


# The one slow factor of the Python tests (tests/support/slow.hpp is the C++ one, the same
# rule): what must stay on real time (programs starting, signals, the kernel) multiplies its
# limits by SLOW = build factor x max(1, load average / cores). The build factor is 8 under a
# sanitizer (ASan or TSan: TSan ran fault.churn 8.2 times slower than the -O2 dev build, ASan 4.2
# times; docs/robustness.md), else 1; the load part covers a machine busier than its cores
# (ctest -j2 beside a build). On an idle machine, in the dev build, the
# limits are the ones the tests state (exit within 1 s, ...).
SANITIZER = _sanitizer()
SLOW = (8 if SANITIZER else 1) * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def command(name, language):
    """The command line of example NAME in LANGUAGE: the built C++ program or our Python one."""
    if language == 'python':
        return python_example(name)
    return [str(EXAMPLES_DIR / name)]


def python_example(name):
    """The command line of examples/python/NAME.py."""
    return [sys.executable, str(PYTHON_EXAMPLES / f'{name}.py')]


class Process:
    """A started program: stdout and stderr collected by reader threads as they arrive."""

    def __init__(self, cmd, stdin_text=None):
        self.cmd = [str(c) for c in cmd]
        env = dict(os.environ, PYTHONUTF8='1', PYTHONIOENCODING='utf-8')
        self.popen = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding='utf-8', errors='replace', env=env,
            start_new_session=True)  # own session and process group: killpg reaches it all
        _started.append(self)
        self._cond = threading.Condition()
        self._out, self._err, self._open = [], [], 2
        self._readers = [threading.Thread(target=self._read, args=pair, daemon=True)
                         for pair in ((self.popen.stdout, self._out), (self.popen.stderr, self._err))]
        for t in self._readers:
            t.start()
        if stdin_text is not None:
            self.write(stdin_text)
            self.close_stdin()

    def _read(self, stream, into):
        for line in iter(stream.readline, ''):
            with self._cond:
                into.append(line)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    @property
    def stdout(self):
        with self._cond:
            return ''.join(self._out)

    @property
    def stderr(self):
        with self._cond:
            return ''.join(self._err)

    def describe(self):
        return (f'{" ".join(self.cmd)}\n  exit status: {self.popen.poll()}\n'
                f'  stdout: {self.stdout!r}\n  stderr: {self.stderr!r}')

    def write(self, text):
        """Send text to the program's stdin (ignored if the program has gone)."""
        try:
            self.popen.stdin.write(text)
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def close_stdin(self):
        try:
            self.popen.stdin.close()
        except BrokenPipeError:
            pass

    def interrupt(self):
        """Ctrl-C: SIGINT to the process group, once the program waits in a system call."""
        self.wait_blocked()
        self._signal(signal.SIGINT)

    def wait_blocked(self, timeout=None):
        """Wait until the program's main thread sleeps in a system call (accept, read, epoll_wait).

        A signal must reach a program that is waiting, not one that has printed its prompt and is
        on its way to the blocking call: CPython runs its SIGINT handler only between bytecodes, so
        a signal that lands after the last check but before read(2) or accept(2) is noted, and the
        call then blocks for ever. /proc says when the call has begun. If the program never
        blocks within `timeout`, the signal goes anyway and the test's own checks judge the result.
        """
        deadline = time.monotonic() + (10 * SLOW if timeout is None else timeout)
        while self.popen.poll() is None and not _sleeps_in_a_system_call(self.popen.pid):
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)

    def kill(self):
        if self.popen.poll() is None:
            self._signal(signal.SIGKILL)
            self.popen.wait()
        self.close_stdin()

    def _signal(self, sig):
        if self.popen.poll() is None:  # only our own, still unreaped, group leader's group
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def wait_for(self, predicate, timeout, what):
        """Wait until predicate(stdout lines) is truthy and return it; raise if the
        program's output ends first or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = predicate(self._out)
                if found:
                    return found
                left = deadline - time.monotonic()
                if self._open == 0 or left <= 0:
                    break
                self._cond.wait(left)
        reason = 'output ended' if left > 0 else f'timed out after {timeout} s'
        if left > 0:
            try:  # let the exit status show in the message
                self.popen.wait(1)
            except subprocess.TimeoutExpired:
                pass
        raise AssertionError(f'waiting for {what}: {reason}\n{self.describe()}')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def _sleeps_in_a_system_call(pid):
    """True when process `pid` is asleep (state S) inside a system call (Linux /proc)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    try:
        call = Path(f'/proc/{pid}/syscall').read_text().split()[0]  # 'running' or a number
    except PermissionError:  # readable only by a tracer-capable parent: the state must do
        call = '0'
    except (OSError, IndexError):
        return False
    return state == 'S' and call.isdigit()


def start(cmd, stdin_text=None):
    """Start cmd with piped stdin/stdout/stderr (UTF-8 text) in a new process group.
    With stdin_text, it is written and stdin closed (EOF); otherwise use write()/close_stdin()."""
    return Process(cmd, stdin_text)


def wait_listening(proc, timeout=None):
    """(host, port) from the server's first stdout line `listening on HOST:PORT` (within 10 s
    times SLOW, unless `timeout` says otherwise)."""
    timeout = 10 * SLOW if timeout is None else timeout
    first = proc.wait_for(lambda lines: lines[:1], timeout, '`listening on HOST:PORT`')[0]
    m = _LISTENING.fullmatch(first.rstrip('\n'))
    if not m:
        raise AssertionError(f'first line is not `listening on HOST:PORT`: {first!r}\n'
                             + proc.describe())
    return m[1], int(m[2])


def wait_output(proc, pattern, count=1, timeout=None):
    """Wait until stdout holds `count` matches of regex `pattern` (within 10 s times SLOW unless
    `timeout` says otherwise); return re.findall's list."""
    timeout = 10 * SLOW if timeout is None else timeout
    def enough(lines):
        found = re.findall(pattern, ''.join(lines))
        return found if len(found) >= count else None
    return proc.wait_for(enough, timeout, f'{count} x {pattern!r} on stdout')


def finish(proc, timeout=None):
    """Close stdin, wait for the end (within 10 s times SLOW unless `timeout` says otherwise):
    (returncode, stdout, stderr). On timeout the process group is killed and AssertionError
    raised with what the program printed."""
    timeout = 10 * SLOW if timeout is None else timeout
    proc.close_stdin()
    try:
        proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        for t in proc._readers:
            t.join(1)
        raise AssertionError(f'did not finish within {timeout} s (killed)\n{proc.describe()}')
    for t in proc._readers:
        t.join(timeout)
    return proc.popen.returncode, proc.stdout, proc.stderr


def kill_all():
    """Kill every started process still running (also done at interpreter exit)."""
    for p in _started:
        p.kill()


atexit.register(kill_all)
