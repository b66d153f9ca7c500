// tests/unit/scope_test.cpp — tests for the lifetimes of cosock/task.hpp: scopes that cannot leak
// (with_scope, spawn(f, args...), task handles, a task_scope destroyed with children running),
// and how run() ends (what main leaves running, signals after main, a throwing handler).
// Most run on virtual time, so "waits an hour" and "cancelled after 50 ms" are exact and instant.
// SPDX-License-Identifier: MIT
#include <cosock/task.hpp>
#include <cosock/tcp.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;
using test_clock = cosock::testing::clock;

namespace {

/// Sets `flag` when the coroutine holding it unwinds, however it ends.
struct set_on_exit {
    bool& flag;
    ~set_on_exit() { flag = true; }
};

// --- the program of the report: an owner that fails before it joins --------------------------

cosock::task<void> child_counting(int& counter) {
    try {
        co_await cosock::sleep(1s);
    } catch (...) {
    }
    ++counter;  // with_scope keeps the owner's frame alive until here
}

cosock::task<void> owner_failing_before_join(int& seen) {
    int counter = 0;
    try {
        co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
            scope.spawn(child_counting(counter));
            co_await cosock::sleep(10ms);
            throw std::runtime_error("owner fails before join");
        });
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()) == "owner fails before join");
        seen = counter;  // the child has ended, cancelled, before with_scope rethrew
    }
}

// --- with_scope -------------------------------------------------------------------------------

cosock::task<void> sleep_then_push(test_clock::duration d, int id, std::vector<int>& order) {
    co_await cosock::sleep(d);
    order.push_back(id);
}

cosock::task<void> children_outlive_the_body(std::vector<int>& order, test_clock::duration& took) {
    auto began = test_clock::now();
    co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
        scope.spawn(sleep_then_push(2s, 2, order));
        scope.spawn(sleep_then_push(1s, 1, order));
        order.push_back(0);  // the body ends first
        co_return;
    });
    took = test_clock::now() - began;
}

cosock::task<void> fail_after_ms(int ms, const char* what) {
    co_await cosock::sleep(std::chrono::milliseconds(ms));
    throw std::runtime_error(what);
}

cosock::task<void> sleep_an_hour(bool& unwound) {
    set_on_exit guard{unwound};
    co_await cosock::sleep(1h);
}

cosock::task<void> first_child_error_cancels_everything(std::string& error, bool& body_unwound,
                                                        bool& sibling_unwound, test_clock::duration& took) {
    auto began = test_clock::now();
    try {
        co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
            set_on_exit guard{body_unwound};
            scope.spawn(sleep_an_hour(sibling_unwound));
            scope.spawn(fail_after_ms(20, "first"));
            scope.spawn(fail_after_ms(30, "second"));  // cancelled before it fails
            co_await cosock::sleep(1h);
        });
    } catch (const std::runtime_error& e) {
        error = e.what();
    }
    took = test_clock::now() - began;
}

cosock::task<void> scope_under_cancellation(bool& body_unwound, bool& child_unwound) {
    co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
        set_on_exit guard{body_unwound};
        scope.spawn(sleep_an_hour(child_unwound));
        co_await cosock::sleep(1h);
    });
}

cosock::task<void> caller_cancellation_reaches_everyone(bool& body_unwound, bool& child_unwound,
                                                        bool& unwound_before_end, std::string& how) {
    boost::asio::cancellation_signal signal;
    bool done = false;
    std::exception_ptr error;
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor, scope_under_cancellation(body_unwound, child_unwound),
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                              unwound_before_end = body_unwound && child_unwound;
                              error = e;
                              done = true;
                          }));
    co_await cosock::sleep(5ms);
    signal.emit(boost::asio::cancellation_type::terminal);
    co_await cosock_test::until(done);
    how = cosock::is_cancellation(error) ? "cancelled" : "something else";
}

cosock::task<void> finish_after(test_clock::duration d, bool& finished) {
    co_await cosock::sleep(d);
    finished = true;
}

