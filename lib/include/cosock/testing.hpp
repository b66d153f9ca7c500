// cosock/testing.hpp — the test kit, to test code that uses cosock without ports, sleeps or flakes:
// two connected in-memory streams (Trio: memory_stream_pair; Tokio: io::duplex) and virtual time
// (Trio: MockClock with autojump, wait_all_tasks_blocked; Tokio: time::pause).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/socket_base.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/basic_stream.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock::testing {

/// How a memory stream pair behaves.
struct memory_options {
    /// Bytes one side may have written that the other has not read yet: a send waits while the
    /// peer's buffer is full (back-pressure), as on a socket whose peer reads slowly.
    std::size_t capacity = 64 * 1024;
    /// The most one read returns; 0: all that is buffered. 1 delivers every write byte by byte,
    /// to test framing code (a message split across reads).
    std::size_t chunk = 0;
};

class memory_stream;

/// Two connected in-memory streams: what one sends, the other receives. Every stream operation of
/// `tcp_stream` works on them (recv, recv_into, send, read_exact, read_until, read_line, timeouts,
/// cancellation, `nothrow`, the Asio face), on the event loop of `cosock::run` (or `executor`).
/// `shutdown()` half-closes (the peer reads end of stream), `close()` or destroying one side ends
/// both directions (the peer reads end of stream, its sends fail with "Broken pipe"), `reset()`
/// is an abortive close (the peer's reads fail with "Connection reset by peer", buffered bytes
/// lost). Error messages name the peer "memory".
///
/// Example:
///     auto [client, server] = cosock::testing::memory_stream_pair({.chunk = 1});
///     co_await client.send("hello\n");
///     auto line = co_await server.read_line();   // "hello", read one byte at a time
std::pair<memory_stream, memory_stream> memory_stream_pair(memory_options options = {});
std::pair<memory_stream, memory_stream> memory_stream_pair(boost::asio::any_io_executor executor,
                                                           memory_options options = {});

/// Runs `body` to its end on a fresh event loop on virtual time, and rethrows what it throws.
/// Every cosock timer (socket timeouts, `timeout`, `fail_after`, `move_on_after`, `sleep`, grace
/// periods) runs on a clock that stands still while any task can run, and jumps to the next
/// deadline when every task waits (Trio's MockClock with autojump): a test of a 30 s timeout
/// takes milliseconds, and cannot flake. I/O that needs real time (another process, a resolver
/// thread) gets up to `real_limit` of it, as does the whole run. Throws `cosock::error`:
/// `std::errc::resource_deadlock_would_occur` when every task waits for something that cannot
/// come, `std::errc::timed_out` when `real_limit` passes. Timers of plain Asio stay on real time.
///
/// Example:
///     cosock::testing::run_with_virtual_time([]() -> cosock::task<void> {
///         auto [client, server] = cosock::testing::memory_stream_pair();
///         server.set_timeout(30s);
///         co_await server.recv(10);   // throws timeout_error at once, 30 s of virtual time later
///     }());
COSOCK_EXPORT void run_with_virtual_time(
    task<void> body, std::chrono::steady_clock::duration real_limit = std::chrono::seconds(10));

/// The clock of every cosock timer: `clock::now()` is the virtual time under
/// `run_with_virtual_time`, std::chrono::steady_clock's elsewhere.
using clock = detail::clock;

/// Moves virtual time forward by `d` (under `run_with_virtual_time`): every timer due by then
/// fires, then this returns. Throws `errc::no_event_loop` on real time.
COSOCK_EXPORT task<void> advance(std::chrono::steady_clock::duration d);

/// Returns once every other task of the loop waits (under `run_with_virtual_time`), before
/// virtual time jumps: what a test does next sees the others settled. Trio: `wait_all_tasks_blocked`.
COSOCK_EXPORT task<void> wait_all_tasks_blocked();

