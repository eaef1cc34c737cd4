#!/usr/bin/env bash
# coord compare on the stored fixture run (tests/fixtures/run-small: 10
# plan points, 3 repetitions each, tcp_stream and tcp_rr, host-host and
# simulated VMs).  Copies of the fixture are changed with sqlite3 to plant
# a known difference, and each comparison is checked for what a CI job
# relies on: the verdict of each point, the change, and the exit status
# (0 no regression, 1 regression, 2 usage, 3 unreadable / nothing in
# common).  One case also runs a tiny real plan (coord's local hosts over
# loopback, one repetition a point).
#
# Topology (case 5b only): coord + two local agents on 127.0.0.1, no
# namespaces; every other case reads files only.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 python3

# The fixture is read from a copy: SQLite leaves -wal and -shm files next
# to a WAL database even when it is only read, and those do not belong in
# the source tree.
[ -f "$SRC/tests/fixtures/run-small/results.db" ] || fail "fixture run-small/results.db missing"
mkdir -p "$TMP/fixture"
cp "$SRC/tests/fixtures/run-small/results.db" "$TMP/fixture/results.db"
FIX=$TMP/fixture/results.db
fix_sum=$(sha256sum "$FIX" | cut -d' ' -f1)

# The planted point: plan point 6 (vm_bandwidth msg_size=64k, the 7th row),
# whose three repetitions are close together, so -30 % is significant.
PLANT=6

# cmp OUT ARGS...: coord compare ARGS, stdout to OUT, stderr to OUT.err;
# the exit status in RC.
cmp() {
  local out=$1
  shift
  "$COORD" compare "$@" >"$out" 2>"$out.err"
  RC=$?
}

# scale DB POINT_NO FACTOR: multiply the bytes the receivers of every
# repetition of plan point POINT_NO got, in their results (throughput
# comes from these) and in their samples (the time bins), consistently.
scale() {
  sqlite3 -batch "$1" "
    UPDATE result SET bytes = CAST(bytes * $3 AS INTEGER) WHERE flow_id IN
      (SELECT f.id FROM flow f JOIN point p ON p.id = f.point_id WHERE p.point_no = $2 AND f.role = 'receiver');
    UPDATE sample SET bytes = CAST(bytes * $3 AS INTEGER) WHERE flow_id IN
      (SELECT f.id FROM flow f JOIN point p ON p.id = f.point_id WHERE p.point_no = $2 AND f.role = 'receiver');" ||
    fail "cannot change $1"
}

# check_json FILE PYTHON: parse FILE (NaN or Infinity anywhere is an
# error) as d, then run the PYTHON assertions on it.
check_json() {
  python3 - "$1" "$2" <<'EOF' || fail "JSON check on $1: $2"
import json, sys
def bad(c):
    raise ValueError("non-JSON constant " + c)
d = json.load(open(sys.argv[1]), parse_constant=bad)
def metric(p, name):
    return next(m for m in p["metrics"] if m["metric"] == name)
def pt(no):
    return next(p for p in d["points"] if p["a"]["point_no"] == no)
exec(sys.argv[2])
EOF
}

# row N FILE: the table row of the point numbered N (point_no + 1).
row() { awk -v n="$1" '$1 == n' "$2"; }

# ---- 1. the fixture against an unchanged copy of itself -----------------
mkdir -p "$TMP/same"
cp "$FIX" "$TMP/same/results.db"
cmp "$TMP/1.txt" "$TMP/fixture" "$TMP/same"
expect_eq "case 1 exit status" "$RC" 0
n=$(grep -cE '^ *[0-9]+ .* same$' "$TMP/1.txt")
expect_eq "case 1: points 'same'" "$n" 10
grep -q '^no regression$' "$TMP/1.txt" || fail "case 1: no 'no regression' line"
cmp "$TMP/1.json" --json --metric cpu "$FIX" "$TMP/same/results.db"
expect_eq "case 1 --json exit status" "$RC" 0
check_json "$TMP/1.json" '
assert d["counts"]["matched"] == 10 and d["only_a"] == [] and d["only_b"] == [], d["counts"]
for p in d["points"]:
    for m in p["metrics"]:
        assert m["verdict"] == "same", (p["test"], p["sweep"], m)
        assert m["change_pct"] == 0 and m["p"] == 1.0, m
assert d["exit_status"] == 0 and d["regression"] is False
# No rate search in the fixture: no NDR to compare.
assert d["searches"] == [], d["searches"]'
grep -q 'NDR/PDR' "$TMP/1.txt" && fail "case 1: an NDR/PDR table for runs without searches"
log "case 1 (unchanged copy): ok"

