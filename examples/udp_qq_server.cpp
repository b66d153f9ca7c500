// udp_qq_server: the QQ chat server of the blog post "socket" (QQ聊天 -- server端).
// Python: examples/python/udp_qq_server.py   Peer: udp_qq_client   Run: udp_qq_server [--port 0]
// Prints: "listening on 127.0.0.1:9999", then for each message its sender ("127.0.0.1:54321") and
// its text, the moment it arrives; and for each message the prompt ">>>": the next line typed on
// stdin answers the sender of the most recent message, or, written "@HOST:PORT text", sends text
// to HOST:PORT. A line typed before any message waits for one. End of stdin ends the chat at once
// (exit 0), whether or not a message waits. Unlike Python's, it keeps receiving from every client
// while its operator types: the loop runs as halves at once. A message longer than 4096 bytes is
// shown cut, as in Python, and a line on stderr says so.
// SPDX-License-Identifier: MIT
#include <cosock/cosock.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>

#include "support/cli.hpp"

namespace asio = boost::asio;

// tag::chat[]
// What the halves share: whom a plain reply goes to, and how many messages wait for an answer
// (each gets one line, as in Python's loop), with a wake-up for the answering half.
struct inbox {
    std::optional<cosock::address> last;  // the sender of the most recent message
    int unanswered = 0;
    cosock::event arrived;  // set by each message, cleared by the answering half when none is left
};

// The prompt shows when a message starts to wait for its answer.
void prompt() {
    fmt::print(">>>");
    std::fflush(stdout);
}

// The first half of Python's loop: receive, and print each message as soon as it arrives.
// A datagram longer than 4096 bytes is shown cut, as Python shows it, but not silently.
cosock::task<void> receive(cosock::udp_endpoint& so, inbox& box) {
    std::array<char, 4096> buf;
    for (;;) {                                                     // while True:
        auto got = co_await so.recv_from_into(asio::buffer(buf));  //     msg, addr = so.recvfrom(4096)
        std::string_view msg(buf.data(), got.size);
        fmt::print("{}\n{}\n", got.sender, msg);  //     print(addr); print(msg)
        if (got.truncated)
            fmt::print(stderr, "udp_qq_server: the message from {} had {} bytes, only {} are shown\n",
                       got.sender, got.full_size, got.size);
        box.last = got.sender;
        if (box.unanswered++ == 0) prompt();  //     info = cli.read_line('>>>')
        box.arrived.set();                    //     (now the operator may answer)
    }
}

// The operator's lines, read all the time: the end of stdin ends the chat even when no message
// waits. Capacity 0: a line typed before any message waits for one, as in Python's terminal.
cosock::task<void> read_stdin(cosock::channel<std::string>& typed, inbox& box) {
    while (auto info = co_await cosock::input()) {  //     info = input()
        if (!info->empty())                         //     (empty lines are not sent)
            co_await typed.send(std::move(*info));
        else if (box.unanswered > 0)
            prompt();  //     (asked again, as cli.read_line does)
    }
    typed.close();  //     if info is None: break
}

// "@HOST:PORT text" names the receiver; anything else answers the most recent sender.
cosock::task<std::pair<cosock::address, std::string>> route(std::string info, cosock::address last) {
    static const std::regex at(R"(@\[?([^\s\]]+?)\]?:(\d+) (.+))");  // the Python program's
    std::smatch m;
    if (!std::regex_match(info, m, at)) co_return std::pair{std::move(last), std::move(info)};
    auto port = m[2].length() > 5 ? 65536 : std::stoi(m[2]);               // out of range: a clear error
    auto to = co_await cosock::udp_endpoint::resolve({m[1].str(), port});  // a name: off the loop
    co_return std::pair{to, m[3].str()};
}

// The answering half: each line the operator types answers one message, in turn.
cosock::task<void> answer(cosock::udp_endpoint& so, inbox& box, cosock::channel<std::string>& typed,
                          cosock::task_scope& chat) {
    while (auto info = co_await typed.receive()) {  // (until the end of stdin)
        while (box.unanswered == 0) {               // (typed early: wait for a message)
            box.arrived.clear();
            co_await box.arrived.wait();
        }
        auto [addr, text] = co_await route(std::move(*info), *box.last);  //     at = re.fullmatch(...)
        co_await so.send_to(text, addr);                                  //     so.sendto(info..., addr)
        if (--box.unanswered > 0) prompt();                               // (the next message's turn)
    }
    chat.cancel();  // break: the other halves too
}

cosock::task<int> serve(examples::options opt) {
    auto so = cosock::udp_endpoint::bind(opt.address);  // so = socket.socket(type=SOCK_DGRAM)
                                                        // so.bind(('127.0.0.1', 9999))
    examples::announce(so.local_address());             // cli.announce(so)
    inbox box;
    cosock::channel<std::string> typed(0);  // the operator's lines, one at a time
    cosock::task_scope chat;                // the halves at once: an error in
    chat.spawn(receive(so, box));           // one cancels the others and comes
    chat.spawn(read_stdin(typed, box));     // out of join() (exit status 1)
    chat.spawn(answer(so, box, typed, chat));
    co_await chat.join();
    co_return 0;  // so.close(): destructor
}
// end::chat[]

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, as Python's flush=True
    return cosock::run(serve(examples::parse(argc, argv, {.about = "UDP QQ chat server", .port = 9999})));
}
