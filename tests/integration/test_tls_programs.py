"""The TLS programs: https_get against a local HTTPS server (Python's http.server behind its ssl
module), and echo_server --tls against Python ssl clients. The certificate is made by the test
(`openssl req`, a self-signed one for localhost and 127.0.0.1) in a temporary folder.

ctest runs it with COSOCK_EXAMPLES_DIR set; by hand, from this folder:
    COSOCK_EXAMPLES_DIR=../../build/dev/examples python3 -m unittest -v test_tls_programs
"""
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import EXAMPLES_DIR, finish, start, wait_listening  # noqa: E402


def make_certificate(folder):
    """cert.pem and key.pem in `folder`: self-signed, for localhost and 127.0.0.1."""
    cert, key = Path(folder) / 'cert.pem', Path(folder) / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                    '-nodes', '-keyout', str(key), '-out', str(cert), '-days', '1', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


class Answer(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200, a header naming the path, and a short body."""

    def do_GET(self):
        self.send_response(200)
        self.send_header('X-Path', self.path)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


@unittest.skipUnless((EXAMPLES_DIR / 'https_get').exists(),
                     'set COSOCK_EXAMPLES_DIR to the folder of the built examples')
@unittest.skipUnless(shutil.which('openssl'), 'needs the openssl command (Debian: openssl)')
class TlsPrograms(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix='cosock-tls-')
        cls.cert, cls.key = make_certificate(cls.folder)
        cls.https = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Answer)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cls.cert, cls.key)
        cls.https.socket = context.wrap_socket(cls.https.socket, server_side=True)
        cls.port = cls.https.server_address[1]
        cls.thread = threading.Thread(target=cls.https.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.https.shutdown()
        cls.https.server_close()
        shutil.rmtree(cls.folder, ignore_errors=True)

    def run_program(self, *args):
        proc = start([str(EXAMPLES_DIR / args[0]), *args[1:]])
        self.addCleanup(proc.kill)
        return finish(proc, 20)

    def test_https_get_prints_the_status_line_and_the_headers(self):
        rc, out, err = self.run_program('https_get', '--cafile', self.cert, f'https://127.0.0.1:{self.port}/hello')
        self.assertEqual((rc, err), (0, ''), out)
        self.assertRegex(out, r'\AHTTP/1\.[01] 200 OK\n')
        self.assertIn('X-Path: /hello\n', out)

    def test_https_get_checks_the_certificate_unless_insecure(self):
        rc, out, err = self.run_program('https_get', f'https://127.0.0.1:{self.port}/')
        self.assertEqual(rc, 1, out)
        self.assertEqual(err, f'https_get: TLS handshake with 127.0.0.1:{self.port}: '
                              'certificate verify failed (self-signed certificate)\n')
        rc, out, err = self.run_program('https_get', '--insecure', f'https://localhost:{self.port}/')
        self.assertEqual((rc, err), (0, ''), out)
        self.assertRegex(out, r'\AHTTP/1\.[01] 200 OK\n')

    def test_https_get_bad_command_lines_are_one_line_and_status_2(self):
        for args in (['http://127.0.0.1/'], [], ['--cafile'], ['https://127.0.0.1:99999/']):
            with self.subTest(args=args):
                rc, out, err = self.run_program('https_get', *args)
                self.assertEqual(rc, 2)
                self.assertRegex(err, r'\Ahttps_get: [^\n]+\(see --help\)\n\Z')
        rc, out, err = self.run_program('https_get', '--cafile', str(Path(self.folder) / 'missing.pem'),
                                        f'https://127.0.0.1:{self.port}/')
        self.assertEqual(rc, 1)
        self.assertRegex(err, r'\Ahttps_get: load trusted certificates from \S+missing\.pem: '
                              r'No such file or directory\n\Z')

    def test_echo_server_over_tls_echoes_and_survives_a_plaintext_client(self):
        server = start([str(EXAMPLES_DIR / 'echo_server'), '--port', '0', '--tls', self.cert, self.key])
        self.addCleanup(server.kill)
        host, port = wait_listening(server)
        with socket.create_connection((host, port), timeout=10) as plain:  # not TLS: fails alone
            plain.sendall(b'GET / HTTP/1.0\r\n\r\n')
            self.assertIn(plain.recv(100)[:1], (b'', b'\x15'))  # closed, or a TLS alert record
        context = ssl.create_default_context(cafile=self.cert)
        for _ in range(2):
            with socket.create_connection((host, port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname='localhost') as tls:
                    tls.sendall(b'ping')
                    self.assertEqual(tls.recv(10), b'ping')
                    tls.unwrap()  # close_notify: a clean end for the server
        self.assertIsNone(server.popen.poll())

    def test_echo_server_refuses_a_missing_certificate_in_one_line(self):
        rc, out, err = self.run_program('echo_server', '--port', '0', '--tls', str(Path(self.folder) / 'nope.pem'),
                                        self.key)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r'\Aecho_server: load certificate chain from \S+nope\.pem: No such file or directory\n\Z')


if __name__ == '__main__':
    unittest.main()