# ---- 2. a planted regression: one point's throughput -30 % ----------------
cp "$FIX" "$TMP/reg.db"
scale "$TMP/reg.db" $PLANT 0.7
cmp "$TMP/2.txt" "$FIX" "$TMP/reg.db"
expect_eq "case 2 exit status" "$RC" 1
r=$(row $((PLANT + 1)) "$TMP/2.txt")
case "$r" in *"worse (regression)") ;; *) cat "$TMP/2.txt" >&2; fail "case 2: point $((PLANT + 1)) not a regression: $r" ;; esac
n=$(grep -cE '^ *[0-9]+ .* same$' "$TMP/2.txt")
expect_eq "case 2: the other points 'same'" "$n" 9
grep -q '^REGRESSION$' "$TMP/2.txt" || fail "case 2: no REGRESSION line"
cmp "$TMP/2.json" --json "$FIX" "$TMP/reg.db"
expect_eq "case 2 --json exit status" "$RC" 1
check_json "$TMP/2.json" "
t = metric(pt($PLANT), 'throughput')
assert t['verdict'] == 'worse (regression)' and t['gating'], t
assert -30.5 < t['change_pct'] < -29.5 and t['p'] < 0.05, t
assert pt($PLANT)['regression'] is True
for p in d['points']:
    if p['a']['point_no'] != $PLANT:
        assert metric(p, 'throughput')['verdict'] == 'same', p
assert d['counts']['regression'] == 1 and d['counts']['same'] == 9 and d['exit_status'] == 1"
# The gate follows --metric: latency did not change; CPU per KiB did (+43 %).
cmp "$TMP/2l.txt" --metric latency "$FIX" "$TMP/reg.db"
expect_eq "case 2 --metric latency exit status" "$RC" 0
cmp "$TMP/2c.txt" --metric cpu "$FIX" "$TMP/reg.db"
expect_eq "case 2 --metric cpu exit status" "$RC" 1
log "case 2 (regression): ok: $r"

# ---- 3. the same change under --threshold 50: worse, no regression ------
cmp "$TMP/3.txt" --threshold 50 "$FIX" "$TMP/reg.db"
expect_eq "case 3 exit status" "$RC" 0
r=$(row $((PLANT + 1)) "$TMP/3.txt")
case "$r" in *" worse") ;; *) fail "case 3: point $((PLANT + 1)) not 'worse': $r" ;; esac
grep -q 'regression)$' "$TMP/3.txt" && fail "case 3: a regression under --threshold 50"
log "case 3 (below the threshold): ok"

# ---- 4. an improvement: +30 % is better ----------------------------------
cp "$FIX" "$TMP/imp.db"
scale "$TMP/imp.db" $PLANT 1.3
cmp "$TMP/4.json" --json "$FIX" "$TMP/imp.db"
expect_eq "case 4 exit status" "$RC" 0
check_json "$TMP/4.json" "
t = metric(pt($PLANT), 'throughput')
assert t['verdict'] == 'better' and 29.5 < t['change_pct'] < 30.5, t
assert d['counts']['better'] == 1 and d['counts']['regression'] == 0"
# Swapped, the improvement is a regression of B against A.
cmp "$TMP/4s.txt" "$TMP/imp.db" "$FIX"
expect_eq "case 4 swapped exit status" "$RC" 1
log "case 4 (improvement): ok"

# ---- 5. one repetition a point: nothing is tested ------------------------
cp "$FIX" "$TMP/one.db"
sqlite3 -batch "$TMP/one.db" "
  CREATE TEMP TABLE gone AS SELECT id FROM point WHERE rep > 0;
  CREATE TEMP TABLE gone_flow AS SELECT id FROM flow WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM sample WHERE flow_id IN (SELECT id FROM gone_flow);
  DELETE FROM result WHERE flow_id IN (SELECT id FROM gone_flow);
  DELETE FROM histogram WHERE flow_id IN (SELECT id FROM gone_flow);
  DELETE FROM histogram_summary WHERE flow_id IN (SELECT id FROM gone_flow);
  DELETE FROM flow WHERE id IN (SELECT id FROM gone_flow);
  DELETE FROM cpu_sample WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM irq_sample WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM vm_cpu_sample WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM point_agent WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM sample_gap WHERE point_id IN (SELECT id FROM gone);
  DELETE FROM point_confidence;
  DELETE FROM point WHERE id IN (SELECT id FROM gone);" || fail "cannot make the one-repetition copy"
expect_eq "case 5 repetitions left" "$(sql "$TMP/one.db" 'SELECT COUNT(*) FROM point')" 10
# Planted too: a 30 % drop seen in one run is still not a verdict.
scale "$TMP/one.db" $PLANT 0.7
cmp "$TMP/5.txt" "$FIX" "$TMP/one.db"
expect_eq "case 5 exit status" "$RC" 0
n=$(grep -cE '^ *[0-9]+ .* untested \(1 run in B\)$' "$TMP/5.txt")
expect_eq "case 5: points 'untested (1 run in B)'" "$n" 10
cmp "$TMP/5.json" --json "$TMP/one.db" "$TMP/one.db"
expect_eq "case 5 one-against-one exit status" "$RC" 0
check_json "$TMP/5.json" "
for p in d['points']:
    for m in p['metrics']:
        assert m['verdict'] == 'untested' and m['p'] is None and m['note'] == '1 run each', m
        assert m['a']['half'] is None and m['a']['sd'] is None, m
