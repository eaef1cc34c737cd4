#!/usr/bin/env bash
# The simulated scaling sweep, as CI can afford it: plans/scaling-sim.plan
# cut to at most 8 VMs per host and 1 s points.  coord starts two local
# hosts and their simulated VMs (a namespace and a guest agent each),
# runs many-to-one, VM-to-VM across hosts (stream and request/response)
# and inter-VM pairs for vms = 1, 2, 4 (8), and must store per-VM results
# that add up, with the right agents on each side of every link.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 python3

plan=$TMP/scaling-ci.plan
sed -e 's/^vms = 1, 2, 4, 8, 16$/vms = 1, 2, 4, 8/' -e 's/^duration = .*/duration = 1s/' \
  -e 's/^sample_interval = .*/sample_interval = 250ms/' "$SRC/plans/scaling-sim.plan" >"$plan"
# Inter-VM pairs: vms = 4 already uses 8 VMs on host a.
python3 - "$plan" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p).read()
head, sep, tail = t.partition("[inter_vm_stream]")
tail = re.sub(r"^vms = .*$", "vms = 1, 2, 4", tail, count=1, flags=re.M)
open(p, "w").write(head + sep + tail)
PY
"$COORD" validate "$plan" >"$TMP/validate.txt" || fail "the CI cut of scaling-sim.plan does not validate: $(cat "$TMP/validate.txt")"
grep -q "simulates 8 guests" "$TMP/validate.txt" || fail "expected 8 simulated VMs per host: $(head -4 "$TMP/validate.txt")"

timeout -k 10 600 "$COORD" run "$plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" >&2
tail -5 "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
run=$(ls -d "$TMP"/results/*-scaling-ci | head -1)
db=$run/results.db
[ -f "$db" ] || fail "no results.db"

npoints=$(sql "$db" "SELECT count(*) FROM point")
expect_eq "points" "$npoints" 15
expect_eq "failed points" "$(sql "$db" "SELECT count(*) FROM point WHERE status != 'ok'")" 0
expect_eq "guests stored" "$(sql "$db" "SELECT count(*) FROM agent WHERE kind = 'guest'")" 16

# Every point has vms links, each with exactly one sender agent and one
# receiver agent, and every link moved data.
bad=$(sql "$db" "SELECT p.idx FROM point p WHERE p.vms != (SELECT count(DISTINCT link) FROM flow WHERE point_id = p.id)")
[ -z "$bad" ] || fail "points whose link count is not vms: $bad"
bad=$(sql "$db" "SELECT p.idx, f.link FROM point p JOIN flow f ON f.point_id = p.id GROUP BY p.id, f.link HAVING count(DISTINCT f.agent_id) != 2")
[ -z "$bad" ] || fail "links without one sender and one receiver: $bad"
bad=$(sql "$db" "SELECT p.idx, f.link FROM point p JOIN flow f ON f.point_id = p.id JOIN result r ON r.flow_id = f.id
  WHERE (p.workload = 'tcp_stream' AND f.role = 'receiver') OR (p.workload = 'tcp_rr' AND f.role = 'sender')
  GROUP BY p.id, f.link HAVING sum(CASE WHEN p.workload = 'tcp_rr' THEN r.transactions ELSE r.bytes END) = 0")
[ -z "$bad" ] || fail "links that moved nothing: $bad"

# The right agents on each side.  Host of an agent: its host_id's name,
# or its own name for a host agent.
side_hosts() { # TEST ROLE -> distinct "kind:host" of that side over the test's points
  sql "$db" "SELECT DISTINCT a.kind || ':' || COALESCE(h.name, a.name) FROM point p JOIN flow f ON f.point_id = p.id
    JOIN agent a ON a.id = f.agent_id LEFT JOIN agent h ON h.id = a.host_id WHERE p.test = '$1' AND f.role = '$2'"
}
expect_eq "many-to-one senders" "$(side_hosts many_to_one_stream sender)" "guest:a"
expect_eq "many-to-one receiver" "$(side_hosts many_to_one_stream receiver)" "host:b"
expect_eq "vm-vm-cross senders" "$(side_hosts cross_stream sender)" "guest:a"
expect_eq "vm-vm-cross receivers" "$(side_hosts cross_stream receiver)" "guest:b"
expect_eq "vm-vm-same senders" "$(side_hosts inter_vm_stream sender)" "guest:a"
expect_eq "vm-vm-same receivers" "$(side_hosts inter_vm_stream receiver)" "guest:a"
# vm-vm-same never pairs a VM with itself, and uses 2 x vms VMs.
expect_eq "inter-VM agents at vms=4" \
  "$(sql "$db" "SELECT count(DISTINCT f.agent_id) FROM flow f JOIN point p ON p.id = f.point_id WHERE p.test = 'inter_vm_stream' AND p.vms = 4")" 8
# Every agent of every point has a clock estimate and a start; the skew
# is the spread over all of them.
bad=$(sql "$db" "SELECT p.idx FROM point p WHERE (SELECT count(*) FROM point_agent pa WHERE pa.point_id = p.id AND pa.started_ns IS NOT NULL)
  != (SELECT count(DISTINCT agent_id) FROM flow WHERE point_id = p.id) OR p.start_skew_ns IS NULL")
[ -z "$bad" ] || fail "points without every agent's start or a skew: $bad"

# The report: per-VM shares add up to the total, fairness is an index.
"$COORD" report --json "$run" >"$TMP/report.json" || fail "coord report --json failed"
python3 - "$TMP/report.json" <<'PY' || fail "per-VM figures in the JSON report do not add up"
import json, math, sys
d = json.load(open(sys.argv[1]))
for p in d["points"]:
    unit = p["per_vm"]["unit"]
    key = "gbps" if unit == "Gbit/s" else "tps"
    links = p["links"]
    assert len(links) == p["vms"], (p["test"], p["sweep"], len(links))
    total = p[key]
    s = sum(l[key] for l in links)
    assert total > 0 and abs(s - total) <= 1e-6 * total, (p["test"], p["sweep"], s, total)
    f = p["per_vm"]["fairness"]
    if p["vms"] >= 2:
        assert f is not None and 1.0 / p["vms"] - 1e-9 <= f <= 1.0 + 1e-9, (p["test"], f)
    assert abs(sum(h[key] for h in p["hosts"]) - total) <= 1e-6 * total
    assert all(len(l["intervals"]) >= 1 for l in links)
    assert all(len(h["intervals"]) >= 1 for h in p["hosts"])
PY
grep -q "^per VM" "$TMP/out.txt" || fail "no per-VM table"
expect_eq "per-VM rows" "$(grep -cE ' (many-to-one|vm-vm-cross|vm-vm-same) +[0-9]+ ' "$TMP/out.txt")" 15

# Nothing left behind: namespaces and agents are coord's to remove.
sleep 0.5
left=$(ip netns list | grep -c "^iovb[0-9]" || true)
expect_eq "namespaces left by coord" "$left" 0
pgrep -f "iovbench-guest-agent --host" >/dev/null && fail "guest agents left running"
check_logs "$TMP/err.txt" "$run"/logs/*.log
log "ok"
