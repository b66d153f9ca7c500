// cosock/udp.hpp — UDP: udp_endpoint sends and receives datagrams, to and from anyone.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/basic_datagram.hpp>
#include <cosock/error.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>

namespace cosock {

/// What `udp_endpoint::recv_from_into` received: size, sender, truncated, full_size.
using datagram_info = basic_datagram_info<address>;
/// One datagram of `udp_endpoint::recv_many`: data, sender, truncated, full_size.
using received_datagram = basic_received_datagram<address>;
/// A buffer of `udp_endpoint::recv_many_into` and what it received there: buffer, info.
using datagram_slot = basic_datagram_slot<address>;
/// One datagram of `udp_endpoint::send_many`: data, to.
using outgoing_datagram = basic_outgoing_datagram<address>;

/// How `udp_endpoint::bind` sets up the socket. The defaults are Python's: no sharing of ports.
struct udp_options {
    /// SO_REUSEADDR: several sockets may bind the same port (multicast receivers do).
    bool reuse_address = false;
    /// SO_REUSEPORT: several sockets (one per thread or process) share the port's datagrams.
    bool reuse_port = false;
    /// For an IPv6 address such as "[::]": false (the default, set explicitly rather than left to
    /// the system's setting) also receives IPv4 datagrams, from mapped addresses
    /// "[::ffff:a.b.c.d]"; true receives IPv6 only.
    bool v6_only = false;
};

/// A UDP socket (Python: `socket.socket(type=socket.SOCK_DGRAM)`). Move-only; closing is the
/// destructor's job, or `close()`.
///
/// Make one with `bind` (a server: a known address; port 0 lets the system choose) or `open` /
/// `open_for` (a client: the system gives it a port at its first send, as Python's `sendto` on
/// an unbound socket does). Each `send_to` sends one datagram; each `recv_from` receives one,
/// with its sender. `connect` fixes a peer for `send` / `recv`, and makes the kernel report
/// errors such as "Connection refused" (a datagram sent to a port where nobody listens).
///
/// Every `co_await`-able member returns an operation: awaited, it yields the value or throws a
/// `cosock::error` whose `what()` names the operation and the address ("send_to [::1]:9000:
/// Network is unreachable"); `cosock::nothrow(op)` gives `(error_code, value)` instead, and
/// `cosock::timeout(d, op)` a timeout for that one operation. At most one receive (recv_from,
/// recv_from_into, recv, recv_many, recv_many_into) and one send (send_to, send, send_many) may
/// be pending at a time: a second one
/// fails with `errc::concurrent_read` / `errc::concurrent_write`. Destroying the endpoint while an
/// operation is pending is safe: the operation fails with `operation_aborted`.
///
/// Operations take numeric addresses ("127.0.0.1:9000", "[::1]:9000"): a host name costs a DNS
/// lookup per datagram in Python, which an event loop cannot afford. `resolve` turns a name into
/// an address once, and `connect` resolves one itself, both off the event loop's thread
/// (`cosock::resolve`); `bind` takes a numeric address or "localhost".
///
/// `recv_many` / `recv_many_into` and `send_many` move many datagrams per system call
/// (recvmmsg, sendmmsg), for servers that see many at a time.
///
/// Example:
///     auto sk = cosock::udp_endpoint::bind({"127.0.0.1", 9000});
///     auto [msg, addr] = co_await sk.recv_from(1024);      // msg, addr = sk.recvfrom(1024)
///     co_await sk.send_to("hi", addr);                      // sk.sendto(b'hi', addr)
class COSOCK_EXPORT udp_endpoint : public detail::basic_datagram<boost::asio::ip::udp> {
public:
    /// An endpoint that is not open; every operation on it fails with `errc::not_open`.
    udp_endpoint() = default;
    /// Adopts an open Asio socket, bound or not, connected or not (Python: `socket(fileno=fd)`).
    explicit udp_endpoint(socket_type socket);

    /// Binds to `at`: a numeric address, or "localhost" (127.0.0.1). Any other host name is
    /// refused rather than looked up: bind is not an operation, and a lookup could block the event
    /// loop for seconds; resolve it first with `co_await cosock::resolve(...)`. Uses the event loop
    /// of `cosock::run`. Errors: "bind to 127.0.0.1:9000: Address already in use", "bind to
    /// example.test:9000: a host name: resolve it first (co_await cosock::resolve), ...".
    /// Python: `sk = socket.socket(type=SOCK_DGRAM); sk.bind(('127.0.0.1', 9000))`.
    static udp_endpoint bind(const address& at, const udp_options& options = {});
    static udp_endpoint bind(boost::asio::any_io_executor executor, const address& at,
                             const udp_options& options = {});
    /// The non-throwing form: sets `ec` and returns a closed endpoint on failure.
    static udp_endpoint bind(boost::asio::any_io_executor executor, const address& at,
                             const udp_options& options, std::error_code& ec);

