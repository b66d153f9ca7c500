// tcp_chat_server: the TCP chat server of the blog post "socket" (server端 -- 这是一个聊天的).
// Python: examples/python/tcp_chat_server.py   Peer: tcp_chat_client   Run: tcp_chat_server [--port 0]
// Prints: "listening on 127.0.0.1:7777", each client message the moment it arrives, and the prompt
// ">>>>" when there is a message to answer: the next line typed on stdin is the reply. On the
// client's "bye" prints 聊天结束, answers "OK!bye" and exits 0; end of stdin sends "bye", exits 0.
// Unlike Python's, it keeps receiving while its operator types: the loop runs as two halves at once.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/cli.hpp"

// tag::chat[]
// The first half of Python's loop: receive, and print each message as soon as it arrives.
cosock::task<void> receive(cosock::tcp_stream& conn, cosock::event& to_answer, cosock::task_scope& chat) {
    for (;;) {                                                       // while True:
        auto ret = co_await conn.recv(4096);                         //     data = conn.recv(4096)
        if (ret.empty())                                             //     if not data:
            throw std::runtime_error("peer closed the connection");  //         cli.fail(...)
        if (ret == "bye") break;                                     //     if ret == 'bye':
        fmt::print("{}\n", ret);                                     //     print(ret, flush=True)
        to_answer.set();                                             //     (now the operator may answer)
    }
    fmt::print("聊天结束\n");      //         print('聊天结束')
    co_await conn.send("OK!bye");  //         conn.sendall('OK!bye'...)
    chat.cancel();                 //         break: the other half too
}

// The second half: whenever a message waits, the operator's next line is the answer.
cosock::task<void> answer(cosock::tcp_stream& conn, cosock::event& to_answer, cosock::task_scope& chat) {
    for (;;) {
        co_await to_answer.wait();  // (cancelled when the chat has ended)
        to_answer.clear();
        std::optional<std::string> info;
        do info = co_await cosock::input(">>>>");  //     info = cli.read_line('>>>>')
        while (info && info->empty());             //     (empty lines are not sent)
        if (!info) break;                          //     if info is None:
        co_await conn.send(*info);                 //     conn.sendall(info.encode('utf-8'))
    }
    co_await conn.send("bye");  //         conn.sendall(b'bye')
    chat.cancel();              //         break: the other half too
}

cosock::task<int> serve(examples::options opt) {
    auto so = cosock::tcp_listener::bind(opt.address);  // so.bind(...); so.listen()
    examples::announce(so.local_address());             // cli.announce(so)
    auto [conn, addr] = co_await so.accept();           // conn, addr = so.accept()
    // "Your turn": set by each message, cleared at the prompt. The messages that arrive before the
    // prompt share one answer; one that arrives after it asks for another.
    cosock::event to_answer;
    cosock::task_scope chat;                     // both halves at once: an error in
    chat.spawn(receive(conn, to_answer, chat));  // one cancels the other and comes
    chat.spawn(answer(conn, to_answer, chat));   // out of join() (exit status 1)
    co_await chat.join();
    co_return 0;  // conn.close(); so.close()
}
// end::chat[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(serve(examples::parse(argc, argv, {.about = "TCP chat server", .port = 7777})));
}
