#!/usr/bin/env bash
# coord plot on a copy of the stored fixture run (tests/fixtures/run-small:
# repeat = 3, paths native and existing, topologies host-host, vm-vm-cross
# and many-to-one).  No network: it reads results.db and runs gnuplot.
#
# Checks what a user relies on: every figure in both formats and valid
# (PNG header and size, SVG well-formed with an <svg> root), error bars
# from the repetitions in the data files, the kept scripts draw again,
# index.html shows every figure, the plan and the inventories, --format,
# --out and -q, the figures for vm-vm-same and per-VM CPU (on a copy
# of the database changed with sqlite3), and clear errors for bad input,
# a run without an ok point, gnuplot missing and gnuplot failing.
source "$(dirname "$0")/lib.sh"

command -v gnuplot >/dev/null || skip "needs gnuplot (apt-get install gnuplot-nox)"
require_cmd python3 sqlite3
[ -x "$COORD" ] || fail "no coord at $COORD (build first)"

FIX=$SRC/tests/fixtures/run-small
RUN=$TMP/run
cp -r "$FIX" "$RUN"
cp "$RUN/stored.plan" "$RUN/plan.plan"

# The figures this run must give: 10 plan points, each with a time series.
FIGS="bandwidth-tcp_stream latency-tcp_rr cpu-streams cpu-rr scaling-tcp_stream"
for i in $(seq -f %03g 1 10); do FIGS="$FIGS timeseries-$i"; done

"$COORD" plot "$RUN" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "coord plot exited $?"; }
[ -s "$TMP/err" ] && { cat "$TMP/err" >&2; fail "coord plot wrote to stderr on a good run"; }

# One line per figure, naming both files; the figures without data said so.
for f in $FIGS; do
  grep -q "figures/$f\.{png,svg}  " "$TMP/out" || fail "output has no line for $f: $(cat "$TMP/out")"
done
n=$(grep -c '\.{png,svg}  ' "$TMP/out")
[ "$n" -eq 15 ] || fail "expected 15 figure lines, got $n"
grep -q '^skipped intervm: no stream point with topology vm-vm-same' "$TMP/out" ||
  fail "the missing inter-VM figure is not reported"
grep -q "^$RUN/index.html\$" "$TMP/out" || fail "output does not name index.html"
# Issue 16: no search in the fixture, and no packet rate its results.db can
# tell (TCP segments came later): those figures are skipped, and said so.
grep -q '^skipped ndr: no rate search in the run' "$TMP/out" || fail "the missing NDR figure is not reported"
grep -q '^skipped packets-tcp_stream: no value to draw' "$TMP/out" ||
  fail "the packet-rate figure of a run without segment counts is not reported as skipped: $(cat "$TMP/out")"

check_images() { # DIR NAME...: both formats valid
  python3 - "$@" <<'EOF' || fail "bad image (above)"
import struct, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
for name in sys.argv[2:]:
    with open(f"{d}/{name}.png", "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{name}.png: not a PNG"
    assert head[12:16] == b"IHDR", f"{name}.png: no IHDR"
    w, h = struct.unpack(">II", head[16:24])
    assert w > 0 and h > 0, f"{name}.png: {w}x{h}"
    root = ET.parse(f"{d}/{name}.svg").getroot()
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), f"{name}.svg: root {root.tag}"
    assert len(list(root.iter())) > 20, f"{name}.svg: nearly empty"
EOF
}
check_images "$RUN/figures" $FIGS
for f in $FIGS; do
  [ -s "$RUN/figures/$f.gp" ] && [ -s "$RUN/figures/$f.dat" ] || fail "$f: no script or data file kept"
done

# Error bars: the repeated points (n = 3) carry a CI and an sd that are
# not all zero; the CI is Student's t(0.975, 2) * sd / sqrt(3).
python3 - "$RUN/figures" <<'EOF' || fail "error bar columns (above)"
import math, sys
d = sys.argv[1]
def rows(name):
    out = []
    for line in open(f"{d}/{name}.dat"):
        line = line.split("#")[0].split()
        if line:
            out.append(line)
    return out
for name, first in (("bandwidth-tcp_stream", 1), ("latency-tcp_rr", 1), ("latency-tcp_rr", 6)):
    r = rows(name)
    assert r, f"{name}: no rows"
    for row in r:
        mean, half, sd, n, level = row[first:first + 5]
        assert n == "3" and level == "0.95", f"{name}: n {n} level {level} in {row}"
        t = 4.302652729911275
        assert math.isclose(float(half), t * float(sd) / math.sqrt(3), rel_tol=1e-6), f"{name}: CI {row}"
    assert any(float(row[first + 1]) > 0 for row in r), f"{name}: every CI is zero"
# Scaling: x = vms 1 and 2; fairness is missing ('?') with one VM only.
r = rows("scaling-tcp_stream")
assert [row[0] for row in r] == ["1", "2"], f"scaling x: {r}"
assert r[0][11] == "?" and 0.9 < float(r[1][11]) <= 1, f"fairness: {r}"
assert float(r[1][1]) > float(r[1][6]), "aggregate of 2 VMs not above the per-VM mean"
# Time series of the 2-VM point: the point and each of its two links.
blocks = open(f"{d}/timeseries-010.dat").read().split("\n\n\n")
assert len(blocks) == 3, f"timeseries-010: {len(blocks)} blocks"
# Every point has 3 repetitions: every error bar is there (NaN, no bar,
# is for a point with one).
for name in ("bandwidth-tcp_stream", "cpu-streams", "timeseries-001"):
    text = " ".join(" ".join(l.split("#")[0].split()) for l in open(f"{d}/{name}.dat")).lower()
    assert "nan" not in text and "inf" not in text, f"{name}: NaN/inf in the data"
