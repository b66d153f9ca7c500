// tests/unit/address_test.cpp — tests for cosock/address.hpp.
// SPDX-License-Identifier: MIT
#include <cosock/address.hpp>
#include <cosock/error.hpp>
#include <cosock/tcp.hpp>

#include <string>

#include "support/co_test.hpp"

namespace {

/// The what() of the error that parsing `text` throws ("" when it parses).
std::string parse_error(std::string_view text) {
    try {
        (void)cosock::address::parse(text);
    } catch (const cosock::error& e) {
        BOOST_TEST((e.code() == cosock::errc::bad_address));
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(address)

BOOST_AUTO_TEST_CASE(host_and_port_make_an_ipv4_address) {
    cosock::address a{"127.0.0.1", 8898};
    BOOST_TEST(a.is_numeric());
    BOOST_TEST(a.host() == "127.0.0.1");
    BOOST_TEST(a.port() == 8898);
    BOOST_TEST(a.to_string() == "127.0.0.1:8898");
    BOOST_TEST(fmt::format("{}", a) == "127.0.0.1:8898");
    BOOST_TEST(fmt::format("[{:>16}]", a) == "[  127.0.0.1:8898]");
}

BOOST_AUTO_TEST_CASE(parse_reads_ipv4_ipv6_and_names) {
    auto v4 = cosock::address::parse("127.0.0.1:8898");
    BOOST_TEST(v4 == (cosock::address{"127.0.0.1", 8898}));
    auto v6 = cosock::address::parse("[::1]:8080");
    BOOST_TEST(v6.ip().is_v6());
    BOOST_TEST(v6.to_string() == "[::1]:8080");
    BOOST_TEST(v6.host() == "::1");
    auto name = cosock::address::parse("localhost:80");
    BOOST_TEST(!name.is_numeric());
    BOOST_TEST(name.to_string() == "localhost:80");
    BOOST_TEST(cosock::address::parse("example.org:0").port() == 0);
    BOOST_TEST(cosock::address::parse("10.0.0.1:65535").port() == 65535);
}

BOOST_AUTO_TEST_CASE(ipv6_host_without_brackets_is_taken_by_the_constructor) {
    cosock::address a{"::1", 9000};
    BOOST_TEST(a.to_string() == "[::1]:9000");
    cosock::address b{"[::1]", 9000};
    BOOST_TEST(a == b);
}

BOOST_AUTO_TEST_CASE(endpoints_round_trip) {
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("::ffff:127.0.0.1"), 7);
    cosock::address a(ep);
    BOOST_TEST(a.to_string() == "[::ffff:127.0.0.1]:7");
    BOOST_TEST((a.tcp_endpoint() == ep));
    BOOST_TEST((a.udp_endpoint().port() == 7));
}

BOOST_AUTO_TEST_CASE(bad_strings_give_one_clear_line) {
    BOOST_TEST(parse_error("127.0.0.1") == "bad address \"127.0.0.1\": missing port (expected HOST:PORT)");
    BOOST_TEST(parse_error("127.0.0.1:") == "bad address \"127.0.0.1:\": missing port (expected HOST:PORT)");
    BOOST_TEST(parse_error("::1:80") == "bad address \"::1:80\": an IPv6 address needs brackets: [::1]:PORT");
    BOOST_TEST(parse_error("[::1:80") == "bad address \"[::1:80\": missing ']' after IPv6 address");
    BOOST_TEST(parse_error("[::1]80") == "bad address \"[::1]80\": missing port (expected [IPv6]:PORT)");
    BOOST_TEST(parse_error("[::g]:80") == "bad address \"[::g]:80\": not a valid IPv6 address");
    BOOST_TEST(parse_error("host:http") == "bad address \"host:http\": port is not a number");
    BOOST_TEST(parse_error("host:-1") == "bad address \"host:-1\": port out of range (0-65535)");
    BOOST_TEST(parse_error("host:65536") == "bad address \"host:65536\": port out of range (0-65535)");
    BOOST_TEST(parse_error("host:99999999999999999999") ==
               "bad address \"host:99999999999999999999\": port out of range (0-65535)");
    BOOST_TEST(parse_error(":80") == "bad address \":80\": empty host");
    BOOST_TEST(parse_error("[]:80") == "bad address \"[]:80\": empty host");
    // Empty brackets are no host either: once they were taken for 0.0.0.0 (every interface).
    BOOST_CHECK_EXCEPTION(cosock::address("[]", 80), cosock::error, [](const cosock::error& e) {
        return std::string(e.what()) == "bad address \"[]:80\": empty host";
    });
    BOOST_TEST(parse_error("bad host:80") ==
               "bad address \"bad host:80\": not a valid host name or IP address");
    BOOST_TEST(parse_error("") == "bad address \"\": missing port (expected HOST:PORT)");
    BOOST_TEST(parse_error(std::string("a\0b:1", 5)) ==
               "bad address \"a\\x00b:1\": not a valid host name or IP address");
}

BOOST_AUTO_TEST_CASE(port_out_of_range_in_the_constructor) {
    BOOST_CHECK_EXCEPTION((cosock::address{"127.0.0.1", 70000}), cosock::error, [](const cosock::error& e) {
        return std::string(e.what()) == "bad address \"127.0.0.1:70000\": port out of range (0-65535)";
    });
    BOOST_CHECK_THROW((cosock::address{"127.0.0.1", -1}), cosock::error);
    BOOST_CHECK_THROW((cosock::address{"", 80}), cosock::error);
}

BOOST_AUTO_TEST_CASE(parse_has_a_non_throwing_form) {
    std::error_code ec;
    auto bad = cosock::address::parse("nonsense", ec);
    BOOST_TEST((ec == cosock::errc::bad_address));
    BOOST_TEST(bad == cosock::address());
    auto good = cosock::address::parse("127.0.0.1:1", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(good.port() == 1);
}

BOOST_AUTO_TEST_CASE(a_name_has_no_endpoint_until_resolved) {
    auto name = cosock::address::parse("localhost:80");
    BOOST_CHECK_THROW((void)name.tcp_endpoint(), cosock::error);
}

COSOCK_CO_TEST(localhost_is_resolved_asynchronously_by_connect) {
    auto listener = cosock::tcp_listener::bind({"127.0.0.1", 0});
    auto port = listener.local_address().port();
    auto client = co_await cosock::tcp_stream::connect({"localhost", port});
    auto [server, peer] = co_await listener.accept();
    BOOST_TEST(client.peer_address().to_string() == fmt::format("127.0.0.1:{}", port));
}

BOOST_AUTO_TEST_SUITE_END()

// Run only inside a network namespace (tests/support/in_netns.sh): there the resolver fails at
// once, without sending a DNS query anywhere.
BOOST_AUTO_TEST_SUITE(address_offline, *boost::unit_test::disabled())

COSOCK_CO_TEST(an_unresolvable_name_gives_a_clear_connect_error) {
    std::string message;
    try {
        (void)co_await cosock::tcp_stream::connect({"no-such-host.invalid", 80});
    } catch (const cosock::error& e) {
        message = e.what();
    }
    BOOST_TEST_MESSAGE(message);
    BOOST_TEST(message.starts_with("connect to no-such-host.invalid:80: "));
    BOOST_TEST(message.size() > std::string("connect to no-such-host.invalid:80: ").size());
}

BOOST_AUTO_TEST_SUITE_END()
