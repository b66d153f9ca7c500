// https_get: GET a URL over TLS and print the response's status line and headers.
// Python: none in the blog post; `urllib.request.urlopen(url)` does the same.   Peer: any HTTPS server
// Run: https_get [--insecure] [--cafile FILE] https://HOST[:PORT][/PATH]
// Prints: "HTTP/1.1 200 OK", then each header as "Name: value"; exits 0 whatever the status.
// The server's certificate is checked against the system's trust store (and FILE, a PEM file of
// trusted certificates, with --cafile) and against HOST; --insecure checks nothing (tests only).
// Errors are one line: "https_get: TLS handshake with 127.0.0.1:8443: certificate verify failed
// (self-signed certificate)"; a bad command line exits 2.
// SPDX-License-Identifier: MIT
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cosock/cosock.hpp>
#include <cosock/tls.hpp>

namespace http = boost::beast::http;
using boost::asio::use_awaitable;

struct request {
    cosock::address server;  // host and port of the URL
    std::string target;      // the path, "/" when the URL has none
    bool insecure = false;
    std::optional<std::string> cafile;
};

// tag::get[]
cosock::task<int> get(request r) {
    auto tls = cosock::tls_context::client();                         // ctx = ssl.create_default_context()
    if (r.cafile) tls.load_verify_file(*r.cafile);                    // ctx.load_verify_locations(cafile)
    if (r.insecure) tls.set_verify_peer(false);                       // ctx.verify_mode = ssl.CERT_NONE
    auto conn = co_await cosock::tls_stream::connect(r.server, tls);  // TCP, then the TLS handshake

    http::request<http::empty_body> req(http::verb::get, r.target, 11);
    req.set(http::field::host, r.server.host());
    req.set(http::field::user_agent, "cosock-https_get");
    req.set(http::field::connection, "close");
    co_await http::async_write(conn, req, use_awaitable);  // a cosock stream is an Asio stream

    boost::beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    co_await http::async_read_header(conn, buffer, parser, use_awaitable);
    auto& res = parser.get();
    fmt::print("HTTP/{}.{} {} {}\n", res.version() / 10, res.version() % 10, res.result_int(),
               std::string_view(res.reason()));
    for (auto& field : res)
        fmt::print("{}: {}\n", std::string_view(field.name_string()), std::string_view(field.value()));
    co_return 0;  // the stream closes itself; the body is not read
}
// end::get[]

// The command line: flags, then "https://HOST[:PORT][/PATH]". std::nullopt after printing the
// one-line reason (or the help).
std::optional<request> parse(int argc, char** argv, int& status) {
    request r;
    std::optional<std::string_view> url;
    status = 2;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help") {
            fmt::print("usage: https_get [--insecure] [--cafile FILE] https://HOST[:PORT][/PATH]\n");
            status = 0;
            return std::nullopt;
        } else if (arg == "--insecure") {
            r.insecure = true;
        } else if (arg == "--cafile" && i + 1 < argc) {
            r.cafile = argv[++i];
        } else if (!arg.starts_with("--") && !url) {
            url = arg;
        } else {
            fmt::print(stderr, "https_get: unexpected argument {} (see --help)\n", arg);
            return std::nullopt;
        }
    }
    if (!url || !url->starts_with("https://")) {
        fmt::print(stderr, "https_get: give one URL that starts with https:// (see --help)\n");
        return std::nullopt;
    }
    auto rest = url->substr(8);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    r.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    std::error_code ec;
    // "host" alone gets port 443; "host:8443" and "[::1]:8443" carry their own.
    bool has_port = authority.rfind(':') != std::string_view::npos && !authority.ends_with("]");
    r.server =
        cosock::address::parse(has_port ? std::string(authority) : fmt::format("{}:443", authority), ec);
    if (ec || authority.empty()) {
        fmt::print(stderr, "https_get: bad host or port in {} (see --help)\n", *url);
        return std::nullopt;
    }
    return r;
}

int main(int argc, char** argv) {
    int status = 0;
    auto r = parse(argc, argv, status);
    if (!r) return status;
    return cosock::run(get(std::move(*r)));
}
