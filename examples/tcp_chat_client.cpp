// tcp_chat_client: the TCP chat client of the blog post "socket" (client端 -- 这是一个聊天的).
// Python: examples/python/tcp_chat_client.py   Peer: tcp_chat_server   Run: tcp_chat_client [--port P]
// Prints: the prompt ">>>", then each reply of the server. Sends each line typed on stdin (empty
// lines are skipped); end of stdin counts as typing "bye". Ends after "OK!bye" (the answer to our
// bye), or after the server's own "bye": then prints 聊天结束 and answers "bye". Exits 0.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdio>
#include <stdexcept>

#include "support/cli.hpp"

// tag::chat[]
cosock::task<int> chat(examples::options opt) {
    auto so = co_await cosock::tcp_stream::connect(opt.address);  // so.connect((args.host, args.port))
    for (;;) {                                                    // while True:
        std::optional<std::string> info;
        do info = co_await cosock::input(">>>");                     //     info = cli.read_line('>>>')
        while (info && info->empty());                               //     (empty lines are not sent)
        co_await so.send(info.value_or("bye"));                      //     if info is None: info = 'bye'
                                                                     //     so.sendall(info.encode('utf-8'))
        auto ret = co_await so.recv(4096);                           //     data = so.recv(4096)
        if (ret.empty())                                             //     if not data:
            throw std::runtime_error("peer closed the connection");  //         cli.fail(...)
        fmt::print("{}\n", ret);                                     //     print(ret, flush=True)
        if (ret == "bye") {                                          //     if ret == 'bye':
            fmt::print("聊天结束\n");                                //         print('聊天结束')
            co_await so.send("bye");                                 //         so.sendall(b'bye')
            break;                                                   //         break
        }
        if (ret == "OK!bye") break;  //     if ret == 'OK!bye': break
    }
    co_return 0;  // so.close(): destructor
}
// end::chat[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(chat(examples::parse(argc, argv, {.about = "TCP chat client", .port = 7777})));
}
