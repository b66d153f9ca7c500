#!/usr/bin/env python3
"""UDP "QQ" chat client: our rewrite of the blog post's "QQ聊天 -- client1/2/3端" (one program, --name).

Run:    python3 udp_qq_client.py [--host 127.0.0.1] [--port 9999] [--name One] [--timeout 0]
Prints: the prompt `NAME:`, then each reply; sends each line as green `来自NAME的消息: line`.
        End of stdin exits 0; no reply within --timeout (0 = forever): stderr line, exit 1.
"""
import socket

import _cli as cli


def main():
    p = cli.parser(__doc__, port=9999)
    p.add_argument('--name', default='One', help='who we are (default: %(default)s)')
    p.add_argument('--timeout', type=cli.seconds, default=0.0,
                   help='seconds to wait for each reply, 0 = forever (default: %(default)g)')
    args = p.parse_args()
    so = socket.socket(cli.family(args.host), socket.SOCK_DGRAM)
    so.settimeout(args.timeout or None)
    ip_port = (args.host, args.port)
    while True:
        info = cli.read_line(args.name + ':')
        if info is None:
            break
        # the blog post's \035[32m, \034[32m and [0,m were broken escapes
        info = ('\033[32m来自%s的消息: %s\033[0m' % (args.name, info)).encode('utf-8')
        so.sendto(info, ip_port)
        try:
            mag, addr = so.recvfrom(4096)
        except TimeoutError:
            cli.fail(f'no answer from {cli.fmt(ip_port)} within {args.timeout:g} s')
        print(mag.decode('utf-8', 'replace'), flush=True)
    so.close()


if __name__ == '__main__':
    cli.run(main)
