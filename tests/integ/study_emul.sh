#!/usr/bin/env bash
# The study's inter-VM and scaling plans (plans/inter-vm.plan and
# plans/scaling.plan) on software-emulated guests, SR-IOV and virtio side
# by side in one report per plan.
#
# The test bed (all in a private libvirtd's netns, one bridge
# 198.18.0.1/24):
#   s1, s2   servers with an emulated SR-IOV NIC (tests/integ/sriov_testbed.sh):
#            TCG guests with qemu's igb, the host agent inside on the PF;
#            path sriov puts each VM's VF into a network namespace there
#            (--vm-backend netns)
#   v1, v2   host agents on this machine driving the daemon: path virtio
#            starts real TCG guests (Debian kernel, busybox initramfs with
#            the guest agent) with virtio-net on the bridge
# tests/integ/plan_twin.py turns each study plan into a twin for this bed:
# each test on path "sriov, virtio" is split in two (TEST_sriov on s1/s2,
# TEST_virtio on v1/v2), native tests run s1 -> s2 over the wire, no point
# starts more than 2 VMs, each point lasts 1 s.
#
# A third twin, study-ndr, is plans/study.plan's packet-rate tests alone
# (udp_ndr_sriov, udp_ndr_virtio: NDR and PDR searches) at 64 bytes and
# IMIX with short trials; it also checks that each path's searches found
# a rate and that coord report's NDR/PDR table has a row for each path.
#
# Checks, for each twin: every point ok; both paths in the one report
# (coord report --json); each VM's NIC moved traffic (its own queue
# interrupts: igbvf's for sriov, virtio's for virtio); each VM's CPU from
# the guest and its host-side cost (qemu's threads for virtio); afterwards
# no domain, qemu, VF or guest is left.
#
# Exit 4 (skip) when not root, or libvirtd, qemu >= 8.0 (igb) or the guest
# image are unavailable.  About 6-7 minutes on 2 vCPUs (virtio guests boot
# under TCG for each VM count; the packet-rate twin about 1.5 of them).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirtd.sh"
source "$(dirname "$0")/sriov_testbed.sh"
require_root
require_cmd ip sqlite3 virsh unshare timeout python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

T0=$SECONDS
export IOV_LIBVIRT_CACHE=${IOV_LIBVIRT_CACHE-/var/cache/iovbench/libvirt}
srv_start 2

# The virtio host agents: same daemon, same bridge, own guest port and
# address range each.
lv_template "$TMP/template.xml" pc 384 "$TMP/console-vms.log"
for k in 1 2; do
  start_bg "$LV_NS" "$TMP/agent-v$k.log" "$AGENT" --listen "ipc://$TMP/v$k.sock" \
    --guest-listen "tcp://198.18.0.1:770$k" --name "v$k" --ready-file "$TMP/v$k.ready" \
    --libvirt "$LV_URI" --vm-type qemu --virtio-bridge "$SRV_BR" --vm-template "$TMP/template.xml" \
    --vm-kernel "$SRV_IMAGE/vmlinuz" --vm-initrd "$SRV_IMAGE/initrd.img" --vm-cmdline "console=ttyS0" \
    --vm-guest-endpoint "tcp://198.18.0.1:770$k" --vm-boot-timeout 90 --vm-net "198.18.0.$((30 + 10 * k))/24" \
    --vm-pid-dir "$LV_DIR/run/qemu"
  wait_for 15 test -e "$TMP/v$k.ready" || fail "agent v$k not ready: $(cat "$TMP/agent-v$k.log")"
done

TWIN_OPTS=(--host "s1=$(srv_endpoint 1),data=198.18.0.2" --host "s2=$(srv_endpoint 2),data=198.18.0.3"
  --host "v1=ipc://$TMP/v1.sock,data=198.18.0.1" --host "v2=ipc://$TMP/v2.sock,data=198.18.0.1"
  --map native:a=s1 --map native:b=s2 --map sriov:a=s1 --map sriov:b=s2 --map virtio:a=v1 --map virtio:b=v2
  --max-guests 2 --set duration=1s --set warmup=0s --set sample_interval=500ms --set timeout=120s
  --set vm_memory=384m --set vm_vcpus=1 --set repeat=1 --set confidence=off --first msg_size)

# ndr_rows REPORT PATH: coord report's "NDR/PDR by frame size per path"
# table has a row for PATH (its third column).
ndr_rows() {
  awk -v path="$2" '/^NDR\/PDR by frame size per path/ { t = 1 }
    t && /^#/ { h = 1 } t && h && /^$/ { t = 0 }
    t && h && $1 ~ /^[0-9]+$/ && $3 == path { found = 1 }
    END { exit !found }' "$1"
}

# nothing_left: no domain but the servers, no qemu but theirs, no VF on
# either server (their inventories, from a host-host run), no guest.
check_nothing_left() {
  local doms
  doms=$(lv_virsh list --all --name 2>/dev/null | grep -v '^iovbtest-s[12]$' | grep . || true)
  [ -z "$doms" ] || fail "$1: domains left: $doms"
}

# study-ndr: plans/study.plan's packet-rate tests alone (its *_udp_ndr*
# sections: NDR and PDR searches by frame size) on the VM paths, at 64
# bytes and IMIX, with short trials and a coarse precision (TCG guests
# move a few thousand frames a second, unevenly).
NDR_OPTS=(--only-path sriov --only-path virtio --set "frame_size=64, imix" --set search=ndr,pdr
  --set search_min=500k --set search_max=100m --set search_precision=10% --set search_trial=500ms
  --set search_trials=40 --set line_rate=1g)
