#!/usr/bin/env bash
# scripts/setup.sh — installs what building and testing cosock needs, on Debian 12 (the system it
# is tested on), and only what is missing: a C++20 compiler, CMake >= 3.25, make, Boost >= 1.81
# (headers and Boost.Test), fmt, OpenSSL, Python 3; for the tests clang 14 with its libFuzzer and
# sanitizer runtimes (the `fuzz` preset), clang-format-14, strace, openssl, nftables and iproute2.
# Run as root or with sudo available.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
exists() { for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }  # any of the globs

have g++ || have clang++ || missing+=(g++)
have make || missing+=(make)
have python3 || missing+=(python3)
if ! have cmake || ! cmake --version | awk 'NR==1 { split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 25)) }'; then
  missing+=(cmake)
fi

# Boost >= 1.81 with its CMake config files for the headers and Boost.Test.
boost_version=$(sed -n 's/^#define BOOST_VERSION \([0-9]*\)$/\1/p' /usr/include/boost/version.hpp 2>/dev/null || true)
if [ -z "$boost_version" ] || [ "$boost_version" -lt 108100 ]; then
  missing+=(libboost1.81-dev libboost-test1.81-dev)
elif ! exists /usr/lib/*/cmake/boost_unit_test_framework-*/ /usr/lib/cmake/boost_unit_test_framework-*/; then
  missing+=("libboost-test$(( boost_version / 100000 )).$(( boost_version / 100 % 1000 ))-dev")
fi
exists /usr/lib/*/cmake/fmt/fmt-config.cmake /usr/lib/cmake/fmt/fmt-config.cmake || missing+=(libfmt-dev)
exists /usr/include/openssl/ssl.h || missing+=(libssl-dev)  # TLS (cosock/tls.hpp)
# The fuzz preset: clang++-14; libFuzzer and the sanitizer runtimes come in libclang-rt-14-dev, only
# a recommendation of clang-14 (so not installed with --no-install-recommends).
have clang++-14 || missing+=(clang-14)
have clang-format-14 || missing+=(clang-format-14)  # ctest's lint.format
exists /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a || missing+=(libclang-rt-14-dev)
# The fault tests (tests/fault): strace injects accept errors, nftables drops datagrams inside a
# network namespace, iproute2 brings that namespace's loopback up.
have strace || missing+=(strace)
have openssl || missing+=(openssl)  # tests/integration/test_tls_programs.py makes its certificate
have nft || missing+=(nftables)
have ip || missing+=(iproute2)
# Not installed: cargo and librust-tokio-dev, which only the benchmark's optional Tokio peer needs
# (docs/performance.md, "How to run it"); CI neither builds nor runs it, and they would add minutes.

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: everything cosock needs is installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
