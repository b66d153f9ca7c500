#!/usr/bin/env bash
# scripts/test.sh — the README's test command: installs what is missing, then builds and runs
# every test twice: a Debug build with warnings as errors, and the same under AddressSanitizer
# and UndefinedBehaviorSanitizer (presets `dev` and `asan` of CMakePresets.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --workflow --preset dev
cmake --workflow --preset asan
