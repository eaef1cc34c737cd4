#!/usr/bin/env python3
"""Seeds for fuzz_plan, fuzz_sysfs and fuzz_vf_netlink, from the project's
own fixtures (the envelope seeds come from gen_seeds.c instead):

    python3 tests/fuzz/make_seeds.py            (from the source root)

plan:        plans/*.plan, tests/fixtures/plans/*.plan, the plans the
             integration tests write (shell variables filled in), and a few
             that use every key.
vf_netlink:  tests/fixtures/netlink/*.hex behind the mode byte of each
             parser, an acknowledgement, MACs, and state files as
             iov_vf_save() writes them.
sysfs:       each recorded tree as it is, and with a few of its files
             changed (the record format of fuzz_sysfs.c).

Files are named seed-*; existing ones are overwritten, nothing else is
touched."""
import glob
import os
import re
import struct
import sys

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(SRC, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def read_hex(path):
    out = bytearray()
    for line in open(path):
        line = line.split("#", 1)[0]
        out += bytes.fromhex("".join(line.split()))
    return bytes(out)


# ---- plans ---------------------------------------------------------------

SUBST = [
    (r"\$\(srv_endpoint (\d)\)", r"tcp://198.18.0.\1:7700"),
    (r"\$TMP", "/tmp/iov"),
    (r"\$2", "198.18.0.1"), (r"\$3", "7700"), (r"\$4", "198.18.0.2"), (r"\$5", "7701"),
    (r"\$pa", "7702"), (r"\$pb", "7703"), (r"\$port", "7704"), (r"\$extra", ""),
    (r"\$\{?\w+\}?", "x"),
]

EXTRA_PLANS = {
    "every-key": """[hosts]
a = tcp://198.18.0.1:7700
a.data = 198.18.1.1
a.guests = 2
b = [2001:db8::2]:7701
c = ipc:///tmp/iov/c.sock
d = local
d.guests = 3

[global]
duration = 1500ms
warmup = 100ms
sample_interval = 100ms, 250ms
timeout = 1m
heartbeat = 200ms
on_error = stop

[udp]
sender = a
receiver = b
workload = udp_stream, udp_rr
flows = 1, 4, 256
msg_size = 1472
response_size = 1k
rate = 1G, 10.5M
rr_timeout = 50ms
send_buffer = 4m
recv_buffer = 4m
interface = none
cpus = 0-3+6

[vm_cross]
sender = a
receiver = b
workload = tcp_rr
topology = vm-vm-cross
path = virtio, sriov
vms = 1, 2
vm_vcpus = 2
vm_memory = 1g
vm_cpus = 2-3
reuse_vms = yes
vf_vlan = 100
vf_rate = 1G
vf_spoofchk = off
vf_trust = keep
burst = 16
nodelay = yes

[vm_same]
sender = d
workload = tcp_stream
topology = vm-vm-same
path = existing
vms = 1

[many]
sender = a
receiver = c
topology = many-to-one
vms = 2
workload = tcp_crr, tcp_maerts, tcp_bidir
flows = 2
""",
    "errors": """[hosts]
a = local
[t]
workload = tcp_stream
flows = 257
""",
    "sweep-explosion": """[hosts]
a = local
b = local
[global]
sender = a
receiver = b
[big]
workload = tcp_stream
flows = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
msg_size = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
duration = 1s, 2s, 3s, 4s, 5s, 6s, 7s, 8s, 9s, 10s
""",
}


def plan_seeds():
    for p in sorted(glob.glob(os.path.join(SRC, "plans", "*.plan"))):
        write("plan", "plans-" + os.path.basename(p)[:-5], open(p, "rb").read())
    for p in sorted(glob.glob(os.path.join(SRC, "tests", "fixtures", "plans", "*.plan"))):
        write("plan", "fixture-" + os.path.basename(p)[:-5], open(p, "rb").read())
    for f in sorted(glob.glob(os.path.join(SRC, "tests", "integ", "*.sh"))):
        text = open(f).read()
        for k, m in enumerate(re.finditer(r"<<'?(\w+)'?\n(.*?)\n\1\n", text, re.S)):
            body = m.group(2)
            if "[hosts]" not in body:
                continue
            for pat, rep in SUBST:
                body = re.sub(pat, rep, body)
            name = "integ-%s-%d" % (os.path.basename(f)[:-3], k)
            write("plan", name, (body + "\n").encode())
    for name, text in EXTRA_PLANS.items():
        write("plan", name, text.encode())


# ---- VF netlink ------------------------------------------------------------

NLMSG_ERROR = 2
NLMSGERR_ATTR_MSG = 1
NLM_F_ACK_TLVS = 0x200


def ack(error, text=None):
    """An NLMSG_ERROR answering a 16-byte request header, with extack text."""
    req = struct.pack("=IHHII", 16, 16, 5, 42, 0)
    payload = struct.pack("=i", error) + req
    flags = 0
    if text:
        t = text.encode() + b"\0"
        attr = struct.pack("=HH", 4 + len(t), NLMSGERR_ATTR_MSG) + t
        attr += b"\0" * (-len(attr) % 4)
        payload += attr
        flags = NLM_F_ACK_TLVS
    return struct.pack("=IHHII", 16 + len(payload), NLMSG_ERROR, flags, 42, 0) + payload


STATE = """# iovbench VF state of 0000:11:00.0, recorded before iovbench changed it.
version=1
device=devices/pci0000:10/0000:10:00.0/0000:11:00.0
netdev=eth1
numvfs=2
vf.0.mac=02:00:00:00:00:10
vf.0.vlan=0
vf.0.qos=0
vf.0.vlan_proto=0x8100
vf.0.spoofchk=1
vf.0.trust=1
vf.0.min_tx_rate=0
vf.0.max_tx_rate=50
vf.1.mac=02:00:00:00:00:11
vf.1.vlan=100
vf.1.qos=2
vf.1.vlan_proto=0x88a8
vf.1.spoofchk=0
vf.1.trust=0
vf.1.min_tx_rate=10
vf.1.max_tx_rate=100
"""


def vf_seeds():
    nl = os.path.join(SRC, "tests", "fixtures", "netlink")
    igb = read_hex(os.path.join(nl, "newlink-igb-2vfs.hex"))
    write("vf_netlink", "link-igb-2vfs", b"\x00" + igb)
    for p in sorted(glob.glob(os.path.join(nl, "setlink-*.hex"))):
        write("vf_netlink", os.path.basename(p)[:-4], b"\x01" + read_hex(p))
    for p in sorted(glob.glob(os.path.join(nl, "getlink-*.hex"))):
        write("vf_netlink", os.path.basename(p)[:-4], b"\x00" + read_hex(p))
    write("vf_netlink", "ack-ok", b"\x02" + ack(0))
    write("vf_netlink", "ack-extack", b"\x02" + ack(-95, "VF rate not supported"))
    write("vf_netlink", "link-error", b"\x00" + ack(-19))
    write("vf_netlink", "mac", b"\x03" + b"02:00:00:00:00:01")
    write("vf_netlink", "mac-upper", b"\x03" + b"AA:BB:CC:DD:EE:FF")
    write("vf_netlink", "restore", b"\x04\x00" + STATE.encode())
    write("vf_netlink", "restore-busy", b"\x04\x04" + "".join(l + "\n" for l in STATE.splitlines() if not l.startswith("vf.")).replace("numvfs=2", "numvfs=0").encode())
    write("vf_netlink", "restore-reply", b"\x04\x00" + STATE.encode() + b"\0" + igb)
    write("vf_netlink", "save-restore", b"\x05\x00" + igb)
    write("vf_netlink", "save-restore-fixture", b"\x05\x00")


# ---- sysfs -------------------------------------------------------------------

TREES = ["igb-82576-qemu", "mlx5-cx5-handmade", "damaged"]


def entries(root):
    """As fuzz_sysfs.c numbers them: files and links, not .*, sorted by path."""
    out = []

    def walk(d):
        for name in os.listdir(d):
            if name.startswith("."):
                continue
            p = os.path.join(d, name)
            if os.path.islink(p):
                out.append((p, True))
            elif os.path.isdir(p):
                walk(p)
            else:
                out.append((p, False))

    walk(root)
    out.sort(key=lambda e: e[0].encode())
    return [(os.path.relpath(p, root), link) for p, link in out]


def rec(slot, data):
    return bytes([slot & 0xff]) + struct.pack("<H", len(data)) + data


def sysfs_seeds():
    for t, tree in enumerate(TREES):
        root = os.path.join(SRC, "tests", "fixtures", "sysfs", tree)
        ents = entries(root)
        if len(ents) > 256:
            sys.exit("make_seeds: %s has %d entries; fuzz_sysfs.c reaches 256" % (tree, len(ents)))
        index = {p: i for i, (p, _) in enumerate(ents)}
        write("sysfs", tree, bytes([t]))

        def find(suffix):
            return [i for p, i in index.items() if p.endswith(suffix)]

        changes = bytearray([t])
        for i in find("/sriov_numvfs"):
            changes += rec(i, b"7\n")
        for i in find("/sriov_totalvfs"):
            changes += rec(i, b"65536\n")
        for i in find("/numa_node"):
            changes += rec(i, b"-2\n")
        for i in find("/speed"):
            changes += rec(i, b"-1\n")
        write("sysfs", tree + "-numbers", bytes(changes))

        changes = bytearray([t])
        for i in find("/class"):
            changes += rec(i, b"0x020000")  # no newline
        for i in find("/vendor")[:2]:
            changes += rec(i, b"")  # removed: libpci reads config space
        for i in find("/config")[:2]:
            changes += rec(i, b"\x86\x80\xc9\x10\x07\x04\x10\x00")  # short
        for i in find("/address"):
            changes += rec(i, b"52:54:00:12:34:56:78:9a:bc\n")
        write("sysfs", tree + "-garbled", bytes(changes))

        changes = bytearray([t])
        for i in find("/physfn") + find("/virtfn0"):
            changes += rec(i, b"\xff")  # dangling
        for i in find("/virtfn1"):
            changes += rec(i, b"\x00")  # at the tree's first link target
        for i in find("/iommu_group")[:1]:
            changes += rec(i, b"")
        write("sysfs", tree + "-links", bytes(changes))


def main():
    plan_seeds()
    vf_seeds()
    sysfs_seeds()


if __name__ == "__main__":
    main()
