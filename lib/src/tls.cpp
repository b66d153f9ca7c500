// tls.cpp — tls_context (certificates, trust, ALPN) and tls_stream's handshakes and shutdown.
// SPDX-License-Identifier: MIT
#include <cosock/tls.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <boost/asio/ssl/error.hpp>

#include <cosock/timeout.hpp>

namespace cosock {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using detail::error_code;

// --- tls_context ------------------------------------------------------------------------------

struct detail::tls_context_state {
    tls_context_state(ssl::context::method method, bool server) : context(method), server(server) {}
    ssl::context context;
    bool server;
    bool verify = true;
    std::string alpn;  // ALPN's wire form: each name preceded by its length
};

namespace {

/// The OpenSSL error queue's oldest reason as an error_code of Asio's SSL category, the queue
/// cleared; `fallback` when OpenSSL left no reason.
error_code take_openssl_error(std::errc fallback) {
    unsigned long e = ::ERR_get_error();
    ::ERR_clear_error();
    if (e == 0) return std::make_error_code(fallback);
    return error_code(static_cast<int>(e), asio::error::get_ssl_category());
}

/// The reason of an OpenSSL error alone ("certificate verify failed"), without the library name
/// Asio's message adds; other errors' usual message.
std::string reason_of(const error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        if (const char* reason = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
            return reason;
    }
    return ec.message();
}

/// Throws "<what> from <file>: No such file or directory" when `file` cannot be read, before
/// OpenSSL says it less clearly.
void check_readable(const std::string& file, const char* what) {
    if (std::FILE* f = std::fopen(file.c_str(), "rb")) {
        std::fclose(f);
        return;
    }
    throw error(std::error_code(errno, std::generic_category()), fmt::format("{} from {}", what, file));
}

[[noreturn]] void fail_loading(const char* what, const std::string& file) {
    auto ec = take_openssl_error(std::errc::invalid_argument);
    throw error(ec, fmt::format("{} from {}", what, file), reason_of(ec));
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                unsigned int offered_size, void* arg) {
    auto& ours = static_cast<detail::tls_context_state*>(arg)->alpn;
    unsigned char* chosen = nullptr;
    // Our preference first: SSL_select_next_proto walks its first list and looks in the second.
    int found =
        ::SSL_select_next_proto(&chosen, out_size, reinterpret_cast<const unsigned char*>(ours.data()),
                                static_cast<unsigned int>(ours.size()), offered, offered_size);
    if (found != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<detail::tls_context_state> new_state(bool server) {
    auto s = std::make_shared<detail::tls_context_state>(
        server ? ssl::context::tls_server : ssl::context::tls_client, server);
    auto* native = s->context.native_handle();
    ::SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    // No TLS compression (CRIME). SSL_OP_IGNORE_UNEXPECTED_EOF stays off: a peer's end of stream
    // without close_notify is reported (ssl::error::stream_truncated), not taken as a clean end,
    // so that a cut connection cannot pass for a complete message.
    s->context.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    return s;
}

}  // namespace

tls_context tls_context::client() {
    auto s = new_state(false);
    error_code ec;
    s->context.set_default_verify_paths(ec);
    if (ec) throw error(ec, "load the system's trusted certificates", reason_of(ec));
    s->context.set_verify_mode(ssl::verify_peer);
    return tls_context(std::move(s));
}

tls_context tls_context::server(const std::string& certificate_chain_file,
                                const std::string& private_key_file) {
    auto s = new_state(true);
    auto* native = s->context.native_handle();
    check_readable(certificate_chain_file, "load certificate chain");
    if (::SSL_CTX_use_certificate_chain_file(native, certificate_chain_file.c_str()) != 1)
        fail_loading("load certificate chain", certificate_chain_file);
    check_readable(private_key_file, "load private key");
    if (::SSL_CTX_use_PrivateKey_file(native, private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        auto ec = take_openssl_error(std::errc::invalid_argument);
        bool mismatch = ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
        throw error(ec, fmt::format("load private key from {}", private_key_file),
                    mismatch ? "it does not match the certificate" : reason_of(ec));
    }
    if (::SSL_CTX_check_private_key(native) != 1) {
        ::ERR_clear_error();
        throw error(std::make_error_code(std::errc::invalid_argument),
                    fmt::format("load private key from {}", private_key_file),
                    "it does not match the certificate");
    }
    s->context.set_verify_mode(ssl::verify_none);  // servers do not ask for client certificates
    s->verify = false;
    return tls_context(std::move(s));
}

void tls_context::load_verify_file(const std::string& cafile) {
    check_readable(cafile, "load trusted certificates");
    if (::SSL_CTX_load_verify_locations(state_->context.native_handle(), cafile.c_str(), nullptr) != 1)
        fail_loading("load trusted certificates", cafile);
}

void tls_context::set_verify_peer(bool on) {
    state_->verify = on;
    state_->context.set_verify_mode(on ? ssl::verify_peer : ssl::verify_none);
}

bool tls_context::verify_peer() const noexcept {
    return state_->verify;
}

void tls_context::set_alpn(const std::vector<std::string>& protocols) {
    std::string wire;
    for (auto& p : protocols) {
        if (p.empty() || p.size() > 255)
            throw error(make_error_code(errc::bad_address), fmt::format("set ALPN protocol \"{}\"", p),
                        "a protocol name has 1 to 255 bytes");
        wire += static_cast<char>(p.size());
        wire += p;
    }
    state_->alpn = std::move(wire);
    auto* native = state_->context.native_handle();
    if (state_->server) {
        ::SSL_CTX_set_alpn_select_cb(native, state_->alpn.empty() ? nullptr : select_alpn, state_.get());
    } else if (::SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(state_->alpn.data()),
                                         static_cast<unsigned int>(state_->alpn.size())) != 0) {
        throw error(take_openssl_error(std::errc::not_enough_memory), "set ALPN protocols");
    }
}

ssl::context& tls_context::asio_context() noexcept {
    return state_->context;
}

// --- tls_stream -------------------------------------------------------------------------------

tls_stream::tls_stream(detail::tls_transport transport, address peer,
                       std::chrono::steady_clock::duration timeout)
    : basic_stream(std::move(transport), std::move(peer)) {
    core_.get()->timeout = timeout;
}

namespace {

/// One TLS step (handshake or shutdown) as a cosock operation on the stream's core: the guard,
/// the pending count and the socket's timeout, completing with (error_code, monostate).
template <class Core, class Step>
auto tls_step(Core* c, const char* what, std::chrono::steady_clock::duration timeout, Step step) {
    return detail::make_operation<std::monostate>(
        what, &c->where, timeout, [c, keep = detail::core_ref(*c), step](auto handler, auto timeout) {
            c->template launch<std::monostate>(
                detail::role::read, timeout, std::move(handler), [c, step](auto h) {
                    step(c->socket, detail::intercept{std::move(h), [](auto&& h, error_code ec) {
                                                          std::move(h)(ec, std::monostate{});
                                                      }});
                });
        });
}

}  // namespace

task<tls_stream> tls_stream::handshake(tls_stream stream, ssl::stream_base::handshake_type type,
                                       tls_context context, address peer) {
    auto* c = &stream.core_.core("TLS handshake");
    auto timeout = c->timeout;
    auto op = tls_step(c, "TLS handshake with", timeout,
                       [type](auto& s, auto h) { s.async_handshake(type, std::move(h)); });
    auto [ec, done] = co_await nothrow(std::move(op));
    (void)done;
    (void)context;  // kept alive until here: ALPN's server callback reads it during the handshake
    if (!ec) co_return stream;
    auto what = fmt::format("TLS handshake with {}", peer);
    if (ec == std::errc::timed_out && timeout > std::chrono::steady_clock::duration::zero())
        throw timeout_error(what, timeout);
    auto reason = reason_of(ec);
    long verified = ::SSL_get_verify_result(c->socket.native_handle());
    if (verified != X509_V_OK)
        reason = fmt::format("{} ({})", reason, ::X509_verify_cert_error_string(verified));
    throw error(ec, what, reason);
}

task<tls_stream> tls_stream::connect(address to, tls_context context) {
    auto host = to.host();
    return connect(std::move(to), std::move(context), std::move(host));
}

task<tls_stream> tls_stream::connect(address to, tls_context context, std::string server_name) {
    auto tcp = co_await tcp_stream::connect(to);
    auto timeout = tcp.timeout();
    detail::tls_transport transport(std::move(tcp.asio_socket()), context.asio_context());
    SSL* native = transport.native_handle();
    error_code address_ec;
    auto ip = asio::ip::make_address(server_name, address_ec);
    if (context.verify_peer()) {
        // OpenSSL checks the name (or the IP address) itself, so that a mismatch is reported as
        // such: "certificate verify failed (hostname mismatch)".
        int ok = address_ec
                     ? ::SSL_set1_host(native, server_name.c_str())
                     : ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(native), ip.to_string().c_str());
        if (ok != 1)
            throw error(take_openssl_error(std::errc::invalid_argument),
                        fmt::format("TLS handshake with {}", to));
    }
    if (address_ec && !server_name.empty())  // SNI names hosts, never addresses (RFC 6066)
        ::SSL_set_tlsext_host_name(native, server_name.c_str());
    co_return co_await handshake(tls_stream(std::move(transport), to, timeout), ssl::stream_base::client,
                                 std::move(context), to);
}

task<tls_stream> tls_stream::accept(tcp_stream connection, tls_context context) {
    auto peer = connection.peer_address();
    auto timeout = connection.timeout();
    detail::tls_transport transport(std::move(connection.asio_socket()), context.asio_context());
    return handshake(tls_stream(std::move(transport), peer, timeout), ssl::stream_base::server,
                     std::move(context), peer);
}

task<void> tls_stream::shutdown(std::chrono::steady_clock::duration limit) {
    detail::core_ref<detail::tls_transport> c(core_.core("shutdown"));  // lives on if the stream goes
    auto timeout =
        c->timeout > std::chrono::steady_clock::duration::zero() ? std::min(c->timeout, limit) : limit;
    auto what = fmt::format("TLS shutdown with {}", c->where);
    // Asio's async_shutdown sends close_notify, then waits for the peer's. Marking the peer's as
    // received already makes it send and stop there; the mark is taken back afterwards, so that
    // reads go on up to the peer's real close_notify. No read may run meanwhile (it would see the
    // mark): checked here, and the step holds the read role.
    if (c->reading) throw error(make_error_code(errc::concurrent_read), what);
    SSL* native = c->socket.native_handle();
    int received = ::SSL_get_shutdown(native) & SSL_RECEIVED_SHUTDOWN;
    ::SSL_set_shutdown(native, ::SSL_get_shutdown(native) | SSL_RECEIVED_SHUTDOWN);
    auto op = tls_step(c.get(), "TLS shutdown with", timeout,
                       [](auto& s, auto h) { s.async_shutdown(std::move(h)); });
    auto [ec, done] = co_await nothrow(std::move(op));
    (void)done;
    ::SSL_set_shutdown(native, (::SSL_get_shutdown(native) & ~SSL_RECEIVED_SHUTDOWN) | received);
    if (ec == std::errc::timed_out) throw timeout_error(what, timeout);
    if (ec) throw error(ec, what, reason_of(ec));
    error_code ignored;
    c->socket.lowest_layer().shutdown(asio::socket_base::shutdown_send, ignored);
}

std::string tls_stream::alpn_protocol() const {
    const unsigned char* name = nullptr;
    unsigned int size = 0;
    ::SSL_get0_alpn_selected(core_.core("alpn_protocol").socket.native_handle(), &name, &size);
    return name ? std::string(reinterpret_cast<const char*>(name), size) : std::string();
}

namespace {
/// One end of the TCP connection under a TLS stream (getsockname / getpeername).
address tcp_end(detail::socket_core<detail::tls_transport>& c, bool peer) {
    error_code ec;
    auto& socket = c.socket.lowest_layer();
    auto ep = peer ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
    detail::check(ec, peer ? "getpeername of connection to" : "getsockname of connection to", c.where);
    return ep;
}
}  // namespace

address tls_stream::local_address() const {
    return tcp_end(core_.core("local_address"), false);
}

address tls_stream::peer_address() const {
    return tcp_end(core_.core("peer_address"), true);
}

}  // namespace cosock
