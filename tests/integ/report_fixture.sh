#!/usr/bin/env bash
# coord report on the stored fixture run (tests/fixtures/run-small: a real
# run of fixture.plan, every point three times): the table has one row per
# plan point with its runs and interval; the study's tables are there;
# --json has start/intervals/end per run and mean/sd/interval per point,
# never NaN; --csv has a row per run; the figures agree with each other.
source "$(dirname "$0")/lib.sh"
require_cmd python3
FIX=$SRC/tests/fixtures/run-small

"$COORD" report "$FIX" >"$TMP/table.txt" || fail "coord report failed"
"$COORD" report "$FIX" --runs >"$TMP/runs.txt" || fail "coord report --runs failed"
"$COORD" report "$FIX" --json >"$TMP/report.json" || fail "coord report --json failed"
"$COORD" report "$FIX" --csv >"$TMP/report.csv" || fail "coord report --csv failed"

for t in "Bandwidth by message size" "Latency by message size" "CPU cost per path" "Scaling: VMs sharing"; do
  grep -q "^$t" "$TMP/table.txt" || fail "no '$t' table: $(cat "$TMP/table.txt")"
done
# One row per plan point (10), each with 3 runs.
rows=$(grep -cE '^ +[0-9]+ +(bandwidth|latency|vm_bandwidth|vm_latency|scaling) .* ok .* 3 +[0-9.]+$' "$TMP/table.txt")
expect_eq "table rows with 3 runs" "$rows" 10
grep -q "^every run" "$TMP/runs.txt" || fail "--runs printed no table of every run"
# The packet-rate column is there, and "-" for a run without segment counts.
grep -qE '^ +# +test .* trans/s +Mpps ' "$TMP/table.txt" || fail "the table has no Mpps column"
grep -q "^NDR/PDR" "$TMP/table.txt" && fail "an NDR/PDR table for a run without searches"
expect_eq "rows of every run" "$(sed -n '/^every run/,$p' "$TMP/runs.txt" | grep -cE '^ +[0-9]+ +[a-z_]+ .* ok ')" 30

python3 - "$TMP/report.json" "$TMP/report.csv" <<'PY' || fail "the JSON or CSV report is wrong"
import csv, json, math, statistics, sys
text = open(sys.argv[1]).read()
assert "NaN" not in text and "Infinity" not in text, "NaN in JSON"
d = json.loads(text)
pts, groups = d["points"], d["groups"]
assert len(pts) == 30 and len(groups) == 10, (len(pts), len(groups))
for p in pts:
    assert set(p) >= {"start", "intervals", "end"}, p.keys()
    assert p["start"]["parameters"]["test"] == p["test"]
    assert p["end"]["status"] == "ok"
    assert len(p["intervals"]) >= 3
for g in groups:
    assert g["ok_runs"] == 3 and len(g["runs"]) == 3, g
    runs = [pts[i] for i in g["runs"]]
    assert all(r["point"] == g["point"] for r in runs)
    key = "tps" if runs[0]["transactions"] else "gbps"
    vals = [r[key] for r in runs]
    st = g["stats"][key]
    assert math.isclose(st["mean"], statistics.mean(vals), rel_tol=1e-9), (st, vals)
    assert math.isclose(st["sd"], statistics.stdev(vals), rel_tol=1e-9), (st, vals)
    # 95 %, 2 degrees of freedom: t = 4.3027
    half = 4.302652729911275 * statistics.stdev(vals) / math.sqrt(3)
    assert math.isclose(st["ci_high"] - st["mean"], half, rel_tol=1e-6), (st, half)
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 30, len(rows)
for r, p in zip(rows, pts):
    assert r["test"] == p["test"] and int(r["rep"]) == p["rep"] + 1
    if p["gbps"] is not None and p["gbps"] > 0:
        assert math.isclose(float(r["gbps"]), p["gbps"], rel_tol=1e-5), (r["gbps"], p["gbps"])
# Packet rates (issue 16): the fixture's results.db predates the TCP
# segment counts, so segments/s are unknown (null, an empty field), never
# 0; its TCP points have no datagram rate and no frame.
for p in pts:
    for k in ("pps_tx", "pps_rx", "segs_out", "segs_ps", "frame_pps", "wire_gbps", "line_pct"):
        assert k in p and p[k] is None, (k, p.get(k))
for r in rows:
    for k in ("pps_tx", "pps_rx", "segs_ps", "segs_out", "frame_pps", "wire_gbps", "line_pct", "ndr_pps"):
        assert k in r and r[k] == "", (k, r.get(k))
assert d["searches"] == [], d["searches"]
print("json: 30 runs, 10 points; csv: 30 rows")
PY
log "PASS"
