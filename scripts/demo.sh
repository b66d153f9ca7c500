#!/usr/bin/env bash
# scripts/demo.sh — the README's demo command: installs what is missing, builds the examples, and
# runs the tutorial's TCP hello pair against each other on a free port, showing both outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Preset `demo`: a Release build of the two programs in build/demo, so that the `release` preset's
# tree (tests on) is left as `cmake --workflow --preset release` wants it.
cmake --preset demo >/dev/null
cmake --build --preset demo >/dev/null
bin=build/demo/examples

out=$(mktemp)
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
"$bin/tcp_hello_server" --port 0 >"$out" &
server=$!
for _ in $(seq 100); do grep -q '^listening on' "$out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
[ -n "$port" ] || { echo "demo: the server did not start" >&2; exit 1; }

echo "$ tcp_hello_server --port 0 &"
echo "$ tcp_hello_client --port $port"
"$bin/tcp_hello_client" --port "$port" | sed 's/^/client| /'
wait "$server"
sed 's/^/server| /' "$out"
