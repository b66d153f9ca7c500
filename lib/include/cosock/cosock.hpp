// cosock/cosock.hpp — everything cosock offers, in reading order.
// SPDX-License-Identifier: MIT
//
// How to read this codebase: start with examples/tcp_hello_server.cpp next to
// examples/python/tcp_hello_server.py: each C++ line does what the Python line beside it does.
// The types it uses live in the header named after their protocol: tcp_listener and tcp_stream
// in tcp.hpp, udp_endpoint in udp.hpp, the Unix-domain unix_listener, unix_stream and
// unix_datagram in unix.hpp (what they share with TCP and UDP is in detail/basic_*.hpp), raw
// descriptors (Python's fileno=) in descriptor.hpp. Timeouts are in timeout.hpp, console input in
// console.hpp, errors in error.hpp, addresses in address.hpp, name lookups in resolve.hpp; task,
// run, sleep and scopes in task.hpp; event.hpp and channel.hpp let coroutines wake each other and
// hand each other values. Each header's implementation is the .cpp of the same name under
// lib/src/ (run.cpp for task.hpp), and its unit test is tests/unit/<name>_test.cpp. Anything in
// cosock::detail or a detail/ folder is plumbing you can skip on a first read; docs/design.md
// says why it is built the way it is.
#pragma once

// In reading order, not alphabetical:
// clang-format off
#include <cosock/task.hpp>
#include <cosock/error.hpp>
#include <cosock/address.hpp>
#include <cosock/resolve.hpp>
#include <cosock/tcp.hpp>
#include <cosock/udp.hpp>
#include <cosock/unix.hpp>
#include <cosock/descriptor.hpp>
#include <cosock/icmp.hpp>
#include <cosock/timeout.hpp>
#include <cosock/console.hpp>
#include <cosock/event.hpp>
#include <cosock/channel.hpp>
// clang-format on
