// console.cpp — the compiled half of console.hpp: line input from a terminal, a pipe or a file,
// without blocking the event loop and without changing the flags of the descriptor.
// SPDX-License-Identifier: MIT
#include <cosock/console.hpp>

#include <cerrno>
#include <optional>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <cosock/detail/watchdog.hpp>

// How a console waits, and why this way.
//
// The obvious tool, an asio::posix::stream_descriptor on a dup() of the source, sets O_NONBLOCK
// on it before its first wait (reactive_descriptor_service::start_op, even for async_wait). That
// flag belongs to the open file description, which a dup shares with fd 0 and, for a terminal,
// with the shell and every program on it: they would start failing reads with EAGAIN. So the
// console watches the source with a private epoll instance (level-triggered EPOLLIN) and hands
// Asio only a dup of that epoll descriptor, which is readable exactly when the source is; what
// Asio does to the flags of that one concerns no one else. After each wakeup one read() takes
// what is there: readiness means it does not block.
//
// epoll refuses regular files and some devices (/dev/null) with EPERM (asio issue #111). Reading
// those never blocks for long, so the console reads them directly, one chunk per turn of the
// event loop (a post in between): a huge file does not starve other work, and a cancellation is
// seen between chunks.
//
// The Asio objects live only while an input is pending, so a console (the stdin one is never
// destroyed) outlives any io_context without holding on to its services.

namespace cosock::detail {

namespace asio = boost::asio;
using line = std::optional<std::string>;

namespace {
constexpr std::size_t chunk_size = 64 * 1024;  // one read(): a pipe's capacity
}

struct input_op;

struct console_state {
    console_state(int source, std::FILE* out);
    ~console_state();
    console_state(const console_state&) = delete;
    console_state& operator=(const console_state&) = delete;

    /// Reads what is there (at most chunk_size) after the buffered bytes; returns read()'s result,
    /// or -errno.
    long read_chunk();
    /// Hands out the next buffered line, without "\n" or "\r\n", if a whole one is there.
    line take_line();
    /// At end of input: the partial line left, if any.
    line take_rest();

    int fd = -1;         // our duplicate of the source, close-on-exec: read() and the watch use it
    int epoll_fd = -1;   // private epoll instance watching `fd`; -1: not pollable, read directly
    int open_error = 0;  // errno of a failed set-up: every input fails with it
    std::FILE* prompt_out;
    // Bytes read and not yet handed out: what follows a line, a partial line across inputs and
    // cancellations. buffer[0, head) is already handed out (erased before the next read, so each
    // line costs no copy of the rest); buffer[head, scanned) is known to hold no '\n', so the search
    // resumes there and a 1 MiB line is scanned once, not once per chunk.
    std::string buffer;
    std::size_t head = 0;
    std::size_t scanned = 0;
    input_op* pending = nullptr;  // the one input in progress: for the one-at-a-time rule
};

/// One input() in progress. Owned by whichever step comes next (a posted read or the Asio wait),
/// so that it is freed, and the console freed for the next input, even if the event loop is
/// destroyed before the input completes.
struct input_op {
    input_op(std::shared_ptr<console_state> s, asio::any_io_executor ex, input_handler h)
        : state(std::move(s)), executor(std::move(ex)), handler(std::move(h)) {}
    ~input_op() {
        if (slot.is_connected()) slot.clear();  // before `handler`, which may own the slot, goes
        if (state && state->pending == this) state->pending = nullptr;
    }

    /// Ends the input soon with operation_aborted; the bytes read so far stay buffered.
    void cancel() {
        cancelled = true;
        if (waiter) {
            error_code ignored;
            waiter->cancel(ignored);
        }
    }

