// tests/unit/resolve_test.cpp — tests for cosock/resolve.hpp, and for connecting by name (Happy
// Eyeballs, tcp.hpp), over loopback. Names resolve through cosock::testing::resolver_override:
// no DNS, and lookups that block on a latch stand for a DNS server that does not answer.
// SPDX-License-Identifier: MIT
#include <cosock/resolve.hpp>
#include <cosock/tcp.hpp>
#include <cosock/testing.hpp>
#include <cosock/timeout.hpp>
#include <cosock/udp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <iterator>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
using cosock::address;
using cosock::address_family;
using cosock::testing::resolver_override;
using steady = std::chrono::steady_clock;

/// The message and code of what `op` throws ("" when it does not throw).
template <class Op>
cosock::task<std::pair<std::string, std::error_code>> failure_of(Op op) {
    try {
        (void)co_await std::move(op);
    } catch (const std::system_error& e) {
        co_return std::pair{std::string(e.what()), e.code()};
    }
    co_return std::pair{std::string(), std::error_code()};
}

/// An override that answers from fixed lists: `v6` to AAAA lookups, `v4` to A ones, both to a
/// lookup of any family; anything but `name` is not found.
resolver_override::function fixed(std::string name, std::vector<address> v6, std::vector<address> v4) {
    return [=](const std::string& host, int, std::optional<address_family> family) {
        if (host != name) throw boost::system::system_error(asio::error::host_not_found);
        std::vector<address> found;
        if (family != address_family::v4) found.insert(found.end(), v6.begin(), v6.end());
        if (family != address_family::v6) found.insert(found.end(), v4.begin(), v4.end());
        return found;
    };
}

/// Counts its latch down when the thread that set it exits: a lookup's helper thread exits after
/// it has posted its answer to the event loop.
struct count_down_at_thread_exit {
    std::latch* latch = nullptr;
    ~count_down_at_thread_exit() {
        if (latch) latch->count_down();
    }
};
thread_local count_down_at_thread_exit at_thread_exit;

/// `fixed`, with the AAAA answer held until the A answer has reached the event loop: then both
/// are in before the first attempt (a long resolution delay waits for the AAAA one), and the
/// attempts' order depends on nothing but the interleaving.
resolver_override::function a_then_aaaa(std::vector<address> v6, std::vector<address> v4) {
    auto a_posted = std::make_shared<std::latch>(1);
    return [=](const std::string&, int, std::optional<address_family> family) {
        if (family == address_family::v4) {
            at_thread_exit.latch = a_posted.get();
            return v4;
        }
        a_posted->wait();
        return v6;
    };
}

/// Lookups that block until the test opens `gate`: a DNS server that does not answer.
struct held_lookups {
    std::latch gate{1};
    std::atomic<int> entered{0};  // lookups waiting at the gate, or past it
    std::promise<void> released;  // set when nothing holds the override's function any more
};

/// An override whose lookups of `family` (all, when none) wait at `h->gate`, then answer `answer`;
/// the others answer `answer` at once. Its function's last copy, dropped by the last helper thread
/// or by the override itself, sets `h->released`: then no helper thread runs it any more.
resolver_override::function held(std::shared_ptr<held_lookups> h, std::vector<address> answer = {},
                                 std::optional<address_family> family = std::nullopt) {
    std::shared_ptr<void> last_copy(nullptr, [h](void*) { h->released.set_value(); });
    return [h, answer, family, last_copy](const std::string&, int, std::optional<address_family> asked) {
        if (!family || asked == family) {
            ++h->entered;
            h->gate.wait();
        }
        return answer;
    };
}

/// Waits until `n` lookups have reached the override (the helper threads are real threads: this
/// polls their progress, bounded; the verdict is the count, never the time).
cosock::task<void> wait_for_lookups(const held_lookups& h, int n) {
    for (int turn = 0; h.entered.load() < n; ++turn) {
        if (turn > 5000) throw std::runtime_error("the lookups never reached the override");
        co_await cosock::sleep(1ms);
    }
}

double milliseconds_since(steady::time_point start) {
    return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

/// A port on `host` where nobody listens: connecting to it is refused at once.
address closed_port(const char* host) {
    auto probe = cosock::tcp_listener::bind({host, 0});
    return probe.local_address();
}

bool ipv6_loopback_works() {
    try {
        (void)closed_port("::1");
        return true;
    } catch (const cosock::error& e) {
        BOOST_TEST_MESSAGE("IPv6 part skipped: no ::1 here: " << e.what());
        return false;
    }
}

std::size_t open_descriptors() {
    namespace fs = std::filesystem;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), {}));
}

