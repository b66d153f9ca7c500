// resolve.cpp — the compiled half of resolve.hpp: getaddrinfo on a helper thread, the shared state
// that lets a cancelled lookup complete at once and drops its late answer, and the test kit's
// resolver_override (testing.hpp).
// SPDX-License-Identifier: MIT
#include <cosock/resolve.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/system_error.hpp>

#include <cosock/error.hpp>
#include <cosock/testing.hpp>

namespace cosock {

namespace asio = boost::asio;

namespace detail {
namespace {

using lookup_function = testing::resolver_override::function;

// The resolver_override in force, if any. Each lookup takes its own reference when it starts, so
// that destroying the override while a helper thread still runs it frees nothing in use.
std::mutex override_mutex;
std::shared_ptr<const lookup_function> current_override;

std::shared_ptr<const lookup_function> override_in_force() {
    std::lock_guard lock(override_mutex);
    return current_override;
}

/// getaddrinfo's error as Asio names it, so that messages read as Asio's resolver's did ("Host not
/// found (authoritative)").
error_code lookup_error(int code) {
    switch (code) {
        case EAI_NONAME:
            return asio::error::host_not_found;
        case EAI_AGAIN:
            return asio::error::host_not_found_try_again;
#ifdef EAI_NODATA
        case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
        case EAI_ADDRFAMILY:
#endif
            return make_error_code(errc::no_addresses);
        case EAI_FAMILY:
            return asio::error::address_family_not_supported;
        case EAI_MEMORY:
            return asio::error::no_memory;
        case EAI_SERVICE:
            return asio::error::service_not_found;
        case EAI_SYSTEM:
            return error_code(errno, asio::error::get_system_category());
        default:
            return asio::error::no_recovery;
    }
}

bool is_of(const address& a, std::optional<address_family> family) {
    return !family || a.ip().is_v6() == (*family == address_family::v6);
}

/// getaddrinfo itself, on the helper thread. SOCK_STREAM: one entry per address rather than one
/// per socket type. No AI_ADDRCONFIG: it hides "localhost" where only loopback is configured,
/// and an address of a family the host cannot reach fails its connect at once anyway.
std::vector<address> system_lookup(const std::string& host, int port, std::optional<address_family> family,
                                   error_code& ec) {
    addrinfo hints{};
    hints.ai_family = !family ? AF_UNSPEC : *family == address_family::v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list); rc != 0) {
        ec = lookup_error(rc);
        return {};
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
    std::vector<address> found;
    for (auto* entry = list; entry; entry = entry->ai_next) {
        asio::ip::tcp::endpoint endpoint;
        if ((entry->ai_family != AF_INET && entry->ai_family != AF_INET6) ||
            entry->ai_addrlen > endpoint.capacity())
            continue;
        std::memcpy(endpoint.data(), entry->ai_addr, entry->ai_addrlen);
        endpoint.resize(entry->ai_addrlen);
        address a(endpoint);
        if (std::find(found.begin(), found.end(), a) == found.end()) found.push_back(a);
    }
    return found;
}

/// The override's answer: what it returns, or the code of what it throws.
std::vector<address> ask_override(const lookup_function& lookup, const std::string& host, int port,
                                  std::optional<address_family> family, error_code& ec) {
    try {
        auto found = lookup(host, port, family);
        if (std::any_of(found.begin(), found.end(), [](const address& a) { return !a.is_numeric(); }))
            ec = make_error_code(errc::bad_address);
        return found;
    } catch (const boost::system::system_error& e) {
        ec = e.code();
    } catch (const std::system_error& e) {
        ec = e.code();
    } catch (...) {
        ec = asio::error::no_recovery;
    }
    return {};
}

/// The addresses of `family`, or errc::no_addresses when none is left.
void keep_family(std::vector<address>& found, std::optional<address_family> family, error_code& ec) {
    if (ec) return found.clear();
    std::erase_if(found, [family](const address& a) { return !is_of(a, family); });
    if (found.empty()) ec = make_error_code(errc::no_addresses);
}

class lookup_service;

/// One lookup in flight, shared by the event loop and its helper thread. Whoever settles it first
/// (the helper's answer, a cancellation, the loop's shutdown) decides; the others find it settled
/// and do nothing. The helper thread touches only `settled` and `work`, under the mutex, and
/// posts to the loop only while the lookup is unsettled, which the loop's shutdown prevents.
struct lookup {
    // Moved in by construction: Asio 1.81's any_completion_handler assigns by wrapping the other
    // handler into a new one, which wraps again, without end.
    explicit lookup(resolve_handler h) : handler(std::move(h)) {}

    std::mutex mutex;
    bool settled = false;
    // The loop's executor, counting this lookup as work so that the loop waits for the answer;
    // released when settled, so that a helper stuck in getaddrinfo never keeps a loop running.
    asio::any_io_executor work;
    resolve_handler handler;  // the event loop's thread only
    lookup_service* service = nullptr;