    /// An unbound endpoint of `family`, for a client: its first send binds it to a free port.
    /// Python: `socket.socket(socket.AF_INET, socket.SOCK_DGRAM)`.
    static udp_endpoint open(address_family family = address_family::v4);
    static udp_endpoint open(boost::asio::any_io_executor executor, address_family family);
    /// `open` with the family that can reach `peer`: IPv6 for an IPv6 address, else IPv4.
    static udp_endpoint open_for(const address& peer);

    /// The numeric address that `a` names: `a` itself when numeric, else the first address that
    /// `cosock::resolve(a)` yields. Operation yielding the `address`. Errors: "resolve
    /// nosuch.invalid:9000: Host not found (authoritative)".
    /// Python: `socket.getaddrinfo(host, port, type=SOCK_DGRAM)[0][4]`.
    ///
    /// Example:
    ///     auto ip_port = co_await cosock::udp_endpoint::resolve(opt.address);
    ///     auto sk = cosock::udp_endpoint::open_for(ip_port);
    static auto resolve(const address& a);

    /// Fixes the peer: `send` goes there, and only its datagrams are received. A later datagram
    /// sent to a port where nobody listens makes the next receive fail with "recv from
    /// 127.0.0.1:9999: Connection refused" (the kernel's ICMP report). Operation yielding the
    /// peer's numeric address: a host name is resolved first (`cosock::resolve`, addresses of
    /// the endpoint's IP version only); a numeric one completes at once. Errors: "connect to
    /// [::1]:9000: Address family not supported by protocol". Python: `sk.connect(('127.0.0.1',
    /// 9000))`.
    [[nodiscard]] auto connect(const address& to);

    /// Socket options (Python: `setsockopt`). Each throws `cosock::error` on failure
    /// ("set SO_BROADCAST on 127.0.0.1:9000: Bad file descriptor").
    void set_broadcast(bool on);  ///< SO_BROADCAST: allow sending to broadcast addresses
    bool broadcast() const;       ///< SO_BROADCAST's current value
    void set_ttl(int hops);       ///< IP_TTL / IPV6_UNICAST_HOPS of unicast datagrams
    int ttl() const;              ///< IP_TTL / IPV6_UNICAST_HOPS's current value

    /// Joins (leaves) the multicast group `group` ("239.1.2.3", "ff02::1") on one interface: for
    /// IPv4 `interface` is the interface's address ("127.0.0.1"), for IPv6 its name ("lo") or
    /// index; empty lets the kernel choose (IPv6: the group's scope, "ff02::1%lo"). The group's
    /// family must be the endpoint's. Errors: "join_group 239.1.2.3 on 0.0.0.0:5000: No such
    /// device". Python: `setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq)` (IPv6: IPV6_JOIN_GROUP).
    void join_group(std::string_view group, std::string_view interface = {});
    void leave_group(std::string_view group, std::string_view interface = {});  ///< see join_group
    /// IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: how far multicast datagrams go (1, the default:
    /// this network; 0: this host).
    void set_multicast_ttl(int hops);
    int multicast_ttl() const;  ///< the current multicast TTL / hop limit
    /// IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: whether this host's members get our datagrams.
    void set_multicast_loop(bool on);
    /// IP_MULTICAST_IF / IPV6_MULTICAST_IF: the interface multicast datagrams leave by, named as
    /// for `join_group`.
    void set_multicast_interface(std::string_view interface);

    /// The bound address, with the real port after binding port 0 or after the first send of an
    /// unbound endpoint (0.0.0.0:0 before). Python: `sk.getsockname()`.
    address local_address() const;
    /// The connected peer. Errors: "getpeername on 0.0.0.0:5000: Transport endpoint is not
    /// connected". Python: `sk.getpeername()`.
    address peer_address() const;

    /// Adopts a UDP socket's descriptor (Python: `socket.socket(fileno=fd)`), bound or not,
    /// connected or not. Errors as for `tcp_stream::from_fd`.
    static udp_endpoint from_fd(int fd);
    static udp_endpoint from_fd(boost::asio::any_io_executor executor, int fd);
};

}  // namespace cosock

#include <cosock/detail/datagram_operations.hpp>
#include <cosock/detail/udp_operations.hpp>
