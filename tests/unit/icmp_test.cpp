// tests/unit/icmp_test.cpp — tests for cosock/icmp.hpp: ICMP echo to loopback over raw sockets.
// Raw sockets need CAP_NET_RAW: the cases of icmp/loopback are skipped, saying why, without it.
// The error without it is checked in a child process that drops the capability (setpriv or
// capsh), or directly when this process lacks it already.
// SPDX-License-Identifier: MIT
#include <cosock/icmp.hpp>
#include <cosock/timeout.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <linux/icmp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include "support/co_test.hpp"

using namespace std::chrono_literals;

namespace {

using cosock_test::start_cancellable;
using cosock_test::until;

const cosock::address ipv4_loopback{"127.0.0.1", 0};

const std::string cap_net_raw_message =
    "open raw ICMP socket: Operation not permitted (needs CAP_NET_RAW: run as root, or setcap "
    "cap_net_raw+ep on the program)";

/// Whether this process may open raw sockets (has CAP_NET_RAW).
bool privileged() {
    int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

/// The precondition of icmp/loopback: without CAP_NET_RAW its cases are skipped, with a reason.
boost::test_tools::assertion_result needs_cap_net_raw(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result ok(privileged());
    ok.message() << "no CAP_NET_RAW in this process: raw ICMP sockets need it (run as root)";
    return ok;
}

/// The message and code of what `op` throws ("" when it does not throw).
template <class Op>
cosock::task<std::pair<std::string, std::error_code>> failure_of(Op op) {
    try {
        (void)co_await std::move(op);
    } catch (const cosock::error& e) {
        co_return std::pair(std::string(e.what()), e.code());
    }
    co_return std::pair(std::string(), std::error_code());
}

/// Sets the socket's ICMP_FILTER: a set bit keeps that ICMP type out of it.
void set_icmp_filter(int fd, std::uint32_t blocked_types) {
    icmp_filter filter{blocked_types};
    BOOST_REQUIRE(::setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) == 0);
}

// --- ICMP by hand: an implementation of its own, to check the library's against ----------------

std::uint16_t internet_checksum(std::string_view bytes) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < bytes.size(); i += 2) {
        auto high = static_cast<unsigned char>(bytes[i]);
        auto low = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0u;
        sum += high << 8 | low;
    }
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

/// An ICMP echo message (type 8: request, 0: reply) with a correct checksum.
std::string echo_message(int type, std::uint16_t id, std::uint16_t seq, std::string_view payload,
                         int code = 0) {
    std::string m{char(type),     char(code),      0, 0, char(id >> 8), char(id & 0xff),
                  char(seq >> 8), char(seq & 0xff)};
    m += payload;
    auto sum = internet_checksum(m);
    m[2] = char(sum >> 8);
    m[3] = char(sum & 0xff);
    return m;
}

/// One received packet, taken apart: the sender, the length of its IPv4 header, its ICMP message.
struct received_packet {
    std::string source;
    std::size_t ip_header_size = 0;
    std::string message;

    bool is_echo_reply(std::uint16_t id, std::uint16_t seq) const {
        return message.size() >= 8 && message[0] == 0 && message[1] == 0 &&
               static_cast<unsigned char>(message[4]) == id >> 8 &&
               static_cast<unsigned char>(message[5]) == (id & 0xff) &&
               static_cast<unsigned char>(message[6]) == seq >> 8 &&
               static_cast<unsigned char>(message[7]) == (seq & 0xff) && internet_checksum(message) == 0;
    }
};

std::optional<received_packet> parse(const unsigned char* p, std::size_t n) {
    if (n < 20) return std::nullopt;
    received_packet r;
    r.ip_header_size = (p[0] & 0x0f) * 4u;
    if (r.ip_header_size < 20 || r.ip_header_size > n) return std::nullopt;
    r.source = fmt::format("{}.{}.{}.{}", p[12], p[13], p[14], p[15]);
    r.message.assign(reinterpret_cast<const char*>(p) + r.ip_header_size, n - r.ip_header_size);
    return r;
}