/// A listener on [::1] whose accept queue is full: the kernel drops the SYN of any further
/// client, whose connect then stays unanswered (the client retries for minutes).
struct full_listener {
    cosock::tcp_listener listener;
    asio::ip::tcp::socket filler;
};

/// How many connections wait in the accept queue of `listener` (TCP_INFO of a listening socket).
unsigned queued_connections(cosock::tcp_listener& listener) {
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(listener.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) != 0)
        throw std::runtime_error("getsockopt TCP_INFO failed");
    return info.tcpi_unacked;
}

cosock::task<full_listener> listener_that_never_answers() {
    auto ex = co_await asio::this_coro::executor;
    full_listener f{cosock::tcp_listener::bind({"::1", 0}, {.backlog = 0}), asio::ip::tcp::socket(ex)};
    co_await f.filler.async_connect(f.listener.local_address().tcp_endpoint(), asio::use_awaitable);
    for (int turn = 0; queued_connections(f.listener) < 1; ++turn) {
        if (turn > 100000) throw std::runtime_error("the filler connection never reached the accept queue");
        co_await cosock_test::yield();
    }
    co_return f;
}

/// Looks `host` up on a helper thread and drops the answer: for tests of a lookup's lifetime, not
/// of its result ("localhost" answers from /etc/hosts; "stuck.test" never answers here).
cosock::task<void> look_up(std::string host) {
    (void)co_await cosock::resolve(host, 80);
}

