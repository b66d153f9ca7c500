// icmp.cpp — the compiled half of icmp.hpp: opening a raw ICMP socket (and saying why it could
// not be opened), building echo requests and recognising their replies.
// SPDX-License-Identifier: MIT
#include <cosock/icmp.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <random>

#include <linux/icmp.h>  // ICMP_FILTER, struct icmp_filter
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

namespace cosock {

namespace asio = boost::asio;
using icmp = asio::ip::icmp;
using detail::error_code;

namespace detail {
namespace {

constexpr unsigned char echo_reply = 0;
constexpr unsigned char echo_request = 8;
constexpr std::size_t icmp_header_size = 8;  // type, code, checksum, identifier, sequence

std::uint16_t read16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

void write16(unsigned char* p, std::uint16_t value) {
    p[0] = static_cast<unsigned char>(value >> 8);
    p[1] = static_cast<unsigned char>(value & 0xff);
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of the
/// message's 16-bit words. Over a message that carries its checksum, it is 0 when intact.
std::uint16_t checksum(const unsigned char* data, std::size_t size) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < size; i += 2) sum += read16(data + i);
    if (size % 2 != 0) sum += static_cast<std::uint32_t>(data[size - 1]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

/// Whether `packet` (an IPv4 datagram as a raw socket receives it) is the echo reply to `x`:
/// from the address pinged, ICMP type 0 code 0, our identifier and sequence, checksum intact.
/// The ICMP message starts after the IPv4 header, whose length (IHL, in 32-bit words) varies
/// with its options.
bool is_reply_to(const echo_exchange& x, const unsigned char* packet, std::size_t size) {
    if (size < 20 || packet[0] >> 4 != 4 || packet[9] != IPPROTO_ICMP) return false;
    std::size_t header = (packet[0] & 0x0fu) * 4u;
    if (header < 20 || size < header + icmp_header_size) return false;
    if (!std::equal(packet + 12, packet + 16, x.to.address().to_v4().to_bytes().begin())) return false;
    const unsigned char* message = packet + header;
    return message[0] == echo_reply && message[1] == 0 && read16(message + 4) == x.identifier &&
           read16(message + 6) == x.sequence && checksum(message, size - header) == 0;
}

/// The refusals of `ping_target_error`: their own messages, comparable to std::errc values.
enum class refusal { ipv4_only = 1, host_name };

class icmp_category : public std::error_category {
public:
    const char* name() const noexcept override { return "cosock.icmp"; }
    std::string message(int value) const override {
        switch (static_cast<refusal>(value)) {
            case refusal::ipv4_only:
                return "ICMP echo here is IPv4 only";
            case refusal::host_name:
                return "ping takes a numeric IPv4 address, not a host name";
        }
        return "unknown ICMP error";
    }
    std::error_condition default_error_condition(int value) const noexcept override {
        return static_cast<refusal>(value) == refusal::ipv4_only
                   ? std::make_error_condition(std::errc::address_family_not_supported)
                   : std::make_error_condition(std::errc::invalid_argument);
    }
};

const std::error_category& icmp_errors() {
    static const icmp_category instance;
    return instance;
}

/// A new identifier for each socket: consecutive within the process (no two sockets of one
/// process collide), from a random start (two processes rarely do).
std::uint16_t next_identifier() {
    static std::atomic<std::uint16_t> next{static_cast<std::uint16_t>(std::random_device()())};
    return next++;
}

}  // namespace

std::string make_echo_request(std::uint16_t identifier, std::uint16_t sequence, std::string_view payload) {
    std::string request(icmp_header_size, '\0');
    request += payload;
    auto* bytes = reinterpret_cast<unsigned char*>(request.data());
    bytes[0] = echo_request;
    write16(bytes + 4, identifier);
    write16(bytes + 6, sequence);
    write16(bytes + 2, checksum(bytes, request.size()));
    return request;
}

error_code ping_target_error(const address& to) {
    if (!to.is_numeric()) return std::error_code(static_cast<int>(refusal::host_name), icmp_errors());
    if (!to.ip().is_v4()) return std::error_code(static_cast<int>(refusal::ipv4_only), icmp_errors());
    return {};
}

std::string ping_where(const address& to) {
    return to.is_numeric() && to.ip().is_v6() ? fmt::format("[{}]", to.host()) : to.host();
}

error_code try_send_echo_request(int fd, echo_exchange& x) {
    ssize_t n = 0;
    do {
        x.sent = std::chrono::steady_clock::now();
        n = ::sendto(fd, x.request.data(), x.request.size(), MSG_DONTWAIT | MSG_NOSIGNAL, x.to.data(),
                     static_cast<socklen_t>(x.to.size()));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return error_code(errno, asio::error::get_system_category());
    return {};
}

error_code try_receive_echo_reply(int fd, echo_exchange& x) {
    auto* buffer = reinterpret_cast<unsigned char*>(x.reply.data());
    // At most 64 other packets per call: a host flooded with ICMP must not starve the event loop.
    for (int dropped = 0; dropped < 64; ++dropped) {
        ssize_t n = ::recv(fd, buffer, x.reply.size(), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return error_code(errno, asio::error::get_system_category());
        if (is_reply_to(x, buffer, static_cast<std::size_t>(n))) {
            x.received = std::chrono::steady_clock::now();
            return {};
        }
    }
    return asio::error::would_block;
}

}  // namespace detail

// --- icmp_socket --------------------------------------------------------------------------------

icmp_socket::icmp_socket(socket_type socket, std::uint16_t identifier)
    : core_(new core_type(std::move(socket))), identifier_(identifier) {}

icmp_socket icmp_socket::open() {
    return open(detail::current_executor());
}

icmp_socket icmp_socket::open(asio::any_io_executor executor) {
    socket_type socket(std::move(executor));
    error_code ec;
    socket.open(icmp::v4(), ec);
    if (ec == asio::error::no_permission || ec == asio::error::access_denied)
        throw error(
            ec, "open raw ICMP socket",
            ec.message() + " (needs CAP_NET_RAW: run as root, or setcap cap_net_raw+ep on the program)");
    if (ec) throw error(ec, "open raw ICMP socket");
    // Only echo replies reach this socket (a set bit filters its type out). An optimisation
    // only, so a kernel without ICMP_FILTER is no error: ping checks every packet anyway.
    icmp_filter filter{~(1u << ICMP_ECHOREPLY)};
    ::setsockopt(socket.native_handle(), SOL_RAW, ICMP_FILTER, &filter, sizeof filter);
    return icmp_socket(std::move(socket), detail::next_identifier());
}

void icmp_socket::set_timeout(std::chrono::steady_clock::duration timeout) {
    core_.core("set_timeout").timeout = std::max(timeout, std::chrono::steady_clock::duration::zero());
}

std::chrono::steady_clock::duration icmp_socket::timeout() const {
    return core_.core("timeout").timeout;
}

void icmp_socket::close() {
    if (auto* c = core_.get()) {
        error_code ignored;
        c->socket.close(ignored);
    }
}

bool icmp_socket::is_open() const noexcept {
    return core_.get() && core_.get()->socket.is_open();
}

int icmp_socket::native_handle() {
    return core_.core("native_handle").socket.native_handle();
}

}  // namespace cosock
