#!/usr/bin/env bash
# The second README command: set up, build (warnings as errors), and run
# every test, the bench smokes included; the unit tests under valgrind;
# a Release build with its unit tests, MinSizeRel and Debug builds and a
# dpkg-buildflags build; then
# every test again, built with AddressSanitizer and UBSan.
# Tests that cannot run here (not root, no iproute2) are reported skipped.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh" --tests

build=${IOV_BUILD_DIR:-$src/build}
"$src/scripts/build.sh"
echo "== tests ($build)"
# Tests labelled "long" (minutes of nested emulation) run by hand: ctest -L long.
(cd "$build" && ctest --output-on-failure --timeout 600 -j2 -LE long)

# The unit tests again under valgrind memcheck, in the same build: every
# compiled test labelled unit (the cmocka tests and the fuzz corpus
# replays), not the scripts (label script: the format check and the
# checks of the tree's rules), whose process is bash.  ctest's memcheck
# mode only wraps each test in valgrind and would pass whatever valgrind
# says; --error-exitcode makes any memory error or definite leak fail
# that test, and so ctest and this script.  About a minute on 2 CPUs.
if [ "${IOV_SKIP_VALGRIND:-0}" != 1 ]; then
  echo "== unit tests under valgrind memcheck ($build)"
  command -v valgrind >/dev/null || { echo "test.sh: valgrind is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  rm -f "$build"/Testing/Temporary/MemoryChecker.*.log
  vg_opts="--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
  vg_opts+=" --num-callers=40"
  if ! (cd "$build" && ctest -T memcheck --output-on-failure -j2 -L unit -LE script \
          --overwrite MemoryCheckCommand="$(command -v valgrind)" \
          --overwrite MemoryCheckCommandOptions="$vg_opts"); then
    # ctest keeps valgrind's output in a log per test: show the ones with errors.
    grep -l -E 'ERROR SUMMARY: [1-9]' "$build"/Testing/Temporary/MemoryChecker.*.log 2>/dev/null |
      while read -r log; do echo "--- $log"; cat "$log"; done
    echo "test.sh: valgrind memcheck reported errors (above)" >&2
    exit 1
  fi
fi

# The builds users and packagers make, warnings as errors (so that
# warnings only -O3, -Os, -O0 or the hardening flags bring out stay
# fixed): Release, with the unit tests run against it (the integration
# tests are the same scripts against the same code: they run once,
# above); MinSizeRel, built only (and Debug when the ASan/UBSan pass,
# itself a Debug build with warnings as errors, is skipped); and the
# programs built with Debian's dpkg-buildflags, as a package build does.
# About 3 minutes on 2 CPUs.
if [ "${IOV_SKIP_RELEASE:-0}" != 1 ]; then
  rel=${IOV_REL_BUILD_DIR:-$src/build-release}
  echo "== Release build and unit tests ($rel)"
  IOV_BUILD_DIR=$rel IOV_BUILD_TYPE=Release "$src/scripts/build.sh"
  (cd "$rel" && ctest --output-on-failure --timeout 600 -j2 -L unit -E '^format$')
  types=(MinSizeRel)
  [ "${IOV_SKIP_SANITIZERS:-0}" != 1 ] || types+=(Debug)
  for type in "${types[@]}"; do
    echo "== $type build ($src/build-${type,,})"
    IOV_BUILD_DIR=$src/build-${type,,} IOV_BUILD_TYPE=$type "$src/scripts/build.sh"
  done
  deb=${IOV_DEB_BUILD_DIR:-$src/build-dpkg}
  echo "== build with dpkg-buildflags ($deb)"
  IOV_BUILD_DIR=$deb IOV_DPKG_BUILDFLAGS=1 "$src/scripts/build.sh" -DBUILD_TESTING=OFF
fi

# The bench smokes (label bench) test the benches, which the plain build
# above did: not again here.  Nor integ_study_emul: its agents run inside
# TCG guests, which makes it 3.5 minutes of mostly emulation, and
# integ_sriov_emul runs the same agent code on the same emulated SR-IOV
# servers under the sanitizers; the plain pass runs the study.  Nor the
# two packet-rate tests whose assertions are rates (integ_ndr_tbf: the NDR
# against a qdisc's rate; integ_pps_report: rates across table, JSON and
# CSV): an instrumented sender cannot offer those rates, and the code they
# drive runs here under integ_ndr_resume (a search, stopped and resumed)
# and the unit tests of the search, its storage and its report.
if [ "${IOV_SKIP_SANITIZERS:-0}" != 1 ]; then
  san=${IOV_SAN_BUILD_DIR:-$src/build-san}
  echo "== tests under ASan/UBSan ($san)"
  IOV_BUILD_DIR=$san IOV_BUILD_TYPE=Debug "$src/scripts/build.sh" -DIOV_SANITIZE=ON
  (cd "$san" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 600 -j2 -LE 'long|bench' \
       -E '^integ_(study_emul|ndr_tbf|pps_report)$')
fi
