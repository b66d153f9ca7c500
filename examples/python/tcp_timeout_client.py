#!/usr/bin/env python3
"""TCP chat client for the timeout server: our rewrite of the blog post's "设置时间间隔 -- client端".

Run:    python3 tcp_timeout_client.py [--host 127.0.0.1] [--port 8888]   (messages on stdin)
Prints: the prompt `>>>>`, then each server reply; exits 0 when the server says `bye` or closes
        (as it does after our `bye`). End of stdin sends `bye`, waits for the close, exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=8888).parse_args()
    C = socket.socket(cli.family(args.host))
    C.connect((args.host, args.port))
    while True:
        info = cli.read_line('>>>>')
        if info is None:        # end of stdin: say bye, the server then closes
            info = 'bye'
        C.sendall(info.encode('utf-8'))
        data = C.recv(4096)
        ret = data.decode('utf-8', 'replace')
        if not data or ret == 'bye':
            break
        print(ret, flush=True)
    C.close()


if __name__ == '__main__':
    cli.run(main)
