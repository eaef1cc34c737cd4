#!/usr/bin/env bash
# Packet rates in everything a user reads, on what local runs produce.
#
# 1. A quickstart-like run (two local hosts; coord puts them in two
#    namespaces as root, on loopback otherwise): a udp_stream point at
#    64-byte frames and a tcp_stream point.  coord report's table shows
#    the UDP point's packet rate and the TCP point's segments/s; --json
#    and --csv carry them, and they agree with results.db (received
#    datagrams over the window; TCP_INFO's segments out over the senders'
#    window).  With frame_size the frame rate, wire rate and share of the
#    line rate follow from the frame: wire = pps * (64 + 20) * 8.
# 2. plans/ndr.plan, run twice (as root: it needs the namespaces): coord
#    plot draws the packet-rate and NDR figures of a run, coord report
#    prints the NDR/PDR table, and coord compare of the two runs prints
#    the NDR ratios.
# 3. coord validate plans/study.plan shows the time its searches add.
#
# Exit 4 (skip) when sqlite3 or python3 is missing; part 2 needs root
# (skipped otherwise, and said so).  About 3-5 minutes as root.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 python3

# ---- 1. pps, segments/s --------------------------------------------------
cat >"$TMP/pps.plan" <<'PLAN'
[hosts]
a = local
b = local

[global]
sender = a
receiver = b
duration = 2s
sample_interval = 500ms
timeout = 10s

# 64-byte frames at 20 Mbit/s of frames: 39062.5 datagrams/s.
[udp64]
workload = udp_stream
frame_size = 64
rate = 20m

[stream]
workload = tcp_stream
msg_size = 64k
PLAN

"$COORD" validate "$TMP/pps.plan" >"$TMP/validate.txt" 2>&1 || fail "pps.plan does not validate: $(cat "$TMP/validate.txt")"
(cd "$SRC" && TMPDIR=$TMP timeout -k 10 120 "$COORD" run "$TMP/pps.plan" --results "$TMP/results") \
  >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" >&2
