// error.cpp — the "cosock" error category and the exception helpers of error.hpp.
// SPDX-License-Identifier: MIT
#include <cosock/error.hpp>

#include <fmt/format.h>
#include <boost/system/system_error.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/basic_socket.hpp>
#include <cosock/detail/operation.hpp>

namespace cosock {
namespace {

class category_impl : public std::error_category {
public:
    const char* name() const noexcept override { return "cosock"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::bad_address:
                return "bad address";
            case errc::concurrent_read:
                return "another read is already pending on this socket";
            case errc::concurrent_write:
                return "another send is already pending on this socket";
            case errc::line_too_long:
                return "line longer than the maximum";
            case errc::end_of_stream:
                return "end of stream before all the bytes arrived";
            case errc::no_event_loop:
                return "no event loop: call it inside cosock::run";
            case errc::not_open:
                return "socket not open";
            case errc::datagram_truncated:
                return "datagram truncated: longer than the receive buffer";
            case errc::no_addresses:
                return "the name resolves to no address";
        }
        return "unknown cosock error";
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

error::error(std::error_code code, const std::string& context) : error(code, context, code.message()) {}

error::error(std::error_code code, const std::string& context, const std::string& reason)
    : std::system_error(code, context), message_(context + ": " + reason) {}

namespace {
std::string seconds(std::chrono::steady_clock::duration d) {
    return fmt::format("{:g} s", std::chrono::duration<double>(d).count());
}
}  // namespace

timeout_error::timeout_error(const std::string& context, std::chrono::steady_clock::duration timeout,
                             std::size_t transferred, std::string received)
    : error(std::make_error_code(std::errc::timed_out), context, "timed out after " + seconds(timeout)),
      timeout_(timeout),
      transferred_(transferred),
      received_(std::move(received)) {}

bool is_cancellation(std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
        return error.code() == boost::system::errc::operation_canceled;
    } catch (const std::system_error& error) {
        return error.code() == std::errc::operation_canceled;
    } catch (...) {
        return false;
    }
}

void throw_error(std::error_code code, std::string_view context) {
    throw error(code, std::string(context));
}

namespace detail {

void fail(const error_code& ec, std::string_view what, std::string_view where) {
    throw error(ec, fmt::format("{} {}", what, where));
}

std::exception_ptr make_error(error_code ec, const char* what, std::string_view where) {
    return std::make_exception_ptr(error(ec, fmt::format("{} {}", what, where)));
}

std::exception_ptr make_timeout_error(const char* what, std::string_view where,
                                      std::chrono::steady_clock::duration timeout, std::size_t transferred,
                                      std::string received) {
    return std::make_exception_ptr(
        timeout_error(fmt::format("{} {}", what, where), timeout, transferred, std::move(received)));
}

std::exception_ptr make_end_of_stream_error(const char* what, std::string_view where, std::string received) {
    return std::make_exception_ptr(
        end_of_stream_error(fmt::format("{} {}", what, where), std::move(received)));
}

}  // namespace detail
}  // namespace cosock