    std::shared_ptr<console_state> state;
    asio::any_io_executor executor;
    input_handler handler;
    asio::cancellation_slot slot;  // the handler's, once we have installed our handler in it
    std::optional<asio::posix::stream_descriptor> waiter;  // on a dup of the epoll fd, while waiting
    bool cancelled = false;
};

using op_ptr = std::unique_ptr<input_op>;

namespace {

error_code system_error_code(int e) {
    return error_code(e, asio::error::get_system_category());
}

/// Completes the input: frees the op (and the console for the next input), then runs the
/// handler from the event loop, never inline (this may be the initiating call), on the
/// operation's executor: cosock's event loop is single-threaded, and asking the type-erased
/// handler for its own executor would allocate.
void finish(op_ptr op, error_code ec, line value) {
    auto handler = std::move(op->handler);
    auto executor = op->executor;
    op.reset();
    asio::post(executor, [h = std::move(handler), ec, v = std::move(value)]() mutable {
        std::move(h)(ec, std::move(v));
    });
}

void read_more(op_ptr op);

/// Hands out a buffered line, or gets more bytes (the step scheduled here owns `op`).
void next(op_ptr op) {
    auto& s = *op->state;
    if (op->cancelled) return finish(std::move(op), asio::error::operation_aborted, line());
    if (auto l = s.take_line()) return finish(std::move(op), error_code(), std::move(l));
    if (s.epoll_fd < 0) {  // a regular file: read directly, one chunk per turn of the event loop
        auto executor = op->executor;
        return asio::post(executor, [op = std::move(op)]() mutable { read_more(std::move(op)); });
    }
    if (!op->waiter) {
        int fd = ::fcntl(s.epoll_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return finish(std::move(op), system_error_code(errno), line());
        error_code ec;
        op->waiter.emplace(op->executor);
        op->waiter->assign(fd, ec);
        if (ec) {
            ::close(fd);
            return finish(std::move(op), ec, line());
        }
    }
    auto& waiter = *op->waiter;
    waiter.async_wait(asio::posix::stream_descriptor::wait_read, [op = std::move(op)](error_code ec) mutable {
        if (ec && !op->cancelled) return finish(std::move(op), ec, line());
        read_more(std::move(op));
    });
}

/// The source is readable (or a regular file): one read(), then the next step.
void read_more(op_ptr op) {
    if (op->cancelled) return finish(std::move(op), asio::error::operation_aborted, line());
    auto& s = *op->state;
    long n = s.read_chunk();
    if (n > 0) return next(std::move(op));
    if (n == 0) return finish(std::move(op), error_code(), s.take_rest());  // end of input
    // EAGAIN: someone else set O_NONBLOCK on the shared description, or read the bytes first.
    if (n == -EINTR || n == -EAGAIN || n == -EWOULDBLOCK) return next(std::move(op));
    finish(std::move(op), system_error_code(static_cast<int>(-n)), line());
}

}  // namespace

// --- console_state ----------------------------------------------------------------------------

console_state::console_state(int source, std::FILE* out) : prompt_out(out) {
    fd = ::fcntl(source, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        open_error = errno;
        return;
    }
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        open_error = errno;
        return;
    }
    epoll_event event{};
    event.events = EPOLLIN;  // level-triggered: readable for as long as there is something to read
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        int e = errno;
        ::close(std::exchange(epoll_fd, -1));
        if (e != EPERM) open_error = e;  // EPERM: a regular file (or /dev/null): read it directly
    }
}

console_state::~console_state() {
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (fd >= 0) ::close(fd);
}

long console_state::read_chunk() {
    if (head > 0) {
        buffer.erase(0, head);
        scanned -= head;
        head = 0;
    }
    auto old_size = buffer.size();
    buffer.resize(old_size + chunk_size);
    ssize_t n = ::read(fd, buffer.data() + old_size, chunk_size);
    int e = errno;
    buffer.resize(old_size + (n > 0 ? static_cast<std::size_t>(n) : 0));
    return n < 0 ? -e : static_cast<long>(n);
}

line console_state::take_line() {
    auto end = buffer.find('\n', scanned);
    if (end == std::string::npos) {
        scanned = buffer.size();
        return std::nullopt;
    }
    std::string out(buffer, head, end - head);
    head = scanned = end + 1;
    if (head == buffer.size()) {
        buffer.clear();
        head = scanned = 0;
    }
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return out;
}

line console_state::take_rest() {
    if (head == buffer.size()) return std::nullopt;
    std::string out(buffer, head);
    buffer.clear();
    head = scanned = 0;
    return out;
}

// --- console ----------------------------------------------------------------------------------

namespace {
address name_of(int fd) {
    return address(fd == 0 ? "stdin" : "fd", fd >= 0 && fd <= 65535 ? fd : 0);
}
}  // namespace

console::console(int fd, std::FILE* prompt_out)
    : state_(std::make_shared<console_state>(fd, prompt_out)), where_(name_of(fd)) {}

console::~console() {
    if (state_->pending) state_->pending->cancel();
}

namespace {
void begin(std::shared_ptr<console_state> state, asio::any_io_executor executor, std::string prompt,
           input_handler handler) {
    auto op = std::make_unique<input_op>(std::move(state), std::move(executor), std::move(handler));
    auto& s = *op->state;
    if (s.pending) {  // before the prompt: the pending input's prompt is the one showing
        auto ec = make_error_code(errc::concurrent_read);
        op->state.reset();  // this op is not the console's pending one; leave that alone
        return finish(std::move(op), ec, line());
    }
    s.pending = op.get();
    if (s.prompt_out && !prompt.empty()) {
        std::fwrite(prompt.data(), 1, prompt.size(), s.prompt_out);
        std::fflush(s.prompt_out);
    }
    if (s.open_error) return finish(std::move(op), system_error_code(s.open_error), line());
    if (auto slot = asio::get_associated_cancellation_slot(op->handler); slot.is_connected()) {
        op->slot = slot;
        slot.assign([p = op.get()](asio::cancellation_type type) {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                         asio::cancellation_type::total)) != asio::cancellation_type::none)
                p->cancel();
        });
    }
    next(std::move(op));
}
}  // namespace

void console::start(std::shared_ptr<console_state> state, asio::any_io_executor executor, std::string prompt,
                    std::chrono::steady_clock::duration timeout, input_handler handler) {
    if (timeout <= std::chrono::steady_clock::duration::zero())
        return begin(std::move(state), std::move(executor), std::move(prompt), std::move(handler));
    // cosock::timeout(d, input(...)): a one-shot timer that cancels the input like Ctrl-C would,
    // reported as std::errc::timed_out (watchdog.hpp).
    start_with_timer(executor, timeout, std::move(handler), [&](auto h) {
        begin(std::move(state), executor, std::move(prompt), input_handler(std::move(h)));
    });
}

console& stdin_console() {
    static auto* instance = new console(0, stdout);
    return *instance;
}

}  // namespace cosock::detail
