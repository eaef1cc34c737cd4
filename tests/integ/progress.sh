#!/usr/bin/env bash
# coord run's progress: one plain line per run of a point when stderr is
# not a terminal (with elapsed and time left); on a terminal (script(1)
# gives it one) the line is redrawn in place with the live rate and ends
# with the outcome in colour, and NO_COLOR turns the colour off; --quiet
# prints no progress.  A local run over loopback, no root needed.
source "$(dirname "$0")/lib.sh"
require_cmd script timeout
cat >"$TMP/p.plan" <<'PLAN'
[hosts]
a = local
b = local

[global]
duration = 1s
sample_interval = 200ms
repeat = 2

[stream]
workload = tcp_stream

[rr]
workload = tcp_rr
msg_size = 1
PLAN
run() { timeout 120 "$COORD" run "$TMP/p.plan" --results "$TMP/res" --local loopback "$@"; }

run 2>"$TMP/plain.err" >/dev/null || fail "coord run failed: $(cat "$TMP/plain.err")"
lines=$(grep -cE '^coord: \[[12]/2\] (stream|rr): .*, run [12] of 2 \(elapsed [0-9]+:[0-9]{2}, about [0-9]+:[0-9]{2} left\)$' "$TMP/plain.err")
expect_eq "plain progress lines" "$lines" 4
grep -q $'\r\|\033' "$TMP/plain.err" && fail "escape codes or carriage returns when stderr is not a terminal"

TERM=xterm script -qec "$(printf '%q ' "$COORD" run "$TMP/p.plan" --results "$TMP/res" --local loopback) >/dev/null" \
  "$TMP/tty.log" >/dev/null 2>&1 </dev/null || fail "coord run on a terminal failed: $(cat "$TMP/tty.log")"
grep -q $'\r\033\[K\[1/2\] stream: .* [0-9.]\+ Gbit/s  (elapsed' "$TMP/tty.log" || fail "no live rate redrawn in place: $(cat -v "$TMP/tty.log" | head -c 2000)"
grep -q $'trans/s  (elapsed' "$TMP/tty.log" || fail "no live trans/s for the rr point"
expect_eq "outcomes in colour" "$(grep -o $'\033\[32mok\033\[0m' "$TMP/tty.log" | wc -l)" 4

NO_COLOR=1 TERM=xterm script -qec "$(printf '%q ' "$COORD" run "$TMP/p.plan" --results "$TMP/res" --local loopback) >/dev/null" \
  "$TMP/nocolor.log" >/dev/null 2>&1 </dev/null || fail "coord run with NO_COLOR failed"
grep -q $'\033\[3[12]m' "$TMP/nocolor.log" && fail "colour despite NO_COLOR"
expect_eq "outcomes without colour" "$(grep -oE ' ok'$'\r''?$' "$TMP/nocolor.log" | wc -l)" 4

run --quiet 2>"$TMP/quiet.err" >/dev/null || fail "coord run --quiet failed"
grep -q 'coord: \[' "$TMP/quiet.err" && fail "--quiet printed progress: $(cat "$TMP/quiet.err")"
log "PASS"
