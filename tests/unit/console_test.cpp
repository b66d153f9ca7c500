// tests/unit/console_test.cpp — tests for cosock/console.hpp: line input from a pipe, a regular
// file and a terminal, through detail::console on a descriptor of the test's own.
// SPDX-License-Identifier: MIT
#include <cosock/console.hpp>
#include <cosock/timeout.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>

#include "support/co_test.hpp"
#include "support/preconditions.hpp"

using namespace std::chrono_literals;
using line = std::optional<std::string>;

namespace {

/// A pipe; both ends close with the object.
struct pipe_fds {
    int read = -1;
    int write = -1;
    pipe_fds() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read = fds[0];
        write = fds[1];
    }
    ~pipe_fds() {
        if (read >= 0) ::close(read);
        close_write();
    }
    void close_write() {
        if (write >= 0) ::close(std::exchange(write, -1));
    }
    /// Bytes written and not yet read by anyone.
    int unread() const {
        int n = 0;
        ::ioctl(read, FIONREAD, &n);
        return n;
    }
};

/// Writes all of `data` (less than a pipe's capacity, so it does not block).
void put(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::write(fd, data.data(), data.size());
        if (n < 0) throw std::runtime_error("write failed");
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

/// A regular file holding `content`, read from its start; deleted when closed.
struct temp_file {
    std::FILE* file;
    explicit temp_file(std::string_view content) : file(std::tmpfile()) {
        if (!file) throw std::runtime_error("tmpfile failed");
        put(fd(), content);
        ::lseek(fd(), 0, SEEK_SET);
    }
    ~temp_file() { std::fclose(file); }
    int fd() const { return ::fileno(file); }
};

/// Everything written to a FILE* so far (the prompts).
std::string contents(std::FILE* f) {
    std::fflush(f);
    std::string out;
    auto end = std::ftell(f);
    std::rewind(f);
    out.resize(static_cast<std::size_t>(end));
    auto n = std::fread(out.data(), 1, out.size(), f);
    out.resize(n);
    std::fseek(f, 0, SEEK_END);
    return out;
}

/// Starts `op` in its own coroutine, cancellable through `signal`; `result` and `error` are set
/// when it ends, `done` last.
template <class Op>
void start_cancellable(Op op, boost::asio::cancellation_signal& signal, line& result, bool& done,
                       std::exception_ptr& error, boost::asio::any_io_executor ex) {
    boost::asio::co_spawn(
        ex,
        [](Op op, line& out) -> cosock::task<void> { out = co_await std::move(op); }(std::move(op), result),
        boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
            error = e;
            done = true;
        }));
}

cosock::task<void> until(const bool& flag) {
    for (int turn = 0; !flag; ++turn) {
        if (turn > 100000) throw std::runtime_error("condition never became true");
        co_await cosock_test::yield();
    }
}

/// Lets the event loop run until a pending input has read everything from `p` into its buffer.
cosock::task<void> until_drained(const pipe_fds& p) {
    for (int turn = 0; p.unread() > 0; ++turn) {
        if (turn > 100000) throw std::runtime_error("the bytes were never read");
        co_await cosock_test::yield();
    }
}

/// Lets the event loop run until `prompts` holds `expected` (the input has started).
cosock::task<void> until_prompted(std::FILE* prompts, const std::string& expected) {
    for (int turn = 0; contents(prompts) != expected; ++turn) {
        if (turn > 100000) throw std::runtime_error("the prompt never came");
        co_await cosock_test::yield();
    }
}

bool is_aborted(std::exception_ptr e) {
    return e && cosock::is_cancellation(e);
}

bool is_nonblocking(int fd) {
    return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

/// A 1 MiB line of every byte value except '\n'.
std::string big_line() {
    std::string s(1024 * 1024, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i % 251 == '\n' ? 0 : i % 251);
    return s;
}

// Compile-only: cosock::input is an operation yielding optional<string>, in both error styles.
using input_op = decltype(cosock::input(">>> "));
static_assert(std::is_same_v<input_op::value_type, std::optional<std::string>>);
static_assert(std::is_same_v<decltype(cosock::nothrow(std::declval<input_op>())),
                             cosock::detail::nothrow_operation<line, input_op>>);

}  // namespace

BOOST_AUTO_TEST_SUITE(console)

COSOCK_CO_TEST(lines_from_a_pipe_come_one_per_input_and_the_rest_waits) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> prompts(std::tmpfile(), std::fclose);
    cosock::detail::console c(p.read, prompts.get());
    put(p.write, "one\ntwo\nthr");
    auto first = co_await c.input(ex, "> ");
    auto second = co_await c.input(ex, "> ");
    put(p.write, "ee\n");
    p.close_write();
    auto third = co_await c.input(ex, "> ");
    auto end = co_await c.input(ex, "> ");
    auto still_end = co_await c.input(ex, "> ");
    BOOST_TEST(first.value() == "one");
    BOOST_TEST(second.value() == "two");
    BOOST_TEST(third.value() == "three");
    BOOST_TEST(!end.has_value());
    BOOST_TEST(!still_end.has_value());
    BOOST_TEST(contents(prompts.get()) == "> > > > > ");  // Python prints the prompt every time
}