assert d['counts']['untested'] == 10"
log "case 5 (one repetition, sqlite copy): ok"

# 5b: a tiny real plan run here, one repetition a point, with other
# run-control keys (sample_interval, timeout) and no sweeps: its two
# points match the fixture's by their parameters, the rest are only in A.
cat >"$TMP/tiny.plan" <<'EOF'
[hosts]
a = local
b = local

[global]
sender = a
receiver = b
duration = 1s
sample_interval = 500ms
timeout = 10s

[bandwidth]
workload = tcp_stream
msg_size = 64k

[latency]
workload = tcp_rr
msg_size = 1
response_size = 1
EOF
"$COORD" run "$TMP/tiny.plan" --results "$TMP/res" --local loopback --quiet >"$TMP/run.log" 2>&1 ||
  { cat "$TMP/run.log" >&2; fail "case 5b: coord run of the tiny plan failed"; }
tiny=$(ls -d "$TMP"/res/*-tiny | head -1)
cmp "$TMP/5b.txt" "$TMP/fixture" "$tiny"
expect_eq "case 5b exit status" "$RC" 0
grep -q 'untested (1 run in B)$' "$TMP/5b.txt" || { cat "$TMP/5b.txt" >&2; fail "case 5b: no untested row"; }
grep -q '^only in A' "$TMP/5b.txt" || fail "case 5b: the points only in A are not listed"
cmp "$TMP/5b.json" --json --all "$TMP/fixture" "$tiny"
expect_eq "case 5b --json exit status" "$RC" 0
check_json "$TMP/5b.json" "
got = sorted((p['test'], p['a']['sweep']) for p in d['points'])
assert got == [('bandwidth', 'msg_size=64k'), ('latency', 'msg_size=1')], got
assert len(d['only_a']) == 8 and d['only_b'] == [], d['only_a']
for p in d['points']:
    assert metric(p, 'throughput')['verdict'] == 'untested', p
assert metric(pt(3), 'throughput')['unit'] == 'trans/s' and metric(pt(3), 'p99')['b']['n'] == 1"
log "case 5b (one repetition, real run): ok"

# ---- 6. JSON: every output parses without NaN (checked above); --all and
# the table agree on the gating verdicts.
cmp "$TMP/6.txt" --all "$FIX" "$TMP/reg.db"
expect_eq "case 6 --all exit status" "$RC" 1
n=$(grep -cE '^ *[0-9]+ ' "$TMP/6.txt")
[ "$n" -gt 10 ] || fail "case 6: --all printed $n rows, want every metric"
log "case 6 (JSON, --all): ok"

# ---- 7. runs that cannot be read: exit 3, naming the path -----------------
cmp "$TMP/7a.txt" "$FIX" "$TMP/no-such-run"
expect_eq "case 7 missing run exit status" "$RC" 3
grep -q "$TMP/no-such-run" "$TMP/7a.txt.err" || fail "case 7: missing path not named: $(cat "$TMP/7a.txt.err")"
mkdir -p "$TMP/emptydir"
cmp "$TMP/7b.txt" "$TMP/emptydir" "$FIX"
expect_eq "case 7 directory without results.db exit status" "$RC" 3
grep -q "$TMP/emptydir/results.db" "$TMP/7b.txt.err" || fail "case 7: $(cat "$TMP/7b.txt.err")"
echo "not a database" >"$TMP/text.db"
cmp "$TMP/7c.txt" "$FIX" "$TMP/text.db"
expect_eq "case 7 not a database exit status" "$RC" 3
grep -q "$TMP/text.db.*not a database" "$TMP/7c.txt.err" || fail "case 7: $(cat "$TMP/7c.txt.err")"
# No point in common: nothing was compared, which a CI gate must not take
# for a pass.
cp "$FIX" "$TMP/other.db"
sqlite3 -batch "$TMP/other.db" "UPDATE point SET test = 'other_' || test" || fail "cannot rename tests"
cmp "$TMP/7d.txt" "$FIX" "$TMP/other.db"
expect_eq "case 7 nothing in common exit status" "$RC" 3
grep -q "No test point in common" "$TMP/7d.txt.err" || fail "case 7: $(cat "$TMP/7d.txt.err")"
# Usage errors: 2.
cmp "$TMP/7e.txt" "$FIX"
expect_eq "case 7 one run exit status" "$RC" 2
cmp "$TMP/7f.txt" --metric speed "$FIX" "$FIX"
expect_eq "case 7 bad --metric exit status" "$RC" 2
cmp "$TMP/7g.txt" --alpha 0 "$FIX" "$FIX"
expect_eq "case 7 bad --alpha exit status" "$RC" 2
cmp "$TMP/7h.txt" --help
expect_eq "case 7 --help exit status" "$RC" 0
grep -q 'Exit status' "$TMP/7h.txt" || fail "case 7: --help says nothing of the exit status"
log "case 7 (errors): ok"

expect_eq "the fixture (copy) is unchanged by reading it" "$(sha256sum "$FIX" | cut -d' ' -f1)" "$fix_sum"
log "PASS"
