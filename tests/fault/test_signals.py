"""SIGINT and SIGTERM while a program waits in accept, connect, recv, send and console input: each
must unwind cleanly within 1 s, print nothing on stderr (no terminate, no traceback) and exit
with the status of lib/src/run.cpp: 130 for SIGINT, 143 for SIGTERM (the Python programs: 130 on
Ctrl-C, which is all their contract says).

ctest runs it with COSOCK_EXAMPLES_DIR set (label fault); by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_signals
Under a sanitizer build the exit also runs LeakSanitizer: a leak from the unwinding fails it.
"""
import signal
import socket
import time
import unittest

from fault_support import (SLOW, built, command, finish, start, tcp_sockets, until, wait_listening,
                           wait_prompt)

STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Peer:
    """A loopback listener of the test's own that never reads nor answers."""

    def __init__(self, backlog=16):
        self.sock = socket.create_server(('127.0.0.1', 0), backlog=backlog)
        self.port = self.sock.getsockname()[1]
        self.where = ['--host', '127.0.0.1', '--port', str(self.port)]
        self.accepted = []

    def accept(self, timeout=10):
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        self.accepted.append(conn)
        return conn

    def close(self):
        for s in [self.sock, *self.accepted]:
            s.close()


@built('tcp_hello_server')
class Signals(unittest.TestCase):

    def peer(self, backlog=16):
        peer = Peer(backlog)
        self.addCleanup(peer.close)
        return peer

    def start(self, cmd, stdin_text=None):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def stops_cleanly(self, proc, sig, status=None):
        """Deliver `sig` to the program alone; it must exit with its status within 1 s."""
        proc.wait_blocked()
        began = time.monotonic()
        proc.popen.send_signal(sig)
        rc, out, err = finish(proc, 10 * SLOW)
        took = time.monotonic() - began
        self.assertEqual(rc, STATUS[sig] if status is None else status, proc.describe())
        self.assertEqual(err, '', proc.describe())
        self.assertLess(took, 1.0 * SLOW, f'{took:.2f} s to stop after {sig.name}')
        return out

    def each_signal(self, languages=('cpp',)):
        for language in languages:
            for sig in (signal.SIGINT, signal.SIGTERM):
                if language == 'python' and sig == signal.SIGTERM:
                    continue  # Python's default for SIGTERM: killed by it (no contract)
                with self.subTest(language=language, signal=sig.name):
                    yield language, sig

    def test_in_accept(self):
        for language, sig in self.each_signal(('cpp', 'python')):
            server = self.start(command('tcp_hello_server', language) + ['--port', '0'])
            wait_listening(server, 10 * SLOW)
            out = self.stops_cleanly(server, sig)
            self.assertRegex(out, r'\Alistening on \S+\n\Z')

    def test_in_connect_to_a_listener_whose_backlog_is_full(self):
        for language, sig in self.each_signal():
            peer = self.peer(backlog=0)
            filler = socket.create_connection(('127.0.0.1', peer.port), timeout=10)
            self.addCleanup(filler.close)
            # Backlog 0 holds one connection: with it queued, the kernel drops further SYNs.
            until(lambda: [r for r in tcp_sockets(peer.port) if r[0] == '0A' and r[2] > r[1]], 10,
                  'a full accept queue')
            client = self.start(command('tcp_hello_client', language) + peer.where)
            until(lambda: [r for r in tcp_sockets(peer.port) if r[0] == '02'], 10 * SLOW,
                  'the client in SYN-SENT')
            self.assertEqual(self.stops_cleanly(client, sig), '')

    def test_in_recv_from_a_silent_server(self):
        for language, sig in self.each_signal(('cpp', 'python')):
            peer = self.peer()
            client = self.start(command('tcp_hello_client', language) + peer.where)
            conn = peer.accept(10 * SLOW)
            conn.settimeout(10 * SLOW)
            self.assertEqual(conn.recv(64), b'hello!')  # sent: now it waits for the answer
            self.assertEqual(self.stops_cleanly(client, sig), '')

    def test_in_send_to_a_peer_that_never_reads(self):
        # tcp_chat_client sends each stdin line in one send: a 32 MiB line cannot fit the
        # socket buffers of a peer that reads nothing, so the send waits.
        size = 32 << 20
        for language, sig in self.each_signal():
            peer = self.peer()
            client = self.start(command('tcp_chat_client', language) + peer.where)
            peer.accept(10 * SLOW)
            client.write('x' * size + '\n')  # returns once the client has read nearly all of it
            ours = lambda: [r for r in tcp_sockets(peer.port) if r[4] == peer.port and r[1] > 0]
            until(ours, 10 * SLOW, 'bytes waiting in the send queue')
            self.assertEqual(self.stops_cleanly(client, sig), '>>>')

    def test_in_console_input(self):
        for language, sig in self.each_signal(('cpp', 'python')):
            peer = self.peer()
            client = self.start(command('tcp_chat_client', language) + peer.where)  # stdin stays open
            peer.accept(10 * SLOW)
            wait_prompt(client, '>>>', 10 * SLOW)
            self.assertEqual(self.stops_cleanly(client, sig), '>>>')

    def test_echo_server_stops_on_sigint_with_130_and_on_sigterm_with_0(self):
        for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
            with self.subTest(signal=sig.name):
                server = self.start(command('echo_server', 'cpp') + ['--port', '0', '--threads', '2'])
                host, port = wait_listening(server, 10 * SLOW)
                with socket.create_connection((host, port), timeout=10) as conn:
                    conn.sendall(b'ping')
                    self.assertEqual(conn.recv(64), b'ping')
                    self.stops_cleanly(server, sig, status)
                    self.assertEqual(conn.recv(64), b'')  # closed by the server


if __name__ == '__main__':
    unittest.main()