/// While it lives, every name lookup of cosock (`cosock::resolve`, `tcp_stream::connect` by name,
/// `udp_endpoint::connect` and `resolve`) asks `lookup` instead of the system: names resolve to
/// the addresses a test chooses, slowly, never, or not at all, without DNS. Process-wide, since
/// lookups run on helper threads; a newer override hides an older one until it is destroyed.
/// `lookup(host, port, family)` runs on the lookup's helper thread, so it may block (on a latch
/// the test releases); numeric hosts never reach it. It returns numeric addresses with their
/// ports (usually `port`), of which cosock keeps those of `family` when one is asked for; none
/// left fails the lookup with `errc::no_addresses`. To fail it otherwise, throw a
/// `std::system_error` or `boost::system::system_error`: its code is the lookup's error.
///
/// Example:
///     cosock::testing::resolver_override names([](const std::string& host, int port, auto) {
///         if (host != "db.test") throw boost::system::system_error(boost::asio::error::host_not_found);
///         return std::vector<cosock::address>{{"127.0.0.1", port}};
///     });
///     auto conn = co_await cosock::tcp_stream::connect({"db.test", listener_port});
class COSOCK_EXPORT resolver_override {
public:
    using function = std::function<std::vector<address>(const std::string& host, int port,
                                                        std::optional<address_family> family)>;
    explicit resolver_override(function lookup);
    ~resolver_override();  // the override before this one is in force again
    resolver_override(const resolver_override&) = delete;
    resolver_override& operator=(const resolver_override&) = delete;

private:
    std::shared_ptr<const function> previous_;
};

}  // namespace cosock::testing

namespace cosock::detail {

/// What names a memory stream's peer in errors (detail::where_of): the text "memory".
struct memory_protocol {
    using endpoint = std::string;
};
template <>
struct where_of<memory_protocol> {
    using type = std::string;
};

/// A pending read or write of a memory transport, waiting for its pipe to change.
struct memory_waiter {
    virtual ~memory_waiter() = default;
    /// Completes if the pipe now allows it (true: done, the caller deletes the waiter).
    virtual bool resume() = 0;
    /// Completes with `ec` now (cancelled, or its side closed).
    virtual void abort(error_code ec) = 0;
};

/// One direction: the bytes side A wrote that side B has not read, and how each end stands.
struct memory_pipe {
    std::string bytes;
    bool write_closed = false;  // the writer shut down or closed: reads end after `bytes`
    bool read_closed = false;   // the reader closed: writes fail with "Broken pipe"
    bool reset = false;         // the writer reset: reads fail with "Connection reset by peer"
    std::unique_ptr<memory_waiter> reader, writer;

    /// Lets a waiting reader or writer go on after a change.
    void wake() {
        if (reader && reader->resume()) reader.reset();
        if (writer && writer->resume()) writer.reset();
    }
};

/// The shared half of a memory stream pair: pipes[i] carries what side i writes.
struct memory_state;

/// Owns, per event loop, the memory streams' pending operations when the loop goes away. A pending
/// read holds its handler, the handler the coroutine that waits, and that coroutine the stream
/// that holds the pipe: only the loop can end that circle, as it does for socket operations.
class memory_service : public boost::asio::execution_context::service {
public:
    static inline boost::asio::execution_context::id id;
    explicit memory_service(boost::asio::execution_context& context) : service(context) {}
    ~memory_service() override;
    std::unordered_set<memory_state*> states;  // alive, each with its pipes

private:
    void shutdown() override;
};

struct memory_state {
    memory_state(testing::memory_options o, const boost::asio::any_io_executor& executor)
        : options(o),
          service(&boost::asio::use_service<memory_service>(
              boost::asio::query(executor, boost::asio::execution::context))) {
        service->states.insert(this);
    }
    ~memory_state() {
        if (service) service->states.erase(this);
    }
    memory_state(const memory_state&) = delete;
    memory_state& operator=(const memory_state&) = delete;

