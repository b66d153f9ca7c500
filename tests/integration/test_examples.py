"""The C++ example programs against each other and against their Python counterparts.

ctest runs it with COSOCK_EXAMPLES_DIR set to the folder of the built examples; by hand:
    COSOCK_EXAMPLES_DIR=build/dev/examples python3 -m unittest -v test_examples   (from this folder)
Every pair runs in all four combinations (C++ or Python server x C++ or Python client) on port 0,
on loopback; every wait is bounded and every process is killed at the end of its test.
"""
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (EXAMPLES_DIR, LANGUAGES, SLOW, command, finish, python_example,  # noqa: E402
                     start, wait_listening, wait_output)

@unittest.skipUnless((EXAMPLES_DIR / 'tcp_hello_server').exists(),
                     'set COSOCK_EXAMPLES_DIR to the folder of the built examples')
class Examples(unittest.TestCase):

    def start(self, cmd, stdin_text=None):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def server(self, name, language, *args):
        proc = self.start(command(name, language) + ['--port', '0', *args])
        host, port = wait_listening(proc)
        return proc, ['--host', host, '--port', str(port)]

    def ends(self, proc, code, timeout=None):
        rc, out, err = finish(proc, timeout)
        self.assertEqual(rc, code, proc.describe())
        if code == 0:
            self.assertEqual(err, '', proc.describe())
        return out, err

    def test_tcp_hello_pair_in_every_combination(self):
        for server_language in LANGUAGES:
            for client_language in LANGUAGES:
                with self.subTest(server=server_language, client=client_language):
                    server, where = self.server('tcp_hello_server', server_language)
                    client = self.start(command('tcp_hello_client', client_language) + where)
                    client_out, _ = self.ends(client, 0)
                    server_out, _ = self.ends(server, 0)
                    self.assertEqual(client_out, 'hi\n')
                    self.assertRegex(server_out, r'^listening on 127\.0\.0\.1:\d+\nhello!\n$')

    def test_tcp_hello_over_ipv6(self):
        if not ipv6_loopback():
            self.skipTest('no ::1 here')
        server, where = self.server('tcp_hello_server', 'cpp', '--host', '::1')
        client = self.start(command('tcp_hello_client', 'cpp') + where)
        self.assertEqual(self.ends(client, 0)[0], 'hi\n')
        self.assertRegex(self.ends(server, 0)[0], r'^listening on \[::1\]:\d+\nhello!\n$')

    def test_ctrl_c_stops_a_waiting_server_with_status_130(self):
        server, _ = self.server('tcp_hello_server', 'cpp')
        server.interrupt()
        out, err = self.ends(server, 130)
        self.assertEqual(err, '')

    def test_a_refused_connection_is_one_line_and_status_1(self):
        server, where = self.server('tcp_hello_server', 'cpp')
        server.kill()
        finish(server)
        client = self.start(command('tcp_hello_client', 'cpp') + where)
        _, err = self.ends(client, 1)
        self.assertRegex(err, r'^tcp_hello_client: connect to 127\.0\.0\.1:\d+: Connection refused\n$')

    def test_a_port_in_use_is_one_line_and_status_1(self):
        first, where = self.server('tcp_hello_server', 'cpp')
        second = self.start(command('tcp_hello_server', 'cpp') + where)
        _, err = self.ends(second, 1)
        self.assertRegex(err, r'^tcp_hello_server: bind to 127\.0\.0\.1:\d+: Address already in use\n$')

    def test_bad_command_lines_exit_2_with_one_line(self):
        cases = {
            ('--bogus',): 'unknown option --bogus',
            ('--port', '70000'): '--port needs a whole number from 0 to 65535, not "70000"',
            ('--port',): '--port needs a value',
            ('--host', 'no such host'): 'bad address "no such host:8898": not a valid host name or IP address',
        }
        for args, message in cases.items():
            for name in ('tcp_hello_server', 'tcp_hello_client'):
                with self.subTest(name=name, args=args):
                    proc = self.start(command(name, 'cpp') + list(args))
                    _, err = self.ends(proc, 2)
                    self.assertEqual(err, f'{name}: {message} (see --help)\n')

    def test_echo_server_sends_a_bulk_stream_back_unchanged_through_a_small_window(self):
        # 4 MiB in 64 KiB writes against a client receive buffer of a few KiB: the server reads
        # full buffers in a row, its sends stall half-way, and what did not go waits for room.
        # Every byte must come back, in order, and the connection end after the last one.
        server, where = self.server('echo_server', 'cpp')
        payload = random.Random(7).randbytes(4 << 20)
        received = bytearray()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
            client.settimeout(30 * SLOW)
            client.connect(('127.0.0.1', int(where[3])))
            def write():
                for i in range(0, len(payload), 64 * 1024):
                    client.sendall(payload[i:i + 64 * 1024])
                client.shutdown(socket.SHUT_WR)
            writer = threading.Thread(target=write)
            writer.start()
            try:
                while chunk := client.recv(256 * 1024):
                    received += chunk
            finally:
                writer.join(30 * SLOW)
        self.assertFalse(writer.is_alive(), 'the writer did not finish')
        self.assertEqual(len(received), len(payload))
        self.assertTrue(received == payload, 'the echo differs from what was sent')

    def test_help_describes_the_flags_and_exits_0(self):
        proc = self.start(command('tcp_hello_server', 'cpp') + ['--help'])
        out, _ = self.ends(proc, 0)
        self.assertIn('--port PORT', out)
        self.assertIn('default 8898', out)


