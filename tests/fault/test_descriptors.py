"""echo_server when accept fails: out of descriptors for real (prlimit), and ENFILE, ENOBUFS and
ECONNABORTED injected with strace. The server must keep listening, back off without spinning
(under 5 % of one core) and serve again once the fault is over.

ctest runs it with COSOCK_EXAMPLES_DIR set (label fault); by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_descriptors
Asio accepts with accept(2), not accept4(2) (seen with `strace -f -e trace=accept,accept4`).
"""
import os
import selectors
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from fault_support import (EXAMPLES_DIR, SLOW, UBSAN, built, child_pid, cpu_seconds, finish,
                           missing, start, until, wait_listening)

ECHO_SERVER = EXAMPLES_DIR / 'echo_server'


def echoed(socks, timeout, count=None):
    """The sockets of `socks` that have their one byte back within `timeout` s, returned as soon
    as `count` of them (default: all) have it."""
    got, count = [], count or len(socks)
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while len(got) < count and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                if key.fileobj.recv(1) == b'x':
                    got.append(key.fileobj)
                sel.unregister(key.fileobj)
    return got


def knock(where, until_time):
    """Connect and hang up every 20 ms until `until_time` (clients that keep knocking)."""
    while time.monotonic() < until_time:
        try:
            socket.create_connection(where, timeout=0.2).close()
        except OSError:
            pass  # a full backlog drops the SYN: still a knock
        time.sleep(0.02)


@built()
class OutOfDescriptors(unittest.TestCase):

    def setUp(self):
        if missing('prlimit'):
            self.skipTest('needs prlimit (Debian package util-linux)')
        if UBSAN:  # GCC 12's libubsan reads memory through a pipe(2), which EMFILE fails
            self.skipTest("under UBSan: its vptr check needs two free descriptors, and reports a "
                          "false 'invalid vptr' when there are none")

    def test_the_server_backs_off_without_spinning_and_accepts_again_once_descriptors_are_freed(self):
        limit = 32
        server = start(['prlimit', f'--nofile={limit}', ECHO_SERVER, '--port', '0'])
        self.addCleanup(server.kill)
        where = wait_listening(server, 10 * SLOW)
        pid = server.popen.pid  # prlimit execs the program
        base = len(os.listdir(f'/proc/{pid}/fd'))
        clients = [socket.create_connection(where, timeout=10) for _ in range(limit + 8)]
        self.addCleanup(lambda: [c.close() for c in clients])
        for c in clients:
            c.sendall(b'x')
        until(lambda: 'backing off' in server.stderr, 10 * SLOW, 'the EMFILE line on stderr')
        served = echoed(clients, 10 * SLOW, count=limit - base)  # one per free descriptor
        self.assertEqual(len(served), limit - base)
        waiting = [c for c in clients if c not in served]

        # Out of descriptors, with clients knocking: the server must sleep, not spin.
        before, began = cpu_seconds(pid), time.monotonic()
        knock(where, began + 1.0)
        share = (cpu_seconds(pid) - before) / (time.monotonic() - began)
        self.assertLess(share, 0.05, f'CPU share while out of descriptors: {share:.1%}')

        # Descriptors freed: a waiting client is served within 1 s (the back-off caps at 0.5 s).
        for c in served:
            c.close()
        freed = time.monotonic()
        self.assertTrue(echoed(waiting, 1.0 * SLOW, count=1), 'no waiting client served within 1 s')
        self.assertLess(time.monotonic() - freed, 1.0 * SLOW)

        for line in server.stderr.splitlines():  # one line per streak of failures, nothing else
            self.assertEqual(line, f'echo_server: accept on {where[0]}:{where[1]}: Too many open files; '
                                   'backing off')


def strace_works():
    if missing('strace'):
        return 'needs strace (Debian package strace)'
    if subprocess.run(['strace', '-o', '/dev/null', 'true'], capture_output=True).returncode != 0:
        return 'strace cannot trace here (ptrace not allowed)'
    return None


