"""Bad input to every example program, C++ and Python: bad flag values, unknown flags, missing
values, a port already in use, a server that is not there, and peers that send binary garbage
or invalid UTF-8. A refusal is one clear line on stderr (`PROGRAM: ...`) with a non-zero status
(2 for a bad command line), never a hang, `terminate called`, a core dump or a traceback;
garbage from a peer is printed as it came (C++) or with U+FFFD (Python), and the program goes on.

ctest runs it with COSOCK_EXAMPLES_DIR set (label fault); by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_bad_input
Host literals that are not addresses may be taken for names and resolved: those cases run in a
network namespace of the test's own (no DNS query leaves the machine), or are skipped.
"""
import socket
import unittest

from fault_support import (LANGUAGES, SLOW, assert_one_clear_line, built, command, finish,
                           namespace_or_skip, start, wait_listening, wait_output)

# Every program and the flags it takes besides --host, --port and --help.
PROGRAMS = {
    'tcp_hello_server': (), 'tcp_hello_client': (),
    'tcp_chat_server': (), 'tcp_chat_client': (),
    'tcp_timeout_server': ('--timeout',), 'tcp_timeout_client': (),
    'udp_hello_server': (), 'udp_hello_client': ('--timeout',),
    'udp_qq_server': (), 'udp_qq_client': ('--timeout', '--name'),
    'echo_server': ('--timeout', '--threads'),  # C++ only: the benchmark's server
}
SERVERS = [name for name in PROGRAMS if name.endswith('_server')]

BAD_FLAGS = {  # refused before any socket is made: status 2
    None: [['--port', 'abc'], ['--port', '70000'], ['--port', '-1'], ['--port', ' 5'], ['--port', ''],
           ['--port', '0x10'], ['--port', '99999999999999999999'], ['--port'], ['--host'],
           ['--port', '0', '--host'], ['--bogus'], ['-x'], ['extra'], ['--host', '']],
    '--timeout': [['--timeout', '-1'], ['--timeout', 'abc'], ['--timeout', 'nan'], ['--timeout', 'inf'],
                  ['--timeout', '1e400'], ['--timeout']],
    '--name': [['--name']],
    '--threads': [['--threads', '0'], ['--threads', 'abc'], ['--threads', '3x'], ['--threads', '999'],
                  ['--threads']],
}
# Not addresses; some are valid host names to the resolver: refused (2) or unresolvable (1).
BAD_HOSTS = ['::::1', '[::1', '127.0.0.1:80', '1.2.3.4.5', '256.1.1.1', '-1', 'a b']

# Invalid UTF-8 (a lone continuation byte, a truncated sequence, a UTF-16 surrogate), NUL, control.
GARBAGE = b'\xff\xfe\x00\x01 garbage \x80\xc3\x28\xed\xa0\x80\x1b[2J\r'


def languages_of(name):
    return ('cpp',) if name == 'echo_server' else LANGUAGES


def every_program():
    for name in PROGRAMS:
        for language in languages_of(name):
            yield name, language


