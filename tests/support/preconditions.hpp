// tests/support/preconditions.hpp — what some unit tests need of the machine, as Boost.Test
// preconditions: where it is missing, Boost.Test skips the case or suite with the reason, and
// its ctest test (registered apart in tests/CMakeLists.txt) shows as skipped, never as passed.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdlib>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

namespace cosock_test {

/// IPv6 on loopback: a UDP socket can be bound to ::1.
inline boost::test_tools::assertion_result needs_ipv6(boost::unit_test::test_unit_id) {
    bool ok = false;
    int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        sockaddr_in6 loopback{};
        loopback.sin6_family = AF_INET6;
        loopback.sin6_addr = in6addr_loopback;
        ok = ::bind(fd, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) == 0;
        ::close(fd);
    }
    boost::test_tools::assertion_result result(ok);
    result.message() << "no IPv6 loopback (::1) here";
    return result;
}

/// A pseudo-terminal can be opened (posix_openpt, grantpt, unlockpt).
inline boost::test_tools::assertion_result needs_pty(boost::unit_test::test_unit_id) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    bool ok = master >= 0 && ::grantpt(master) == 0 && ::unlockpt(master) == 0;
    if (master >= 0) ::close(master);
    boost::test_tools::assertion_result result(ok);
    result.message() << "no pseudo-terminals here";
    return result;
}

}  // namespace cosock_test