    testing::memory_options options;
    memory_pipe pipes[2];
    memory_service* service;  // null once the loop is gone
};

// The loop is shutting down: its pending operations are destroyed without being completed (their
// handlers, and the coroutines waiting in them, go with them), as Asio does with its own.
inline void memory_service::shutdown() {
    std::vector<std::unique_ptr<memory_waiter>> pending;
    for (auto* state : states)
        for (auto& pipe : state->pipes)
            for (auto* waiter : {&pipe.reader, &pipe.writer})
                if (*waiter) pending.push_back(std::move(*waiter));
    pending.clear();
}

inline memory_service::~memory_service() {
    for (auto* state : states) state->service = nullptr;
}

/// Completes `handler(ec, n)` through its executor, never inside the call that started it.
template <class Handler>
void post_memory_result(const boost::asio::any_io_executor& fallback, Handler handler, error_code ec,
                        std::size_t n) {
    boost::asio::get_associated_cancellation_slot(handler).clear();
    auto executor = boost::asio::get_associated_executor(handler, fallback);
    boost::asio::post(executor, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
}

/// The transport of a memory stream: an Asio AsyncReadStream/AsyncWriteStream over a memory_state,
/// and its own "lowest layer" (close, shutdown, is_open), as a socket is.
class COSOCK_EXPORT memory_transport {
public:
    using executor_type = boost::asio::any_io_executor;
    using protocol_type = memory_protocol;
    /// Its readiness is that of its bytes: memory streams have wait_readable and try_recv_into.
    static constexpr bool has_data_readiness = true;

    memory_transport(executor_type executor, std::shared_ptr<memory_state> state, int side)
        : executor_(std::move(executor)), state_(std::move(state)), side_(side) {}
    memory_transport(memory_transport&&) noexcept = default;
    memory_transport& operator=(memory_transport&&) noexcept = default;
    ~memory_transport() {
        error_code ignored;
        close(ignored);
    }

    executor_type get_executor() const noexcept { return executor_; }
    memory_transport& lowest_layer() noexcept { return *this; }

    bool is_open() const noexcept { return state_ != nullptr; }
    /// Bytes waiting to be read.
    std::size_t available() const noexcept { return state_ ? in().bytes.size() : 0; }

    /// Ends both directions: the peer reads end of stream, its writes fail; our pending
    /// operations complete with operation_aborted.
    void close(error_code& ec) {
        ec = {};
        if (!state_) return;
        auto state = std::move(state_);  // keeps it alive while the waiters complete
        auto& in = state->pipes[1 - side_];
        auto& out = state->pipes[side_];
        in.read_closed = true;
        out.write_closed = true;
        abort(in.reader);
        abort(out.writer);
        in.wake();   // the peer's pending write fails
        out.wake();  // the peer's pending read sees end of stream
    }

    /// shutdown_send: the peer reads end of stream after what was sent; receiving still works.
    void shutdown(boost::asio::socket_base::shutdown_type what, error_code& ec) {
        ec = state_ ? error_code() : error_code(boost::asio::error::bad_descriptor);
        if (!state_) return;
        if (what != boost::asio::socket_base::shutdown_receive) {
            out().write_closed = true;
            out().wake();
        }
        if (what != boost::asio::socket_base::shutdown_send) {
            in().read_closed = true;
            in().wake();
        }
    }

    /// An abortive close: the peer's reads fail with connection_reset, what it had not read is lost.
    void reset() {
        if (!state_) return;
        out().bytes.clear();
        out().reset = true;
        error_code ignored;
        close(ignored);
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& buffers) {
                start(std::make_unique<read_waiter<MutableBuffers, decltype(handler)>>(this, buffers,
                                                                                       std::move(handler)),
                      state_ ? &in().reader : nullptr);
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& buffers) {
                start(std::make_unique<write_waiter<ConstBuffers, decltype(handler)>>(this, buffers,
                                                                                      std::move(handler)),
                      state_ ? &out().writer : nullptr);
            },
            token, buffers);
    }