/// The next packet waiting on `fd`, waiting up to `wait` for one (zero: none waits).
std::optional<received_packet> receive(int fd, std::chrono::milliseconds wait) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(wait.count())) != 1) return std::nullopt;
    std::array<unsigned char, 70000> buffer;
    auto n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return parse(buffer.data(), static_cast<std::size_t>(n));
}

/// A plain raw ICMP socket (no filter: it sees every ICMP packet, its own ones too), to send
/// packets that cosock would not and to watch what goes over loopback.
class raw_socket {
public:
    explicit raw_socket(const char* source = nullptr) : fd_(::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)) {
        BOOST_REQUIRE(fd_ >= 0);
        if (source) {
            sockaddr_in at = ipv4(source);
            BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
        }
    }
    ~raw_socket() { ::close(fd_); }
    raw_socket(const raw_socket&) = delete;
    raw_socket& operator=(const raw_socket&) = delete;

    void send_to(const std::string& message, const char* host) {
        sockaddr_in to = ipv4(host);
        auto n =
            ::sendto(fd_, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        BOOST_REQUIRE(n == static_cast<ssize_t>(message.size()));
    }

    /// The first packet for which `wanted` is true, waiting up to 5 s (times the slow factor:
    /// the kernel's loopback is real time); skips the others.
    template <class Pred>
    std::optional<received_packet> wait_for(Pred wanted) {
        auto deadline = std::chrono::steady_clock::now() + cosock_test::scaled(5s);
        while (std::chrono::steady_clock::now() < deadline) {
            auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            auto packet = receive(fd_, left);
            if (packet && wanted(*packet)) return packet;
        }
        return std::nullopt;
    }

private:
    static sockaddr_in ipv4(const char* host) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        auto bytes = boost::asio::ip::make_address_v4(host).to_bytes();
        std::memcpy(&a.sin_addr, bytes.data(), bytes.size());
        return a;
    }

    int fd_;
};

// --- a process without CAP_NET_RAW -----------------------------------------------------------