expect_eq "pps run: exit status" "$rc" 0
run=$(ls -d "$TMP"/results/*-pps | head -1)
db=$run/results.db

"$COORD" report "$run" >"$TMP/report.txt" 2>&1 || fail "coord report failed: $(cat "$TMP/report.txt")"
"$COORD" report --json "$run" >"$TMP/report.json" || fail "coord report --json failed"
"$COORD" report --csv "$run" >"$TMP/report.csv" || fail "coord report --csv failed"
python3 - "$TMP/report.json" "$TMP/report.csv" "$db" "$TMP/report.txt" <<'PY' ||
import csv, json, re, sqlite3, sys

d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
db = sqlite3.connect(sys.argv[3])
text = open(sys.argv[4]).read().splitlines()
pts = {p["test"]: p for p in d["points"]}
u, t = pts["udp64"], pts["stream"]

def close(a, b, rel=1e-3):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)

def q(sql):
    return db.execute(sql).fetchone()[0]

# UDP: sent and received datagrams/s, the frame rate, wire rate.
for k in ("pps_tx", "pps_rx", "frame_pps", "wire_gbps"):
    assert isinstance(u.get(k), (int, float)) and u[k] > 0, ("udp64", k, u.get(k))
assert u["pps_rx"] <= u["pps_tx"] * 1.05, ("received more than sent", u["pps_tx"], u["pps_rx"])
# Received: the receivers' datagrams (results.db) over the point's window.
rx = q("""SELECT sum(r.messages) FROM result r JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id
          WHERE p.test = 'udp64' AND f.role = 'receiver'""")
tx = q("""SELECT sum(r.messages) FROM result r JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id
          WHERE p.test = 'udp64' AND f.role = 'sender'""")
assert rx and u["rx_messages"] == rx and u["tx_messages"] == tx, ("datagram counts", u["rx_messages"], rx, u["tx_messages"], tx)
assert close(u["pps_rx"] * u["window_s"], rx), ("pps_rx is not received / window", u["pps_rx"], u["window_s"], rx)
# 64-byte frames: the frame rate is the datagram rate, each 84 bytes on the wire.
assert u["frame_bytes"] == 64 and close(u["frame_pps"], u["pps_rx"]), u
assert close(u["wire_gbps"], u["frame_pps"] * (64 + 20) * 8 / 1e9), ("wire rate is not (64 + 20) * 8 bits a frame", u)
assert u.get("segs_ps") is None, ("a UDP point with segments/s", u.get("segs_ps"))
# TCP: segments/s out, from TCP_INFO's counts stored per flow.
segs = q("""SELECT sum(r.segs_out) FROM result r JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id
            WHERE p.test = 'stream' AND f.role = 'sender'""")
assert segs and t["segs_out"] == segs, ("segments out", t.get("segs_out"), segs)
assert isinstance(t.get("segs_ps"), (int, float)) and close(t["segs_ps"] * t["window_s"], segs, 0.1), \
    ("segs_ps is not segments out / window", t.get("segs_ps"), t["window_s"], segs)
# 64 KiB writes on a veth or loopback (MTU 1500 or 64 KiB): at least one
# segment per 64 KiB sent.
assert segs >= t["tx_bytes"] / 65536, (segs, t["tx_bytes"])

# CSV: the same figures, in columns of the same names.
byt = {r["test"]: r for r in rows}
for test, keys in (("udp64", ("pps_tx", "pps_rx", "frame_pps", "wire_gbps")), ("stream", ("segs_ps",))):
    for k in keys:
        assert k in byt[test], ("csv column", k, list(byt[test]))
        assert close(float(byt[test][k]), pts[test][k], 1e-5), ("csv vs json", test, k, byt[test][k], pts[test][k])
assert byt["stream"]["pps_tx"] == "" and byt["udp64"]["segs_ps"] == "", "csv: a figure where the workload has none"

# The table: the main table's Mpps column, the packet-rate table's sent
# and received Mpps, and the study's segments table, as JSON has them.
def table(title_re):
    for i, line in enumerate(text):
        if re.search(title_re, line):
            out = []
            for l in text[i + 1:]:
                if not l.strip():
                    if out:
                        break
                    continue
                out.append(l)
            return out
    raise AssertionError(("no table", title_re))

main = next(l for l in text if l.lstrip().startswith("#") and "Mpps" in l and "Gbit/s" in l)
assert main, "no Mpps column in the main table"
pr = table(r"^packet rate: ")
hdr = next(l for l in pr if l.startswith("#") and "sent Mpps" in l and "recv Mpps" in l)
row = next(l.split() for l in pr if re.match(r"^\s*[0-9]+\s+udp64\b", l))
mpps = [float(x) for x in row[2:4]]
assert close(mpps[0], round(u["pps_tx"] / 1e6, 3), 0.01) and close(mpps[1], round(u["pps_rx"] / 1e6, 3), 0.01), (row, u)
seg = table(r"^TCP segments by message size")
srow = next(l.split() for l in seg if l.split() and l.split()[0] == "tcp_stream")
assert close(float(srow[-1]), t["segs_ps"], 0.01), (srow, t["segs_ps"])
print("pps: udp %.0f sent, %.0f received /s, %.4f Gbit/s on the wire; tcp %.0f segments/s" %
      (u["pps_tx"], u["pps_rx"], u["wire_gbps"], t["segs_ps"]))
PY
  fail "pps or segments/s missing or wrong in the table, --json or --csv: $(cat "$TMP/report.txt")"

# ---- 3. the study's searches in coord validate ----------------------------
"$COORD" validate "$SRC/plans/study.plan" >"$TMP/study-validate.txt" 2>&1 ||
  fail "plans/study.plan does not validate: $(tail -5 "$TMP/study-validate.txt")"
tail -n 2 "$TMP/study-validate.txt" >&2
# 21 searches: three paths, seven frame sizes; their time apart from the
# fixed windows, typical and worst case.
line=$(grep -E '^(measuring time: )?rate searches \(' "$TMP/study-validate.txt") ||
  fail "coord validate plans/study.plan does not show the time its searches add: $(tail -5 "$TMP/study-validate.txt")"
echo "$line" | grep -qE '^(measuring time: )?rate searches \(21 points\): about [1-9][0-9hms ]*, at most [1-9]' ||
  fail "coord validate: not 21 searches with their time: $line"

# ---- 2. the NDR plan: figures, report, compare -----------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  log "PASS (pps, segments/s and validate; the NDR plan needs root: not run)"
  exit 0
fi
require_cmd gnuplot
for i in 1 2; do
  mkdir -p "$TMP/ndr$i"
  t0=$SECONDS
  (cd "$SRC" && TMPDIR=$TMP timeout -k 10 600 "$COORD" run plans/ndr.plan --local netns --results "$TMP/ndr$i") \
    >"$TMP/ndr$i.out" 2>"$TMP/ndr$i.err"
  rc=$?
  cat "$TMP/ndr$i.out" >&2
  [ "$rc" -eq 0 ] || { tail -n 30 "$TMP/ndr$i.err" >&2; fail "plans/ndr.plan run $i: exit status $rc"; }
  log "plans/ndr.plan run $i: $((SECONDS - t0)) s"
done
r1=$(ls -d "$TMP"/ndr1/*-ndr | head -1)
r2=$(ls -d "$TMP"/ndr2/*-ndr | head -1)
# Four frame sizes, each an ndr and a pdr search with a rate.
expect_eq "ndr.plan: searches with a rate" "$(sql "$r1/results.db" "SELECT count(*) FROM search WHERE rate_pps > 0")" 8

"$COORD" report "$r1" >"$TMP/ndr-report.txt" 2>&1 || fail "coord report of the NDR run failed"
cat "$TMP/ndr-report.txt" >&2
# The NDR/PDR table: a row per frame size on path native (columns: #,
# test, path, topology, frame, NDR Mpps, ...), each with a rate.
for f in 64 512 1518 imix; do
  awk -v f="$f" '/^NDR\/PDR by frame size per path/ { t = 1 }
    t && /^#/ { h = 1 } t && h && /^$/ { t = 0 }
    t && h && $1 ~ /^[0-9]+$/ && $3 == "native" && $5 == f && $6 + 0 > 0 { found = 1 }
    END { exit !found }' "$TMP/ndr-report.txt" || fail "the NDR/PDR table has no row with a rate for frame size $f"
done

"$COORD" plot "$r1" >"$TMP/plot.out" 2>&1 || fail "coord plot of the NDR run failed: $(cat "$TMP/plot.out")"
# The NDR by frame size of the path, the packet rate by frame size, and
# loss against offered rate for each of the four searched points.
for f in ndr-native-host-host packets-frame-udp_stream search-001 search-002 search-003 search-004; do
  [ -s "$r1/figures/$f.png" ] ||
    fail "coord plot made no $f figure: $(find "$r1" -name '*.png' | sed 's|.*/||' | sort | tr '\n' ' ')"
done
for f in $(find "$r1" -name '*.png'); do
  [ "$(head -c 4 "$f" | tail -c 3)" = PNG ] || fail "$f is not a PNG"
done

"$COORD" compare "$r1" "$r2" >"$TMP/compare.txt" 2>&1
rc=$?
cat "$TMP/compare.txt" >&2
# 0 no regression, 1 a regression (two runs on a shared machine differ).
[ "$rc" -le 1 ] || fail "coord compare of two NDR runs: exit status $rc"
"$COORD" report --json "$r1" >"$TMP/ndr1.json" && "$COORD" report --json "$r2" >"$TMP/ndr2.json" ||
  fail "coord report --json of the NDR runs failed"
python3 - "$TMP/compare.txt" "$TMP/ndr1.json" "$TMP/ndr2.json" <<'PY' || fail "coord compare does not show the NDR ratios"
import json, re, sys
text = open(sys.argv[1]).read()
assert "NDR/PDR" in text, "no NDR/PDR section"
runs = [json.load(open(f)) for f in sys.argv[2:4]]
ndr = [{s["frame_size"]: s["rate_pps"] / 1e6 for s in d["searches"] if s["kind"] == "ndr"} for d in runs]
rows = re.findall(r"^\s*[0-9]+\s+NDR\s+udp_ndr\s+frame_size=(\S+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$", text, re.M)
assert sorted(r[0] for r in rows) == sorted(["64", "512", "1518", "imix"]), rows
for frame, a, b, ratio in rows:
    a, b, ratio = float(a), float(b), float(ratio)
    assert abs(a - ndr[0][frame]) < 0.0006 and abs(b - ndr[1][frame]) < 0.0006, (frame, a, b, ndr)
    assert abs(ratio - ndr[1][frame] / ndr[0][frame]) < 0.001 + 0.001 * ratio, (frame, ratio, ndr)
print("compare: NDR ratios", {r[0]: r[3] for r in rows})
PY
check_logs "$TMP"/ndr*.err "$TMP/err.txt"
log "PASS"