@unittest.skipUnless((EXAMPLES_DIR / 'tcp_chat_server').exists(),
                     'set COSOCK_EXAMPLES_DIR to the folder of the built examples')
class Chat(unittest.TestCase):
    """tcp_chat_server and tcp_chat_client, C++ and Python, driven through piped stdin."""

    def start(self, cmd, stdin_text=None):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def server(self, language, stdin_text=None):
        proc = self.start(command('tcp_chat_server', language) + ['--port', '0'], stdin_text)
        host, port = wait_listening(proc)
        return proc, ['--host', host, '--port', str(port)]

    def client(self, language, where, stdin_text=None):
        return self.start(command('tcp_chat_client', language) + where, stdin_text)

    def ends(self, proc, code, timeout=None, interrupted=False):
        """Wait for the exit with `code`; return stdout without the `listening on` line.
        `interrupted`: the program was sent SIGINT and must end by itself, its stdin still open
        (closing it at once would race the signal with end of input)."""
        timeout = 10 * SLOW if timeout is None else timeout
        if interrupted:
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass  # finish() below kills it and fails
        rc, out, err = finish(proc, timeout)
        self.assertEqual(rc, code, proc.describe())
        if code in (0, 130):
            self.assertEqual(err, '', proc.describe())
        return out.split('\n', 1)[1] if out.startswith('listening on ') else out

    def every_combination(self):
        for server_language in LANGUAGES:
            for client_language in LANGUAGES:
                with self.subTest(server=server_language, client=client_language):
                    yield server_language, client_language

    def with_stdin_from(self, path, cmd):
        """cmd with its stdin redirected from `path` (a regular file, /dev/null), not a pipe."""
        return ['sh', '-c', 'exec "$@" < ' + shlex.quote(str(path)), 'sh', *cmd]

    def test_the_client_says_bye(self):
        for server_language, client_language in self.every_combination():
            server, where = self.server(server_language, stdin_text='hello\n')
            client = self.client(client_language, where, stdin_text='hi\nbye\n')
            self.assertEqual(self.ends(client, 0), '>>>hello\n>>>OK!bye\n')
            self.assertEqual(self.ends(server, 0), 'hi\n>>>>聊天结束\n')

    def test_the_end_of_the_servers_stdin_ends_the_chat(self):
        for server_language, client_language in self.every_combination():
            server, where = self.server(server_language, stdin_text='')
            client = self.client(client_language, where, stdin_text='hi\n')
            self.assertEqual(self.ends(client, 0), '>>>bye\n聊天结束\n')
            self.assertEqual(self.ends(server, 0), 'hi\n>>>>')

    def test_the_end_of_the_clients_stdin_says_bye_and_empty_lines_are_skipped(self):
        for server_language, client_language in self.every_combination():
            server, where = self.server(server_language, stdin_text='\nyo\n')
            client = self.client(client_language, where, stdin_text='\n\nhi\n')
            self.assertEqual(self.ends(client, 0), '>>>>>>>>>yo\n>>>OK!bye\n')
            self.assertEqual(self.ends(server, 0), 'hi\n>>>>>>>>聊天结束\n')

    def test_a_killed_server_ends_the_waiting_client_with_one_line(self):
        for server_language, client_language in self.every_combination():
            server, where = self.server(server_language)  # stdin open: its operator is silent
            client = self.client(client_language, where)
            client.write('hi\n')
            wait_output(server, r'\nhi\n')  # the client now waits for the answer
            server.kill()
            rc, _, err = finish(client)
            self.assertEqual(rc, 1, client.describe())
            self.assertEqual(err, 'tcp_chat_client: peer closed the connection\n')

    def test_the_cpp_server_notices_a_killed_client_while_its_operator_is_silent(self):
        for client_language in LANGUAGES:
            with self.subTest(client=client_language):
                server, where = self.server('cpp')
                client = self.client(client_language, where)
                client.write('hi\n')
                wait_output(server, r'\nhi\n')  # (the harness sees whole lines: not the prompt)
                client.kill()
                rc, out, err = finish(server)
                self.assertEqual(rc, 1, server.describe())
                self.assertEqual(err, 'tcp_chat_server: peer closed the connection\n')

    def test_the_cpp_server_prints_messages_while_its_operator_has_not_answered(self):
        server, where = self.server('cpp')
        with socket.create_connection((where[1], int(where[3])), timeout=10) as peer:
            peer.sendall(b'one')
            wait_output(server, r'\none\n')
            peer.sendall('二 two'.encode())  # the operator has not typed: still printed at once
            wait_output(server, r'\n>>>>二 two\n')
            server.write('reply\n')
            self.assertEqual(peer.recv(4096), b'reply')
            peer.sendall(b'bye')
            self.assertEqual(peer.recv(4096), b'OK!bye')
            # "二 two" came after the prompt, so it asks for one more answer: a second prompt,
            # which races with our quick bye (we cannot wait for a prompt: it ends no line).
            self.assertRegex(self.ends(server, 0), r'\Aone\n>>>>二 two\n(>>>>)?聊天结束\n(>>>>)?\Z')

    def test_the_cpp_programs_read_stdin_from_a_regular_file_or_dev_null(self):
        with tempfile.TemporaryDirectory() as folder:
            replies, messages = Path(folder, 'replies'), Path(folder, 'messages')
            replies.write_text('hello\nunused\n')
            messages.write_text('hi\r\nbye')  # CRLF, and a last line without newline
            server = self.start(self.with_stdin_from(replies, command('tcp_chat_server', 'cpp') +
                                                     ['--port', '0']))
            host, port = wait_listening(server)
            where = ['--host', host, '--port', str(port)]
            client = self.start(self.with_stdin_from(messages, command('tcp_chat_client', 'cpp') + where))
            self.assertEqual(self.ends(client, 0), '>>>hello\n>>>OK!bye\n')
            self.assertEqual(self.ends(server, 0), 'hi\n>>>>聊天结束\n')
        server, where = self.server('cpp', stdin_text='answer\n')
        client = self.start(self.with_stdin_from('/dev/null', command('tcp_chat_client', 'cpp') + where))
        self.assertEqual(self.ends(client, 0), '>>>OK!bye\n')  # no input at all: bye at once
        self.assertEqual(self.ends(server, 0), '聊天结束\n')

    def test_ctrl_c_during_the_chat_ends_each_cpp_program_with_130(self):
        server, where = self.server('cpp')
        client = self.client('cpp', where)
        client.write('hi\n')
        wait_output(server, r'\nhi\n')  # then the server waits for its operator
        server.interrupt()
        self.assertRegex(self.ends(server, 130, interrupted=True), r'\Ahi\n(>>>>)?\Z')
        server, where = self.server('python', stdin_text='yo\n')
        client = self.client('cpp', where)
        client.write('hi\n')
        wait_output(client, r'yo\n')  # then the client waits for its operator
        client.interrupt()
        self.assertEqual(self.ends(client, 130, interrupted=True), '>>>yo\n>>>')


