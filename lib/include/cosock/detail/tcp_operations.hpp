// cosock/detail/tcp_operations.hpp — the inline bodies of tcp_stream's and tcp_listener's
// operations (templates on the completion handler, so they live in a header). Read tcp.hpp first.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

namespace cosock::detail {

/// Completes `handler(error_code(), value)` from the event loop, never inline (an Asio handler
/// must not run inside the call that started its operation).
template <class Executor, class Handler, class T>
void post_result(const Executor& executor, Handler handler, T value) {
    boost::asio::post(executor, [h = std::move(handler), v = std::move(value)]() mutable {
        std::move(h)(error_code(), std::move(v));
    });
}

/// Moves the first `n` bytes of `input` out.
inline std::string take_front(std::string& input, std::size_t n) {
    std::string out(input, 0, n);
    input.erase(0, n);
    return out;
}

/// Resolves a host name and connects to the first address that answers (tcp.cpp).
task<std::tuple<error_code, tcp_stream>> resolve_and_connect(boost::asio::any_io_executor executor,
                                                             address to);

/// read_until's body: completes with (error_code, line including the delimiter); bytes after
/// the delimiter stay in `pending_input`. At end of stream: errc::end_of_stream with the bytes.
template <class Core, class Handler>
void start_read_until(Core* c, std::string delimiter, std::size_t max, Handler h) {
    auto& in = c->pending_input;
    if (c->at_eof) {  // no more bytes will come: answer from the buffer alone
        auto found = in.find(delimiter);
        boost::asio::post(
            c->socket.get_executor(), [c, h = std::move(h), found, n = delimiter.size()]() mutable {
                auto& in = c->pending_input;
                if (found == std::string::npos)
                    return std::move(h)(make_error_code(errc::end_of_stream), std::exchange(in, {}));
                std::move(h)(error_code(), take_front(in, found + n));
            });
        return;
    }
    max = std::max(max, in.size());
    boost::asio::async_read_until(c->socket, boost::asio::dynamic_buffer(c->pending_input, max),
                                  std::move(delimiter),
                                  intercept{std::move(h), [c](auto h, error_code ec, std::size_t n) {
                                                if (!ec)
                                                    return std::move(h)(ec, take_front(c->pending_input, n));
                                                if (ec == boost::asio::error::not_found)
                                                    ec = make_error_code(errc::line_too_long);
                                                if (ec == boost::asio::error::eof) {
                                                    c->at_eof = true;
                                                    return std::move(h)(make_error_code(errc::end_of_stream),
                                                                        std::exchange(c->pending_input, {}));
                                                }
                                                std::move(h)(ec, std::string());
                                            }});
}

}  // namespace cosock::detail