cosock::task<void> grace_then_cancel(bool& quick_finished, bool& slow_finished, bool& slow_unwound,
                                     test_clock::duration& took) {
    auto began = test_clock::now();
    co_await cosock::with_scope(50ms, [&](cosock::task_scope& scope) -> cosock::task<void> {
        scope.spawn(finish_after(10ms, quick_finished));
        scope.spawn([&]() -> cosock::task<void> {
            set_on_exit guard{slow_unwound};
            co_await finish_after(1h, slow_finished);
        });
        co_return;  // the body ends: 50 ms of grace from now
    });
    took = test_clock::now() - began;
}

// --- spawn(f, args...) and handles ------------------------------------------------------------

cosock::task<void> append(std::string& out, std::string text) {
    co_await cosock_test::yield();  // runs after the statement that spawned it has ended
    out += text;
}

cosock::task<void> spawn_keeps_callables_alive(std::string& out) {
    cosock::task_scope scope;
    std::string suffix = "!";
    scope.spawn([&, text = std::string(100, 'x')]() -> cosock::task<void> {
        co_await cosock_test::yield();
        out += text.substr(0, 3) + suffix;  // the closure is the child's, not the statement's
    });
    scope.spawn(append, std::ref(out), std::string("abc"));
    co_await scope.join();
}

cosock::task<int> answer_after(test_clock::duration d, int value) {
    co_await cosock::sleep(d);
    co_return value;
}

cosock::task<int> fails_with(const char* what) {
    co_await cosock_test::yield();
    throw std::runtime_error(what);
}

cosock::task<void> handles_yield_results(int& sum, std::string& error, bool& late_done) {
    cosock::task_scope scope([](std::exception_ptr) {});  // errors reach the handles only
    auto a = scope.spawn(answer_after(20ms, 40));
    auto b = scope.spawn(answer_after(10ms, 2));
    auto bad = scope.spawn(fails_with("child failed"));
    int first = co_await a.result();
    int second = co_await b.result();
    int again = co_await b.result();  // a copyable result: every waiter gets it
    sum = first + second + again;
    try {
        (void)co_await bad.result();
    } catch (const std::runtime_error& e) {
        error = e.what();
    }
    // Cancelling a wait on a handle leaves the child running.
    auto late = scope.spawn(answer_after(1s, 7));
    bool timed_out = false;
    try {
        (void)co_await cosock::timeout(100ms, late.result());
    } catch (const cosock::timeout_error&) {
        timed_out = true;
    }
    BOOST_TEST(timed_out);
    BOOST_TEST(!late.done());
    int seven = co_await late.result();
    BOOST_TEST(seven == 7);
    late_done = late.done();
    co_await scope.join();
}

// --- serve: connections never outlive it --------------------------------------------------------

cosock::task<void> serve_with_a_failing_error_handler(std::string& error, bool& quiet_unwound,
                                                      bool& unwound_before_serve_ended) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto at = listener.local_address();
    auto quiet = co_await cosock::tcp_stream::connect(at);  // its handler waits for ever
    cosock::serve_options options;
    options.on_error = [](const cosock::address&, std::exception_ptr e) { std::rethrow_exception(e); };
    int connections = 0;
    bool quiet_started = false;
    auto handler = [&](cosock::tcp_stream conn, cosock::address) -> cosock::task<void> {
        if (++connections == 1) {
            set_on_exit guard{quiet_unwound};
            quiet_started = true;
            (void)co_await conn.recv(10);
        }
        throw std::runtime_error("handler failed");
    };
    co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
        scope.spawn([&]() -> cosock::task<void> {
            co_await cosock_test::until(quiet_started);
            auto failing = co_await cosock::tcp_stream::connect(at);
            (void)co_await failing.recv(10);  // the server closes it
        });
        try {
            co_await listener.serve(handler, options);
        } catch (const std::runtime_error& e) {
            error = e.what();
            unwound_before_serve_ended = quiet_unwound;
        }
    });
}

// --- bad input: a child fails while the others block in the kernel --------------------------------

