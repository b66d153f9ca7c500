// framing: step 4 of docs/tutorial.md. TCP carries bytes, not messages: two sends can arrive as
// one recv, and one send as several. Then three ways to find the messages again: lines
// (read_line), a fixed size (read_exact) and a length prefix.
// Run: framing   Prints: what each read returned; exits 0.
// SPDX-License-Identifier: MIT
#include <cstdint>
#include <string>
#include <string_view>

#include <cosock/cosock.hpp>

// "hello\nworld\n" shown as "hello\\nworld\\n", so that the output shows where the bytes are.
std::string shown(std::string_view bytes) {
    std::string out = "\"";
    for (char c : bytes) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out + "\"";
}

// tag::prefix[]
// A message on the wire: its length as 4 bytes, most significant first, then its bytes.
cosock::task<void> send_message(cosock::tcp_stream& conn, std::string_view message) {
    auto n = static_cast<std::uint32_t>(message.size());
    std::string frame = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    frame += message;
    co_await conn.send(frame);  // one send: the header and the bytes
}

cosock::task<std::string> receive_message(cosock::tcp_stream& conn) {
    auto header = co_await conn.read_exact(4);  // waits for exactly 4 bytes
    std::uint32_t n = 0;
    for (unsigned char byte : header) n = (n << 8) | byte;
    auto message = co_await conn.read_exact(n);  // and then for exactly n
    co_return message;
}
// end::prefix[]

cosock::task<int> framing() {
    auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto client = co_await cosock::tcp_stream::connect(sk.local_address());
    auto [conn, addr] = co_await sk.accept();

    // tag::bytes[]
    co_await client.send("hello\n");  // two messages, sent before the peer reads
    co_await client.send("world\n");
    auto got = co_await conn.recv(1024);
    fmt::print("1. two sends, one recv: {}\n", shown(got));

    std::string big(3000, 'x');  // one message of 3000 bytes
    co_await client.send(big);
    auto part = co_await conn.recv(1024);
    fmt::print("2. one send of 3000 bytes, the first recv: {} bytes\n", part.size());
    auto rest = co_await conn.read_exact(3000 - part.size());  // the rest of it
    // end::bytes[]

    // tag::lines[]
    co_await client.send("hello\nwor");  // a line and a half, then the rest
    co_await client.send("ld\n");
    auto first = co_await conn.read_line();
    auto second = co_await conn.read_line();
    fmt::print("3. read_line: {}, then {}\n", shown(*first), shown(*second));
    // end::lines[]

    // tag::messages[]
    co_await send_message(client, "hello\nworld");  // a newline inside is fine here
    co_await send_message(client, "");
    auto one = co_await receive_message(conn);
    auto two = co_await receive_message(conn);
    fmt::print("4. length prefix: {}, then {}\n", shown(one), shown(two));
    // end::messages[]

    // tag::end[]
    client.shutdown();  // no more bytes from the client: end of stream
    auto none = co_await conn.read_line();
    fmt::print("5. read_line at the end: {}\n", none ? "a line" : "std::nullopt");
    // end::end[]
    co_return 0;
}

int main() {
    return cosock::run(framing());
}