@built('tcp_hello_server')
class BadCommandLines(unittest.TestCase):

    def refused(self, cases, status=None, wrap=list):
        """Run each (name, language, args) of `cases`, 16 at a time: each must be refused with one
        line (and `status`, with nothing on stdout, when given)."""
        cases = list(cases)
        for first in range(0, len(cases), 16):
            batch = [(case, start(wrap(command(case[0], case[1]) + case[2]), stdin_text='hi\n'))
                     for case in cases[first:first + 16]]
            for (name, language, args), proc in batch:
                self.addCleanup(proc.kill)
                with self.subTest(name=name, language=language, args=args):
                    rc, out, err = finish(proc, 10 * SLOW)
                    assert_one_clear_line(self, proc, rc, err, name)
                    if status is not None:
                        self.assertEqual((rc, out), (status, ''), proc.describe())

    def test_every_bad_flag_of_every_program_is_one_line_and_status_2(self):
        self.refused(((name, language, args) for name, language in every_program()
                      for flag, cases in BAD_FLAGS.items() if not flag or flag in PROGRAMS[name]
                      for args in cases), status=2)

    def test_bad_host_literals_are_refused_with_one_line(self):
        ns = namespace_or_skip(self)  # names go to a resolver that cannot reach anything
        self.refused(((name, language, ['--host', host]) for name, language in every_program()
                      for host in BAD_HOSTS), wrap=lambda cmd: ns.cmd(*cmd))

    def test_an_empty_host_in_brackets_is_refused_by_the_cpp_programs(self):
        # Once a bug: cosock::address("[]", port) was 0.0.0.0 (every interface) instead of
        # "bad address "[]:PORT": empty host". The Python programs refuse it too.
        self.refused([('tcp_hello_client', 'cpp', ['--host', '[]', '--port', '1'])], status=2)

    def test_help_exits_0_for_every_program(self):
        for name, language in every_program():
            with self.subTest(name=name, language=language):
                proc = start(command(name, language) + ['--help'])
                self.addCleanup(proc.kill)
                rc, out, err = finish(proc, 10 * SLOW)
                self.assertEqual((rc, err), (0, ''), proc.describe())
                self.assertIn('--port', out)


@built('tcp_hello_server')
class BadSurroundings(unittest.TestCase):

    def fails(self, cmd, name, stdin_text=''):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        rc, out, err = finish(proc, 10 * SLOW)
        assert_one_clear_line(self, proc, rc, err, name)
        self.assertEqual(rc, 1, proc.describe())
        return err

    def test_a_port_already_in_use_is_one_line_and_status_1(self):
        for name in SERVERS:
            kind = socket.SOCK_DGRAM if name.startswith('udp') else socket.SOCK_STREAM
            with socket.socket(socket.AF_INET, kind) as taken:
                taken.bind(('127.0.0.1', 0))
                if kind == socket.SOCK_STREAM:
                    taken.listen()
                port = taken.getsockname()[1]
                for language in languages_of(name):
                    with self.subTest(name=name, language=language):
                        err = self.fails(command(name, language) + ['--port', str(port)], name)
                        self.assertIn('Address already in use', err)

    def test_a_server_that_is_not_there_is_one_line_and_status_1(self):
        with socket.socket() as gone:  # a port that was just free: nothing listens there now
            gone.bind(('127.0.0.1', 0))
            where = ['--host', '127.0.0.1', '--port', str(gone.getsockname()[1])]
        for language in LANGUAGES:
            for name in ('tcp_hello_client', 'tcp_chat_client', 'tcp_timeout_client'):
                with self.subTest(name=name, language=language):
                    err = self.fails(command(name, language) + where, name, stdin_text='hi\n')
                    self.assertIn('Connection refused', err)
            for name in ('udp_hello_client', 'udp_qq_client'):  # UDP: no answer within --timeout
                with self.subTest(name=name, language=language):
                    err = self.fails(command(name, language) + where + ['--timeout', '0.5'], name,
                                     stdin_text='hi\n')
                    self.assertIn('no answer from', err)


class Peer:
    """The test's end of a conversation: a TCP listener or a UDP socket on 127.0.0.1:0."""

    def __init__(self, kind=socket.SOCK_STREAM):
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(10 * SLOW)
        self.sock.bind(('127.0.0.1', 0))
        if kind == socket.SOCK_STREAM:
            self.sock.listen()
        self.where = ['--host', '127.0.0.1', '--port', str(self.sock.getsockname()[1])]

    def accept(self):
        conn, _ = self.sock.accept()
        conn.settimeout(10 * SLOW)
        return conn