    /// Waits until a read would not block (bytes, end of stream, reset); only `wait_read`.
    template <class Token>
    auto async_wait(boost::asio::socket_base::wait_type what, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [this, what](auto handler) {
                auto h = intercept{std::move(handler),
                                   [](auto&& h, error_code ec, std::size_t) { std::move(h)(ec); }};
                auto waiter = std::make_unique<wait_waiter<decltype(h)>>(this, std::move(h));
                if (what != boost::asio::socket_base::wait_read)
                    return waiter->abort(boost::asio::error::operation_not_supported);
                start(std::move(waiter), state_ ? &in().reader : nullptr);
            },
            token);
    }

    /// Reads what is there now: `would_block` when nothing is (try_recv_into).
    std::size_t try_read_some(boost::asio::mutable_buffer buffer, error_code& ec) {
        ec = {};
        if (!state_) return ec = boost::asio::error::bad_descriptor, 0;
        auto& pipe = in();
        if (pipe.reset) return ec = boost::asio::error::connection_reset, 0;
        if (buffer.size() == 0) return 0;
        if (pipe.bytes.empty()) {
            ec = pipe.write_closed ? error_code(boost::asio::error::eof)
                                   : error_code(boost::asio::error::would_block);
            return 0;
        }
        auto chunk = state_->options.chunk;
        auto offer = chunk ? std::min(chunk, pipe.bytes.size()) : pipe.bytes.size();
        std::size_t n = boost::asio::buffer_copy(buffer, boost::asio::buffer(pipe.bytes.data(), offer));
        pipe.bytes.erase(0, n);
        if (pipe.writer && pipe.writer->resume()) pipe.writer.reset();  // room for the writer
        return n;
    }

    /// Writes what fits now: 0 when the peer's buffer is full (try_send).
    std::size_t try_write_some(boost::asio::const_buffer data, error_code& ec) {
        ec = {};
        if (!state_) return ec = boost::asio::error::bad_descriptor, 0;
        auto& pipe = out();
        if (pipe.write_closed || pipe.read_closed) return ec = boost::asio::error::broken_pipe, 0;
        auto capacity = std::max<std::size_t>(state_->options.capacity, 1);
        std::size_t n = std::min(data.size(), capacity - std::min(capacity, pipe.bytes.size()));
        pipe.bytes.append(static_cast<const char*>(data.data()), n);
        if (n > 0 && pipe.reader && pipe.reader->resume()) pipe.reader.reset();
        return n;
    }

