// tests/fuzz/fuzz_framing.cpp — libFuzzer target for tcp_stream::read_line and read_until: bytes
// sent over a real loopback connection, in chunks the input chooses, must come out as the lines a
// plain splitter finds, under the maximum-length and end-of-stream rules of cosock/tcp.hpp.
// SPDX-License-Identifier: MIT
#include <cosock/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace {

/// Prints what broke, then aborts: libFuzzer saves the input as a crash.
void require(bool ok, std::string_view what) {
    if (ok) return;
    fmt::print(stderr, "fuzz_framing: {}\n", what);
    std::abort();
}

/// What one input asks for. Layout: [max] [delimiter length, delimiter bytes] [which reads are
/// read_line] [chunk count, chunk sizes] payload. Missing bytes read as 0.
struct plan {
    std::size_t max = 0;              // the `max` of every read: 1..64, or default_max_line
    std::string delimiter;            // read_until's (1 to 3 bytes); read_line's is "\n"
    unsigned line_reads = 0;          // bit i % 8 set: the i-th read is a read_line, else a read_until
    std::vector<std::size_t> chunks;  // sizes of the first sends (1..256); the rest goes at once
    std::string payload;
};

plan read_plan(std::string_view input) {
    auto next = [&input]() -> unsigned {
        if (input.empty()) return 0;
        unsigned byte = static_cast<unsigned char>(input.front());
        input.remove_prefix(1);
        return byte;
    };
    plan p;
    auto max = next();
    p.max = max == 255 ? cosock::default_max_line : 1 + max % 64;
    for (auto n = 1 + next() % 3; n > 0; --n) p.delimiter += static_cast<char>(next());
    p.line_reads = next();
    for (auto n = next() % 16; n > 0; --n) p.chunks.push_back(1 + next());
    p.payload = input;
    return p;
}

/// What one read must yield, from the bytes not yet read (`rest`): the line up to and including
/// the delimiter when it ends within `max` bytes; else line_too_long when `max` bytes will arrive
/// (they stay buffered); else the end of the stream, with whatever is left.
struct expectation {
    enum { line, too_long, end } kind;
    std::string_view bytes;  // the line with its delimiter; the `max` buffered bytes; what is left
};

expectation expect(std::string_view rest, std::string_view delimiter, std::size_t max) {
    auto at = rest.find(delimiter);
    if (at != std::string_view::npos && at + delimiter.size() <= max)
        return {expectation::line, rest.substr(0, at + delimiter.size())};
    if (at != std::string_view::npos || rest.size() >= max)
        return {expectation::too_long, rest.substr(0, max)};
    return {expectation::end, rest};
}

