#!/usr/bin/env bash
# scripts/test.sh — the README's test command: installs what is missing, then builds and runs the
# tests four ways (presets of CMakePresets.json): `dev`, a Debug build optimised at -O2 (assertions
# kept, warnings as errors), so that the unit and fault tests also run optimised code; `asan`, a
# Debug build under AddressSanitizer and UndefinedBehaviorSanitizer (less the three checks that
# nearly doubled its compile time: HACKING.md); `tsan`, under
# ThreadSanitizer (unit, integration and fault tests); and `fuzz`, a 15 s smoke run of each
# libFuzzer target of tests/fuzz (clang 14). Between them, `release-werror` builds the library alone
# as Release (-O3, NDEBUG) with warnings as errors: g++ warns about some code only at -O3
# (-Wrestrict, for one), which no other preset compiles. About half an hour on a fresh 2-core
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --workflow --preset dev
cmake --workflow --preset release-werror
cmake --workflow --preset asan
cmake --workflow --preset tsan
cmake --workflow --preset fuzz