COSOCK_CO_TEST(an_empty_file_is_the_end_at_once) {
    temp_file f("");
    cosock::detail::console c(f.fd(), nullptr);
    auto executor = co_await boost::asio::this_coro::executor;
    auto got = co_await c.input(executor, "");
    BOOST_TEST(!got.has_value());
}

COSOCK_CO_TEST(a_file_gives_its_last_line_without_newline_then_the_end) {
    auto ex = co_await boost::asio::this_coro::executor;
    temp_file f("first\nlast");
    cosock::detail::console c(f.fd(), nullptr);
    auto first = co_await c.input(ex, "");
    auto last = co_await c.input(ex, "");
    auto end = co_await c.input(ex, "");
    BOOST_TEST(first.value() == "first");
    BOOST_TEST(last.value() == "last");
    BOOST_TEST(!end.has_value());
}

COSOCK_CO_TEST(crlf_loses_its_cr_and_other_crs_stay) {
    auto ex = co_await boost::asio::this_coro::executor;
    temp_file f("dos\r\nmid\rdle\r\n\r\n\n");
    cosock::detail::console c(f.fd(), nullptr);
    auto dos = co_await c.input(ex, "");
    auto middle = co_await c.input(ex, "");
    auto empty_crlf = co_await c.input(ex, "");
    auto empty = co_await c.input(ex, "");
    auto end = co_await c.input(ex, "");
    BOOST_TEST(dos.value() == "dos");
    BOOST_TEST(middle.value() == "mid\rdle");
    BOOST_TEST(empty_crlf.value() == "");
    BOOST_TEST(empty.value() == "");
    BOOST_TEST(!end.has_value());
}

COSOCK_CO_TEST(bytes_pass_through_unchanged_invalid_utf8_and_nul_included) {
    using namespace std::string_literals;
    auto ex = co_await boost::asio::this_coro::executor;
    auto weird = "\xff\xfe\x80 caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \0nul \xed\xa0\x80"s;
    pipe_fds p;
    cosock::detail::console from_pipe(p.read, nullptr);
    put(p.write, weird + "\n");
    auto piped = co_await from_pipe.input(ex, "");
    temp_file f(weird + "\n");
    cosock::detail::console from_file(f.fd(), nullptr);
    auto filed = co_await from_file.input(ex, "");
    BOOST_TEST(piped.value() == weird);
    BOOST_TEST(filed.value() == weird);
}

COSOCK_CO_TEST(a_one_mebibyte_line_arrives_whole_from_a_pipe) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto big = big_line();
    pipe_fds p;
    cosock::detail::console c(p.read, nullptr);
    // The writer runs beside the reader: the pipe holds only 64 KiB at a time.
    auto writer = std::make_shared<boost::asio::writable_pipe>(ex, std::exchange(p.write, -1));
    auto data = std::make_shared<std::string>(big + "\nafter");
    boost::asio::async_write(*writer, boost::asio::buffer(*data), [writer, data](auto, std::size_t) {
        writer->close();  // end of input
    });
    auto got = co_await c.input(ex, "");
    auto after = co_await c.input(ex, "");
    auto end = co_await c.input(ex, "");
    BOOST_TEST(got.value().size() == big.size());
    BOOST_TEST((got.value() == big));
    BOOST_TEST(after.value() == "after");
    BOOST_TEST(!end.has_value());
}

COSOCK_CO_TEST(a_one_mebibyte_line_arrives_whole_from_a_file) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto big = big_line();
    temp_file f(big + "\n" + big);
    cosock::detail::console c(f.fd(), nullptr);
    auto first = co_await c.input(ex, "");
    auto second = co_await c.input(ex, "");
    auto end = co_await c.input(ex, "");
    BOOST_TEST((first.value() == big));
    BOOST_TEST((second.value() == big));
    BOOST_TEST(!end.has_value());
}

COSOCK_CO_TEST(a_cancelled_input_keeps_the_partial_line) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    cosock::detail::console c(p.read, nullptr);
    line result;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal cancel;
    start_cancellable(c.input(ex, ""), cancel, result, done, error, ex);
    put(p.write, "abc");
    co_await until_drained(p);  // "abc" now sits in the console's buffer; the loop kept running
    BOOST_TEST(!done);
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(done);
    BOOST_TEST(is_aborted(error));
    put(p.write, "def\n");
    auto got = co_await c.input(ex, "");
    BOOST_TEST(got.value() == "abcdef");
}

COSOCK_CO_TEST(a_cancelled_input_from_a_file_loses_nothing) {
    auto ex = co_await boost::asio::this_coro::executor;
    std::string big(4 * 1024 * 1024, 'x');  // 64 chunks: 64 turns of the event loop
    temp_file f(big + "\n");
    cosock::detail::console c(f.fd(), nullptr);
    line result;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal cancel;
    start_cancellable(c.input(ex, ""), cancel, result, done, error, ex);
    for (int i = 0; i < 4; ++i) co_await cosock_test::yield();  // a few chunks read, not all
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(done);
    BOOST_TEST(is_aborted(error));
    auto got = co_await c.input(ex, "");
    BOOST_TEST((got.value() == big));
}

