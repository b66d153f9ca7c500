#!/usr/bin/env python3
"""TCP hello server: our rewrite of the blog post's "使用套接字 -- TCP" server.

Run:    python3 tcp_hello_server.py [--host 127.0.0.1] [--port 8898]
Prints: `listening on HOST:PORT`, then the one client's message as text (`hello!`);
        answers b'hi', closes and exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=8898).parse_args()
    sk = socket.socket(cli.family(args.host))
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a run
    sk.bind((args.host, args.port))     # 把地址绑定到套接字
    sk.listen()                         # 监听链接
    cli.announce(sk)
    conn, addr = sk.accept()            # 接受客户端链接
    ret = conn.recv(1024)               # 接收客户端信息
    print(ret.decode('utf-8', 'replace'), flush=True)  # text, not b'...'
    conn.sendall(b'hi')                 # 向客户端发送信息
    conn.close()
    sk.close()


if __name__ == '__main__':
    cli.run(main)