int open_descriptors() {
    int n = -1;  // the directory iterator's own
    for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

cosock::task<void> block_in_accept(cosock::tcp_listener& sk) {
    (void)co_await sk.accept();
}

cosock::task<void> block_in_recv(cosock::tcp_stream& conn) {
    (void)co_await conn.recv(10);
}

cosock::task<void> one_fails_while_others_block(std::string& error) {
    auto sk = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto client = co_await cosock::tcp_stream::connect(sk.local_address());
    auto [server, peer] = co_await sk.accept();
    try {
        co_await cosock::with_scope([&](cosock::task_scope& scope) -> cosock::task<void> {
            scope.spawn(block_in_accept(sk));
            scope.spawn(block_in_recv(server));
            scope.spawn(block_in_recv(client));
            scope.spawn(fail_after_ms(5, "first failure"));
            co_await cosock::sleep(1h);
        });
    } catch (const std::runtime_error& e) {
        error = e.what();
    }
}

/// What a function run in a child process did: its wait status and what it wrote to stderr.
struct child_outcome {
    int status = 0;
    std::string stderr_text;
};

/// Runs `fn` in a child process (whose SIGABRT is not Boost.Test's) and waits for it; `after_start`
/// runs in the parent with the read end of a pipe the child writes to when `fn` calls `ready`.
template <class Fn, class Parent>
child_outcome in_child(Fn fn, Parent after_start) {
    int err[2], ready[2];
    BOOST_REQUIRE(pipe(err) == 0);
    BOOST_REQUIRE(pipe(ready) == 0);
    pid_t pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        std::signal(SIGABRT, SIG_DFL);  // not Boost.Test's handler: the parent checks the signal
        close(err[0]);
        close(ready[0]);
        int code = fn(ready[1]);
        _exit(code);
    }
    close(err[1]);
    close(ready[1]);
    after_start(pid, ready[0]);
    close(ready[0]);
    child_outcome out;
    char buffer[512];
    for (ssize_t n; (n = read(err[0], buffer, sizeof buffer)) > 0;)
        out.stderr_text.append(buffer, static_cast<std::size_t>(n));
    close(err[0]);
    waitpid(pid, &out.status, 0);
    return out;
}

void nothing(pid_t, int) {}

}  // namespace

BOOST_AUTO_TEST_SUITE(scope)

BOOST_AUTO_TEST_CASE(an_owner_failing_before_join_cannot_leave_a_child_dangling) {
    int seen = -1;
    cosock::testing::run_with_virtual_time(owner_failing_before_join(seen));
    BOOST_TEST(seen == 1);
}

BOOST_AUTO_TEST_CASE(with_scope_returns_when_every_child_has_ended) {
    std::vector<int> order;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(children_outlive_the_body(order, took));
    BOOST_TEST((order == std::vector<int>{0, 1, 2}));
    BOOST_TEST((took == 2s));
}

BOOST_AUTO_TEST_CASE(the_first_child_error_cancels_the_body_and_the_others) {
    std::string error;
    bool body_unwound = false, sibling_unwound = false;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(
        first_child_error_cancels_everything(error, body_unwound, sibling_unwound, took));
    BOOST_TEST(error == "first");
    BOOST_TEST(body_unwound);
    BOOST_TEST(sibling_unwound);
    BOOST_TEST((took == 20ms));
}

BOOST_AUTO_TEST_CASE(cancelling_the_caller_cancels_the_body_and_children_and_waits_for_them) {
    bool body_unwound = false, child_unwound = false, before_end = false;
    std::string how;
    cosock::testing::run_with_virtual_time(
        caller_cancellation_reaches_everyone(body_unwound, child_unwound, before_end, how));
    BOOST_TEST(before_end);
    BOOST_TEST(how == "cancelled");
}

BOOST_AUTO_TEST_CASE(a_grace_period_lets_children_finish_then_cancels_the_rest) {
    bool quick = false, slow = false, slow_unwound = false;
    test_clock::duration took{};
    cosock::testing::run_with_virtual_time(grace_then_cancel(quick, slow, slow_unwound, took));
    BOOST_TEST(quick);
    BOOST_TEST(!slow);
    BOOST_TEST(slow_unwound);
    BOOST_TEST((took == 50ms));
}

COSOCK_CO_TEST(a_failing_child_ends_children_blocked_in_accept_and_recv_and_leaks_nothing) {
    { auto warm_up = cosock::tcp_listener::bind({"127.0.0.1", 0}); }  // the reactor's own descriptors
    int before = open_descriptors();
    std::string error;
    co_await one_fails_while_others_block(error);
    BOOST_TEST(error == "first failure");
    BOOST_TEST(open_descriptors() == before);
}