/// Runs `args` (args[0] looked up in PATH); its exit status, or -1 when it did not exit normally.
int run_program(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t child = ::fork();
    if (child == 0) {
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

/// The way to run a command without CAP_NET_RAW that works here (the arguments to put before
/// it), or nullopt when neither util-linux's setpriv nor libcap's capsh can.
std::optional<std::vector<std::string>> capability_dropper() {
    const std::vector<std::vector<std::string>> tools = {
        {"setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", "--"},
        {"capsh", "--drop=cap_net_raw", "--", "-c", "exec \"$0\" \"$@\""},
    };
    for (auto tool : tools) {
        auto probe = tool;
        probe.push_back("true");
        if (run_program(probe) == 0) return tool;
    }
    return std::nullopt;
}

/// What a process without CAP_NET_RAW must see (run directly, or as the child below).
void open_fails_saying_it_needs_cap_net_raw() {
    boost::asio::io_context context;
    try {
        auto sk = cosock::icmp_socket::open(context.get_executor());
        BOOST_ERROR("a raw ICMP socket opened without CAP_NET_RAW");
    } catch (const cosock::error& e) {
        BOOST_TEST(e.what() == cap_net_raw_message);
        BOOST_TEST((e.code() == std::errc::operation_not_permitted));
    }
}

/// The precondition of open_without_cap_net_raw_throws_a_clear_error: a process without
/// CAP_NET_RAW checks it directly; one with it needs a way to start a child without it.
boost::test_tools::assertion_result can_run_without_cap_net_raw(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result ok(!privileged() || capability_dropper().has_value());
    ok.message() << "neither setpriv nor capsh can drop CAP_NET_RAW here";
    return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(icmp)

BOOST_AUTO_TEST_CASE(an_echo_request_has_type_8_the_identifier_the_sequence_and_a_valid_checksum) {
    auto request = cosock::detail::make_echo_request(0x1234, 0xabcd, "odd");  // odd length: padded sum
    BOOST_TEST(request == echo_message(8, 0x1234, 0xabcd, "odd"));
    BOOST_TEST(internet_checksum(request) == 0);
    auto empty = cosock::detail::make_echo_request(1, 2, "");
    BOOST_TEST(empty == echo_message(8, 1, 2, ""));
    BOOST_TEST(cosock::icmp_socket::default_payload.size() == 56u);  // 64-byte messages, as ping(8)
}

BOOST_AUTO_TEST_CASE(a_socket_that_is_not_open_refuses_to_ping) {
    cosock::icmp_socket sk;
    BOOST_TEST(!sk.is_open());
    BOOST_CHECK_EXCEPTION(sk.ping(ipv4_loopback, 1), cosock::error, [](const cosock::error& e) {
        return e.code() == cosock::errc::not_open && std::string(e.what()) == "ping: socket not open";
    });
    BOOST_CHECK_THROW(sk.set_timeout(1s), cosock::error);
    sk.close();  // harmless
}

// Its own ctest test (unit.icmp_without_cap_net_raw): skipped where it cannot run.
BOOST_AUTO_TEST_CASE(open_without_cap_net_raw_throws_a_clear_error,
                     *boost::unit_test::precondition(can_run_without_cap_net_raw)) {
    if (!privileged()) return open_fails_saying_it_needs_cap_net_raw();
    auto dropper = capability_dropper();
    BOOST_TEST_REQUIRE(dropper.has_value());
    std::array<char, 4096> self{};
    BOOST_REQUIRE(::readlink("/proc/self/exe", self.data(), self.size() - 1) > 0);
    auto command = *dropper;
    command.insert(command.end(),
                   {self.data(), "--run_test=icmp_without_cap_net_raw", "--log_level=warning"});
    BOOST_TEST_MESSAGE("running " << fmt::format("{}", fmt::join(command, " ")));
    BOOST_TEST(run_program(command) == 0);  // the child's own checks failed, or it did not run
}

BOOST_AUTO_TEST_SUITE(loopback, *boost::unit_test::precondition(needs_cap_net_raw))

COSOCK_CO_TEST(ping_to_loopback_yields_the_round_trip_time) {
    auto sk = cosock::icmp_socket::open();
    BOOST_TEST(sk.is_open());
    BOOST_TEST(sk.native_handle() >= 0);
    BOOST_TEST((sk.timeout() == 0s));  // the process default
    for (std::uint16_t seq = 1; seq <= 3; ++seq) {
        auto rtt = co_await sk.ping(ipv4_loopback, seq);
        BOOST_TEST((rtt > 0ns && rtt < cosock_test::scaled(1s)));  // the kernel's: real time
    }
    auto from_127_0_0_2 = co_await sk.ping({"127.0.0.2", 0}, 4);  // all of 127/8 answers, each itself
    BOOST_TEST((from_127_0_0_2 > 0ns));
    auto other = cosock::icmp_socket::open();
    BOOST_TEST(other.identifier() != sk.identifier());
    auto id = other.identifier();
    auto moved = std::move(other);
    BOOST_TEST(moved.identifier() == id);
    BOOST_TEST(!other.is_open());
    auto again = co_await moved.ping(ipv4_loopback, 1);
    BOOST_TEST((again > 0ns));
    moved.close();
    BOOST_TEST(!moved.is_open());
}

COSOCK_CO_TEST(ping_sends_payloads_from_empty_to_65507_bytes) {
    auto sk = cosock::icmp_socket::open();
    for (std::size_t size : {0, 1, 1400, 65507}) {
        auto rtt = co_await sk.ping(ipv4_loopback, 1, std::string(size, 'p'));
        BOOST_TEST((rtt > 0ns), "payload of " << size << " bytes");
    }
    auto [what, code] = co_await failure_of(sk.ping(ipv4_loopback, 2, std::string(65508, 'p')));
    BOOST_TEST(what == "ping 127.0.0.1: Message too long");  // over IPv4's 65535-byte datagram
    BOOST_TEST((code == std::errc::message_size));
}

// Packets that look like the reply but are not, already waiting when the ping starts: if the
// ping took one of them, the real reply would still be waiting on the socket afterwards.
COSOCK_CO_TEST(ping_ignores_every_packet_but_its_reply) {
    auto sk = cosock::icmp_socket::open();
    set_icmp_filter(sk.native_handle(), 0);  // let every type in: its own request too
    auto id = sk.identifier();
    raw_socket peer, other_host("127.0.0.2");
    auto bad_checksum = echo_message(0, id, 1, "fake");
    bad_checksum[2] = char(bad_checksum[2] ^ 0x5a);
    std::vector<std::string> fakes = {
        echo_message(0, static_cast<std::uint16_t>(id + 1), 1, "fake"),  // another identifier
        echo_message(0, id, 2, "fake"),                                  // another sequence
        bad_checksum,                                                    // damaged
        echo_message(0, id, 1, "fake", 1),                               // code 1: not an echo reply
    };  // (one cut short of 8 bytes never reaches a raw socket: the kernel's ICMP_FILTER drops it)
    for (const auto& fake : fakes) peer.send_to(fake, "127.0.0.1");
    auto from_elsewhere = echo_message(0, id, 1, "from 127.0.0.2");  // not from the address pinged
    other_host.send_to(from_elsewhere, "127.0.0.1");
    fakes.push_back(from_elsewhere);
    // Every raw socket gets a packet at the same time: once peer has seen them all, sk has them.
    auto unseen = fakes;
    while (!unseen.empty()) {
        auto seen =
            peer.wait_for([&](const received_packet& p) { return std::erase(unseen, p.message) > 0; });
        BOOST_REQUIRE_MESSAGE(seen.has_value(), unseen.size() << " fakes never came back");
    }

    auto rtt = co_await sk.ping(ipv4_loopback, 1, "real");
    BOOST_TEST((rtt > 0ns));
    auto real = peer.wait_for([&](const received_packet& p) {
        return p.source == "127.0.0.1" && p.is_echo_reply(id, 1) && p.message.substr(8) == "real";
    });
    BOOST_REQUIRE(real.has_value());  // the kernel's reply has reached every raw socket, sk too
    int left = 0;
    while (auto p = receive(sk.native_handle(), 0ms))
        if (p->is_echo_reply(id, 1) && p->source == "127.0.0.1" && p->message.substr(8) == "real") ++left;
    BOOST_TEST(left == 0);  // the ping took the real reply, not one of the fakes
}

// The kernel echoes a Record Route option of the request in its reply, which makes the reply's
// IPv4 header 60 bytes long instead of 20: the ping must skip it by its length (IHL).
COSOCK_CO_TEST(ping_finds_its_reply_behind_ip_options) {
    auto sk = cosock::icmp_socket::open();
    sk.set_timeout(5s);  // a ping that misread the header would never see its reply
    std::array<unsigned char, 40> record_route{7, 39, 4};  // IPOPT_RR, length, pointer; 9 slots
    BOOST_REQUIRE(::setsockopt(sk.native_handle(), IPPROTO_IP, IP_OPTIONS, record_route.data(),
                               record_route.size()) == 0);
    raw_socket observer;
    auto rtt = co_await sk.ping(ipv4_loopback, 7);
    BOOST_TEST((rtt > 0ns));
    auto reply =
        observer.wait_for([&](const received_packet& p) { return p.is_echo_reply(sk.identifier(), 7); });
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->ip_header_size == 60u);  // the reply did carry the options
}

// A deterministic lost reply on loopback: the socket's own ICMP_FILTER drops every ICMP type
// before it reaches the socket, so the kernel answers but the ping never sees the answer.
COSOCK_CO_TEST(ping_times_out_when_no_reply_comes_and_the_socket_stays_usable) {
    auto sk = cosock::icmp_socket::open();
    set_icmp_filter(sk.native_handle(), ~0u);
    sk.set_timeout(100ms);
    BOOST_TEST((sk.timeout() == 100ms));
    auto start = std::chrono::steady_clock::now();
    try {
        (void)co_await sk.ping(ipv4_loopback, 1);
        BOOST_ERROR("a ping whose reply was filtered out completed");
    } catch (const cosock::timeout_error& e) {
        BOOST_TEST(e.what() == std::string("ping 127.0.0.1: timed out after 0.1 s"));
        BOOST_TEST((e.code() == std::errc::timed_out));
        BOOST_TEST((e.timeout() == 100ms));
    }
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 100ms));
    auto [what, code] = co_await failure_of(cosock::timeout(50ms, sk.ping(ipv4_loopback, 2)));
    BOOST_TEST(what == "ping 127.0.0.1: timed out after 0.05 s");
    auto [ec, rtt] = co_await cosock::nothrow(cosock::timeout(20ms, sk.ping(ipv4_loopback, 3)));
    BOOST_TEST((ec == std::errc::timed_out));
    BOOST_TEST((rtt == 0ns));
    set_icmp_filter(sk.native_handle(), ~(1u << ICMP_ECHOREPLY));  // open's filter: replies only
    sk.set_timeout(5s);
    auto after = co_await sk.ping(ipv4_loopback, 4);
    BOOST_TEST((after > 0ns));
}

