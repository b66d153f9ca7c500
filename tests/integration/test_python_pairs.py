"""Each Python example program (examples/python/) against its own Python peer, through harness.py.

Run from the repository root:  python3 -m unittest tests/integration/test_python_pairs.py -v
Servers run on port 0 (the port is read from `listening on HOST:PORT`), on loopback only;
stdin is scripted; every wait is bounded and every process is killed at the end of its test.
"""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, finish, python_example, start, wait_listening, wait_output  # noqa: E402


class PythonPairs(unittest.TestCase):

    def start(self, name, *args, stdin_text=None):
        proc = start(python_example(name) + list(args), stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def server(self, name, *args, stdin_text=None):
        """Start a server on port 0; return it and the client flags that reach it."""
        proc = self.start(name, '--port', '0', *args, stdin_text=stdin_text)
        host, port = wait_listening(proc)
        return proc, ['--host', host, '--port', str(port)]

    def ends(self, proc, code, timeout=None):
        """Wait for proc to exit with `code`; return its stdout (stderr must be empty on 0)."""
        rc, out, err = finish(proc, timeout)
        self.assertEqual(rc, code, proc.describe())
        if code in (0, 130):
            self.assertEqual(err, '', proc.describe())
        return out

    def silent_socket(self, kind):
        """A loopback socket that holds a port and never answers (TCP: not listening)."""
        s = socket.socket(socket.AF_INET, kind)
        self.addCleanup(s.close)
        s.bind(('127.0.0.1', 0))
        return s, s.getsockname()[1]

    # -- TCP hello ---------------------------------------------------------------------------
    def test_tcp_hello(self):
        server, where = self.server('tcp_hello_server')
        client = self.start('tcp_hello_client', *where)
        self.assertEqual(self.ends(client, 0), 'hi\n')
        self.assertEqual(self.ends(server, 0), f'listening on 127.0.0.1:{where[3]}\nhello!\n')

    def test_tcp_hello_ipv6(self):
        if not socket.has_ipv6:
            self.skipTest('no IPv6')
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(('::1', 0))
        except OSError:
            self.skipTest('no ::1')
        server, where = self.server('tcp_hello_server', '--host', '::1')
        self.assertEqual(where[1], '::1')
        self.assertEqual(self.ends(self.start('tcp_hello_client', *where), 0), 'hi\n')
        self.assertEqual(self.ends(server, 0), f'listening on [::1]:{where[3]}\nhello!\n')

    def test_tcp_hello_client_refused(self):
        _, port = self.silent_socket(socket.SOCK_STREAM)
        client = self.start('tcp_hello_client', '--port', str(port))
        rc, out, err = finish(client)
        self.assertEqual((rc, out, err), (1, '', 'tcp_hello_client: Connection refused\n'))

    def test_unknown_flag(self):
        rc, out, err = finish(self.start('tcp_hello_server', '--bogus'))
        self.assertEqual((rc, out), (2, ''))
        self.assertEqual(err.count('\n'), 1, err)
        self.assertTrue(err.startswith('tcp_hello_server: '), err)

    # -- TCP chat ----------------------------------------------------------------------------
    def test_chat_client_says_bye(self):
        server, where = self.server('tcp_chat_server', stdin_text='hello\n')
        client = self.start('tcp_chat_client', *where, stdin_text='hi\nbye\n')
        self.assertEqual(self.ends(client, 0), '>>>hello\n>>>OK!bye\n')
        self.assertEqual(self.ends(server, 0).split('\n', 1)[1], 'hi\n>>>>聊天结束\n')

    def test_chat_server_stdin_ends(self):
        server, where = self.server('tcp_chat_server', stdin_text='')
        client = self.start('tcp_chat_client', *where, stdin_text='hi\n')
        self.assertEqual(self.ends(client, 0), '>>>bye\n聊天结束\n')
        self.assertEqual(self.ends(server, 0).split('\n', 1)[1], 'hi\n>>>>')

    def test_chat_client_skips_empty_lines_and_ends_at_eof(self):
        server, where = self.server('tcp_chat_server', stdin_text='\nyo\n')
        client = self.start('tcp_chat_client', *where, stdin_text='\n\nhi\n')
        self.assertEqual(self.ends(client, 0), '>>>>>>>>>yo\n>>>OK!bye\n')
        self.assertEqual(self.ends(server, 0).split('\n', 1)[1], 'hi\n>>>>>>>>聊天结束\n')

    def test_chat_client_peer_closed(self):
        listener, port = self.silent_socket(socket.SOCK_STREAM)
        listener.listen()
        listener.settimeout(10)
        client = self.start('tcp_chat_client', '--port', str(port), stdin_text='hi\n')
        conn, _ = listener.accept()
        conn.settimeout(10)
        self.assertEqual(conn.recv(4096), b'hi')
        conn.close()
        rc, out, err = finish(client)
        self.assertEqual((rc, err), (1, 'tcp_chat_client: peer closed the connection\n'))

    # -- UDP hello ---------------------------------------------------------------------------
    def test_udp_hello(self):
        server, where = self.server('udp_hello_server')
        client = self.start('udp_hello_client', *where)
        self.assertEqual(self.ends(client, 0), f'hi from 127.0.0.1:{where[3]}\n')
        self.assertRegex(self.ends(server, 0), r'\nhello from 127\.0\.0\.1:\d+\n\Z')

    def test_udp_hello_client_without_answer(self):
        _, port = self.silent_socket(socket.SOCK_DGRAM)
        began = time.monotonic()
        client = self.start('udp_hello_client', '--port', str(port), '--timeout', '0.5')
        rc, out, err = finish(client, timeout=5 * SLOW)
        self.assertEqual((rc, out), (1, ''))
        self.assertEqual(err, f'udp_hello_client: no answer from 127.0.0.1:{port} within 0.5 s\n')
        self.assertLess(time.monotonic() - began, 5)

    # -- UDP QQ chat -------------------------------------------------------------------------
    def test_qq_three_clients(self):
        server, where = self.server('udp_qq_server')  # stdin stays open: we type the replies
        names = ['One', 'Two', 'Three']
        clients = {n: self.start('udp_qq_client', *where, '--name', n, '--timeout', '10',
                                 stdin_text=f'hi from {n}\n') for n in names}
        for i in range(1, 4):  # the server answers whoever wrote the i-th message
            senders = wait_output(server, r'\x1b\[32m来自([A-Za-z]+)的消息: hi from \1\x1b\[0m\n', i)
            server.write(f'hello {senders[-1]}\n')
        self.assertCountEqual(senders, names)
        for n, client in clients.items():
            self.assertEqual(self.ends(client, 0), f'{n}:hello {n}\n{n}:')
        server.interrupt()  # Ctrl-C while it waits for the next message
        self.assertEqual(self.ends(server, 130).count('>>>'), 3)

    def test_qq_reply_to_another_address(self):
        server, where = self.server('udp_qq_server')
        sender, _ = self.silent_socket(socket.SOCK_DGRAM)
        target, target_port = self.silent_socket(socket.SOCK_DGRAM)
        target.settimeout(10)
        server_addr = ('127.0.0.1', int(where[3]))
        sender.sendto(b'first', server_addr)
        wait_output(server, r'first\n')
        server.write(f'@127.0.0.1:{target_port} routed\n')
        self.assertEqual(target.recvfrom(4096), (b'routed', server_addr))
        sender.sendto(b'second', server_addr)
        wait_output(server, r'second\n')
        server.close_stdin()  # while the second message waits for its answer: EOF ends it
        self.assertRegex(self.ends(server, 0), r'\A[^\n]*\n127\.0\.0\.1:\d+\nfirst\n>>>'
                                               r'127\.0\.0\.1:\d+\nsecond\n>>>\Z')

    # -- timeouts ----------------------------------------------------------------------------
    def test_timeout_server_without_client(self):
        began = time.monotonic()
        server, where = self.server('tcp_timeout_server', '--timeout', '0.5')
        rc, out, err = finish(server, timeout=3 * SLOW)
        self.assertLess(time.monotonic() - began, 3)
        self.assertEqual(rc, 1)
        self.assertEqual(err, f'tcp_timeout_server: accept on 127.0.0.1:{where[3]}: '
                              'timed out after 0.5 s\n')

    def test_timeout_server_silent_client(self):
        server, where = self.server('tcp_timeout_server', '--timeout', '0.5')
        with socket.create_connection(('127.0.0.1', int(where[3])), timeout=5) as silent:
            rc, out, err = finish(server, timeout=3 * SLOW)
            self.assertEqual(rc, 1)
            self.assertEqual(err, 'tcp_timeout_server: recv from 127.0.0.1:%d: '
                                  'timed out after 0.5 s\n' % silent.getsockname()[1])

    def test_timeout_chat_client_stdin_ends(self):
        server, where = self.server('tcp_timeout_server', '--timeout', '5', stdin_text='pong\n')
        client = self.start('tcp_timeout_client', *where, stdin_text='ping\n')
        self.assertEqual(self.ends(client, 0), '>>>>pong\n>>>>')
        self.assertEqual(self.ends(server, 0).split('\n', 1)[1], 'ping\n>>>')

    def test_timeout_chat_server_stdin_ends(self):
        server, where = self.server('tcp_timeout_server', '--timeout', '5', stdin_text='')
        client = self.start('tcp_timeout_client', *where, stdin_text='ping\nmore\n')
        self.assertEqual(self.ends(client, 0), '>>>>')
        self.assertEqual(self.ends(server, 0).split('\n', 1)[1], 'ping\n>>>')


if __name__ == '__main__':
    unittest.main()