/// The main task of a child process: connects to a name whose lookups never answer.
cosock::task<int> connect_forever() {
    (void)co_await cosock::tcp_stream::connect({"stuck.test", 80});
    co_return 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(resolve)

// --- resolve ----------------------------------------------------------------------------------

COSOCK_CO_TEST(a_numeric_host_resolves_to_itself) {
    auto asked = std::make_shared<std::atomic<int>>(0);  // lookups that reached a helper thread
    resolver_override names([asked](const std::string&, int, std::optional<address_family>) {
        ++*asked;
        return std::vector<address>();
    });
    auto v4 = co_await cosock::resolve("127.0.0.1", 8898);
    BOOST_TEST(v4 == std::vector<address>{address("127.0.0.1", 8898)});
    auto v6 = co_await cosock::resolve(address::parse("[::1]:80"));
    BOOST_TEST(v6 == std::vector<address>{address::parse("[::1]:80")});
    auto [message, code] = co_await failure_of(cosock::resolve("::1", 80, address_family::v4));
    BOOST_TEST(message == "resolve [::1]:80: the name resolves to no address");
    BOOST_TEST((code == cosock::errc::no_addresses));
    BOOST_TEST(asked->load() == 0);
}

COSOCK_CO_TEST(localhost_resolves_to_loopback) {
    auto found = co_await cosock::resolve("localhost", 8898);
    BOOST_TEST(!found.empty());
    for (const auto& a : found) {
        BOOST_TEST(a.is_numeric());
        BOOST_TEST(a.ip().is_loopback());
        BOOST_TEST(a.port() == 8898);
    }
    auto v4 = co_await cosock::resolve("localhost", 8898, address_family::v4);
    BOOST_TEST(v4 == std::vector<address>{address("127.0.0.1", 8898)});
}

COSOCK_CO_TEST(the_override_answers_in_place_of_the_system) {
    resolver_override names(fixed("db.test", {address::parse("[::1]:5432")}, {address("127.0.0.1", 5432)}));
    auto both = co_await cosock::resolve("db.test", 5432);
    BOOST_TEST(both.size() == 2u);
    auto v6 = co_await cosock::resolve("db.test", 5432, address_family::v6);
    BOOST_TEST(v6 == std::vector<address>{address::parse("[::1]:5432")});
    auto v4 = co_await cosock::resolve("db.test", 5432, address_family::v4);
    BOOST_TEST(v4 == std::vector<address>{address("127.0.0.1", 5432)});
}

COSOCK_CO_TEST(a_name_that_does_not_resolve_is_a_clear_error) {
    resolver_override names(fixed("db.test", {}, {}));
    auto [message, code] = co_await failure_of(cosock::resolve("nosuch.test", 80));
    BOOST_TEST(message == "resolve nosuch.test:80: Host not found (authoritative)");
    BOOST_TEST((code == std::error_code(boost::system::error_code(asio::error::host_not_found))));
    auto [nothing, none] = co_await failure_of(cosock::resolve("db.test", 80));
    BOOST_TEST(nothing == "resolve db.test:80: the name resolves to no address");
    BOOST_TEST((none == cosock::errc::no_addresses));
    auto [connect_message, connect_code] =
        co_await failure_of(cosock::tcp_stream::connect({"nosuch.test", 80}));
    BOOST_TEST(connect_message == "connect to nosuch.test:80: Host not found (authoritative)");
    auto [ec, found] = co_await cosock::nothrow(cosock::resolve("nosuch.test", 80));
    BOOST_TEST((ec == asio::error::host_not_found));
    BOOST_TEST(found.empty());
}

// --- a lookup that never answers: cancellation and timeouts return at once --------------------

COSOCK_CO_TEST(a_cancelled_connect_returns_while_its_lookups_are_still_stuck) {
    auto h = std::make_shared<held_lookups>();
    auto released = h->released.get_future();
    {
        resolver_override names(held(h));
        asio::cancellation_signal signal;
        bool done = false;
        std::exception_ptr error;
        auto ex = co_await asio::this_coro::executor;
        cosock_test::start_cancellable(cosock::tcp_stream::connect({"stuck.test", 80}), signal, done, error,
                                       ex);
        co_await wait_for_lookups(*h, 2);  // the AAAA and the A lookup both wait at the gate
        auto start = steady::now();
        signal.emit(asio::cancellation_type::terminal);
        co_await cosock_test::until(done);  // the gate is still closed: nothing waited for it
        BOOST_TEST_MESSAGE("connect stuck in resolution, cancelled: returned in " << milliseconds_since(start)
                                                                                  << " ms");
        BOOST_TEST(cosock::is_cancellation(error));
    }
    h->gate.count_down();  // the late answers now arrive, and must go nowhere
    BOOST_TEST((released.wait_for(10s) == std::future_status::ready));
}

COSOCK_CO_TEST(a_connect_stuck_in_resolution_times_out_at_its_timeout) {
    auto h = std::make_shared<held_lookups>();
    auto released = h->released.get_future();
    {
        resolver_override names(held(h));
        auto start = steady::now();
        auto [message, code] =
            co_await failure_of(cosock::timeout(100ms, cosock::tcp_stream::connect({"stuck.test", 80})));
        auto elapsed = milliseconds_since(start);
        BOOST_TEST_MESSAGE("connect stuck in resolution, timeout 100 ms: returned after " << elapsed
                                                                                          << " ms");
        BOOST_TEST(message == "connect to stuck.test:80: timed out after 0.1 s");
        BOOST_TEST((code == std::errc::timed_out));
        BOOST_TEST(h->entered.load() == 2);  // both lookups were still waiting at the gate
        BOOST_TEST(elapsed >= 99.0);
    }
    h->gate.count_down();
    BOOST_TEST((released.wait_for(10s) == std::future_status::ready));
}

COSOCK_CO_TEST(a_stuck_resolve_obeys_every_timeout_face) {
    auto h = std::make_shared<held_lookups>();
    auto released = h->released.get_future();
    {
        resolver_override names(held(h));
        auto start = steady::now();
        auto [ec, found] = co_await cosock::nothrow(cosock::timeout(50ms, cosock::resolve("stuck.test", 80)));
        BOOST_TEST_MESSAGE("resolve stuck, timeout 50 ms: returned after " << milliseconds_since(start)
                                                                           << " ms");
        BOOST_TEST((ec == std::errc::timed_out));

        cosock::set_default_timeout(50ms);
        auto [by_default, code] = co_await failure_of(cosock::resolve("stuck.test", 80));
        cosock::set_default_timeout(0s);
        BOOST_TEST(by_default == "resolve stuck.test:80: timed out after 0.05 s");
        BOOST_TEST((code == std::errc::timed_out));

        auto [deadline, deadline_code] = co_await failure_of(cosock::fail_after(50ms, look_up("stuck.test")));
        BOOST_TEST(deadline == "deadline: timed out after 0.05 s");
        auto moved_on = co_await cosock::move_on_after(50ms, look_up("stuck.test"));
        BOOST_TEST(!moved_on);
        BOOST_TEST(h->entered.load() == 4);
    }
    h->gate.count_down();
    BOOST_TEST((released.wait_for(10s) == std::future_status::ready));
}

// The event loop ends (and is destroyed) while a coroutine still waits for a lookup that has not
// answered: the loop does not wait for the helper thread, and the answer that comes later touches
// nothing of the loop (ASan would see it).
BOOST_AUTO_TEST_CASE(a_lookup_that_answers_after_its_event_loop_is_gone_touches_nothing) {
    auto h = std::make_shared<held_lookups>();
    auto released = h->released.get_future();
    {
        resolver_override names(held(h));
        asio::io_context context(1);
        cosock::detail::executor_scope scope(context.get_executor());
        bool finished = false;
        asio::co_spawn(context, look_up("stuck.test"), [&](std::exception_ptr) { finished = true; });
        for (int turn = 0; h->entered.load() < 1 && turn < 10000; ++turn) context.run_for(1ms);
        BOOST_TEST(h->entered.load() == 1);
        BOOST_TEST(!finished);
    }
    h->gate.count_down();
    BOOST_TEST((released.wait_for(10s) == std::future_status::ready));
}

// A loop's owner may destroy it as soon as its last coroutine has ended (run_with_virtual_time
// does, and so does a runner that stops its loop): here right after a lookup's answer ran, while
// the helper thread that queued the answer may still be inside Asio's post, about to release the
// work it held on the loop. The loop's shutdown waits for that helper. (It did not: the helper
// then released its work on the freed scheduler, whose memory the next loop of the thread had
// taken, and that loop stopped early: 59 to 198 of 200 such pairs failed on this 2-core machine.)
BOOST_AUTO_TEST_CASE(a_loop_destroyed_as_its_lookup_answers_leaves_the_next_loop_whole) {
    int stopped_early = 0;
    for (int i = 0; i < 50; ++i) {
        {
            asio::io_context context(1);
            cosock::detail::executor_scope scope(context.get_executor());
            asio::co_spawn(context, look_up("localhost"), [&](std::exception_ptr) { context.stop(); });
            context.run_for(cosock_test::scaled(10s));
        }
        asio::io_context next(1);
        bool ticked = false;
        asio::steady_timer timer(next, 1ms);
        timer.async_wait([&](boost::system::error_code) { ticked = true; });
        next.run_for(cosock_test::scaled(10s));
        if (!ticked) ++stopped_early;
    }
    BOOST_TEST(stopped_early == 0);
}

// Ctrl-C during a lookup that never answers: run() returns 130 at once, although the helper
// thread is still stuck (it holds no work on the loop). In a child process, whose stuck thread
// ends with it; the override reports through a pipe when the lookup has begun.
BOOST_AUTO_TEST_CASE(ctrl_c_during_a_stuck_lookup_ends_run_at_once) {
#if defined(__SANITIZE_THREAD__)
    BOOST_TEST_MESSAGE("skipped under ThreadSanitizer: it cannot start a thread in a forked child");
    return;
#endif
    int fds[2];
    BOOST_REQUIRE(pipe(fds) == 0);
    pid_t child = fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
        close(fds[0]);
        auto never = std::make_shared<std::latch>(1);
        resolver_override names(
            [never, out = fds[1]](const std::string&, int, std::optional<address_family>) {
                (void)!write(out, "r", 1);
                never->wait();
                return std::vector<address>();
            });
        _exit(cosock::run(connect_forever()));
    }
    close(fds[1]);
    char c = 0;
    BOOST_REQUIRE(read(fds[0], &c, 1) == 1);  // a lookup waits in the override
    auto start = steady::now();
    kill(child, SIGINT);
    int status = 0;
    BOOST_REQUIRE(waitpid(child, &status, 0) == child);
    BOOST_TEST_MESSAGE("Ctrl-C during a stuck lookup: run() returned after " << milliseconds_since(start)
                                                                             << " ms");
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 130);
    close(fds[0]);
}

