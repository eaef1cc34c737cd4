#!/usr/bin/env bash
# Build the three Debian packages (cpack, packaging/install.cmake) into
# build-pkg/ (or $IOV_BUILD_DIR), compiled as a Debian package build
# compiles: Debian's dpkg-buildflags (CFLAGS with -O2 and
# -fstack-protector-strong, CPPFLAGS with -D_FORTIFY_SOURCE=2, LDFLAGS
# with -z relro; DEB_BUILD_MAINT_OPTIONS applies), build type None, no
# tests, and warnings not errors (IOV_WERROR=1 makes them errors, as
# scripts/test.sh's build with the same flags does).  Prints the packages.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${IOV_BUILD_DIR:-$src/build-pkg}
IOV_WERROR=${IOV_WERROR:-0} IOV_BUILD_DIR=$build IOV_DPKG_BUILDFLAGS=1 "$src/scripts/build.sh" -DBUILD_TESTING=OFF
command -v cpack >/dev/null || { echo "package.sh: no cpack (apt-get install cmake)" >&2; exit 1; }
rm -f "$build"/*.deb
(cd "$build" && cpack >/dev/null)
ls "$build"/*.deb
