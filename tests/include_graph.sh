#!/bin/bash
# The folders' include rules (docs/architecture.md), read from the
# #include "..." lines of every source file:
#   1. a folder includes headers of the folders it may call only:
#        lib          lib
#        engines      lib engines
#        agent        lib engines agent          (never host/)
#        host         lib engines agent host
#        coordinator  lib engines coordinator
#        guest-agent  lib engines agent          (never host/)
#   2. no circle among the headers of those folders (tsort finds one);
#   3. inside the agent core, each file includes only the core headers
#      below it (AGENT_ORDER): no header includes one that includes it
#      back, no .c calls "up".
# A header is looked up in the includer's folder first, then in the
# folders in the order above; a name found nowhere (system, generated
# protobuf-c) is not ours.  Exit 0 = all hold, 1 = a rule broken (each
# breach on a line of its own).
set -u

SRC=${1:-${IOV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
DIRS=(lib engines agent host coordinator guest-agent)
declare -A MAY=(
  [lib]="lib"
  [engines]="lib engines"
  [agent]="lib engines agent"
  [host]="lib engines agent host"
  [coordinator]="lib engines coordinator"
  [guest-agent]="lib engines agent"
)
# The agent core from the bottom up: a file may include the core headers
# listed before it (agent.c, the loop, is the top; agent.h, the public
# face with the hooks, the bottom).
AGENT_ORDER=(agent.h core.h transport.h transport.c sampler.h sampler.c session.h session.c agent.c)

command -v tsort >/dev/null || {
  echo "tsort not found: skipped"
  exit 4
}
fail=0
breach() {
  echo "include_graph: $*"
  fail=1
}

# Where a header lives, seen from folder $1 ('' = not ours).
resolve() {
  local from=$1 name=$2 d
  if [[ -f $SRC/$from/$name ]]; then
    echo "$from"
    return
  fi
  for d in "${DIRS[@]}"; do
    if [[ -f $SRC/$d/$name ]]; then
      echo "$d"
      return
    fi
  done
  echo ""
}

rank() {
  local i
  for i in "${!AGENT_ORDER[@]}"; do
    if [[ ${AGENT_ORDER[$i]} == "$1" ]]; then
      echo "$i"
      return
    fi
  done
  echo -1
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
nfiles=0
for d in "${DIRS[@]}"; do
  for f in "$SRC/$d"/*.c "$SRC/$d"/*.h; do
    [[ -f $f ]] || continue
    nfiles=$((nfiles + 1))
    base=${f##*/}
    [[ $d == agent && $(rank "$base") -lt 0 ]] &&
      breach "agent/$base is not in AGENT_ORDER (tests/include_graph.sh): say where it sits in the core"
    # Each header a file names, as written.
    while IFS= read -r inc; do
      to=$(resolve "$d" "$inc")
      [[ -n $to ]] || continue
      [[ " ${MAY[$d]} " == *" $to "* ]] ||
        breach "$d/$base includes $to/$inc: $d/ may include only ${MAY[$d]}"
      [[ $base == *.h ]] && echo "$d/$base $to/$inc" >>"$edges"
      if [[ $d == agent && $to == agent ]]; then
        me=$(rank "$base")
        it=$(rank "$inc")
        [[ $me -ge 0 && $it -ge 0 && $it -ge $me && $inc != "$base" && $inc != "${base%.c}.h" ]] &&
          breach "agent/$base includes agent/$inc, which sits above it in the core (AGENT_ORDER)"
        [[ $me -ge 0 && $inc == "${base%.c}.h" && $base == *.c && $it -ge $me ]] &&
          breach "agent/$base comes before its own header agent/$inc in AGENT_ORDER"
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done
done
[[ $nfiles -gt 0 ]] || breach "no sources under $SRC"

# A circle among the headers: tsort says which it broke.
if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [[ -n $out ]]; then
  breach "the headers include each other in a circle: $(echo "$out" | tr '\n' ' ')"
fi

[[ $fail -eq 0 ]] && echo "include_graph: $nfiles files, $(wc -l <"$edges") header includes, no breach"
exit $fail
