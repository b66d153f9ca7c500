// tcp_timeout_client: the client of the timeout server of the blog post "socket" (设置时间间隔, client端).
// Python: examples/python/tcp_timeout_client.py   Peer: tcp_timeout_server
// Run: tcp_timeout_client [--port P]   Prints: the prompt ">>>>", then each reply of the server.
// Sends each line typed on stdin (empty lines are skipped); exits 0 when the server says "bye" or
// closes (as it does after our "bye"). End of stdin sends "bye" and waits for the close.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdio>

#include "support/cli.hpp"

// tag::chat[]
cosock::task<int> chat(examples::options opt) {
    auto C = co_await cosock::tcp_stream::connect(opt.address);  // C.connect(('127.0.0.1', 8888))
    for (;;) {                                                   // while True:
        std::optional<std::string> info;
        do info = co_await cosock::input(">>>>");  //     info = input('>>>>')
        while (info && info->empty());             //     (empty lines are not sent)
        co_await C.send(info.value_or("bye"));     //     C.send(bytes(info, ...)); end of stdin: bye
        auto ret = co_await C.recv(4096);          //     ret = C.recv(4096)
        if (ret.empty() || ret == "bye") break;    //     if ret == 'bye': break  (or it closed)
        fmt::print("{}\n", ret);                   //     print(ret)
    }
    co_return 0;  // C.close(): destructor
}
// end::chat[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(
        chat(examples::parse(argc, argv, {.about = "TCP chat client for tcp_timeout_server", .port = 8888})));
}