COSOCK_CO_TEST(spawn_keeps_the_callable_and_its_arguments_alive_for_the_child) {
    std::string out;
    co_await spawn_keeps_callables_alive(out);
    BOOST_TEST((out == "xxx!abc" || out == "abcxxx!"));
}

BOOST_AUTO_TEST_CASE(a_handle_yields_the_childs_result_or_error) {
    int sum = 0;
    std::string error;
    bool late_done = false;
    cosock::testing::run_with_virtual_time(handles_yield_results(sum, error, late_done));
    BOOST_TEST(sum == 44);
    BOOST_TEST(error == "child failed");
    BOOST_TEST(late_done);
}

COSOCK_CO_TEST(serve_waits_for_its_connections_when_an_error_handler_throws) {
    std::string error;
    bool quiet_unwound = false, before_end = false;
    co_await serve_with_a_failing_error_handler(error, quiet_unwound, before_end);
    BOOST_TEST(error == "handler failed");
    BOOST_TEST(before_end);
}

/// The scope of the report without with_scope: the owner throws with a child running. In a
/// child process, since a debug build aborts.
cosock::task<void> owner_without_with_scope() {
    int counter = 0;
    cosock::task_scope scope;
    scope.spawn(child_counting(counter));
    co_await cosock::sleep(10ms);
    throw std::runtime_error("owner fails before join");
}

BOOST_AUTO_TEST_CASE(a_scope_destroyed_with_children_running_is_reported) {
    auto out = in_child(
        [](int) {
            try {
                cosock::testing::run_with_virtual_time(owner_without_with_scope());
            } catch (...) {
            }
            return 0;
        },
        nothing);
    BOOST_TEST(out.stderr_text.find("task_scope destroyed with 1 child still running") != std::string::npos,
               out.stderr_text);
#ifdef NDEBUG
    BOOST_TEST((WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0));  // the child was cancelled
#else
    BOOST_TEST((WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGABRT));
#endif
}

BOOST_AUTO_TEST_SUITE_END()

// --- run(): what main leaves behind ------------------------------------------------------------

namespace {

cosock::task<void> stray(test_clock::duration d, bool& finished, bool& destroyed) {
    set_on_exit guard{destroyed};
    co_await cosock::sleep(d);
    finished = true;
}

cosock::task<int> main_leaving_a_stray(test_clock::duration d, bool& finished, bool& destroyed) {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor, stray(d, finished, destroyed), boost::asio::detached);
    co_return 3;
}

/// Writes a byte to `fd` (the parent's cue), then sleeps for ever.
cosock::task<void> cue_then_sleep(int fd) {
    co_await cosock::sleep(1ms);  // main has ended by now
    (void)!write(fd, "!", 1);
    co_await cosock::sleep(1h);
}

cosock::task<int> main_leaving_a_sleeper(int fd) {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(executor, cue_then_sleep(fd), boost::asio::detached);
    co_return 0;
}

