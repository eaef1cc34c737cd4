#!/bin/bash
# The guest agent links none of the host-only code (issue 15): no symbol
# of host/ (the relay, VFs, SR-IOV discovery, VMs) and nothing of libvirt,
# libpci or libmnl, defined or wanted.  The host agent must have them all,
# so that a pattern that no longer matches anything fails here rather
# than passing for ever.
#   guest_symbols.sh GUEST_AGENT HOST_AGENT
# Exit 0 = as it should be, 1 = not, 4 = skipped (no nm).
set -u
GUEST=$1
HOST=$2
command -v nm >/dev/null || {
  echo "nm not found: skipped"
  exit 4
}
# What only host/ and its libraries define, one pattern each.
PATTERNS=('iov__relay_' 'iov_relay_' 'iov_vf_' 'iov_vm_' 'iov_sriov_' 'virConnect' 'pci_' 'mnl_')

# Every external symbol name of a binary, defined or undefined: the
# static table, else the dynamic one (a stripped binary).  External only:
# a file's static helper (lib/wire.c's pci_addr_ok in a Debug build) is
# nobody's library; what host/ brings in always has external symbols, and
# a library's functions are external references.
symbols() {
  { nm -g "$1" 2>/dev/null || nm -D "$1"; } | awk '{ print $NF }' | sed 's/@.*//' | sort -u
}
guest=$(symbols "$GUEST") || exit 1
host=$(symbols "$HOST") || exit 1
[[ -n $guest && -n $host ]] || {
  echo "guest_symbols: no symbols read from $GUEST or $HOST"
  exit 1
}
fail=0
for p in "${PATTERNS[@]}"; do
  found=$(grep -E "^_?$p" <<<"$guest" | head -5 | tr '\n' ' ')
  if [[ -n $found ]]; then
    echo "guest_symbols: the guest agent has host-only symbols matching $p: $found"
    fail=1
  fi
  if ! grep -qE "^_?$p" <<<"$host"; then
    echo "guest_symbols: the host agent has no symbol matching $p: the check would not see it either"
    fail=1
  fi
done
[[ $fail -eq 0 ]] && echo "guest_symbols: the guest agent has none of ${PATTERNS[*]}; the host agent has each"
exit $fail