EOF

# The kept script draws again where it is.
rm "$RUN/figures/bandwidth-tcp_stream.png"
(cd "$RUN/figures" && gnuplot bandwidth-tcp_stream.gp) || fail "the kept script does not run"
[ -s "$RUN/figures/bandwidth-tcp_stream.png" ] || fail "the kept script drew no PNG"

# index.html: every figure, the plan (escaped), one <details> per agent
# (2 hosts, 3 guests), nothing fetched from elsewhere.
H=$RUN/index.html
for f in $FIGS; do grep -q "<img src=\"figures/$f.svg\"" "$H" || fail "index.html lacks $f"; done
grep -q '20261126-030008-fixture' "$H" || fail "index.html does not name the run"
grep -q '^\[vm_bandwidth\]$' "$H" && grep -q 'topology = vm-vm-cross' "$H" || fail "index.html lacks the plan"
[ "$(grep -c '<details>' "$H")" -eq 5 ] || fail "index.html: expected 5 inventories"
grep -q '<summary>a/vm01</summary>' "$H" || fail "index.html lacks the guest a/vm01"
grep -qiE 'https?://|<script' "$H" && fail "index.html refers outside or runs scripts"

# --format png --out DIR -q: only PNGs, there, and silent.
"$COORD" plot --format png --out "$TMP/pngs" -q "$RUN/results.db" >"$TMP/out2" 2>&1 || fail "--format png failed"
[ -s "$TMP/out2" ] && fail "-q printed: $(cat "$TMP/out2")"
[ -s "$TMP/pngs/cpu-rr.png" ] || fail "--out: no cpu-rr.png"
ls "$TMP/pngs"/*.svg >/dev/null 2>&1 && fail "--format png wrote SVGs"

# vm-vm-same and per-VM CPU: the VM points moved to vm-vm-same, and host
# CPU of their guests' VMs stored.
R2=$TMP/run2
cp -r "$FIX" "$R2"
sqlite3 "$R2/results.db" "
  UPDATE point SET topology = 'vm-vm-same' WHERE test IN ('vm_bandwidth', 'vm_latency');
  INSERT INTO vm_cpu_sample (point_id, agent_id, seq, interval_ns, vcpu_ns, io_ns, vhost_ns, kvm_ns, total_ns)
    SELECT DISTINCT f.point_id, f.agent_id, s.seq, 250000000, 100000000, 20000000, 30000000, 0, 150000000
    FROM flow f JOIN agent a ON a.id = f.agent_id AND a.kind = 'guest'
    JOIN sample s ON s.flow_id = f.id WHERE s.seq > 1" || fail "cannot change the copy"
"$COORD" plot -q "$R2" || fail "coord plot on the changed copy failed"
check_images "$R2/figures" intervm-tcp_stream intervm-tcp_rr cpu-streams
grep -q 'guest_mean' "$R2/figures/cpu-streams.dat" || fail "cpu-streams has no per-VM columns"
grep -q 'plan.plan' "$R2/index.html" || fail "index.html does not say the plan is missing"

# Bad input: each names what is wrong.
mkdir "$TMP/notarun"
"$COORD" plot "$TMP/notarun" 2>"$TMP/err" && fail "a directory without results.db succeeded"
grep -q "$TMP/notarun" "$TMP/err" && grep -q results.db "$TMP/err" || fail "no clear error: $(cat "$TMP/err")"
"$COORD" plot "$TMP/nonexistent" 2>"$TMP/err" && fail "a nonexistent run succeeded"
grep -q "$TMP/nonexistent" "$TMP/err" || fail "no path in: $(cat "$TMP/err")"
"$COORD" plot --format gif "$RUN" 2>/dev/null
[ $? -eq 2 ] || fail "--format gif is not a usage error"
R3=$TMP/run3
cp -r "$FIX" "$R3"
sqlite3 "$R3/results.db" "UPDATE point SET status = 'failed', error = 'test'"
"$COORD" plot "$R3" 2>"$TMP/err" && fail "a run without an ok point succeeded"
grep -q 'no point with status ok' "$TMP/err" || fail "no clear error: $(cat "$TMP/err")"

# gnuplot missing, then a gnuplot that fails: the script and its error named.
mkdir "$TMP/bin"
ln -s "$(command -v timeout)" "$TMP/bin/timeout"
PATH=$TMP/bin "$COORD" plot "$RUN" 2>"$TMP/err" && fail "coord plot without gnuplot succeeded"
grep -q 'install gnuplot-nox' "$TMP/err" || fail "no install hint: $(cat "$TMP/err")"
printf '#!/bin/sh\necho "\\"$3\\" line 7: fake gnuplot refused" >&2\nexit 1\n' >"$TMP/bin/gnuplot"
chmod +x "$TMP/bin/gnuplot"
PATH=$TMP/bin:$PATH "$COORD" plot -q "$RUN" 2>"$TMP/err" && fail "a failing gnuplot was not an error"
grep -q "bandwidth-tcp_stream.gp.*fake gnuplot refused" "$TMP/err" || fail "gnuplot's error not named: $(cat "$TMP/err")"

log "PASS"
