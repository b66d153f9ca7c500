"""The timeout programs (tcp_timeout_server/client) in C++ and Python, against each other.

ctest runs it with COSOCK_EXAMPLES_DIR set to the folder of the built examples; by hand:
    COSOCK_EXAMPLES_DIR=build/dev/examples python3 -m unittest -v test_timeout_programs
Loopback and port 0 only; every wait is bounded and every process is killed at the end of its test.
"""
import os
import socket
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (EXAMPLES_DIR, LANGUAGES, SLOW, command, finish, python_example,  # noqa: E402
                     start, wait_listening, wait_output)

@unittest.skipUnless((EXAMPLES_DIR / 'tcp_timeout_server').exists(),
                     'set COSOCK_EXAMPLES_DIR to the folder of the built examples')
class TimeoutPrograms(unittest.TestCase):

    def start(self, cmd, stdin_text=None):
        proc = start(cmd, stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def test_no_client_ends_at_the_timeout_with_one_line(self):
        for language in LANGUAGES:
            with self.subTest(server=language):
                began = time.monotonic()
                server = self.start(command('tcp_timeout_server', language) + ['--port', '0', '--timeout', '1'])
                host, port = wait_listening(server)
                rc, out, err = finish(server, timeout=10 * SLOW)
                took = time.monotonic() - began
                self.assertEqual(rc, 1, server.describe())
                self.assertEqual(err, f'tcp_timeout_server: accept on {host}:{port}: timed out after 1 s\n')
                self.assertLess(took, 2.5)  # "ends within 2 s" of the 1 s timeout, plus start-up

    def test_a_silent_client_ends_the_server_at_the_timeout(self):
        for language in LANGUAGES:
            with self.subTest(server=language):
                server = self.start(command('tcp_timeout_server', language) + ['--port', '0', '--timeout', '0.5'])
                host, port = wait_listening(server)
                with socket.create_connection((host, port), timeout=5) as silent:
                    rc, out, err = finish(server, timeout=10 * SLOW)
                    client = silent.getsockname()
                self.assertEqual(rc, 1, server.describe())
                self.assertEqual(err, f'tcp_timeout_server: recv from {client[0]}:{client[1]}: '
                                      'timed out after 0.5 s\n')

    def test_a_chat_within_the_timeout_works_in_every_combination(self):
        for server_language in LANGUAGES:
            for client_language in LANGUAGES:
                with self.subTest(server=server_language, client=client_language):
                    server = self.start(command('tcp_timeout_server', server_language) +
                                        ['--port', '0', '--timeout', '5'], stdin_text='fine, thanks\n')
                    host, port = wait_listening(server)
                    client = self.start(command('tcp_timeout_client', client_language) +
                                        ['--host', host, '--port', str(port)], stdin_text='how are you\n')
                    c_rc, c_out, c_err = finish(client)
                    s_rc, s_out, s_err = finish(server)
                    self.assertEqual((c_rc, c_err), (0, ''), client.describe())
                    self.assertEqual((s_rc, s_err), (0, ''), server.describe())
                    self.assertIn('how are you\n', s_out)
                    self.assertIn('fine, thanks\n', c_out)

    def test_ctrl_c_during_the_timed_wait_exits_130(self):
        server = self.start(command('tcp_timeout_server', 'cpp') + ['--port', '0', '--timeout', '30'])
        wait_listening(server)
        server.interrupt()
        rc, out, err = finish(server, timeout=10 * SLOW)
        self.assertEqual((rc, err), (130, ''), server.describe())


if __name__ == '__main__':
    unittest.main()