/// read_line's view of a line: without "\n" or "\r\n".
std::string_view without_newline(std::string_view line) {
    line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

cosock::task<void> check_line_read(cosock::tcp_stream& s, const plan& p, expectation want) {
    auto [ec, line] = co_await cosock::nothrow(s.read_line(p.max));
    switch (want.kind) {
        case expectation::line:
            require(!ec && line && *line == without_newline(want.bytes),
                    fmt::format("read_line: {} {:?}, expected {:?}", ec.message(), line.value_or("(none)"),
                                without_newline(want.bytes)));
            break;
        case expectation::too_long:
            require(ec == cosock::errc::line_too_long,
                    fmt::format("read_line: {}, expected line_too_long", ec.message()));
            break;
        case expectation::end:
            require(!ec && line.has_value() == !want.bytes.empty() && line.value_or("") == want.bytes,
                    fmt::format("read_line at the end: {} {:?}, expected {:?}", ec.message(),
                                line.value_or("(none)"), want.bytes));
            break;
    }
}

cosock::task<void> check_until_read(cosock::tcp_stream& s, const plan& p, expectation want) {
    auto [ec, got] = co_await cosock::nothrow(s.read_until(p.delimiter, p.max));
    switch (want.kind) {
        case expectation::line:
            require(!ec && got == want.bytes,
                    fmt::format("read_until: {} {:?}, expected {:?}", ec.message(), got, want.bytes));
            break;
        case expectation::too_long:
            require(ec == cosock::errc::line_too_long && got.empty(),
                    fmt::format("read_until: {} {:?}, expected line_too_long", ec.message(), got));
            break;
        case expectation::end:
            require(ec == cosock::errc::end_of_stream && got == want.bytes,
                    fmt::format("read_until at the end: {} {:?}, expected end_of_stream {:?}", ec.message(),
                                got, want.bytes));
            break;
    }
}

/// Reads the whole stream with read_line / read_until as the plan says, checking each result.
/// After line_too_long, asks again (still too long: nothing was lost) and takes the buffered
/// `max` bytes with recv.
cosock::task<void> read_all(cosock::tcp_stream& s, const plan& p) {
    std::string_view rest = p.payload;
    for (unsigned i = 0;; ++i) {
        bool line_read = (p.line_reads >> (i % 8)) & 1;
        auto want = expect(rest, line_read ? "\n" : p.delimiter, p.max);
        auto read_one = line_read ? check_line_read : check_until_read;
        co_await read_one(s, p, want);
        if (want.kind == expectation::end) break;
        if (want.kind == expectation::too_long) {
            co_await read_one(s, p, want);
            auto buffered = co_await s.recv(p.max);
            require(buffered == want.bytes,
                    fmt::format("recv after line_too_long: {:?}, expected {:?}", buffered, want.bytes));
        }
        rest.remove_prefix(want.bytes.size());
    }
    auto [ec, after] = co_await cosock::nothrow(s.read_line(p.max));
    require(!ec && !after, "read_line after the end did not yield the end");
}

/// Lets the event loop turn until the reader has taken every byte out of the kernel, so that the
/// next chunk arrives as a read of its own. Bounded: the reader always reads while bytes wait.
cosock::task<void> until_read(cosock::tcp_stream& reader) {
    for (int turn = 0; reader.asio_socket().available() > 0; ++turn) {
        require(turn < 1000000, "the reader stopped reading");
        co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    }
}

cosock::task<void> write_all(cosock::tcp_stream& writer, cosock::tcp_stream& reader, const plan& p) {
    std::string_view rest = p.payload;
    for (auto size : p.chunks) {
        if (rest.empty()) break;
        auto chunk = rest.substr(0, size);
        rest.remove_prefix(chunk.size());
        co_await writer.send(chunk);
        co_await until_read(reader);
    }
    if (!rest.empty()) co_await writer.send(rest);
    writer.shutdown();
}

cosock::task<void> check(cosock::tcp_listener& listener, plan p) {
    auto executor = co_await boost::asio::this_coro::executor;
    auto writer = co_await cosock::tcp_stream::connect(executor, listener.local_address());
    auto [reader, peer] = co_await listener.accept();
    writer.set_no_delay(true);  // else Nagle holds each small chunk back until the last one is acked
    {
        cosock::task_scope scope(executor);
        scope.spawn(write_all(writer, reader, p));
        scope.spawn(read_all(reader, p));
        co_await scope.join();
    }
    // Close with a reset (no linger) so that thousands of connections leave no TIME_WAIT behind.
    writer.asio_socket().set_option(boost::asio::socket_base::linger(true, 0));
    writer.close();
}

/// One event loop and one listener for the whole process; each input gets its own connection.
struct loop {
    boost::asio::io_context context{1};
    cosock::tcp_listener listener = cosock::tcp_listener::bind(context.get_executor(), {"127.0.0.1", 0});
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static loop l;
    bool done = false;
    std::exception_ptr error;
    auto p = read_plan({reinterpret_cast<const char*>(data), size});
    boost::asio::co_spawn(l.context, check(l.listener, std::move(p)), [&](std::exception_ptr e) {
        done = true;
        error = e;
    });
    l.context.restart();
    l.context.run();
    if (error) std::rethrow_exception(error);
    require(done, "the check did not finish");
    return 0;
}
