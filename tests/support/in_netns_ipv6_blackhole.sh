#!/bin/sh
# Runs a command in a new network namespace with its loopback up, where every TCP packet to ::1 is
# dropped: connecting to [::1] gets no answer at all, as an unreachable IPv6 address behind a
# firewall. Exits 77 (ctest's "skipped") where this machine does not allow that (needs root or
# user namespaces, and nftables).
if ! unshare --net true 2>/dev/null; then
  echo "skipped: cannot create a network namespace here (needs root or user namespaces)"
  exit 77
fi
exec unshare --net sh -c '
  ip link set lo up || { echo "skipped: cannot bring lo up"; exit 77; }
  { nft add table inet blackhole &&
    nft add chain inet blackhole out "{ type filter hook output priority 0; }" &&
    nft add rule inet blackhole out ip6 daddr ::1 meta l4proto tcp drop; } ||
    { echo "skipped: cannot add an nftables rule here"; exit 77; }
  exec "$@"' in_netns_ipv6_blackhole "$@"
