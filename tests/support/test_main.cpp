// tests/support/test_main.cpp — the one Boost.Test module of the unit tests.
// SPDX-License-Identifier: MIT
#define BOOST_TEST_MODULE cosock
#include <boost/test/unit_test.hpp>