for s in $(sed -n 's/^\[\(.*\)\]$/\1/p' "$SRC/plans/study.plan"); do
  case $s in hosts | global | *udp_ndr*) ;; *) NDR_OPTS+=(--drop "$s") ;; esac
done

for plan in inter-vm scaling study-ndr; do
  if [ "$plan" = study-ndr ]; then
    python3 "$SRC/tests/integ/plan_twin.py" "$SRC/plans/study.plan" "$TMP/$plan.plan" "${TWIN_OPTS[@]}" \
      "${NDR_OPTS[@]}" 2>"$TMP/twin-$plan.err" || fail "plan_twin.py $plan: $(cat "$TMP/twin-$plan.err")"
  else
    python3 "$SRC/tests/integ/plan_twin.py" "$SRC/plans/$plan.plan" "$TMP/$plan.plan" "${TWIN_OPTS[@]}" \
      2>"$TMP/twin-$plan.err" || fail "plan_twin.py $plan: $(cat "$TMP/twin-$plan.err")"
  fi
  n_points=$("$COORD" validate "$TMP/$plan.plan" | grep -cE '^ +[0-9]+ ')
  t1=$SECONDS
  ip netns exec "$LV_NS" timeout 900 "$COORD" run "$TMP/$plan.plan" --plaintext --results "$TMP/results" \
    >"$TMP/coord-$plan.log" 2>&1
  rc=$?
  cat "$TMP/coord-$plan.log" >&2
  log "$plan: $n_points points in $((SECONDS - t1)) s"
  [ "$rc" -eq 0 ] || fail "$plan: coord exit status $rc"
  dir=$(ls -d "$TMP"/results/*-"$plan" | head -1)
  db=$dir/results.db
  # (Measurements: a search's trials are point rows too, with trial >= 1.)
  expect_eq "$plan: points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok' AND trial = 0")" "$n_points"
  "$COORD" report --json "$dir" >"$TMP/report-$plan.json" || fail "$plan: coord report --json failed"
  python3 - "$TMP/report-$plan.json" "$plan" <<'PY' || fail "$plan: the report does not hold both paths"
import json, sys
d = json.load(open(sys.argv[1]))
paths = {}
for p in d["points"]:
    path = p.get("params", {}).get("path") or p.get("path")
    paths.setdefault(path, []).append(p)
assert "sriov" in paths and "virtio" in paths, sorted(paths)
for path in ("sriov", "virtio"):
    for p in paths[path]:
        # Every VM of the point: its guest's CPU and its cost to the host.
        assert p["vm_cpu"], (p["test"], "no vm_cpu")
        for v in p["vm_cpu"]:
            assert v["host_ns"] > 0, (p["test"], v)
            if path == "virtio":
                assert v["host_vcpu_ns"] > 0, (p["test"], v)
print(sys.argv[2], {k: len(v) for k, v in paths.items()})
PY
  # Each VM's own NIC moved the traffic: its queues' interrupt counters.
  bad=$(sql "$db" "SELECT p.test || ':' || a.name FROM point_agent pa JOIN point p ON p.id = pa.point_id
    JOIN agent a ON a.id = pa.agent_id WHERE a.kind = 'guest' AND
    (SELECT COALESCE(sum(i.count), 0) FROM irq_sample i WHERE i.agent_id = a.id AND i.point_id = p.id
     AND (i.name GLOB '*-[rt]x-*' OR i.name GLOB 'virtio*-input*' OR i.name GLOB 'virtio*-output*')) = 0")
  [ -z "$bad" ] || fail "$plan: no NIC queue interrupts counted for: $bad"
  if [ "$plan" = study-ndr ]; then
    # Each path's test searched at both frame sizes: an NDR and a PDR
    # with a rate, by the plan point (the PDR's own full trial stays a
    # trial row when it found a higher rate than the NDR, whose trial is
    # the measurement).
    for path in sriov virtio; do
      expect_eq "$plan: $path searches with a rate" \
        "$(sql "$db" "SELECT count(*) FROM search s WHERE s.rate_pps > 0 AND s.point_no IN
                      (SELECT p.point_no FROM point p WHERE p.test = 'udp_ndr_$path' AND p.trial = 0)")" 4
    done
    # The report's NDR/PDR table has rows for both paths.
    "$COORD" report "$dir" >"$TMP/report-$plan.txt" || fail "$plan: coord report failed"
    ndr_rows "$TMP/report-$plan.txt" sriov || fail "$plan: no sriov row in the NDR table: $(cat "$TMP/report-$plan.txt")"
    ndr_rows "$TMP/report-$plan.txt" virtio || fail "$plan: no virtio row in the NDR table: $(cat "$TMP/report-$plan.txt")"
  fi
  check_nothing_left "$plan"
done

# After both: the servers' PFs have no VF, and no guest is registered.
srv_check_clean "the study" "v1 = ipc://$TMP/v1.sock
v1.data = 198.18.0.1
v2 = ipc://$TMP/v2.sock
v2.data = 198.18.0.1"
[ -z "$(lv_qemu_pids | wc -l | grep -v '^2$')" ] || fail "qemu processes left: $(lv_qemu_pids | wc -l) (want the 2 servers')"
check_logs "$TMP"/coord-*.log "$TMP"/agent-v*.log "$(srv_console 1)" "$(srv_console 2)"
log "ok after $((SECONDS - T0)) s"
