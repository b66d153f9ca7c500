#!/usr/bin/env python3
"""TCP hello client: our rewrite of the blog post's "使用套接字 -- TCP" client.

Run:    python3 tcp_hello_client.py [--host 127.0.0.1] [--port 8898]
Prints: the server's answer as text (`hi`), then exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=8898).parse_args()
    sk = socket.socket(cli.family(args.host))   # 创建客户套接字
    sk.connect((args.host, args.port))          # 尝试连接服务器
    sk.sendall(b'hello!')
    ret = sk.recv(1024)                         # 对话(发送/接收)
    print(ret.decode('utf-8', 'replace'), flush=True)
    sk.close()


if __name__ == '__main__':
    cli.run(main)
