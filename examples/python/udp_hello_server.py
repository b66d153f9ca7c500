#!/usr/bin/env python3
"""UDP hello server: our rewrite of the blog post's "使用套接字 -- UDP" server.

Run:    python3 udp_hello_server.py [--host 127.0.0.1] [--port 9000]
Prints: `listening on HOST:PORT`, then `{message} from {host}:{port}` (`hello from
        127.0.0.1:54321`); answers b'hi' to the sender and exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=9000).parse_args()
    udp_sk = socket.socket(cli.family(args.host), socket.SOCK_DGRAM)  # 创建一个服务器的套接字
    udp_sk.bind((args.host, args.port))                                # 绑定服务器套接字
    cli.announce(udp_sk)
    msg, addr = udp_sk.recvfrom(1024)
    print(f"{msg.decode('utf-8', 'replace')} from {cli.fmt(addr)}", flush=True)
    udp_sk.sendto(b'hi', addr)                                         # 对话(接收与发送)
    udp_sk.close()


if __name__ == '__main__':
    cli.run(main)
