"""UDP loss: inside a network namespace of the test's own, nftables drops every other datagram
(the 1st, 3rd, ...: a 50 % loss that is the same on every run). udp_hello_client and
udp_qq_client, C++ and Python, must report a lost exchange by their --timeout (one line on
stderr, exit 1) instead of hanging, and work when the datagrams get through.

ctest runs it with COSOCK_EXAMPLES_DIR set (label fault); by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_udp_loss
Skipped where network namespaces cannot be created, or without nft (Debian package nftables).
(tc netem would do random loss, but this kernel has no sch_netem.)
"""
import time
import unittest

from fault_support import (LANGUAGES, SLOW, built, command, finish, missing, namespace_or_skip,
                           start, wait_listening, wait_output)


@built('udp_hello_client')
class UdpLoss(unittest.TestCase):

    def setUp(self):
        if missing('nft'):
            self.skipTest('needs nft (Debian package nftables)')
        self.ns = namespace_or_skip(self)

    def start(self, name, language, *args, stdin_text=None):
        proc = start(self.ns.cmd(*command(name, language), *args), stdin_text)
        self.addCleanup(proc.kill)
        return proc

    def drop_every_other(self, match):
        """Drop the 1st, 3rd, 5th ... datagram that matches `match` (an nft expression)."""
        self.ns.run('nft', '-f', '-', stdin_text=f"""
            flush ruleset
            table inet loss {{
                chain input {{
                    type filter hook input priority 0; policy accept;
                    {match} numgen inc mod 2 == 0 counter drop
                }}
            }}""")

    def dropped(self):
        listing = self.ns.run('nft', 'list', 'ruleset').stdout
        return int(listing.split('counter packets ')[1].split()[0])

    def times_out(self, client, name, port):
        began = time.monotonic()
        rc, out, err = finish(client, 10 * SLOW)
        took = time.monotonic() - began
        self.assertEqual(rc, 1, client.describe())
        self.assertEqual(err, f'{name}: no answer from 127.0.0.1:{port} within 1 s\n')
        self.assertLess(took, 1 + 2 * SLOW, 'the client did not give up at its timeout')
        return out

    def test_udp_hello_client_reports_a_lost_hello_by_its_timeout(self):
        for language in LANGUAGES:
            with self.subTest(language=language):
                server = self.start('udp_hello_server', language, '--port', '0')
                host, port = wait_listening(server, 10 * SLOW)
                where = ['--host', host, '--port', str(port), '--timeout', '1']
                self.drop_every_other(f'udp dport {port}')
                lost = self.start('udp_hello_client', language, *where)
                self.assertEqual(self.times_out(lost, 'udp_hello_client', port), '')
                self.assertEqual(self.dropped(), 1)
                through = self.start('udp_hello_client', language, *where)
                self.assertEqual(finish(through, 10 * SLOW)[:2], (0, f'hi from {host}:{port}\n'))
                self.assertEqual(finish(server, 10 * SLOW)[0], 0)

    def test_udp_qq_client_reports_a_lost_answer_by_its_timeout(self):
        for language in LANGUAGES:
            with self.subTest(language=language):
                server = self.start('udp_qq_server', language, '--port', '0')  # its operator: us
                host, port = wait_listening(server, 10 * SLOW)
                where = ['--host', host, '--port', str(port), '--timeout', '1']
                self.drop_every_other(f'udp sport {port}')  # the server's answers
                lost = self.start('udp_qq_client', language, *where, stdin_text='hi\n')
                wait_output(server, '的消息: hi', timeout=10 * SLOW)
                server.write('first answer\n')  # dropped
                self.assertEqual(self.times_out(lost, 'udp_qq_client', port), 'One:')
                self.assertEqual(self.dropped(), 1)
                through = self.start('udp_qq_client', language, *where, '--name', 'Two',
                                     stdin_text='again\n')
                wait_output(server, '的消息: again', timeout=10 * SLOW)
                server.write('second answer\n')
                self.assertEqual(finish(through, 10 * SLOW)[:2], (0, 'Two:second answer\nTwo:'))
                server.close_stdin()


if __name__ == '__main__':
    unittest.main()
