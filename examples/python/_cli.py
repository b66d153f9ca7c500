"""Shared helper of the Python example programs (not a program of the blog post "socket" itself).

Gives every program the same command line (--host, --port, --help), the same exit codes
(0 normal end, 1 error with one line `PROG: message` on stderr, 2 bad flags, 130 Ctrl-C),
the `listening on HOST:PORT` line of servers and stdin reading that skips empty lines.
"""
import argparse
import math
import os
import socket
import sys

PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + error; we print one line
        self.exit(2, f'{self.prog}: {message} (see --help)\n')


def _host(text):
    host = text[1:-1] if text.startswith('[') and text.endswith(']') else text  # [::1] -> ::1
    if not host:  # socket's '' would mean every interface
        raise argparse.ArgumentTypeError(f'bad host {text!r}')
    return host


def _port(text):
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:  # not ' 5', not '٣'
        raise argparse.ArgumentTypeError(f'bad port {text!r} (0-65535)')
    return int(text)


def seconds(text):
    """argparse type for --timeout: a finite number of seconds >= 0 (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not (0 <= value < math.inf):
        raise argparse.ArgumentTypeError(f'bad number of seconds {text!r}')
    return value


def parser(doc, port):
    """The common command line; a program adds its own flags, then calls parse_args()."""
    p = _Parser(prog=PROG, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--host', default='127.0.0.1', type=_host,
                   help='IPv4/IPv6 address or name (default: %(default)s)')
    p.add_argument('--port', default=port, type=_port, help='port, 0 = any (default: %(default)s)')
    return p


def family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def fmt(addr):
    """(host, port[, ...]) -> 'host:port', or '[v6]:port'."""
    host, port = addr[:2]
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def announce(sock):
    print('listening on', fmt(sock.getsockname()), flush=True)


def read_line(prompt):
    """input(prompt), prompting again on empty lines; None at the end of stdin."""
    while True:
        try:
            line = input(prompt)
        except EOFError:
            return None
        if line:
            return line


def fail(message):
    """End the program: one line `PROG: message` on stderr, exit status 1."""
    sys.exit(f'{PROG}: {message}')


def run(main):
    """Run main() and exit: 0 (or main's int), 1 with one stderr line on error, 130 on Ctrl-C."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # OSError, TimeoutError (socket.timeout), anything else: no traceback
        text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f'{PROG}: {text or type(e).__name__}', file=sys.stderr, flush=True)
        code = 1
    sys.exit(code or 0)
