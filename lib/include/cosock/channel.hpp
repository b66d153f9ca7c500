// cosock/channel.hpp — a bounded queue between coroutines: senders wait while it is full,
// receivers while it is empty (Trio's memory channels, Tokio's mpsc, Go's channels).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/error.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/wait_list.hpp>

namespace cosock {

/// A queue of at most `capacity` values of `T` that coroutines hand to each other, in order.
/// `co_await ch.send(v)` waits while the queue is full (back-pressure on the producer);
/// `co_await ch.receive()` waits while it is empty. Capacity 0 is a rendezvous: each `send`
/// waits until a `receive` takes its value. Python: `asyncio.Queue(maxsize)`; Trio:
/// `open_memory_channel(capacity)`; Tokio: `mpsc::channel(capacity)`.
///
/// `close()` says that no more values will come: values already queued are still received, then
/// `receive()` yields `std::nullopt` (as `cosock::input` does at end of stdin), at once and every
/// time after. `send()` on a closed channel, and a `send()` pending when it closes, fail with
/// `std::errc::broken_pipe` ("send to channel: Broken pipe"), as a write to a closed pipe does.
///
/// `send` and `receive` are operations like a socket's: cancellable (Ctrl-C through
/// `cosock::run`, a cancelled `task_scope`, a deadline), then failing with `operation_aborted`;
/// `cosock::timeout(d, ch.receive())` throws `timeout_error` ("receive from channel: timed out
/// after 3 s"); `cosock::nothrow(...)` returns the error code instead. A cancelled `receive` takes
/// no value (it stays queued for the next one), and a cancelled `send` queues nothing. Waiters
/// are served first come, first served. Destroying the channel completes pending operations with
/// `operation_aborted` and drops the values still queued.
///
/// Single-threaded, like every cosock object: use it from the event loop's thread. Neither
/// copyable nor movable (waiters refer to it).
///
/// Example:
///     cosock::channel<std::string> lines(16);
///     scope.spawn(produce(lines));                 // co_await lines.send(...); lines.close();
///     while (auto line = co_await lines.receive())  // until closed and drained
///         fmt::print("{}\n", *line);
template <class T>
class channel {
    static_assert(std::is_move_constructible_v<T>, "a channel moves its values");

public:
    /// A channel that queues up to `capacity` values (0: none, every send meets a receive).
    explicit channel(std::size_t capacity) : capacity_(capacity) {}
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    /// Completes pending sends and receives with `operation_aborted`.
    ~channel() = default;

    /// Operation: queues `value`, or hands it to a waiting receiver; waits while the channel is
    /// full. `co_await` yields an empty `std::monostate`. Fails with `std::errc::broken_pipe` when
    /// the channel is (or gets) closed; then `value` is dropped.
    auto send(T value) {
        return detail::make_operation<std::monostate>(
            "send to", std::string_view("channel"), std::chrono::steady_clock::duration::zero(),
            [this, value = std::move(value)](auto handler,
                                             std::chrono::steady_clock::duration timeout) mutable {
                detail::start_wait(std::move(handler), timeout, [this, &value](auto h) {
                    if (closed_)
                        return detail::complete_wait_now(std::move(h), boost::asio::error::broken_pipe,
                                                         std::monostate{});
                    if (offer(value)) return detail::complete_wait_now(std::move(h), {}, std::monostate{});
                    detail::waiter_for<std::monostate, T, decltype(h)>::park(senders_, std::move(h),
                                                                             std::move(value));
                });
            });
    }

    /// Operation: the oldest value, waiting while there is none. `co_await` yields
    /// `std::optional<T>`: the value, or `std::nullopt` once the channel is closed and drained.
    auto receive() {
        return detail::make_operation<std::optional<T>>(
            "receive from", std::string_view("channel"), std::chrono::steady_clock::duration::zero(),
            [this](auto handler, std::chrono::steady_clock::duration timeout) {
                detail::start_wait(std::move(handler), timeout, [this](auto h) {
                    if (auto value = take())
                        return detail::complete_wait_now(std::move(h), {}, std::move(value));
                    if (closed_) return detail::complete_wait_now(std::move(h), {}, std::optional<T>());
                    detail::waiter_for<std::optional<T>, std::monostate, decltype(h)>::park(receivers_,
                                                                                            std::move(h), {});
                });
            });
    }

    /// Sends without waiting: true when `value` was queued or handed to a waiting receiver; false
    /// (and `value` left as it was) when the channel is full or closed.
    bool try_send(T&& value) { return !closed_ && offer(value); }
    bool try_send(const T& value) {
        T copy(value);
        return try_send(std::move(copy));
    }

    /// Receives without waiting: the oldest value, or `std::nullopt` when there is none now (use
    /// `is_closed()` to tell an empty channel from a finished one).
    std::optional<T> try_receive() { return take(); }

    /// Ends the channel: pending and later receives get the values still queued, then
    /// `std::nullopt`; pending and later sends fail with `std::errc::broken_pipe`. Closing twice
    /// does nothing.
    void close() {
        closed_ = true;
        while (!receivers_.empty()) receiver_at(receivers_.front())->complete({}, std::nullopt);
        while (!senders_.empty()) sender_at(senders_.front())->complete(boost::asio::error::broken_pipe, {});
    }

    /// Whether `close()` has been called.
    bool is_closed() const noexcept { return closed_; }
    /// How many values are queued.
    std::size_t size() const noexcept { return queue_.size(); }
    /// How many values the channel queues at most.
    std::size_t capacity() const noexcept { return capacity_; }

private:
    using receiver = detail::waiter<std::optional<T>, std::monostate>;
    using sender = detail::waiter<std::monostate, T>;
    static receiver* receiver_at(detail::parked* p) { return static_cast<receiver*>(p); }
    static sender* sender_at(detail::parked* p) { return static_cast<sender*>(p); }

    /// Hands `value` to the first waiting receiver, or queues it if there is room. Leaves `value`
    /// alone when neither is possible.
    bool offer(T& value) {
        if (!receivers_.empty()) {
            receiver_at(receivers_.front())->complete({}, std::optional<T>(std::move(value)));
            return true;
        }
        if (queue_.size() >= capacity_) return false;
        queue_.push_back(std::move(value));
        return true;
    }

    /// The oldest value: queued, or else that of the first waiting sender (capacity 0). A sender
    /// waiting for room gets the room just made.
    std::optional<T> take() {
        if (!queue_.empty()) {
            std::optional<T> value(std::move(queue_.front()));
            queue_.pop_front();
            if (!senders_.empty()) {
                auto* s = sender_at(senders_.front());
                queue_.push_back(std::move(s->payload));
                s->complete({}, {});
            }
            return value;
        }
        if (!senders_.empty()) {
            auto* s = sender_at(senders_.front());
            std::optional<T> value(std::move(s->payload));
            s->complete({}, {});
            return value;
        }
        return std::nullopt;
    }

    std::size_t capacity_;
    bool closed_ = false;
    std::deque<T> queue_;
    // Receivers wait only while nothing is queued, senders only while the queue is full: never
    // both at once.
    detail::wait_list receivers_;
    detail::wait_list senders_;
};

}  // namespace cosock