// --- connecting by name: Happy Eyeballs --------------------------------------------------------

COSOCK_CO_TEST(every_address_refused_names_each_in_the_order_tried_alternating_families) {
    if (!ipv6_loopback_works()) co_return;
    auto a6 = closed_port("::1"), b6 = closed_port("::1");
    auto a4 = closed_port("127.0.0.1"), b4 = closed_port("127.0.0.1");
    resolver_override names(a_then_aaaa({a6, b6}, {a4, b4}));
    auto [message, code] =
        co_await failure_of(cosock::tcp_stream::connect({"refused.test", 80}, {.resolution_delay = 5s}));
    BOOST_TEST(message ==
               fmt::format("connect to refused.test:80: {}: Connection refused; {}: Connection refused; "
                           "{}: Connection refused; {}: Connection refused",
                           a6, a4, b6, b4));
    BOOST_TEST((code == std::errc::connection_refused));
}

COSOCK_CO_TEST(a_name_connects_to_the_address_that_accepts) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    std::vector<address> v6;
    if (ipv6_loopback_works()) v6.push_back(closed_port("::1"));
    resolver_override names(fixed("dual.test", v6, {closed_port("127.0.0.1"), listener.local_address()}));
    auto conn = co_await cosock::tcp_stream::connect({"dual.test", 80});
    auto [server, peer] = co_await listener.accept();
    BOOST_TEST(conn.peer_address() == listener.local_address());
    co_await conn.send("hi");
    auto got = co_await server.recv(10);
    BOOST_TEST(got == "hi");
}

