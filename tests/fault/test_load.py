"""echo_server under load: 10,000 connections open at once, each echoing its own message, and a
SIGTERM with 1,000 connections open (exit 0 within 1 s, every connection closed).

ctest runs it with COSOCK_EXAMPLES_DIR set (label fault); by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_load
The test raises its own RLIMIT_NOFILE (which the server inherits) and skips if it cannot.
"""
import errno
import os
import resource
import selectors
import socket
import time
import unittest

from fault_support import SLOW, built, command, finish, start, wait_listening

CONNECTIONS = 10_000
DESCRIPTORS = CONNECTIONS + 1000  # for each side: the connections, and some to spare


def open_echoing(where, count, deadline, in_flight=1000):
    """Open `count` connections to the echo server at `where`, at most `in_flight` of them
    connecting or waiting for their echo at a time; each sends its own message and reads it back.
    Returns the open sockets once every message is back; raises on a wrong echo or the deadline."""
    done, pending, sel = [], {}, selectors.DefaultSelector()
    started = 0
    try:
        while len(done) < count:
            while started < count and len(pending) < in_flight:
                s = socket.socket()
                s.setblocking(False)
                err = s.connect_ex(where)
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, f'connect {started}: {os.strerror(err)}')
                message = f'{started:05d} {"echo " * (started % 20)}\n'.encode()
                pending[s] = [message, bytearray()]
                sel.register(s, selectors.EVENT_WRITE)
                started += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'{len(done)} of {count} echoed before the deadline')
            for key, events in sel.select(min(left, 1.0)):
                s = key.fileobj
                message, got = pending[s]
                if events & selectors.EVENT_WRITE:  # connected (or failed)
                    if err := s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError(err, f'connect: {os.strerror(err)}')
                    s.send(message)  # a short message fits an empty socket buffer
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError(f'closed before the echo of {message!r}')
                got += chunk
                if len(got) >= len(message):
                    if got != message:
                        raise AssertionError(f'sent {message!r}, got back {bytes(got)!r}')
                    sel.unregister(s)
                    del pending[s]
                    done.append(s)
    except BaseException:
        for s in [*done, *pending]:
            s.close()
        raise
    finally:
        sel.close()
    return done


@built()
class Load(unittest.TestCase):

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, DESCRIPTORS), max(hard, DESCRIPTORS)))
        except (ValueError, OSError):
            self.skipTest(f'cannot raise RLIMIT_NOFILE to {DESCRIPTORS} (hard limit {hard})')
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def server(self):
        proc = start(command('echo_server', 'cpp') + ['--port', '0'])  # inherits our limit
        self.addCleanup(proc.kill)
        return proc, wait_listening(proc, 10 * SLOW)

    def test_ten_thousand_connections_at_once_each_get_their_own_message_back(self):
        server, where = self.server()
        began = time.monotonic()
        conns = open_echoing(where, CONNECTIONS, began + 60)
        try:
            took = time.monotonic() - began
            open_in_server = len(os.listdir(f'/proc/{server.popen.pid}/fd'))
            self.assertGreaterEqual(open_in_server, CONNECTIONS, 'the connections were not all open at once')
            print(f'\n  {CONNECTIONS} connections echoed in {took:.1f} s', end=' ')
        finally:
            for c in conns:
                c.close()
        server.popen.terminate()
        rc, _, err = finish(server, 10 * SLOW)
        self.assertEqual((rc, err), (0, ''), server.describe())

    def test_sigterm_with_a_thousand_open_connections_exits_0_within_1_s_closing_them_all(self):
        server, where = self.server()
        conns = open_echoing(where, 1000, time.monotonic() + 30 * SLOW)
        try:
            began = time.monotonic()
            server.popen.terminate()
            rc, _, err = finish(server, 10 * SLOW)
            took = time.monotonic() - began
            self.assertEqual((rc, err), (0, ''), server.describe())
            self.assertLess(took, 1.0 * SLOW, f'{took:.2f} s to stop')
            for c in conns:
                c.setblocking(True)
                c.settimeout(5)
                try:
                    self.assertEqual(c.recv(16), b'')  # end of stream: the server closed it
                except ConnectionResetError:
                    pass  # or reset: closed all the same
        finally:
            for c in conns:
                c.close()


if __name__ == '__main__':
    unittest.main()