    void answer(std::shared_ptr<lookup> self, error_code ec, std::vector<address> found);  // helper
    void complete(error_code ec, std::vector<address> found);                              // loop
    void cancel();                                                                         // loop
    void drop();                                                                           // shutdown
};

/// The lookups of one event loop whose helper thread may still touch the loop: waiting for their
/// answer, or queuing it. When the loop is destroyed first, its shutdown drops them (their
/// handlers hold coroutines of that loop), before Asio's scheduler goes, waiting for a helper that
/// is queuing its answer: a helper that answers later finds its lookup settled and touches nothing.
class lookup_service : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;
    explicit lookup_service(asio::execution_context& context) : service(context) {}

    void remember(const std::shared_ptr<lookup>& l) {
        std::lock_guard lock(mutex_);
        pending_.emplace(l.get(), l);
    }
    void forget(lookup* l) {
        std::lock_guard lock(mutex_);
        pending_.erase(l);
    }

private:
    void shutdown() override {
        decltype(pending_) dropped;
        {
            std::lock_guard lock(mutex_);
            dropped.swap(pending_);
        }
        for (auto& [raw, l] : dropped) l->drop();
    }

    std::mutex mutex_;
    std::unordered_map<lookup*, std::shared_ptr<lookup>> pending_;
};

void lookup::answer(std::shared_ptr<lookup> self, error_code ec, std::vector<address> found) {
    std::lock_guard lock(mutex);
    if (settled) return;  // cancelled or dropped meanwhile: the answer goes nowhere
    settled = true;
    {
        auto loop = std::move(work);  // the loop's work until the answer is queued
        asio::post(loop, [self = std::move(self), ec, found = std::move(found)]() mutable {
            self->complete(ec, std::move(found));
        });
    }
    // Only now off the service's list, under our mutex: the answer may already have run and the
    // loop's owner be destroying it, while this thread was still in Asio's post or releasing the
    // work. That shutdown (drop) waits for this mutex, so the loop outlives our last touch of it.
    service->forget(this);
}

void lookup::complete(error_code ec, std::vector<address> found) {
    auto h = std::move(handler);
    asio::get_associated_cancellation_slot(h).clear();
    asio::dispatch(asio::append(std::move(h), ec, std::move(found)));
}

void lookup::cancel() {
    asio::any_io_executor loop;
    {
        std::lock_guard lock(mutex);
        if (settled) return;  // the answer is on its way: it wins, as a completed operation does
        settled = true;
        loop = std::move(work);
    }
    service->forget(this);
    // Posted, not called: this runs inside the cancellation slot's handler.
    asio::post(loop, asio::append(std::move(handler), error_code(asio::error::operation_aborted),
                                  std::vector<address>()));
}

void lookup::drop() {
    {
        std::lock_guard lock(mutex);
        settled = true;
        work = asio::any_io_executor();
    }
    auto destroyed = std::move(handler);
}

}  // namespace

// One detached thread per lookup, not a pool: a lookup stuck on an unanswering DNS server (up to
// resolv.conf's timeout x attempts, 10 s by default) then delays no other lookup, and nothing has
// to be joined when a loop or the process ends while one is stuck. Name lookups are rare next to
// the tens of microseconds a thread costs.
void start_resolve(const asio::any_io_executor& executor, const address& name,
                   std::optional<address_family> family, resolve_handler handler) {
    if (name.is_numeric()) {
        error_code ec;
        std::vector<address> found{name};
        keep_family(found, family, ec);
        asio::post(executor, asio::append(std::move(handler), ec, std::move(found)));
        return;
    }
    auto& service = asio::use_service<lookup_service>(asio::query(executor, asio::execution::context));
    auto l = std::make_shared<lookup>(std::move(handler));
    l->service = &service;
    l->work = asio::prefer(executor, asio::execution::outstanding_work.tracked);
    service.remember(l);
    auto slot = asio::get_associated_cancellation_slot(l->handler);
    if (slot.is_connected())
        slot.assign([weak = std::weak_ptr<lookup>(l)](asio::cancellation_type) {
            if (auto l = weak.lock()) l->cancel();
        });
    auto lookup_override = override_in_force();
    try {
        std::thread([l, lookup_override, host = name.host(), port = int(name.port()), family] {
            error_code ec;
            auto found = lookup_override ? ask_override(*lookup_override, host, port, family, ec)
                                         : system_lookup(host, port, family, ec);
            keep_family(found, family, ec);
            l->answer(l, ec, std::move(found));
        }).detach();
    } catch (const std::system_error& e) {  // no thread to be had (EAGAIN): the lookup fails
        l->answer(l, error_code(e.code()), {});
    }
}

}  // namespace detail

namespace testing {

resolver_override::resolver_override(function lookup) {
    auto installed = std::make_shared<const function>(std::move(lookup));
    std::lock_guard lock(detail::override_mutex);
    previous_ = std::exchange(detail::current_override, std::move(installed));
}

resolver_override::~resolver_override() {
    std::lock_guard lock(detail::override_mutex);
    detail::current_override = std::move(previous_);
}

}  // namespace testing

}  // namespace cosock
