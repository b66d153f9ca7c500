// tcp_timeout_server: the chat server with a timeout of the blog post "socket" (设置时间间隔, server端).
// Python: examples/python/tcp_timeout_server.py   Peer: tcp_timeout_client
// Run: tcp_timeout_server [--port 0] [--timeout 10]   Prints: "listening on 127.0.0.1:8888", then
// each client message and the prompt ">>>"; the next line typed on stdin is the reply. Exits 0 on
// the client's "bye" (answering nothing) or at end of stdin (sending "bye"). When no client comes,
// or the client is silent, for longer than the timeout: one line on stderr and exit 1, e.g.
// "tcp_timeout_server: accept on 127.0.0.1:8888: timed out after 10 s" (Python: a traceback).
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdio>
#include <stdexcept>

#include "support/cli.hpp"

// tag::serve[]
cosock::task<int> serve(examples::options opt) {
    cosock::set_default_timeout(examples::seconds(opt.timeout));        // socket.setdefaulttimeout(10)
    auto S = cosock::tcp_listener::bind(opt.address, {.backlog = 12});  // S.bind(...); S.listen(12)
    examples::announce(S.local_address());
    auto [conn, addr] = co_await S.accept();  // conn, addr = S.accept()  (times out)
    for (;;) {                                // while True:
        auto ret = co_await conn.recv(4096);  //     ret = conn.recv(4096)  (times out)
        if (ret.empty()) throw std::runtime_error("peer closed the connection");
        if (ret == "bye") break;  //     if ret == 'bye': conn.close(); break
        fmt::print("{}\n", ret);  //     print(ret)
        std::optional<std::string> info;
        do info = co_await cosock::input(">>>");  //     info = input('>>>')
        while (info && info->empty());            //     (empty lines are not sent)
        if (!info) {                              //     (end of stdin ends the chat like bye)
            co_await conn.send("bye");
            break;
        }
        co_await conn.send(*info);  //     conn.send(bytes(info, encoding='UTF-8'))
    }
    co_return 0;
}
// end::serve[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(serve(examples::parse(
        argc, argv, {.about = "TCP chat server with a timeout (0: none)", .port = 8888, .timeout = 10.0})));
}
