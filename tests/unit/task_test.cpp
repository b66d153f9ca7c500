// tests/unit/task_test.cpp — tests for cosock/task.hpp: run, sleep, task_scope.
// SPDX-License-Identifier: MIT
#include <cosock/task.hpp>
#include <cosock/tcp.hpp>

#include <csignal>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;

namespace {

using cosock_test::until;

cosock::task<void> wait_forever(bool& started, bool& unwound) {
    struct on_exit {
        bool& flag;
        ~on_exit() { flag = true; }
    } guard{unwound};
    started = true;
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor, 1h);
    co_await timer.async_wait(boost::asio::use_awaitable);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(task)

// On virtual time (support/co_test.hpp): the clock jumps to each deadline, so what these cases
// check about time is exact and cannot flake.
COSOCK_VIRTUAL_TIME_TEST(sleep_waits_the_duration) {
    auto start = cosock::testing::clock::now();
    co_await cosock::sleep(20ms);
    BOOST_TEST((cosock::testing::clock::now() - start == 20ms));
}

COSOCK_VIRTUAL_TIME_TEST(join_waits_for_every_child) {
    cosock::task_scope scope;
    std::vector<int> finished;
    for (int i = 0; i < 3; ++i)
        scope.spawn([](std::vector<int>& out, int i) -> cosock::task<void> {
            co_await cosock::sleep(std::chrono::milliseconds(3 - i));
            out.push_back(i);
        }(finished, i));
    BOOST_TEST(scope.size() == 3u);
    co_await scope.join();
    BOOST_TEST(scope.size() == 0u);
    BOOST_TEST((finished == std::vector<int>{2, 1, 0}));  // in the order of their deadlines
}

COSOCK_CO_TEST(a_child_error_cancels_its_siblings_and_comes_out_of_join) {
    cosock::task_scope scope;
    bool started = false, unwound = false;
    scope.spawn(wait_forever(started, unwound));
    scope.spawn([]() -> cosock::task<void> {
        co_await cosock_test::yield();
        throw std::runtime_error("child failed");
    }());
    BOOST_CHECK_EXCEPTION(co_await scope.join(), std::runtime_error, [](const std::runtime_error& e) {
        return e.what() == std::string("child failed");
    });
    BOOST_TEST(unwound);
}

COSOCK_CO_TEST(an_error_handler_sees_each_error_and_join_does_not_throw) {
    std::vector<std::string> errors;
    cosock::task_scope scope([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& error) {
            errors.push_back(error.what());
        }
    });
    for (auto text : {"one", "two"})
        scope.spawn([](std::string text) -> cosock::task<void> {
            throw std::runtime_error(text);
            co_return;
        }(text));
    co_await scope.join();
    BOOST_TEST(errors.size() == 2u);
}

COSOCK_VIRTUAL_TIME_TEST(join_with_grace_cancels_children_that_run_too_long) {
    cosock::task_scope scope;
    bool started = false, unwound = false;
    scope.spawn(wait_forever(started, unwound));  // an hour on a plain Asio timer (real time)
    auto start = cosock::testing::clock::now();
    co_await scope.join(10ms);
    BOOST_TEST(unwound);
    BOOST_TEST((cosock::testing::clock::now() - start == 10ms));  // the grace, not the hour
}

COSOCK_CO_TEST(cancelling_the_joiner_cancels_the_children_first) {
    bool started = false, unwound = false, joined = false;
    boost::asio::cancellation_signal cancel;
    auto executor = co_await boost::asio::this_coro::executor;
    auto joiner = [&]() -> cosock::task<void> {  // named: it outlives the coroutine
        cosock::task_scope scope;
        scope.spawn(wait_forever(started, unwound));
        co_await scope.join();
    };
    boost::asio::co_spawn(
        executor, joiner(),
        boost::asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr) { joined = true; }));
    co_await until(started);
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(joined);
    BOOST_TEST(unwound);  // the child had finished before join returned
}

BOOST_AUTO_TEST_CASE(run_returns_the_main_task_result) {
    BOOST_TEST(cosock::run([]() -> cosock::task<int> { co_return 7; }()) == 7);
    BOOST_TEST(cosock::run([]() -> cosock::task<void> { co_return; }()) == 0);
}

BOOST_AUTO_TEST_CASE(run_turns_an_exception_into_exit_code_1) {
    BOOST_TEST(cosock::run([]() -> cosock::task<int> {
                   throw std::runtime_error("boom");
                   co_return 0;
               }()) == 1);
}

BOOST_AUTO_TEST_CASE(no_event_loop_outside_run_is_a_clear_error) {
    BOOST_CHECK_EXCEPTION(
        cosock::tcp_listener::bind({"127.0.0.1", 0}), cosock::error, [](const cosock::error& e) {
            return e.what() == std::string("cosock: no event loop: call it inside cosock::run");
        });
}

// SIGINT cancels the main task: every coroutine unwinds (its destructors run) and run() returns
// 130. Checked in a child process, which reports "ready" and "unwound" through a pipe.
BOOST_AUTO_TEST_CASE(sigint_cancels_main_and_run_returns_130) {
    int fds[2];
    BOOST_REQUIRE(pipe(fds) == 0);
    pid_t child = fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        int code = cosock::run([](int out) -> cosock::task<int> {
            struct on_exit {
                int fd;
                ~on_exit() { (void)!write(fd, "u", 1); }
            } guard{out};
            auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
            (void)!write(out, "r", 1);
            auto accepted = co_await listener.accept();  // never comes: SIGINT ends the wait
            co_return 0;
        }(fds[1]));
        _exit(code);
    }
    close(fds[1]);
    char c = 0;
    BOOST_REQUIRE(read(fds[0], &c, 1) == 1);
    BOOST_TEST(c == 'r');
    kill(child, SIGINT);
    BOOST_REQUIRE(read(fds[0], &c, 1) == 1);
    BOOST_TEST(c == 'u');
    int status = 0;
    BOOST_REQUIRE(waitpid(child, &status, 0) == child);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 130);
    close(fds[0]);
}

BOOST_AUTO_TEST_CASE(sigterm_makes_run_return_143) {
    pid_t child = fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        _exit(cosock::run([]() -> cosock::task<int> {
            raise(SIGTERM);
            co_await cosock::sleep(1h);
            co_return 0;
        }()));
    }
    int status = 0;
    BOOST_REQUIRE(waitpid(child, &status, 0) == child);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 143);
}

BOOST_AUTO_TEST_CASE(a_signal_also_cancels_a_task_void_main) {
    pid_t child = fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        _exit(cosock::run([]() -> cosock::task<void> {
            raise(SIGINT);
            co_await cosock::sleep(1h);  // cancelled by the signal: must not wait an hour
        }()));
    }
    int status = 0;
    BOOST_REQUIRE(waitpid(child, &status, 0) == child);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 130);
}

BOOST_AUTO_TEST_SUITE_END()
