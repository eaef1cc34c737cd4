#!/usr/bin/env bash
# The first README command: set up, build, and run the quickstart plan on
# this machine (two local agents; in network namespaces when run as root).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh"
# Warnings are not errors here: a newer compiler's new warning must not
# stop the first thing a newcomer runs (scripts/test.sh builds with them).
IOV_WERROR=0 "$src/scripts/build.sh"
cd "$src"
exec "${IOV_BUILD_DIR:-$src/build}/bin/coord" run plans/quickstart.plan "$@"
