#!/usr/bin/env python3
"""UDP "QQ" chat server: our rewrite of the blog post's "QQ聊天 -- server端".

Run:    python3 udp_qq_server.py [--host 127.0.0.1] [--port 9999]   (replies typed on stdin)
Prints: `listening on HOST:PORT`; per message its sender `HOST:PORT`, the text, the prompt `>>>`.
        A reply goes to the last sender (`@HOST:PORT text` elsewhere). A line typed before any
        message waits for one; end of stdin exits 0 at once, whether or not a message waits.
"""
import re
import select
import socket
import sys

import _cli as cli


def main():
    args = cli.parser(__doc__, port=9999).parse_args()
    so = socket.socket(cli.family(args.host), socket.SOCK_DGRAM)  # UDP方式的套接字
    so.bind((args.host, args.port))                               # 绑定自己的端口
    cli.announce(so)
    typed = None                                # a line typed before any message asked for it
    while True:                                 # 循环接收的各个地方
        # Wait for a message or for stdin, whose end ends the chat even when no message waits.
        if typed is None and select.select([so, sys.stdin], [], [])[0] == [sys.stdin]:
            try:
                typed = input() or None         # (empty lines are not sent)
            except EOFError:
                break
            continue
        msg, addr = so.recvfrom(4096)
        print(cli.fmt(addr), flush=True)
        print(msg.decode('utf-8', 'replace'), flush=True)
        if typed is not None:                   # input('>>>') would find it there at once
            print('>>>', end='', flush=True)
            info, typed = typed, None
        else:
            info = cli.read_line('>>>')
        if info is None:
            break
        at = re.fullmatch(r'@\[?([^\s\]]+?)\]?:(\d+) (.+)', info)    # @HOST:PORT text
        if at:
            addr, info = (at[1], int(at[2])), at[3]
        so.sendto(info.encode('utf-8'), addr)   # UDP再发送值得时候需要再加上一个地址
    so.close()


if __name__ == '__main__':
    cli.run(main)
