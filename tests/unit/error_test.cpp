// tests/unit/error_test.cpp — tests for cosock/error.hpp.
// SPDX-License-Identifier: MIT
#include <cosock/error.hpp>

#include <boost/test/unit_test.hpp>

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(cosock_errors_have_their_own_category) {
    std::error_code ec = cosock::errc::line_too_long;
    BOOST_TEST(ec.category().name() == std::string("cosock"));
    BOOST_TEST(ec.message() == "line longer than the maximum");
    BOOST_TEST((ec == cosock::errc::line_too_long));
    BOOST_TEST((ec != cosock::errc::bad_address));
    BOOST_TEST(cosock::category().message(999) == "unknown cosock error");
}

BOOST_AUTO_TEST_CASE(what_names_the_operation_and_the_reason) {
    cosock::error e(std::make_error_code(std::errc::connection_refused), "connect to 127.0.0.1:7777");
    BOOST_TEST(e.what() == std::string("connect to 127.0.0.1:7777: Connection refused"));
    BOOST_TEST((e.code() == std::errc::connection_refused));
    const std::system_error& base = e;  // catchable as the standard type
    BOOST_TEST(base.what() == e.what());
}

BOOST_AUTO_TEST_CASE(end_of_stream_error_keeps_the_bytes) {
    cosock::end_of_stream_error e("read_exact from 127.0.0.1:1", "abc");
    BOOST_TEST(e.received() == "abc");
    BOOST_TEST((e.code() == cosock::errc::end_of_stream));
    BOOST_TEST(e.what() ==
               std::string("read_exact from 127.0.0.1:1: end of stream before all the bytes arrived"));
}

BOOST_AUTO_TEST_CASE(throw_error_throws_cosock_error) {
    BOOST_CHECK_EXCEPTION(
        cosock::throw_error(cosock::errc::not_open, "recv"), cosock::error,
        [](const cosock::error& e) { return e.what() == std::string("recv: socket not open"); });
}

BOOST_AUTO_TEST_SUITE_END()