def raw_sockets():
    """True when this process (and so the programs it starts) may open a raw ICMP socket."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP):
            return True
    except OSError:
        return False


def ipv6_loopback():
    """True when ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(('::1', 0))
        return True
    except OSError:
        return False


@unittest.skipUnless((EXAMPLES_DIR / 'udp_hello_server').exists(),
                     'set COSOCK_EXAMPLES_DIR to the folder of the built examples')
class Udp(unittest.TestCase):
    """UDP hello and the QQ chat, C++ and Python; replies typed on the servers' piped stdin."""

    QQ_MESSAGE = r'\x1b\[32m来自{}的消息: {}\x1b\[0m'  # green, with the escapes the blog post got wrong fixed

    def start(self, cmd, stdin_text=None):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def server(self, name, language, *args):
        proc = self.start(command(name, language) + ['--port', '0', *args])  # stdin stays open
        host, port = wait_listening(proc)
        return proc, ['--host', host, '--port', str(port)]

    def ends(self, proc, code, timeout=None):
        rc, out, err = finish(proc, timeout)
        self.assertEqual(rc, code, proc.describe())
        if code in (0, 130):
            self.assertEqual(err, '', proc.describe())
        return out, err

    def silent_port(self):
        """A loopback UDP port that is bound (no ICMP refusal) but never answers."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(('127.0.0.1', 0))
        return s, s.getsockname()[1]

    # -- UDP hello ---------------------------------------------------------------------------
    def test_udp_hello_pair_in_every_combination(self):
        for server_language in LANGUAGES:
            for client_language in LANGUAGES:
                with self.subTest(server=server_language, client=client_language):
                    server, where = self.server('udp_hello_server', server_language)
                    client = self.start(command('udp_hello_client', client_language) + where)
                    client_out, _ = self.ends(client, 0)
                    server_out, _ = self.ends(server, 0)
                    self.assertEqual(client_out, f'hi from 127.0.0.1:{where[3]}\n')
                    self.assertRegex(server_out, rf'\Alistening on 127\.0\.0\.1:{where[3]}\n'
                                                 r'hello from 127\.0\.0\.1:\d+\n\Z')

    def test_udp_hello_over_ipv6(self):
        if not ipv6_loopback():
            self.skipTest('no ::1 here')
        for client_language in LANGUAGES:
            with self.subTest(client=client_language):
                server, where = self.server('udp_hello_server', 'cpp', '--host', '::1')
                client = self.start(command('udp_hello_client', client_language) + where)
                self.assertEqual(self.ends(client, 0)[0], f'hi from [::1]:{where[3]}\n')
                self.assertRegex(self.ends(server, 0)[0], r'\Alistening on \[::1\]:\d+\n'
                                                          r'hello from \[::1\]:\d+\n\Z')

    def test_udp_hello_client_without_server_ends_after_its_timeout(self):
        _, port = self.silent_port()
        for language in LANGUAGES:
            with self.subTest(client=language):
                began = time.monotonic()
                client = self.start(command('udp_hello_client', language)
                                    + ['--port', str(port), '--timeout', '0.5'])
                out, err = self.ends(client, 1, timeout=5 * SLOW)
                took = time.monotonic() - began
                self.assertEqual(out, '')
                self.assertEqual(err, f'udp_hello_client: no answer from 127.0.0.1:{port} within 0.5 s\n')
                self.assertGreaterEqual(took, 0.5)
                self.assertLess(took, 5)

    def test_udp_hello_client_documents_its_default_timeout(self):
        out, _ = self.ends(self.start(command('udp_hello_client', 'cpp') + ['--help']), 0)
        self.assertIn('--timeout SECONDS', out)
        self.assertIn('default 5', out)
        self.assertIn('default 9000', out)

    # -- QQ chat -----------------------------------------------------------------------------
    def test_qq_reply_reaches_the_sender_in_every_combination(self):
        for server_language in LANGUAGES:
            for client_language in LANGUAGES:
                with self.subTest(server=server_language, client=client_language):
                    server, where = self.server('udp_qq_server', server_language)
                    client = self.start(command('udp_qq_client', client_language)
                                        + where + ['--name', 'Two', '--timeout', '10'],
                                        stdin_text='\nhi\n')  # the empty line is skipped
                    wait_output(server, self.QQ_MESSAGE.format('Two', 'hi') + r'\n')
                    server.write('hello Two\n')
                    self.assertEqual(self.ends(client, 0)[0], 'Two:Two:hello Two\nTwo:')
                    server.interrupt()  # Ctrl-C while it waits for the next message
                    out, _ = self.ends(server, 130)
                    self.assertRegex(out, r'\Alistening on 127\.0\.0\.1:\d+\n127\.0\.0\.1:\d+\n'
                                          + self.QQ_MESSAGE.format('Two', 'hi') + r'\n>>>\Z')

    def test_qq_cpp_server_with_three_clients_at_once(self):
        # The C++ server prints every message as it arrives, while its operator has not answered
        # any (Python's would show only the first): all three are there before the first reply.
        # Each reply names its client with @HOST:PORT, in the reverse order of arrival, so none
        # reaches its client by being an answer to the most recent message.
        server, where = self.server('udp_qq_server', 'cpp')
        clients = {name: self.start(command('udp_qq_client', language) + where
                                    + ['--name', name, '--timeout', '10'], stdin_text=f'hi from {name}\n')
                   for name, language in (('One', 'cpp'), ('Two', 'python'), ('Three', 'cpp'))}
        message = self.QQ_MESSAGE.format(r'(\w+)', r'hi from \2')
        senders = wait_output(server, r'(127\.0\.0\.1:\d+)\n' + message + r'\n', count=3)
        self.assertCountEqual([name for _, name in senders], clients)
        for address, name in reversed(senders):
            server.write(f'@{address} hello {name}\n')
        for name, client in clients.items():
            self.assertEqual(self.ends(client, 0)[0], f'{name}:hello {name}\n{name}:')
        server.interrupt()
        out, _ = self.ends(server, 130)
        self.assertEqual(out.count('>>>'), 3)

    def test_qq_server_sends_to_another_address_and_ends_at_the_end_of_stdin(self):
        for language in LANGUAGES:
            with self.subTest(server=language):
                server, where = self.server('udp_qq_server', language)
                sender, _ = self.silent_port()
                target, target_port = self.silent_port()
                target.settimeout(10)
                server_address = ('127.0.0.1', int(where[3]))
                sender.sendto(b'first', server_address)
                wait_output(server, r'first\n')
                server.write(f'@127.0.0.1:{target_port} routed\n')
                self.assertEqual(target.recvfrom(4096), (b'routed', server_address))
                sender.sendto(b'second', server_address)
                wait_output(server, r'second\n')
                server.close_stdin()  # while the second message waits for its answer: EOF ends it
                out, _ = self.ends(server, 0)
                self.assertRegex(out, r'\Alistening on [^\n]*\n127\.0\.0\.1:\d+\nfirst\n>>>'
                                      r'127\.0\.0\.1:\d+\nsecond\n>>>\Z')

    def test_qq_client_without_server_ends_after_its_timeout(self):
        _, port = self.silent_port()
        for language in LANGUAGES:
            with self.subTest(client=language):
                client = self.start(command('udp_qq_client', language)
                                    + ['--port', str(port), '--timeout', '0.5'], stdin_text='hi\n')
                out, err = self.ends(client, 1, timeout=5 * SLOW)
                self.assertEqual(out, 'One:')
                self.assertEqual(err, f'udp_qq_client: no answer from 127.0.0.1:{port} within 0.5 s\n')

    def test_socket_families_walks_every_row_of_the_table(self):
        out, _ = self.ends(self.start(command('socket_families', 'cpp')), 0)
        rows = [line.split()[:2] for line in out.splitlines()]
        self.assertEqual(rows, [['AF_INET', 'SOCK_STREAM'], ['AF_INET6', 'SOCK_STREAM'],
                                ['AF_INET', 'SOCK_DGRAM'], ['AF_INET6', 'SOCK_DGRAM'],
                                ['AF_UNIX', 'SOCK_STREAM'], ['AF_UNIX', 'SOCK_DGRAM'],
                                ['fileno=', 'SOCK_DGRAM'], ['AF_INET', 'SOCK_RAW']], out)
        for line in out.splitlines()[:-1]:
            self.assertIn('"ping" -> "ping"', line)
        self.assertRegex(out.splitlines()[-1], r'icmp_seq=1 time=|skipped: needs CAP_NET_RAW')

    def test_socket_families_pings_over_a_raw_socket(self):
        if not raw_sockets():
            self.skipTest('no CAP_NET_RAW: raw ICMP sockets need it')
        out, _ = self.ends(self.start(command('socket_families', 'cpp')), 0)
        self.assertRegex(out.splitlines()[-1], r'AF_INET\s+SOCK_RAW.*icmp_seq=1 time=')

    def test_echo_server_over_a_unix_socket(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, 'echo.sock')
            server = self.start(command('echo_server', 'cpp') + ['--unix', path])
            wait_output(server, rf'listening on {path}\n')
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(path)
                client.sendall(b'hello over AF_UNIX')
                self.assertEqual(client.recv(100), b'hello over AF_UNIX')
            server.interrupt()
            self.ends(server, 130)
            self.assertFalse(os.path.exists(path))  # the listener removed its file

if __name__ == '__main__':
    unittest.main()
