#!/usr/bin/env python3
"""UDP hello client: our rewrite of the blog post's "使用套接字 -- UDP" client.

Run:    python3 udp_hello_client.py [--host 127.0.0.1] [--port 9000] [--timeout 5]
Prints: `{answer} from {host}:{port}` (`hi from 127.0.0.1:9000`), exits 0; with no answer
        within the timeout (0 = wait forever): one line on stderr, exit 1.
"""
import socket

import _cli as cli


def main():
    p = cli.parser(__doc__, port=9000)
    p.add_argument('--timeout', type=cli.seconds, default=5.0,
                   help='seconds to wait for the answer, 0 = forever (default: %(default)g)')
    args = p.parse_args()
    ip_port = (args.host, args.port)
    udp_sk = socket.socket(cli.family(args.host), socket.SOCK_DGRAM)
    udp_sk.settimeout(args.timeout or None)
    udp_sk.sendto(b'hello', ip_port)
    try:
        back_msg, addr = udp_sk.recvfrom(1024)
    except TimeoutError:        # UDP is unreliable: the blog post waited forever
        cli.fail(f'no answer from {cli.fmt(ip_port)} within {args.timeout:g} s')
    print(f"{back_msg.decode('utf-8', 'replace')} from {cli.fmt(addr)}", flush=True)
    udp_sk.close()


if __name__ == '__main__':
    cli.run(main)
