#!/bin/sh
# Runs a command in a new, empty network namespace (only a loopback device, no route out), or
# exits 77 (ctest's "skipped") where this machine does not allow creating one.
if ! unshare --net true 2>/dev/null; then
  echo "skipped: cannot create a network namespace here (needs root or user namespaces)"
  exit 77
fi
exec unshare --net "$@"