namespace cosock {

inline auto tcp_stream::connect(boost::asio::any_io_executor executor, address to) {
    using detail::error_code;
    return detail::make_operation<tcp_stream>("connect to", to, [executor, to](auto handler) {
        if (to.is_numeric()) {
            auto socket = std::make_unique<socket_type>(executor);
            auto& s = *socket;
            s.async_connect(to.tcp_endpoint(),
                            detail::intercept{std::move(handler),
                                              [socket = std::move(socket), to](auto h, error_code ec) {
                                                  if (ec) return std::move(h)(ec, tcp_stream());
                                                  std::move(h)(ec, tcp_stream(std::move(*socket), to));
                                              }});
            return;
        }
        boost::asio::co_spawn(executor, detail::resolve_and_connect(executor, to),
                              detail::intercept{std::move(handler), [](auto h, std::exception_ptr e,
                                                                       std::tuple<error_code, tcp_stream> r) {
                                                    auto& [ec, stream] = r;
                                                    if (e) ec = boost::asio::error::operation_aborted;
                                                    std::move(h)(ec, std::move(stream));
                                                }});
    });
}

inline auto tcp_stream::connect(address to) {
    return connect(detail::current_executor(), std::move(to));
}

inline auto tcp_stream::recv_into(boost::asio::mutable_buffer buffer) {
    using detail::error_code;
    auto* c = &core_.core("recv");
    return detail::make_operation<std::size_t>("recv from", c->where, [c, buffer](auto handler) {
        c->template launch<std::size_t>(detail::role::read, std::move(handler), [c, buffer](auto h) {
            if (auto& in = c->pending_input; !in.empty()) {
                std::size_t n = std::min(in.size(), buffer.size());
                std::memcpy(buffer.data(), in.data(), n);
                in.erase(0, n);
                return detail::post_result(c->socket.get_executor(), std::move(h), n);
            }
            if (c->at_eof) return detail::post_result(c->socket.get_executor(), std::move(h), std::size_t(0));
            c->socket.async_read_some(
                buffer, detail::intercept{std::move(h), [c](auto h, error_code ec, std::size_t n) {
                                              if (ec == boost::asio::error::eof) {  // b''
                                                  c->at_eof = true;
                                                  ec = {};
                                              }
                                              std::move(h)(ec, n);
                                          }});
        });
    });
}

inline auto tcp_stream::recv(std::size_t max) {
    using detail::error_code;
    auto* c = &core_.core("recv");
    return detail::make_operation<std::string>("recv from", c->where, [c, max](auto handler) {
        c->template launch<std::string>(detail::role::read, std::move(handler), [c, max](auto h) {
            if (auto& in = c->pending_input; !in.empty())
                return detail::post_result(c->socket.get_executor(), std::move(h),
                                           detail::take_front(in, max));
            if (c->at_eof) return detail::post_result(c->socket.get_executor(), std::move(h), std::string());
            // On the heap so that its bytes stay put while the handler moves around.
            auto data = std::make_unique<std::string>(max, '\0');
            auto buffer = boost::asio::buffer(*data);
            c->socket.async_read_some(
                buffer, detail::intercept{std::move(h),
                                          [c, data = std::move(data)](auto h, error_code ec, std::size_t n) {
                                              if (ec == boost::asio::error::eof) {
                                                  c->at_eof = true;
                                                  ec = {};
                                              }
                                              data->resize(n);
                                              std::move(h)(ec, std::move(*data));
                                          }});
        });
    });
}

inline auto tcp_stream::send(boost::asio::const_buffer data) {
    auto* c = &core_.core("send");
    return detail::make_operation<std::size_t>("send to", c->where, [c, data](auto handler) {
        c->template launch<std::size_t>(detail::role::write, std::move(handler), [c, data](auto h) {
            boost::asio::async_write(c->socket, data, std::move(h));
        });
    });
}

inline auto tcp_stream::send(std::string_view data) {
    return send(boost::asio::buffer(data));
}

inline auto tcp_stream::read_exact(std::size_t n) {
    using detail::error_code;
    auto* c = &core_.core("read_exact");
    return detail::make_operation<std::string>("read_exact from", c->where, [c, n](auto handler) {
        c->template launch<std::string>(detail::role::read, std::move(handler), [c, n](auto h) {
            auto& in = c->pending_input;
            if (in.size() >= n)
                return detail::post_result(c->socket.get_executor(), std::move(h), detail::take_front(in, n));
            if (c->at_eof) {
                return boost::asio::post(c->socket.get_executor(), [c, h = std::move(h)]() mutable {
                    std::move(h)(make_error_code(errc::end_of_stream), std::exchange(c->pending_input, {}));
                });
            }
            boost::asio::async_read(
                c->socket, boost::asio::dynamic_buffer(in), boost::asio::transfer_exactly(n - in.size()),
                detail::intercept{std::move(h), [c, n](auto h, error_code ec, std::size_t) {
                                      auto& in = c->pending_input;
                                      if (!ec) return std::move(h)(ec, detail::take_front(in, n));
                                      if (ec == boost::asio::error::eof) {
                                          c->at_eof = true;
                                          return std::move(h)(make_error_code(errc::end_of_stream),
                                                              std::exchange(in, {}));
                                      }
                                      std::move(h)(ec, std::string());  // bytes stay buffered
                                  }});
        });
    });
}

inline auto tcp_stream::read_until(std::string delimiter, std::size_t max) {
    auto* c = &core_.core("read_until");
    return detail::make_operation<std::string>(
        "read_until from", c->where, [c, delimiter = std::move(delimiter), max](auto handler) mutable {
            c->template launch<std::string>(
                detail::role::read, std::move(handler), [c, &delimiter, max](auto h) {
                    detail::start_read_until(c, std::move(delimiter), max, std::move(h));
                });
        });
}

inline auto tcp_stream::read_line(std::size_t max) {
    using detail::error_code;
    using line = std::optional<std::string>;
    auto* c = &core_.core("read_line");
    return detail::make_operation<line>("read_line from", c->where, [c, max](auto handler) {
        c->template launch<line>(detail::role::read, std::move(handler), [c, max](auto h) {
            detail::start_read_until(
                c, "\n", max,
                detail::intercept{std::move(h), [](auto h, error_code ec, std::string s) {
                                      if (ec == make_error_code(errc::end_of_stream)) {
                                          if (s.empty())
                                              return std::move(h)(error_code(), line());          // clean end
                                          return std::move(h)(error_code(), line(std::move(s)));  // last line
                                      }
                                      if (ec) return std::move(h)(ec, line());
                                      s.pop_back();
                                      if (!s.empty() && s.back() == '\r') s.pop_back();
                                      std::move(h)(ec, line(std::move(s)));
                                  }});
        });
    });
}

inline auto tcp_listener::accept() {
    using detail::error_code;
    using accepted = std::pair<tcp_stream, address>;
    auto* c = &core_.core("accept");
    return detail::make_operation<accepted>("accept on", c->where, [c](auto handler) {
        c->template launch<accepted>(detail::role::read, std::move(handler), [c](auto h) {
            c->socket.async_accept(
                c->endpoint,
                detail::intercept{std::move(h), [c](auto h, error_code ec, tcp_stream::socket_type s) {
                                      if (ec) return std::move(h)(ec, accepted());
                                      address peer(c->endpoint);
                                      std::move(h)(ec, accepted(tcp_stream(std::move(s), peer), peer));
                                  }});
        });
    });
}

}  // namespace cosock
