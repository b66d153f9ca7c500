// tests/consumer/version_check.cpp — the pkg-config consumer: a program that includes only headers
// without Asio (so it builds in a second) yet calls into the library and catches its exception.
// SPDX-License-Identifier: MIT
#include <cosock/error.hpp>
#include <cosock/version.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
    std::string caught;
    try {
        cosock::throw_error(make_error_code(cosock::errc::bad_address), "parse \"x\"");
    } catch (const cosock::error& e) {
        caught = e.what();
    }
    std::printf("cosock %s: category %s, caught \"%s\"\n", COSOCK_VERSION_STRING, cosock::category().name(),
                caught.c_str());
    return std::strcmp(cosock::category().name(), "cosock") == 0 && !caught.empty() ? 0 : 1;
}
