"""The end of stdin ends udp_qq_server, C++ and Python alike, whether or not a message waits.

ctest runs it with COSOCK_EXAMPLES_DIR set to the folder of the built examples; by hand:
    COSOCK_EXAMPLES_DIR=build/dev/examples python3 -m unittest -v test_end_of_input   (from this folder)
Without the built examples only the Python server is tested. Servers run on port 0, on loopback;
every wait is bounded (by the process's exit, not by a sleep) and every process is killed at the
end of its test.
"""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import EXAMPLES_DIR, command, finish, start, wait_listening, wait_output  # noqa: E402


def languages():
    """The languages whose udp_qq_server is there: Python always, C++ once built."""
    return ['cpp', 'python'] if (EXAMPLES_DIR / 'udp_qq_server').is_file() else ['python']


class EndOfInput(unittest.TestCase):

    def server(self, language):
        proc = start(command('udp_qq_server', language) + ['--port', '0'])  # stdin stays open
        self.addCleanup(proc.kill)
        host, port = wait_listening(proc)
        return proc, (host, port)

    def peer(self):
        """A loopback UDP socket to write to the server from."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(('127.0.0.1', 0))
        s.settimeout(10)
        return s

    def test_the_end_of_stdin_ends_an_idle_server_at_once(self):
        for language in languages():
            with self.subTest(server=language):
                server, _ = self.server(language)
                rc, out, err = finish(server, timeout=10)  # closes stdin; no message ever came
                self.assertEqual(rc, 0, server.describe())
                self.assertEqual(err, '', server.describe())
                self.assertRegex(out, r'\Alistening on 127\.0\.0\.1:\d+\n\Z')

    def test_the_end_of_stdin_ends_a_server_after_a_message_was_answered(self):
        for language in languages():
            with self.subTest(server=language):
                server, address = self.server(language)
                client = self.peer()
                client.sendto(b'first', address)
                wait_output(server, r'first\n')
                server.write('reply\n')
                self.assertEqual(client.recvfrom(4096), (b'reply', address))
                rc, out, err = finish(server, timeout=10)  # idle again: no message waits
                self.assertEqual(rc, 0, server.describe())
                self.assertEqual(err, '', server.describe())
                self.assertRegex(out, r'\Alistening on [^\n]*\n127\.0\.0\.1:\d+\nfirst\n>>>\Z')

    def test_a_line_typed_before_any_message_answers_the_next_one_then_the_end_ends_it(self):
        for language in languages():
            with self.subTest(server=language):
                server, address = self.server(language)
                server.write('early\n')
                server.close_stdin()
                client = self.peer()
                client.sendto(b'first', address)
                self.assertEqual(client.recvfrom(4096), (b'early', address))
                rc, out, err = finish(server, timeout=10)
                self.assertEqual(rc, 0, server.describe())
                self.assertEqual(err, '', server.describe())
                self.assertRegex(out, r'\Alistening on [^\n]*\n127\.0\.0\.1:\d+\nfirst\n>>>\Z')


if __name__ == '__main__':
    unittest.main()