COSOCK_CO_TEST(ipv6_addresses_and_host_names_are_refused_with_a_clear_error) {
    auto sk = cosock::icmp_socket::open();
    auto [v6, v6_code] = co_await failure_of(sk.ping({"::1", 0}, 1));
    BOOST_TEST(v6 == "ping [::1]: ICMP echo here is IPv4 only");
    BOOST_TEST((v6_code == std::errc::address_family_not_supported));
    auto [name, name_code] = co_await failure_of(sk.ping({"localhost", 0}, 1));
    BOOST_TEST(name == "ping localhost: ping takes a numeric IPv4 address, not a host name");
    BOOST_TEST((name_code == std::errc::invalid_argument));
    auto [ec, rtt] = co_await cosock::nothrow(sk.ping({"::1", 0}, 1));
    BOOST_TEST((ec == std::errc::address_family_not_supported));
    auto fine = co_await sk.ping(ipv4_loopback, 1);  // a refused ping leaves the socket as it was
    BOOST_TEST((fine > 0ns));
}

COSOCK_CO_TEST(one_ping_at_a_time_and_cancel_or_close_ends_a_pending_one) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto sk = cosock::icmp_socket::open();
    set_icmp_filter(sk.native_handle(), ~0u);  // no reply ever arrives: the pings stay pending
    boost::asio::cancellation_signal cancel;
    bool done = false;
    std::exception_ptr error;
    start_cancellable(sk.ping(ipv4_loopback, 1), cancel, done, error, ex);
    co_await cosock_test::yield();
    auto [what, code] = co_await failure_of(sk.ping(ipv4_loopback, 2));
    BOOST_TEST(what == "ping 127.0.0.1: another read is already pending on this socket");
    BOOST_TEST((code == cosock::errc::concurrent_read));
    cancel.emit(boost::asio::cancellation_type::terminal);
    co_await until(done);
    BOOST_TEST(cosock::is_cancellation(error));

    done = false;
    start_cancellable(sk.ping(ipv4_loopback, 3), cancel, done, error, ex);
    co_await cosock_test::yield();
    sk.close();
    co_await until(done);
    BOOST_TEST(cosock::is_cancellation(error));
    auto [closed, closed_code] = co_await failure_of(sk.ping(ipv4_loopback, 4));
    BOOST_TEST(closed == "ping 127.0.0.1: Bad file descriptor");
}

BOOST_AUTO_TEST_SUITE_END()  // loopback

BOOST_AUTO_TEST_SUITE_END()  // icmp

// Run only by open_without_cap_net_raw_throws_a_clear_error, in a child without CAP_NET_RAW
// (disabled: a plain run of every suite skips it; --run_test naming it runs it).
BOOST_AUTO_TEST_SUITE(icmp_without_cap_net_raw, *boost::unit_test::disabled())

BOOST_AUTO_TEST_CASE(open_fails_saying_it_needs_cap_net_raw) {
    open_fails_saying_it_needs_cap_net_raw();
}

BOOST_AUTO_TEST_SUITE_END()
