#!/usr/bin/env python3
"""TCP chat client: our rewrite of the blog post's "client端 -- 这是一个聊天的".

Run:    python3 tcp_chat_client.py [--host 127.0.0.1] [--port 7777]   (messages typed on stdin)
Prints: the prompt `>>>`, each server reply; on the server's `bye` prints `聊天结束`, answers
        `bye`, exits 0; after our own `bye` (or end of stdin) prints `OK!bye` and exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=7777).parse_args()
    so = socket.socket(cli.family(args.host))
    so.connect((args.host, args.port))
    while True:
        info = cli.read_line('>>>')
        if info is None:        # end of stdin: as if the operator typed bye
            info = 'bye'
        so.sendall(info.encode('utf-8'))
        data = so.recv(4096)
        if not data:
            cli.fail('peer closed the connection')
        ret = data.decode('utf-8', 'replace')
        print(ret, flush=True)
        if ret == 'bye':        # 如果是等于bye 那么就会退出循环，并且会关闭连接
            print('聊天结束', flush=True)
            so.sendall(b'bye')
            break
        if ret == 'OK!bye':     # the answer to our own bye (the blog post never ended here)
            break
    so.close()


if __name__ == '__main__':
    cli.run(main)
