#!/usr/bin/env python3
"""TCP chat server with a timeout: our rewrite of the blog post's "设置时间间隔 -- server端".

Run:    python3 tcp_timeout_server.py [--host 127.0.0.1] [--port 8888] [--timeout 10]
Prints: `listening on HOST:PORT`, each message, the prompt `>>>`; exits 0 on `bye` (answering
        nothing) or at end of stdin (sending `bye`); no client or no message within the timeout
        (0 = none): one line on stderr, exit 1.
"""
import socket

import _cli as cli


def main():
    p = cli.parser(__doc__, port=8888)
    p.add_argument('--timeout', type=cli.seconds, default=10.0,
                   help='seconds to wait for a client and for each message (default: %(default)g)')
    args = p.parse_args()
    socket.setdefaulttimeout(args.timeout or None)  # 等待时间: accept and every recv
    S = socket.socket(cli.family(args.host))
    S.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    S.bind((args.host, args.port))
    S.listen(12)
    cli.announce(S)
    try:
        conn, addr = S.accept()
    except TimeoutError:        # the blog post died with a traceback
        cli.fail(f'accept on {cli.fmt(S.getsockname())}: timed out after {args.timeout:g} s')
    while True:
        try:
            data = conn.recv(4096)
        except TimeoutError:
            cli.fail(f'recv from {cli.fmt(addr)}: timed out after {args.timeout:g} s')
        if not data:
            cli.fail('peer closed the connection')
        ret = data.decode('utf-8', 'replace')
        if ret == 'bye':
            break
        print(ret, flush=True)
        info = cli.read_line('>>>')
        if info is None:        # end of stdin ends the chat like bye
            conn.sendall(b'bye')
            break
        conn.sendall(info.encode('utf-8'))
    conn.close()
    S.close()


if __name__ == '__main__':
    cli.run(main)
