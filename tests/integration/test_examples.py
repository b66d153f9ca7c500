"""The C++ example programs against each other and against their Python counterparts.

ctest runs it with COSOCK_EXAMPLES_DIR set to the folder of the built examples; by hand:
    COSOCK_EXAMPLES_DIR=build/dev/examples python3 -m unittest -v test_examples   (from this folder)
Every pair runs in all four combinations (C++ or Python server x C++ or Python client) on port 0,
on loopback; every wait is bounded and every process is killed at the end of its test.
"""
import os
import signal
import sys
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import finish, python_example, start, wait_listening  # noqa: E402

EXAMPLES_DIR = Path(os.environ.get('COSOCK_EXAMPLES_DIR', ''))
LANGUAGES = ('cpp', 'python')


def command(name, language):
    if language == 'python':
        return python_example(name)
    return [str(EXAMPLES_DIR / name)]


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

    def ends(self, proc, code, timeout=10):
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

    def test_help_describes_the_flags_and_exits_0(self):
        proc = self.start(command('tcp_hello_server', 'cpp') + ['--help'])
        out, _ = self.ends(proc, 0)
        self.assertIn('--port PORT', out)
        self.assertIn('default 8898', out)


if __name__ == '__main__':
    unittest.main()
