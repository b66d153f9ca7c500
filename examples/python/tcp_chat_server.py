#!/usr/bin/env python3
"""TCP chat server: our rewrite of the blog post's "server端 -- 这是一个聊天的".

Run:    python3 tcp_chat_server.py [--host 127.0.0.1] [--port 7777]   (replies typed on stdin)
Prints: `listening on HOST:PORT`, each client message, the prompt `>>>>`; on `bye` prints
        `聊天结束`, answers `OK!bye`, exits 0. End of stdin sends `bye` and exits 0.
"""
import socket

import _cli as cli


def main():
    args = cli.parser(__doc__, port=7777).parse_args()
    so = socket.socket(cli.family(args.host))
    so.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    so.bind((args.host, args.port))
    so.listen()
    cli.announce(so)
    conn, addr = so.accept()    # 接收connection连接，address地址
    while True:
        data = conn.recv(4096)
        if not data:            # the blog post looped forever here
            cli.fail('peer closed the connection')
        ret = data.decode('utf-8', 'replace')
        if ret == 'bye':
            print('聊天结束', flush=True)
            conn.sendall('OK!bye'.encode('utf-8'))
            break
        print(ret, flush=True)
        info = cli.read_line('>>>>')
        if info is None:        # end of stdin ends the chat like bye
            conn.sendall(b'bye')
            break
        conn.sendall(info.encode('utf-8'))
    conn.close()
    so.close()


if __name__ == '__main__':
    cli.run(main)