@built()
class InjectedAcceptFailures(unittest.TestCase):
    """strace makes accept(2) fail on chosen calls: call 1 is the server's first accept, made at
    once after `listening on` (it finds no client: EAGAIN, unless we inject)."""

    def setUp(self):
        if reason := strace_works():
            self.skipTest(reason)
        self.log = Path(tempfile.mkdtemp()) / 'strace.log'
        self.addCleanup(lambda: (self.log.unlink(missing_ok=True), self.log.parent.rmdir()))

    def server(self, inject):
        # LeakSanitizer cannot work under ptrace: off for the traced program (if sanitized).
        asan = ':'.join(filter(None, [os.environ.get('ASAN_OPTIONS'), 'detect_leaks=0']))
        proc = start(['strace', '-f', '-o', self.log, '-E', f'ASAN_OPTIONS={asan}', '-e', 'trace=accept',
                      '-e', f'inject=accept:{inject}', ECHO_SERVER, '--port', '0'])
        self.addCleanup(proc.kill)
        where = wait_listening(proc, 10 * SLOW)
        return proc, child_pid(proc.popen.pid), where

    def stop(self, proc, pid):
        os.kill(pid, 15)
        return finish(proc, 10 * SLOW)

    def test_enfile_and_enobufs_back_off_without_spinning_then_the_waiting_client_is_served(self):
        for error, text in (('ENFILE', 'Too many open files in system'),
                            ('ENOBUFS', 'No buffer space available')):
            with self.subTest(error=error):
                # Calls 1-8 fail: backing off 10, 20, 40 ... 500, 500 ms, about 1.6 s in all.
                proc, pid, where = self.server(f'error={error}:when=1..8')
                before, began = cpu_seconds(pid), time.monotonic()
                with socket.create_connection(where, timeout=10) as client:
                    client.sendall(b'x')
                    self.assertTrue(echoed([client], 10 * SLOW), 'the client was never served')
                took = time.monotonic() - began
                share = (cpu_seconds(pid) - before) / took
                self.assertGreater(took, 1.0, 'the injected failures did not delay the client')
                self.assertLess(share, 0.05, f'CPU share while accept fails: {share:.1%}')
                rc, _, err = self.stop(proc, pid)
                self.assertEqual(err, f'echo_server: accept on {where[0]}:{where[1]}: {text}; backing off\n')
                self.assertEqual(self.log.read_text().count('(INJECTED)'), 8)

    def wait_first_accept(self):
        until(lambda: 'accept(' in self.log.read_text(), 10 * SLOW, "the server's first accept")

    def test_an_aborted_accept_is_skipped_silently_and_the_next_client_is_served(self):
        proc, pid, where = self.server('error=ECONNABORTED:when=2')
        self.wait_first_accept()
        first = socket.create_connection(where, timeout=10)  # its accept is call 2: aborted
        self.addCleanup(first.close)
        until(lambda: '(INJECTED)' in self.log.read_text(), 10 * SLOW, 'the aborted accept')
        with socket.create_connection(where, timeout=10) as second:
            for c in (first, second):
                c.sendall(b'x')
            self.assertEqual(len(echoed([first, second], 10 * SLOW)), 2)
        rc, _, err = self.stop(proc, pid)
        self.assertEqual(err, '')  # skipped silently
        calls = self.log.read_text().count('accept(')
        self.assertIn('ECONNABORTED (Software caused connection abort) (INJECTED)', self.log.read_text())
        self.assertLess(calls, 10, 'accept was retried in a loop')

    def test_a_client_queued_behind_an_aborted_accept_does_not_wait_for_the_next_client(self):
        # Asio's accept hides ECONNABORTED unless the acceptor has enable_connection_aborted (which
        # tcp_listener sets): it would wait for the listener's next readiness event, which epoll
        # (edge-triggered) sends only when another client connects, and the queued client waits.
        proc, pid, where = self.server('error=ECONNABORTED:when=2')
        self.wait_first_accept()
        with socket.create_connection(where, timeout=10) as client:
            client.sendall(b'x')
            self.assertTrue(echoed([client], 2.0 * SLOW), 'not served until another client came')


if __name__ == '__main__':
    unittest.main()