COSOCK_CO_TEST(a_second_concurrent_input_fails_clearly_and_the_first_goes_on) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> prompts(std::tmpfile(), std::fclose);
    cosock::detail::console c(p.read, prompts.get());
    line result;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(c.input(ex, "first> "), unused, result, done, error, ex);
    co_await until_prompted(prompts.get(), "first> ");
    auto [ec, nothing] = co_await cosock::nothrow(c.input(ex, "second> "));
    BOOST_TEST((ec == cosock::errc::concurrent_read));
    BOOST_TEST(!nothing.has_value());
    std::string message;
    try {
        (void)co_await c.input(ex, "third> ");
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST(message == "input from fd:" + std::to_string(p.read) +
                              ": another read is already pending on this socket");
    BOOST_TEST(contents(prompts.get()) == "first> ");  // the failed ones printed nothing
    put(p.write, "answer\n");
    co_await until(done);
    BOOST_TEST(!error);
    BOOST_TEST(result.value() == "answer");
}

COSOCK_CO_TEST(the_flags_of_the_descriptor_are_left_alone) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    auto flags = ::fcntl(p.read, F_GETFL);
    cosock::detail::console c(p.read, nullptr);
    line result;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(c.input(ex, ""), unused, result, done, error, ex);
    for (int i = 0; i < 10; ++i) co_await cosock_test::yield();  // the input is waiting now
    BOOST_TEST(!done);
    BOOST_TEST(::fcntl(p.read, F_GETFL) == flags);  // no O_NONBLOCK for the other readers
    put(p.write, "x\n");
    co_await until(done);
    BOOST_TEST(result.value() == "x");
    BOOST_TEST(!is_nonblocking(p.read));
}

// Skipped (its own ctest test, unit.console_terminal) where no pseudo-terminal can be opened.
COSOCK_CO_TEST_WITH(a_terminal_gives_its_lines_and_keeps_its_flags,
                    *boost::unit_test::precondition(cosock_test::needs_pty)) {
    auto ex = co_await boost::asio::this_coro::executor;
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    BOOST_TEST_REQUIRE(master >= 0);
    BOOST_TEST_REQUIRE(::grantpt(master) == 0);
    BOOST_TEST_REQUIRE(::unlockpt(master) == 0);
    int tty = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    BOOST_TEST_REQUIRE(tty >= 0);
    auto flags = ::fcntl(tty, F_GETFL);
    {
        cosock::detail::console c(tty, nullptr);
        line result;
        bool done = false;
        std::exception_ptr error;
        boost::asio::cancellation_signal unused;
        start_cancellable(c.input(ex, ""), unused, result, done, error, ex);
        for (int i = 0; i < 10; ++i) co_await cosock_test::yield();
        BOOST_TEST(!done);
        BOOST_TEST(::fcntl(tty, F_GETFL) == flags);
        put(master, "typed\n");  // the operator types a line and presses Enter
        co_await until(done);
        BOOST_TEST(!error);
        BOOST_TEST(result.value() == "typed");
    }
    BOOST_TEST(::fcntl(tty, F_GETFL) == flags);
    ::close(tty);
    ::close(master);
}

COSOCK_CO_TEST(a_timeout_ends_a_waiting_input_and_keeps_the_partial_line) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    cosock::detail::console c(p.read, nullptr);
    put(p.write, "par");
    std::string message;
    try {
        (void)co_await cosock::timeout(50ms, c.input(ex, ""));
    } catch (const cosock::timeout_error& e) {
        message = e.what();
    }
    BOOST_TEST(message == "input from fd:" + std::to_string(p.read) + ": timed out after 0.05 s");
    put(p.write, "tial\n");
    auto got = co_await c.input(ex, "");
    BOOST_TEST(got.value() == "partial");
}

COSOCK_CO_TEST(a_failed_set_up_is_a_clear_error_in_both_forms) {
    auto ex = co_await boost::asio::this_coro::executor;
    int closed = ::dup(0);
    ::close(closed);
    cosock::detail::console c(closed, nullptr);
    auto [ec, nothing] = co_await cosock::nothrow(c.input(ex, ""));
    BOOST_TEST((ec == std::errc::bad_file_descriptor));
    BOOST_TEST(!nothing.has_value());
    std::string message;
    try {
        (void)co_await c.input(ex, "");
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST(message == "input from fd:" + std::to_string(closed) + ": Bad file descriptor");
}

COSOCK_CO_TEST(destroying_a_console_cancels_its_pending_input) {
    auto ex = co_await boost::asio::this_coro::executor;
    pipe_fds p;
    auto c = std::make_unique<cosock::detail::console>(p.read, nullptr);
    line result;
    bool done = false;
    std::exception_ptr error;
    boost::asio::cancellation_signal unused;
    start_cancellable(c->input(ex, ""), unused, result, done, error, ex);
    for (int i = 0; i < 10; ++i) co_await cosock_test::yield();
    c.reset();
    co_await until(done);
    BOOST_TEST(is_aborted(error));
}

BOOST_AUTO_TEST_SUITE_END()
