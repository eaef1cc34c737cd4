#!/usr/bin/env bash
# The second README command: set up, build, and run every test.
# Then every test again, built with AddressSanitizer and UBSan.
# Tests that cannot run here (not root, no iproute2) are reported skipped.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh"

build=${IOV_BUILD_DIR:-$src/build}
"$src/scripts/build.sh"
echo "== tests ($build)"
# Tests labelled "long" (minutes of nested emulation) run by hand: ctest -L long.
(cd "$build" && ctest --output-on-failure --timeout 600 -j2 -LE long)

if [ "${IOV_SKIP_SANITIZERS:-0}" != 1 ]; then
  san=${IOV_SAN_BUILD_DIR:-$src/build-san}
  echo "== tests under ASan/UBSan ($san)"
  IOV_BUILD_DIR=$san IOV_BUILD_TYPE=Debug "$src/scripts/build.sh" -DIOV_SANITIZE=ON
  (cd "$san" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 600 -j2 -LE long)
fi