@built('tcp_hello_server')
class Garbage(unittest.TestCase):
    """Peers that send bytes that are not text. The programs print them and carry on."""

    def start(self, name, language, *args, stdin_text=None):
        proc = start(command(name, language) + list(args), stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def server(self, name, language, stdin_text=None):
        proc = self.start(name, language, '--port', '0', stdin_text=stdin_text)
        return proc, wait_listening(proc, 10 * SLOW)

    def peer(self, kind=socket.SOCK_STREAM):
        peer = Peer(kind)
        self.addCleanup(peer.sock.close)
        return peer

    def ends_well(self, proc):
        rc, out, err = finish(proc, 10 * SLOW)
        self.assertEqual((rc, err), (0, ''), proc.describe())
        self.assertIn(' garbage ', out)  # printed, invalid bytes and all
        return out

    def test_tcp_servers_print_garbage_and_go_on(self):
        # The hello server answers "hi"; the chat and timeout servers prompt their operator, whose
        # stdin is at its end: they say "bye" and exit 0.
        for name, answer in (('tcp_hello_server', b'hi'), ('tcp_chat_server', b'bye'),
                             ('tcp_timeout_server', b'bye')):
            for language in LANGUAGES:
                with self.subTest(name=name, language=language):
                    server, where = self.server(name, language, stdin_text='')
                    with socket.create_connection(where, timeout=10 * SLOW) as conn:
                        conn.sendall(GARBAGE)
                        self.assertEqual(conn.recv(64), answer)
                    self.ends_well(server)

    def test_tcp_clients_print_garbage_and_go_on(self):
        for name, last in (('tcp_hello_client', None), ('tcp_chat_client', b'OK!bye'),
                           ('tcp_timeout_client', b'')):
            for language in LANGUAGES:
                with self.subTest(name=name, language=language):
                    peer = self.peer()
                    client = self.start(name, language, *peer.where, stdin_text='hi\n')
                    with peer.accept() as conn:
                        self.assertIn(conn.recv(64), (b'hi', b'hello!'))
                        conn.sendall(GARBAGE)
                        if last is not None:  # end of stdin: the client says bye
                            self.assertEqual(conn.recv(64), b'bye')
                            conn.sendall(last)  # (b'': just close)
                    self.ends_well(client)

    def test_udp_servers_print_garbage_and_an_empty_datagram_and_go_on(self):
        for language in LANGUAGES:
            for message in (GARBAGE, b''):
                with self.subTest(name='udp_hello_server', language=language, message=message):
                    server, where = self.server('udp_hello_server', language)
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
                        sk.settimeout(10 * SLOW)
                        sk.sendto(message, where)
                        self.assertEqual(sk.recv(64), b'hi')
                    rc, out, err = finish(server, 10 * SLOW)
                    self.assertEqual((rc, err), (0, ''), server.describe())
            with self.subTest(name='udp_qq_server', language=language):
                server, where = self.server('udp_qq_server', language)  # its operator: us
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
                    sk.sendto(GARBAGE, where)
                    wait_output(server, ' garbage ', timeout=10 * SLOW)
                server.close_stdin()  # end of stdin, with a message to answer: exits 0
                self.ends_well(server)

    def test_udp_clients_print_garbage_and_go_on(self):
        for name in ('udp_hello_client', 'udp_qq_client'):
            for language in LANGUAGES:
                with self.subTest(name=name, language=language):
                    peer = self.peer(socket.SOCK_DGRAM)
                    client = self.start(name, language, *peer.where, '--timeout', str(10 * SLOW),
                                        stdin_text='hi\n')
                    _, sender = peer.sock.recvfrom(4096)
                    peer.sock.sendto(GARBAGE, sender)
                    self.ends_well(client)

    def test_echo_server_sends_garbage_back_unchanged(self):
        server, where = self.server('echo_server', 'cpp')
        with socket.create_connection(where, timeout=10 * SLOW) as conn:
            conn.sendall(GARBAGE)
            got = b''
            while len(got) < len(GARBAGE):
                got += conn.recv(4096) or self.fail('closed early')
            self.assertEqual(got, GARBAGE)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
            sk.settimeout(10 * SLOW)
            for message in (GARBAGE, b''):
                sk.sendto(message, where)
                self.assertEqual(sk.recv(4096), message)
        server.popen.terminate()
        self.assertEqual(finish(server, 10 * SLOW)[:1], (0,))


if __name__ == '__main__':
    unittest.main()
