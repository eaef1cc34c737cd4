#!/usr/bin/env bash
# The newcomer path (issue 14, item 9): the run that the quickstart makes
# (coord run plans/quickstart.plan, as scripts/quickstart.sh runs it: two
# local agents, one repetition per point) is what `coord plot` must draw.
#
# Checks: every figure the run has data for is drawn, PNG and SVG valid
# and not empty, with gnuplot printing no warning (coord plot passes them
# on to stderr, and the kept scripts draw again silently); a point of one
# repetition is drawn without an error bar (NaN spread, not '?', which
# made gnuplot drop every point); index.html shows every figure.  Then the
# same run with one point failed still draws; samples without a time
# span leave the time series out, said so; with every point failed,
# coord plot says so, exits 1 and writes no figures directory and no
# index.html.
source "$(dirname "$0")/lib.sh"

command -v gnuplot >/dev/null || skip "needs gnuplot (apt-get install gnuplot-nox)"
require_cmd python3 sqlite3
[ -x "$COORD" ] || fail "no coord at $COORD (build first)"

# The quickstart's own run, on loopback (the netns mode is quickstart.sh's).
out=$TMP/results
mkdir -p "$out"
(cd "$SRC" && TMPDIR=$TMP "$COORD" run plans/quickstart.plan --local=loopback --results "$out") \
  >"$TMP/run.out" 2>"$TMP/run.err"
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/run.err" >&2; fail "coord run plans/quickstart.plan exited $rc"; }
run=$(ls -d "$out"/*-quickstart | head -1)
[ -d "$run" ] || fail "no run directory in $out"
expect_eq "ok points of the quickstart run" "$(sql "$run/results.db" "SELECT count(*) FROM point WHERE status = 'ok'")" 2
expect_eq "repetitions per point" "$(sql "$run/results.db" "SELECT max(rep) FROM point")" 0

FIGS="bandwidth-tcp_stream latency-tcp_rr cpu-streams cpu-rr timeseries-001 timeseries-002"
"$COORD" plot "$run" >"$TMP/plot.out" 2>"$TMP/plot.err"
rc=$?
cat "$TMP/plot.err" >&2
expect_eq "coord plot exit status on the quickstart run" "$rc" 0
[ -s "$TMP/plot.err" ] && fail "coord plot wrote to stderr (a gnuplot warning?): $(cat "$TMP/plot.err")"
for f in $FIGS; do
  grep -q "figures/$f\.{png,svg}  " "$TMP/plot.out" || fail "no line for $f: $(cat "$TMP/plot.out")"
done

python3 - "$run/figures" $FIGS <<'PY' || fail "bad figure (above)"
import shlex, struct, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
for name in sys.argv[2:]:
    data = open(f"{d}/{name}.png", "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{name}.png: not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    assert (w, h) == (1100, 650), f"{name}.png: {w}x{h}"
    # An empty plot (axes, no data) compresses to a few KiB; a drawn one is more.
    assert len(data) > 8000, f"{name}.png: {len(data)} bytes, nothing drawn?"
    root = ET.parse(f"{d}/{name}.svg").getroot()
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), f"{name}.svg: root {root.tag}"
    # Its data: drawn points (a path per series).
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    assert len(paths) > 10, f"{name}.svg: {len(paths)} paths"

def rows(name):
    # Data lines, split as gnuplot does (a quoted label is one column).
    return [shlex.split(l.split("#")[0]) for l in open(f"{d}/{name}.dat") if l.split("#")[0].strip()]
# One repetition: the mean is there, its spread is NaN (no error bar).
for name in ("bandwidth-tcp_stream", "latency-tcp_rr"):
    r = rows(name)
    assert len(r) == 1, f"{name}: {r}"
    mean, half, sd, n = r[0][1:5]
    assert float(mean) > 0 and half == "NaN" and sd == "NaN" and n == "1", f"{name}: {r[0]}"
for name in ("cpu-streams", "cpu-rr"):
    r = rows(name)
    assert len(r) == 1 and r[0][-1] == "1", f"{name}: {r}"
    assert r[0][2] == "NaN" and float(r[0][1]) > 0, f"{name}: {r[0]}"
PY

# The kept scripts draw again, and gnuplot says nothing while it does.
for f in $FIGS; do
  (cd "$run/figures" && gnuplot "$f.gp") >"$TMP/gp.out" 2>&1 || fail "$f.gp does not draw again: $(cat "$TMP/gp.out")"
  [ -s "$TMP/gp.out" ] && fail "gnuplot printed on $f.gp: $(cat "$TMP/gp.out")"
done
H=$run/index.html
for f in $FIGS; do grep -q "<img src=\"figures/$f.svg\"" "$H" || fail "index.html lacks $f"; done

# One point failed, the other ok: the ok one is drawn.
R1=$TMP/one-failed
cp -r "$run" "$R1"
rm -rf "$R1/figures" "$R1/index.html"
sqlite3 "$R1/results.db" "UPDATE point SET status = 'failed', error = 'receiver gone' WHERE test = 'rr'"
"$COORD" plot -q "$R1" 2>"$TMP/err" || fail "coord plot with one point failed exited $?: $(cat "$TMP/err")"
[ -s "$R1/figures/bandwidth-tcp_stream.png" ] || fail "the ok point was not drawn"
[ -e "$R1/figures/latency-tcp_rr.png" ] && fail "the failed point was drawn"

# Samples without a time span (t_end = t_start): no rate to draw in the
# time series, which are skipped with the reason, not left to gnuplot's
# "x range is invalid"; the other figures are drawn.
R0=$TMP/no-span
cp -r "$run" "$R0"
rm -rf "$R0/figures" "$R0/index.html"
sqlite3 "$R0/results.db" "UPDATE sample SET t_end_ns = t_start_ns"
"$COORD" plot "$R0" >"$TMP/out" 2>"$TMP/err" || fail "coord plot on samples without a span exited $?: $(cat "$TMP/err")"
grep -q '^skipped timeseries-001: no value to draw' "$TMP/out" || fail "timeseries-001 not skipped: $(cat "$TMP/out")"
[ -e "$R0/figures/timeseries-001.png" ] && fail "an empty time series was drawn"
[ -s "$R0/figures/bandwidth-tcp_stream.png" ] || fail "the bandwidth figure was not drawn"

# Every point failed: said so, exit 1, nothing written.
R2=$TMP/all-failed
cp -r "$run" "$R2"
rm -rf "$R2/figures" "$R2/index.html"
sqlite3 "$R2/results.db" "UPDATE point SET status = 'failed', error = 'agent b: cannot set up the receiver'"
"$COORD" plot "$R2" >"$TMP/out" 2>"$TMP/err"
expect_eq "coord plot exit status on an all-failed run" $? 1
grep -q "no point with status ok: all 2 runs of its points failed" "$TMP/err" ||
  fail "no clear error for an all-failed run: $(cat "$TMP/err")"
grep -q "agent b: cannot set up the receiver" "$TMP/err" || fail "the error does not give the first failure: $(cat "$TMP/err")"
[ -e "$R2/figures" ] && fail "an all-failed run got a figures directory: $(ls "$R2/figures")"
[ -e "$R2/index.html" ] && fail "an all-failed run got an index.html"
[ -s "$TMP/out" ] && fail "coord plot printed figures for an all-failed run: $(cat "$TMP/out")"

log "PASS"