cosock::task<int> main_with_a_throwing_handler() {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::post(executor, [] { throw std::runtime_error("a handler threw"); });
    co_await cosock::sleep(1h);
    co_return 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(run_end)

BOOST_AUTO_TEST_CASE(what_main_left_running_may_finish_within_the_grace_period) {
    bool finished = false, destroyed = false;
    int code = cosock::run(main_leaving_a_stray(1ms, finished, destroyed), {.grace = 10s});
    BOOST_TEST(code == 3);
    BOOST_TEST(finished);
}

BOOST_AUTO_TEST_CASE(what_main_left_running_is_stopped_after_the_grace_period) {
    auto out = in_child(
        [](int) {
            bool finished = false, destroyed = false;
            int code = cosock::run(main_leaving_a_stray(1h, finished, destroyed), {.grace = 20ms});
            return code == 3 && !finished && destroyed ? 0 : 1;
        },
        nothing);
    BOOST_TEST((WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0));
    BOOST_TEST(out.stderr_text.find("coroutines still running 20 ms after main ended: stopping them") !=
                   std::string::npos,
               out.stderr_text);
}

BOOST_AUTO_TEST_CASE(after_main_ended_ctrl_c_ends_the_process) {
    auto out = in_child([](int ready) { return cosock::run(main_leaving_a_sleeper(ready), {.grace = 1h}); },
                        [](pid_t pid, int ready) {
                            char byte;
                            BOOST_REQUIRE(read(ready, &byte, 1) == 1);  // main has ended
                            kill(pid, SIGINT);
                        });
    BOOST_TEST((WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGINT), "status " << out.status);
}

BOOST_AUTO_TEST_CASE(an_exception_escaping_a_handler_is_reported_and_exits_1) {
    auto out = in_child([](int) { return cosock::run(main_with_a_throwing_handler()); }, nothing);
    BOOST_TEST((WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1));
    BOOST_TEST(out.stderr_text.find(": a handler threw") != std::string::npos, out.stderr_text);
}

// --- run_parallel ---------------------------------------------------------------------------------

struct loop_record {
    std::mutex mutex;
    std::vector<std::pair<int, std::thread::id>> seen;
    std::atomic<bool> first_has_waited = false;
    std::atomic<int> started_before_first = 0;
};

cosock::task<int> record_loop(loop_record& r, int index) {
    if (index != 0 && !r.first_has_waited) ++r.started_before_first;
    {
        std::lock_guard lock(r.mutex);
        r.seen.emplace_back(index, std::this_thread::get_id());
    }
    if (index == 0) r.first_has_waited = true;  // set before main(0) first waits
    co_await cosock::sleep(1ms);
    co_return 0;
}

BOOST_AUTO_TEST_CASE(run_parallel_runs_one_main_per_loop_each_on_its_own_thread) {
    loop_record r;
    int code = cosock::run_parallel(3, [&](int index) { return record_loop(r, index); });
    BOOST_TEST(code == 0);
    BOOST_TEST(r.started_before_first == 0);  // main(0) ran first, until it waited
    std::set<int> indices;
    std::set<std::thread::id> threads;
    for (auto& [index, id] : r.seen) {
        indices.insert(index);
        threads.insert(id);
    }
    BOOST_TEST((indices == std::set<int>{0, 1, 2}));
    BOOST_TEST(threads.size() == 3u);
    BOOST_TEST(threads.count(std::this_thread::get_id()) == 1u);  // the caller's thread runs loop 0
}

cosock::task<int> cue_then_wait(int fd) {
    (void)!write(fd, "!", 1);
    co_await cosock::sleep(1h);
    co_return 0;
}

BOOST_AUTO_TEST_CASE(a_signal_cancels_the_main_of_every_loop) {
    auto out = in_child(
        [](int ready) { return cosock::run_parallel(2, [ready](int) { return cue_then_wait(ready); }); },
        [](pid_t pid, int ready) {
            char bytes[2];
            for (std::size_t got = 0; got < 2;) {  // both loops wait now
                auto n = read(ready, bytes + got, 2 - got);
                BOOST_REQUIRE(n > 0);
                got += static_cast<std::size_t>(n);
            }
            kill(pid, SIGTERM);
        });
    BOOST_TEST((WIFEXITED(out.status) && WEXITSTATUS(out.status) == 128 + SIGTERM), "status " << out.status);
}

cosock::task<int> fail_or_wait(int index) {
    if (index == 1) {
        co_await cosock::sleep(1ms);
        throw std::runtime_error("loop 1 failed");
    }
    co_await cosock::sleep(1h);  // cancelled by loop 1's failure
    co_return 0;
}

BOOST_AUTO_TEST_CASE(a_failing_main_cancels_the_other_loops) {
    auto out = in_child([](int) { return cosock::run_parallel(2, fail_or_wait); }, nothing);
    BOOST_TEST((WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1), "status " << out.status);
    BOOST_TEST(out.stderr_text.find(": loop 1 failed") != std::string::npos, out.stderr_text);
}

BOOST_AUTO_TEST_CASE(run_parallel_needs_at_least_one_thread) {
    std::string message;
    try {
        cosock::run_parallel(0, fail_or_wait);
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST(message == "run_parallel: threads must be at least 1, not 0");
}

BOOST_AUTO_TEST_SUITE_END()