COSOCK_CO_TEST(localhost_connects_by_name) {
    auto listener = cosock::tcp_listener::bind({"localhost", 0});
    BOOST_TEST(listener.local_address().host() == "127.0.0.1");
    auto conn = co_await cosock::tcp_stream::connect({"localhost", listener.local_address().port()});
    BOOST_TEST(conn.peer_address() == listener.local_address());
}

// The IPv6 address's SYN is dropped (its listener's accept queue is full): that attempt stays
// unanswered, and the IPv4 one starts after the attempt delay and wins. The unanswered attempt's
// socket is closed before connect completes.
COSOCK_CO_TEST(an_unanswered_ipv6_attempt_gives_way_to_ipv4_after_the_attempt_delay) {
    if (!ipv6_loopback_works()) co_return;
    auto silent = co_await listener_that_never_answers();
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    resolver_override names(
        fixed("dual.test", {silent.listener.local_address()}, {listener.local_address()}));
    for (auto delay : {250ms, 50ms}) {
        auto before = open_descriptors();
        auto start = steady::now();
        auto conn = co_await cosock::tcp_stream::connect({"dual.test", 80},
                                                         {.attempt_delay = delay, .resolution_delay = 5s});
        auto elapsed = milliseconds_since(start);
        BOOST_TEST_MESSAGE("IPv6 unanswered, attempt delay "
                           << delay.count() << " ms: connected over IPv4 after " << elapsed << " ms");
        BOOST_TEST(conn.peer_address() == listener.local_address());
        BOOST_TEST(elapsed >= double(delay.count()) - 1.0);  // IPv6 was tried first, and waited for
        BOOST_TEST(elapsed < 1000.0);                        // not for the SYN's retransmission (1 s)
        BOOST_TEST(open_descriptors() == before + 1);        // the connection; the IPv6 attempt is closed
        auto [server, peer] = co_await listener.accept();
    }
}

// The IPv4 answer came, the IPv6 one does not come: attempts start over IPv4 after the
// resolution delay, and the stuck lookup is abandoned.
COSOCK_CO_TEST(a_late_ipv6_answer_is_waited_for_only_the_resolution_delay) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto h = std::make_shared<held_lookups>();
    auto released = h->released.get_future();
    {
        resolver_override names(held(h, {listener.local_address()}, address_family::v6));
        auto start = steady::now();
        auto conn = co_await cosock::tcp_stream::connect({"slow6.test", 80});
        auto elapsed = milliseconds_since(start);
        BOOST_TEST_MESSAGE("AAAA stuck: connected over IPv4 after " << elapsed
                                                                    << " ms (resolution delay 50 ms)");
        BOOST_TEST(conn.peer_address() == listener.local_address());
        BOOST_TEST(elapsed >= 49.0);
        BOOST_TEST(h->entered.load() == 1);
    }
    h->gate.count_down();
    BOOST_TEST((released.wait_for(10s) == std::future_status::ready));
}