private:
    memory_pipe& in() const { return state_->pipes[1 - side_]; }
    memory_pipe& out() const { return state_->pipes[side_]; }

    static void abort(std::unique_ptr<memory_waiter>& w) {
        if (auto waiter = std::move(w)) waiter->abort(boost::asio::error::operation_aborted);
    }

    /// Completes the operation at once if it can, else parks it in `slot` until its pipe changes.
    void start(std::unique_ptr<memory_waiter> waiter, std::unique_ptr<memory_waiter>* slot) {
        if (!slot) return waiter->abort(boost::asio::error::bad_descriptor);
        if (*slot) return waiter->abort(boost::asio::error::in_progress);  // one read, one write
        if (waiter->resume()) return;
        *slot = std::move(waiter);
    }

    /// What reads and writes share: the handler, its executor kept busy while it waits, and
    /// per-operation cancellation (cosock's timeouts cancel this way).
    template <class Handler>
    struct waiter_base : memory_waiter {
        waiter_base(memory_transport* t, Handler h)
            : state(t->state_),
              side(t->side_),
              executor(t->executor_),
              handler(std::move(h)),
              work(boost::asio::get_associated_executor(handler, executor)) {}

        std::shared_ptr<memory_state> state;
        int side;
        boost::asio::any_io_executor executor;
        Handler handler;
        boost::asio::executor_work_guard<
            boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>>
            work;

        void finish(error_code ec, std::size_t n) {
            work.reset();
            post_memory_result(executor, std::move(handler), ec, n);
        }
        void abort(error_code ec) override { finish(ec, 0); }

        /// Lets a cancellation take `parked` (this waiter) out of its pipe and complete it.
        void cancellable(std::unique_ptr<memory_waiter>& parked) {
            auto slot = boost::asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.assign([&parked](boost::asio::cancellation_type) {
                    if (auto self = std::move(parked)) self->abort(boost::asio::error::operation_aborted);
                });
        }
    };

    template <class Buffers, class Handler>
    struct read_waiter : waiter_base<Handler> {
        read_waiter(memory_transport* t, const Buffers& b, Handler h)
            : waiter_base<Handler>(t, std::move(h)), buffers(b) {
            this->cancellable(this->state->pipes[1 - this->side].reader);
        }
        Buffers buffers;

        bool resume() override {
            auto& pipe = this->state->pipes[1 - this->side];
            if (boost::asio::buffer_size(buffers) == 0) return this->finish({}, 0), true;
            if (pipe.reset) return this->finish(boost::asio::error::connection_reset, 0), true;
            if (!pipe.bytes.empty()) {
                auto chunk = this->state->options.chunk;
                auto offer = chunk ? std::min(chunk, pipe.bytes.size()) : pipe.bytes.size();
                std::size_t n =
                    boost::asio::buffer_copy(buffers, boost::asio::buffer(pipe.bytes.data(), offer));
                pipe.bytes.erase(0, n);
                this->finish({}, n);
                if (pipe.writer && pipe.writer->resume()) pipe.writer.reset();  // room for the writer
                return true;
            }
            if (pipe.write_closed) return this->finish(boost::asio::error::eof, 0), true;
            return false;
        }
    };

    template <class Buffers, class Handler>
    struct write_waiter : waiter_base<Handler> {
        write_waiter(memory_transport* t, const Buffers& b, Handler h)
            : waiter_base<Handler>(t, std::move(h)), buffers(b) {
            this->cancellable(this->state->pipes[this->side].writer);
        }
        Buffers buffers;

        bool resume() override {
            auto& pipe = this->state->pipes[this->side];
            // Our side shut down, or the peer closed: EPIPE, as a socket says.
            if (pipe.write_closed || pipe.read_closed)
                return this->finish(boost::asio::error::broken_pipe, 0), true;
            std::size_t size = boost::asio::buffer_size(buffers);
            if (size == 0) return this->finish({}, 0), true;
            auto capacity = std::max<std::size_t>(this->state->options.capacity, 1);
            if (pipe.bytes.size() >= capacity) return false;  // full: wait for the reader
            std::size_t n = std::min(size, capacity - pipe.bytes.size());
            auto old = pipe.bytes.size();
            pipe.bytes.resize(old + n);
            boost::asio::buffer_copy(boost::asio::buffer(pipe.bytes.data() + old, n), buffers);
            this->finish({}, n);
            if (pipe.reader && pipe.reader->resume()) pipe.reader.reset();
            return true;
        }
    };

    /// A pending wait_readable: in the reader's place, it completes without taking any byte.
    template <class Handler>
    struct wait_waiter : waiter_base<Handler> {
        wait_waiter(memory_transport* t, Handler h) : waiter_base<Handler>(t, std::move(h)) {
            if (this->state) this->cancellable(this->state->pipes[1 - this->side].reader);
        }

        bool resume() override {
            auto& pipe = this->state->pipes[1 - this->side];
            if (!pipe.bytes.empty() || pipe.write_closed || pipe.reset) return this->finish({}, 0), true;
            return false;
        }
    };

    executor_type executor_;
    std::shared_ptr<memory_state> state_;  // null once closed
    int side_;
};

}  // namespace cosock::detail

namespace cosock::testing {

/// One end of a memory stream pair (see `memory_stream_pair`). Move-only.
class COSOCK_EXPORT memory_stream : public detail::basic_stream<detail::memory_transport> {
public:
    memory_stream() = default;

    /// An abortive close (a TCP reset): the peer's reads fail with "Connection reset by peer".
    void reset() {
        if (auto* c = core_.get()) c->socket.reset();
    }

private:
    friend std::pair<memory_stream, memory_stream> memory_stream_pair(boost::asio::any_io_executor,
                                                                      memory_options);
    explicit memory_stream(detail::memory_transport t) : basic_stream(std::move(t), "memory") {}
};

inline std::pair<memory_stream, memory_stream> memory_stream_pair(boost::asio::any_io_executor executor,
                                                                  memory_options options) {
    auto state = std::make_shared<detail::memory_state>(options, executor);
    return {memory_stream(detail::memory_transport(executor, state, 0)),
            memory_stream(detail::memory_transport(executor, state, 1))};
}

inline std::pair<memory_stream, memory_stream> memory_stream_pair(memory_options options) {
    return memory_stream_pair(detail::current_executor(), options);
}

}  // namespace cosock::testing
