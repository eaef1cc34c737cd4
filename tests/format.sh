#!/usr/bin/env bash
# Formatting is settled by the tool, not by review: every C file in git
# must be as clang-format leaves it (.clang-format at the top).
# Skipped (exit 4) where clang-format is missing.
set -u
src=${IOV_SRCDIR:?IOV_SRCDIR must point at the source tree}
command -v clang-format >/dev/null || { echo "format.sh: SKIP: no clang-format" >&2; exit 4; }
cd "$src" || exit 1
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find lib engines agent host coordinator guest-agent tests -name '*.[ch]')
[ ${#files[@]} -gt 0 ] || { echo "format.sh: no C files found" >&2; exit 1; }
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "format.sh: FAIL: run  clang-format -i \$(git ls-files '*.c' '*.h')" >&2
  exit 1
fi
echo "format.sh: PASS (${#files[@]} files)"
