// cosock/detail/wait_list.hpp — the operations parked on an event or a channel until they can
// complete: a FIFO list of waiters, each cancellable on its own through its handler's slot.
// SPDX-License-Identifier: MIT
#pragma once

#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>

#include <cosock/detail/operation.hpp>
#include <cosock/detail/socket_core.hpp>
#include <cosock/detail/watchdog.hpp>
#include <cosock/task.hpp>

namespace cosock::detail {

class wait_list;
class parked_registry;

/// One parked operation, linked into the wait_list of the object it waits on. It completes (and
/// frees itself) exactly once: woken by that object, cancelled through its handler's slot, or
/// aborted when the object is destroyed. If the event loop goes first, it is destroyed
/// without completing, as Asio destroys its own pending operations (parked_registry).
struct parked {
    parked() = default;
    parked(const parked&) = delete;
    parked& operator=(const parked&) = delete;
    virtual ~parked() = default;

    /// Completes with operation_aborted; used by cancellation and by the owner's destructor.
    virtual void abort() = 0;
    /// The event loop is going away: lets go of the cancellation slot, so that nothing calls the
    /// waiter while its handler (and the coroutine frames it owns) is destroyed.
    virtual void forget() noexcept = 0;

    parked* prev = nullptr;  // in `list`
    parked* next = nullptr;
    wait_list* list = nullptr;
    parked* loop_prev = nullptr;  // in `registry`
    parked* loop_next = nullptr;
    parked_registry* registry = nullptr;
};

/// Waiters in the order they came: an intrusive doubly linked list, so that a cancelled waiter
/// leaves from the middle in constant time and a wait allocates nothing but its own node.
class wait_list {
public:
    wait_list() = default;
    wait_list(const wait_list&) = delete;
    wait_list& operator=(const wait_list&) = delete;
    /// Waiters still parked when their object goes complete with operation_aborted: none is left
    /// pointing at freed memory.
    ~wait_list() { abort_all(); }

    bool empty() const noexcept { return head_ == nullptr; }
    parked* front() const noexcept { return head_; }

    void push_back(parked* p) noexcept {
        p->list = this;
        p->prev = tail_;
        p->next = nullptr;
        (tail_ ? tail_->next : head_) = p;
        tail_ = p;
    }

    void remove(parked* p) noexcept {
        (p->prev ? p->prev->next : head_) = p->next;
        (p->next ? p->next->prev : tail_) = p->prev;
        p->prev = p->next = nullptr;
        p->list = nullptr;
    }

    void abort_all() {
        while (head_) head_->abort();
    }

private:
    parked* head_ = nullptr;
    parked* tail_ = nullptr;
};

/// Every operation parked on an event or a channel of one event loop. A parked waiter's handler
/// owns the coroutine that waits, which may own the very event or channel: only the loop can end
/// that circle when it is destroyed with waits pending, so its shutdown destroys them, as it does
/// its own pending operations (and the test kit's memory streams).
class parked_registry : public boost::asio::execution_context::service {
public:
    static inline boost::asio::execution_context::id id;
    explicit parked_registry(boost::asio::execution_context& context) : service(context) {}

    static parked_registry& of(const boost::asio::any_io_executor& executor) {
        return boost::asio::use_service<parked_registry>(
            boost::asio::query(executor, boost::asio::execution::context));
    }

    void add(parked* p) noexcept {
        p->registry = this;
        p->loop_prev = nullptr;
        p->loop_next = head_;
        if (head_) head_->loop_prev = p;
        head_ = p;
    }

    void remove(parked* p) noexcept {
        (p->loop_prev ? p->loop_prev->loop_next : head_) = p->loop_next;
        if (p->loop_next) p->loop_next->loop_prev = p->loop_prev;
        p->loop_prev = p->loop_next = nullptr;
        p->registry = nullptr;
    }

private:
    void shutdown() override {
        // Unlink them all first: destroying one may destroy the objects the others wait on.
        std::vector<parked*> pending;
        while (head_) {
            auto* p = head_;
            remove(p);
            if (p->list) p->list->remove(p);
            p->forget();
            pending.push_back(p);
        }
        for (auto* p : pending) delete p;
    }

    parked* head_ = nullptr;
};

/// The executor a wait completes on: its handler's, else the event loop of this thread.
template <class Handler>
boost::asio::any_io_executor executor_of(const Handler& handler) {
    boost::asio::any_io_executor executor =
        boost::asio::get_associated_executor(handler, boost::asio::any_io_executor());
    return executor ? executor : current_executor();
}

/// Completes a wait whose result is there at once (complete_now: inline into an awaiting
/// coroutine, within the nesting budget; else posted).
template <class Handler, class Result>
void complete_wait_now(Handler handler, error_code ec, Result result) {
    auto executor = executor_of(handler);
    complete_now(executor, std::move(handler), ec, std::move(result));
}

/// A parked operation whose handler takes `(error_code, Result)`, carrying `payload` (the value
/// of a pending send; an empty struct for the others).
template <class Result, class Payload>
struct waiter : parked {
    explicit waiter(Payload p) : payload(std::move(p)) {}
    /// Unlinks the waiter, frees it and completes its handler from the event loop (never inline:
    /// it is called by whoever woke it, in the middle of their own code).
    virtual void complete(error_code ec, Result result) = 0;

    Payload payload;
};

template <class Result, class Payload, class Handler>
class waiter_for final : public waiter<Result, Payload> {
public:
    /// Parks a new waiter at the end of `list`, cancellable through `handler`'s slot.
    static void park(wait_list& list, Handler handler, Payload payload) {
        auto* w = new waiter_for(std::move(handler), std::move(payload));
        list.push_back(w);
        parked_registry::of(w->executor_).add(w);
        auto slot = boost::asio::get_associated_cancellation_slot(w->handler_);
        if (slot.is_connected())
            slot.assign([w](boost::asio::cancellation_type type) {
                using ct = boost::asio::cancellation_type;
                if ((type & (ct::terminal | ct::partial | ct::total)) != ct::none) w->abort();
            });
    }

    void complete(error_code ec, Result result) override {
        this->list->remove(this);
        this->registry->remove(this);
        // Before the handler moves: the slot handler (this very lambda, when cancelled) must not
        // run again once we are gone.
        boost::asio::get_associated_cancellation_slot(handler_).clear();
        auto handler = std::move(handler_);
        auto executor = std::move(executor_);
        delete this;
        post_completion(executor, std::move(handler), ec, std::move(result));
    }

    void abort() override { complete(boost::asio::error::operation_aborted, Result{}); }

    void forget() noexcept override { boost::asio::get_associated_cancellation_slot(handler_).clear(); }

private:
    waiter_for(Handler handler, Payload payload)
        : waiter<Result, Payload>(std::move(payload)),
          handler_(std::move(handler)),
          executor_(executor_of(handler_)) {}

    Handler handler_;
    boost::asio::any_io_executor executor_;
};

/// The start function of a wait on an event or a channel: `begin(handler)` either completes the
/// handler at once or parks it; a timeout (zero: none) puts a one-shot timer around it, whose
/// abort is reported as `std::errc::timed_out`.
template <class Handler, class Begin>
void start_wait(Handler handler, clock::duration timeout, Begin begin) {
    if (timeout <= clock::duration::zero()) return begin(std::move(handler));
    auto executor = executor_of(handler);
    start_with_timer(executor, timeout, std::move(handler), std::move(begin));
}

}  // namespace cosock::detail
