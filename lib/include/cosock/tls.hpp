// cosock/tls.hpp — TLS: tls_context holds certificates and settings, tls_stream talks over TLS.
// SPDX-License-Identifier: MIT
//
// Not included by cosock.hpp: OpenSSL's headers are large, and only TLS programs need them.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <cosock/address.hpp>
#include <cosock/detail/basic_stream.hpp>
#include <cosock/export.hpp>
#include <cosock/task.hpp>
#include <cosock/tcp.hpp>

namespace cosock {

namespace detail {
using tls_transport = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
struct tls_context_state;  // tls.cpp
}  // namespace detail

/// What TLS connections share: the certificates to trust, the certificate to present, ALPN.
/// A cheap handle (copies share one OpenSSL context). Python: `ssl.SSLContext`.
///
/// Example:
///     auto ctx = cosock::tls_context::server("cert.pem", "key.pem");       // a server
///     auto client = cosock::tls_context::client();                          // system trust store
///     client.load_verify_file("ca.pem");                                    // and a private CA
class COSOCK_EXPORT tls_context {
public:
    /// For clients: verifies the server's certificate against the system's trust store and its
    /// name against the host connected to; TLS 1.2 or newer. Python: `ssl.create_default_context()`.
    static tls_context client();
    /// For servers: presents the certificate chain and private key of two PEM files; TLS 1.2 or
    /// newer. Throws `cosock::error`: "load certificate chain from cert.pem: No such file or
    /// directory", "load private key from key.pem: it does not match the certificate".
    static tls_context server(const std::string& certificate_chain_file, const std::string& private_key_file);

    /// Also trusts the certificates of a PEM file (a private CA, a self-signed server).
    /// Python: `ctx.load_verify_locations(cafile)`. Throws `cosock::error` as `server` does.
    void load_verify_file(const std::string& cafile);
    /// false: accept any certificate and any name (tests only: anyone can then read the traffic).
    /// Python: `ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE`.
    void set_verify_peer(bool on);
    bool verify_peer() const noexcept;
    /// ALPN: the protocols a client offers, or a server accepts, in order of preference
    /// ({"h2", "http/1.1"}). A server picks the first of its own that the client offers; with no
    /// protocol in common the connection goes on without one. Throws `errc::bad_address` for an
    /// empty name or one longer than 255 bytes. Python: `ctx.set_alpn_protocols([...])`.
    void set_alpn(const std::vector<std::string>& protocols);

    /// The Asio context underneath, for anything cosock lacks.
    boost::asio::ssl::context& asio_context() noexcept;

private:
    explicit tls_context(std::shared_ptr<detail::tls_context_state> s) : state_(std::move(s)) {}
    std::shared_ptr<detail::tls_context_state> state_;  // shared: a handshake keeps it alive
};

/// A TLS connection over TCP: the operations of `tcp_stream` (recv, recv_into, send, read_exact,
/// read_until, read_line, timeouts, `nothrow`, the Asio face for Beast), encrypted. Move-only.
/// Not wait_readable, try_recv_into or try_send (a compile error): the socket's readiness is not
/// that of decrypted bytes (detail::data_readiness says why).
///
/// Errors name the peer as for TCP. End of stream is the peer's close_notify; a peer that closes
/// the TCP connection without it (a truncated stream, which an attacker can cause) is an error:
/// "recv from 127.0.0.1:8443: stream truncated".
///
/// Example:
///     auto conn = co_await cosock::tls_stream::connect({"example.org", 443});
///     co_await conn.send("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
///     auto status = co_await conn.read_line();
class COSOCK_EXPORT tls_stream : public detail::basic_stream<detail::tls_transport> {
public:
    /// A stream that is not connected; every operation on it fails with `errc::not_open`.
    tls_stream() = default;

    /// Connects over TCP (resolving a name as `tcp_stream::connect` does), then makes the TLS
    /// handshake as a client: SNI and certificate checks for the host of `to` (a name or an IP
    /// address). The connect and the handshake each have the default timeout; bound both at once
    /// with `fail_after`. Python: `ctx.wrap_socket(socket.create_connection(to), server_hostname=host)`.
    /// Errors: "connect to ..." as for TCP; "TLS handshake with 127.0.0.1:8443: certificate
    /// verify failed (hostname mismatch)"; "TLS handshake with 127.0.0.1:8443: timed out after 5 s".
    static task<tls_stream> connect(address to, tls_context context = tls_context::client());
    /// The same, checking the certificate for `server_name` instead of the host of `to`.
    static task<tls_stream> connect(address to, tls_context context, std::string server_name);

    /// Makes the TLS handshake as a server over an accepted connection, which the TLS stream
    /// takes over (with its timeout: a client that stalls mid-handshake then fails with
    /// `timeout_error`, and without a timeout it waits for ever). A failed handshake concerns this
    /// connection only. Python: `ctx.wrap_socket(conn, server_side=True)`.
    /// Errors: "TLS handshake with 127.0.0.1:50312: wrong version number" (a plaintext client).
    static task<tls_stream> accept(tcp_stream connection, tls_context context);

    /// Half-closes, as `tcp_stream::shutdown` does: sends close_notify (the peer's recv then
    /// sees end of stream) and shuts down the TCP write side; no more sends. Receiving still
    /// works, up to the peer's own close_notify (end of stream). Does not wait for the peer. No
    /// read may be pending meanwhile (`errc::concurrent_read`). Bounded by `limit` (and the
    /// socket's timeout, if shorter): a peer that reads nothing, its buffers full, gives a
    /// `timeout_error`. Destroying the stream without `shutdown` closes TCP at once: the peer
    /// sees "stream truncated". Python: `conn.unwrap()` (which also waits for the peer's).
    task<void> shutdown(std::chrono::steady_clock::duration limit = std::chrono::seconds(5));

    /// The protocol agreed by ALPN ("h2", "http/1.1"), or "" when none was.
    std::string alpn_protocol() const;

    /// Python: `getsockname()` / `getpeername()`.
    address local_address() const;
    address peer_address() const;

private:
    tls_stream(detail::tls_transport transport, address peer, std::chrono::steady_clock::duration timeout);
    static task<tls_stream> handshake(tls_stream stream, boost::asio::ssl::stream_base::handshake_type type,
                                      tls_context context, address peer);
};

}  // namespace cosock
