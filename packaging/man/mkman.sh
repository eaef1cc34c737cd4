#!/bin/sh
# mkman.sh HELP2MAN BINARY NAME-LINE INCLUDE OUT.gz [SUBCOMMAND...]
# Build time (CMakeLists.txt): a man page from BINARY's --help and
# --version with help2man, the sections of INCLUDE added, and, for each
# SUBCOMMAND, its own --help under COMMAND DETAILS.  Gzipped, as Debian
# ships man pages.
set -eu
h2m=$1 bin=$2 name=$3 inc=$4 out=$5
shift 5
tmp=$out.tmp
trap 'rm -f "$tmp.h2m" "$tmp.1"' EXIT
cp "$inc" "$tmp.h2m"
if [ $# -gt 0 ]; then
  printf '[COMMAND DETAILS]\n' >>"$tmp.h2m"
  for c in "$@"; do
    printf '.SS "%s %s"\n.nf\n' "$(basename "$bin")" "$c" >>"$tmp.h2m"
    # roff: a backslash is \e; a line starting with . or ' needs \&.
    "$bin" "$c" --help | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" >>"$tmp.h2m"
    printf '.fi\n' >>"$tmp.h2m"
  done
fi
"$h2m" --no-info --no-discard-stderr --name="$name" --include="$tmp.h2m" --output="$tmp.1" "$bin"
gzip -9n <"$tmp.1" >"$out"