COSOCK_CO_TEST(a_connect_whose_attempts_are_pending_times_out_and_closes_them) {
    if (!ipv6_loopback_works()) co_return;
    auto silent = co_await listener_that_never_answers();
    auto target = silent.listener.local_address();
    resolver_override names(fixed("silent.test", {target}, {}));
    auto before = open_descriptors();
    auto start = steady::now();
    auto [message, code] =
        co_await failure_of(cosock::timeout(100ms, cosock::tcp_stream::connect({"silent.test", 80})));
    BOOST_TEST_MESSAGE("connect attempt unanswered, timeout 100 ms: returned after "
                       << milliseconds_since(start) << " ms");
    BOOST_TEST(message == "connect to silent.test:80: timed out after 0.1 s");
    BOOST_TEST((code == std::errc::timed_out));
    BOOST_TEST(open_descriptors() == before);
}

// --- names where no lookup may run: bind, and UDP ----------------------------------------------

COSOCK_CO_TEST(bind_takes_localhost_and_refuses_other_names) {
    auto tcp = cosock::tcp_listener::bind({"LocalHost", 0});
    BOOST_TEST(tcp.local_address().host() == "127.0.0.1");
    auto udp = cosock::udp_endpoint::bind({"localhost", 0});
    BOOST_TEST(udp.local_address().host() == "127.0.0.1");
    std::string tcp_message, udp_message;
    try {
        (void)cosock::tcp_listener::bind({"example.test", 8898});
    } catch (const cosock::error& e) {
        tcp_message = e.what();
        BOOST_TEST((e.code() == cosock::errc::bad_address));
    }
    try {
        (void)cosock::udp_endpoint::bind({"example.test", 9000});
    } catch (const cosock::error& e) {
        udp_message = e.what();
    }
    BOOST_TEST(tcp_message.starts_with("bind to example.test:8898: a host name: resolve it first"));
    BOOST_TEST(udp_message.starts_with("bind to example.test:9000: a host name: resolve it first"));
    std::error_code ec;
    auto none = cosock::tcp_listener::bind(co_await asio::this_coro::executor, {"example.test", 1}, {}, ec);
    BOOST_TEST((ec == cosock::errc::bad_address));
    BOOST_TEST(!none.is_open());
    co_return;
}

COSOCK_CO_TEST(udp_connect_and_resolve_look_names_up_off_the_loop) {
    auto server = cosock::udp_endpoint::bind({"127.0.0.1", 0});
    resolver_override names(fixed("peer.test", {address::parse("[::1]:9")}, {server.local_address()}));
    auto client = cosock::udp_endpoint::open(address_family::v4);
    auto peer = co_await client.connect({"peer.test", 0});
    BOOST_TEST(peer == server.local_address());  // the IPv4 address: the endpoint's version
    co_await client.send("named");
    auto [got, from] = co_await cosock::timeout(5s, server.recv_from(100));
    BOOST_TEST(got == "named");
    auto first = co_await cosock::udp_endpoint::resolve({"peer.test", 0});
    BOOST_TEST(first == address::parse("[::1]:9"));
    auto [message, code] = co_await failure_of(client.connect({"nosuch.test", 9}));
    BOOST_TEST(message == "connect to nosuch.test:9: Host not found (authoritative)");
}

BOOST_AUTO_TEST_SUITE_END()

// Run by ctest inside a network namespace where every TCP packet to ::1 is dropped
// (tests/support/in_netns_ipv6_blackhole.sh): an IPv6 address that never answers, for real.
BOOST_AUTO_TEST_SUITE(resolve_blackhole, *boost::unit_test::disabled())

COSOCK_CO_TEST(a_blackholed_ipv6_address_gives_way_to_ipv4_within_300_ms) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto port = listener.local_address().port();
    resolver_override names(fixed("dual.test", {address("::1", port)}, {listener.local_address()}));
    auto before = open_descriptors();
    auto start = steady::now();
    auto conn = co_await cosock::tcp_stream::connect({"dual.test", port});
    auto elapsed = milliseconds_since(start);
    BOOST_TEST_MESSAGE("IPv6 blackholed: connected over IPv4 after " << elapsed << " ms");
    BOOST_TEST(conn.peer_address() == listener.local_address());
    BOOST_TEST(elapsed < 300.0);
    BOOST_TEST(open_descriptors() == before + 1);
}

BOOST_AUTO_TEST_SUITE_END()
