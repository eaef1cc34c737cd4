#!/usr/bin/env bash
# Configure and build iovbench into build/ (or $IOV_BUILD_DIR), warnings
# as errors (a developer's and CI's build; a plain cmake build has
# IOV_WERROR off).  Extra arguments go to cmake's configure step.
#   IOV_WERROR=0               warnings are not errors (the quickstart's
#                              build: a newer compiler's new warning must
#                              not stop a newcomer)
#   IOV_BUILD_TYPE=Release     the CMake build type (default RelWithDebInfo)
#   IOV_DPKG_BUILDFLAGS=1      compile and link with Debian's dpkg-buildflags,
#                              as a Debian package build does: build type
#                              None, CFLAGS and CPPFLAGS, LDFLAGS (hardening:
#                              -D_FORTIFY_SOURCE=2, -fstack-protector-strong,
#                              -z relro); DEB_BUILD_MAINT_OPTIONS applies
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${IOV_BUILD_DIR:-$src/build}
flags=()
if [ "${IOV_DPKG_BUILDFLAGS:-0}" = 1 ]; then
  command -v dpkg-buildflags >/dev/null ||
    { echo "build.sh: IOV_DPKG_BUILDFLAGS=1 needs dpkg-buildflags (apt-get install dpkg-dev)" >&2; exit 1; }
  # From the source directory, as dpkg-buildpackage runs it (its
  # -ffile-prefix-map names the current directory).  Given to cmake as
  # cache values, not through the environment, so that they also apply
  # to a build directory configured before.
  cflags=$(cd "$src" && dpkg-buildflags --get CFLAGS) cppflags=$(cd "$src" && dpkg-buildflags --get CPPFLAGS)
  ldflags=$(cd "$src" && dpkg-buildflags --get LDFLAGS)
  flags=(-DCMAKE_BUILD_TYPE=None "-DCMAKE_C_FLAGS=$cflags $cppflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags"
    "-DCMAKE_SHARED_LINKER_FLAGS=$ldflags" "-DCMAKE_MODULE_LINKER_FLAGS=$ldflags")
else
  flags=(-DCMAKE_BUILD_TYPE="${IOV_BUILD_TYPE:-RelWithDebInfo}")
fi
werror=ON
[ "${IOV_WERROR:-1}" = 0 ] && werror=OFF
cmake -S "$src" -B "$build" -DIOV_WERROR=$werror "${flags[@]}" "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
