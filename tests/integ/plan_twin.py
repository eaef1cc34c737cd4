#!/usr/bin/env python3
"""Turn an iovbench study plan into a small "twin" plan for a test bed.

The study plans in plans/ (inter-vm.plan, scaling.plan, ...) name real
servers and sweep up to 16 VMs per point over SR-IOV and virtio.  A test
bed usually looks different: the SR-IOV path and the virtio path live on
different agents, and it can start only a couple of VMs at a time.  This
tool rewrites a plan into a twin with the same tests and keys that runs
there:

  * [hosts] becomes exactly the hosts given with --host.
  * A test whose path is a list (path = sriov, virtio) is split into one
    section per path, named TEST_PATH (stream_sriov, stream_virtio), each
    with 'path = PATH'.  A test with one path keeps its name.
  * Every test's sender and receiver (its own, from [global], or the
    default of a two-host [hosts]) are renamed with the --map entries of
    its path and written into the test itself.  A test without a path, or
    with path native or auto, counts as native.  A vm-vm-same test takes
    no receiver from [global] (coord ignores it there too).
  * --path-as writes the tests of one path with another: sriov=existing
    runs the plan's SR-IOV tests on the guests that are already
    registered, such as the simulated VMs of local hosts (coord refuses
    path sriov and virtio on local hosts).  The test keeps its name
    (stream_sriov) and its --map entries (those of sriov).
  * --max-guests caps the VMs a point of a sriov/virtio test starts,
    --set/--first shrink the sweeps and the time per point, --only-path
    and --drop select tests.  Run control goes with --set too: --set
    repeat=1 --set confidence=off runs each point once.

The twin keeps the input's section order and keys (not its comments);
[global] keeps the input's keys except sender, receiver and path, plus the
--set ones.  The plan syntax follows lib/plan.c (inih r55 as coord feeds
it): comments are lines starting with ';' or '#', or ';' after a blank
inside a line; 'key: value' equals 'key = value'; keys and section names
are case-sensitive; indented lines are ordinary lines (no continuations);
a key set twice in one section is an error; lines are at most 197
characters (comment lines too).

Exit status: 0 written, 2 a usage error or a problem with the input plan
(unreadable, bad syntax, a duplicate key or section, a host without a
mapping for a test's path, ...); messages name the file, section and key.

Example (the test bed of tests/integ/validate.sh):

  plan_twin.py plans/scaling.plan /tmp/scaling-twin.plan \\
    --host s1=tcp://198.18.0.2:7700,data=198.18.0.2 \\
    --host v1=ipc:///run/iovb/v1.sock,data=198.18.0.1 ... \\
    --map native:a=s1 --map sriov:a=s1 --map virtio:a=v1 ... \\
    --max-guests 2 --set duration=1s --first msg_size

and on this machine alone (tests/integ/study_sim.sh), the SR-IOV tests on
the simulated VMs of two local hosts:

  plan_twin.py plans/study.plan /tmp/study-twin.plan \\
    --host a=local --host b=local --map native:a=a --map native:b=b \\
    --map sriov:a=a --map sriov:b=b --only-path native --only-path sriov \\
    --path-as sriov=existing --max-guests 4 --set duration=1s ...
"""

import argparse
import os
import re
import shlex
import sys

PROG = "plan_twin.py"

# Paths a test can have (lib/plan.c path_names); auto counts as native here.
PLAN_PATHS = ("auto", "native", "sriov", "virtio", "existing")
MAP_PATHS = ("native", "sriov", "virtio", "existing")
VM_PATHS = ("sriov", "virtio")  # paths whose VMs the host agents start
HOST_KEYS = ("sender", "receiver")
# VMs a point starts per sending VM (pair), by topology (iov_topology_guests).
VMS_PER_UNIT = {"host-host": 0, "vm-vm-cross": 2, "vm-vm-same": 2, "many-to-one": 1}

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")  # section names (plan.c valid_name)
HOST_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")  # host names (valid_host_name)
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_LINE = 197  # INI_MAX_LINE 200 minus room for "\r\n\0" (plan.c plan_reader)
BLANKS = " \t\r\v\f"  # what plan.c's reader strips (is_blank)
SPACE = " \t\n\v\f\r"  # what inih strips (isspace in the C locale)


class TwinError(Exception):
    """A problem worth exit status 2; the message names file/section/key."""


def die(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(2)


def note(msg):
    print(f"{PROG}: note: {msg}", file=sys.stderr)


# ---- Reading a plan, the way lib/plan.c + inih r55 read it ----------------


class Section:
    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.keys = {}  # key -> value text (insertion order = file order)
        self.lines = {}  # key -> line number


def _inline_comment_cut(s, stop_chars=""):
    """inih's find_chars_or_comment: index of the first char in stop_chars,
    or of a ';' that follows whitespace, or len(s)."""
    was_space = False
    for i, c in enumerate(s):
        if c in stop_chars:
            return i
        if was_space and c == ";":
            return i
        was_space = c in SPACE
    return len(s)


def parse_plan(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TwinError(f"{path}: cannot read plan: {e.strerror}")
    if b"\0" in raw:
        raise TwinError(f"{path}: the plan contains a NUL byte; a plan is a text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TwinError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")

    sections = []  # in file order
    by_name = {}
    cur = None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        if line.endswith("\r"):
            line = line[:-1]
        n = len(line.encode("utf-8"))
        if n > MAX_LINE:
            raise TwinError(f"{where}: line is {n} bytes long, coord allows at most {MAX_LINE}")
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        s = line.lstrip(BLANKS).rstrip(SPACE)
        if not s or s[0] in ";#":
            continue
        if s[0] == "[":
            close = s.find("]")
            if close < 0:
                raise TwinError(f"{where}: section header '{s}' has no closing ']'")
            rest = re.split(r"[;#]", s[close + 1 :], maxsplit=1)[0]
            if rest.strip(BLANKS):
                raise TwinError(f"{where}: unexpected text after ']' in '{s}'")
            name = s[1:close]
            if not NAME_RE.match(name):
                raise TwinError(f"{where}: '[{name}]' is not a valid section name")
            if name in by_name:
                raise TwinError(
                    f"{where}: section [{name}] appears twice (first on line {by_name[name].line})"
                )
            if name.lower() in ("hosts", "global") and name not in ("hosts", "global"):
                raise TwinError(f"{where}: section names are case-sensitive; did you mean [{name.lower()}]?")
            cur = Section(name, lineno)
            sections.append(cur)
            by_name[name] = cur
            continue
        end = _inline_comment_cut(s, "=:")
        if end == len(s) or s[end] not in "=:":
            raise TwinError(
                f"{where}: cannot parse '{s}': expected 'key = value', a [section] header or a comment"
            )
        key = s[:end].rstrip(SPACE)
        value = s[end + 1 :]
        value = value[: _inline_comment_cut(value)].strip(SPACE)
        if cur is None:
            raise TwinError(f"{where}: key '{key}' outside any section")
        if not key:
            raise TwinError(f"{where}: [{cur.name}]: a line with no key before '{s[end]}'")
        if key in cur.keys:
            raise TwinError(
                f"{where}: [{cur.name}] key '{key}': set twice (first on line {cur.lines[key]}); keep one"
            )
        cur.keys[key] = value
        cur.lines[key] = lineno
    return sections


def split_list(value):
    """A sweep 'a, b ,c' as items (plan.c parse_value)."""
    return [item.strip(" \t") for item in value.split(",")]


def join_list(items):
    return ", ".join(items)


# ---- Command line -----------------------------------------------------------


def no_controls(opt, spec):
    if any(ord(c) < 0x20 or c == "\x7f" for c in spec):
        raise TwinError(f"{opt} {spec!r}: control characters are not allowed")


def parse_host(spec):
    """NAME=ENDPOINT[,data=ADDR][,guests=N] -> (name, endpoint, data, guests)."""
    no_controls("--host", spec)
    parts = spec.split(",")
    name, eq, endpoint = parts[0].partition("=")
    name, endpoint = name.strip(), endpoint.strip()
    if not eq or not HOST_RE.match(name) or not endpoint:
        raise TwinError(f"--host '{spec}': expected NAME=ENDPOINT[,data=ADDR][,guests=N]")
    data = guests = None
    for part in parts[1:]:
        k, eq, v = part.partition("=")
        k, v = k.strip(), v.strip()
        if k == "data" and eq and v and data is None:
            data = v
        elif k == "guests" and eq and re.fullmatch(r"[0-9]+", v) and guests is None:
            guests = v
        else:
            raise TwinError(
                f"--host '{spec}': unknown, empty or repeated setting '{part}' (only data=ADDR and guests=N)"
            )
    return name, endpoint, data, guests


def parse_map(spec):
    """PATH:PLANHOST=TWINHOST -> (path, planhost, twinhost)."""
    m = re.match(r"^([a-z]+):([^=]+)=(.+)$", spec)
    if not m or not HOST_RE.match(m.group(2)) or not HOST_RE.match(m.group(3)):
        raise TwinError(f"--map '{spec}': expected PATH:PLANHOST=TWINHOST")
    if m.group(1) not in MAP_PATHS:
        raise TwinError(f"--map '{spec}': unknown path '{m.group(1)}' (use {', '.join(MAP_PATHS)})")
    return m.group(1), m.group(2), m.group(3)


def parse_path_as(spec):
    """FROM=TO -> (from, to): tests on path FROM are written with path TO."""
    m = re.match(r"^([a-z]+)=([a-z]+)$", spec)
    if not m:
        raise TwinError(f"--path-as '{spec}': expected FROM=TO, e.g. sriov=existing")
    src, dst = m.group(1), m.group(2)
    if src not in VM_PATHS:
        raise TwinError(f"--path-as '{spec}': FROM must be a path whose VMs the agents start ({', '.join(VM_PATHS)})")
    if dst not in VM_PATHS + ("existing",):
        raise TwinError(f"--path-as '{spec}': TO must be a path with VMs ({', '.join(VM_PATHS + ('existing',))})")
    return src, dst


def parse_set(spec):
    no_controls("--set", spec)
    key, eq, value = spec.partition("=")
    key, value = key.strip(), value.strip()
    if not eq or not KEY_RE.match(key) or not value or "\n" in value:
        raise TwinError(f"--set '{spec}': expected KEY=VALUE")
    if key in HOST_KEYS or key == "path":
        raise TwinError(f"--set '{spec}': {key} is per test in a twin; use --map or --only-path instead")
    return key, value


def build_argparser():
    ap = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s IN.plan OUT.plan --host NAME=ENDPOINT[,data=ADDR][,guests=N]... "
        "--map PATH:PLANHOST=TWINHOST... [options]",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("input", metavar="IN.plan", help="the plan to make a twin of")
    ap.add_argument("output", metavar="OUT.plan", help="where to write the twin ('-': standard output)")
    ap.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=ENDPOINT[,data=ADDR][,guests=N]",
        help="a host of the twin's [hosts] (repeatable; the input's [hosts] are dropped)",
    )
    ap.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="PATH:PLANHOST=TWINHOST",
        help="in tests on PATH (native, sriov, virtio or existing; no path and auto count as native), "
        "sender/receiver PLANHOST becomes TWINHOST (repeatable)",
    )
    ap.add_argument(
        "--path-as",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="write the tests on path FROM (sriov or virtio) with path = TO (sriov, virtio or existing), "
        "keeping their names and FROM's --map entries (repeatable; e.g. sriov=existing for the simulated "
        "VMs of local hosts)",
    )
    ap.add_argument(
        "--max-guests",
        type=int,
        metavar="N",
        help="sriov/virtio tests: keep only the vms values whose point starts at most N VMs "
        "(vms for many-to-one, 2*vms for vm-vm-same and vm-vm-cross); if none does, use the "
        "largest vms that fits; drop the test if vms=1 does not fit",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="put KEY = VALUE into the twin's [global] and remove KEY from every test (repeatable)",
    )
    ap.add_argument(
        "--first",
        action="append",
        default=[],
        metavar="KEY",
        help="where KEY sweeps a list (in a test or [global]), keep only its first value (repeatable)",
    )
    ap.add_argument(
        "--only-path",
        action="append",
        default=[],
        metavar="PATH",
        choices=MAP_PATHS,
        help="keep only tests (after splitting) on PATH (repeatable; default: all)",
    )
    ap.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="SECTION",
        help="leave test SECTION of the input out (repeatable)",
    )
    return ap


# ---- The twin ---------------------------------------------------------------


def max_vms_total(topologies, vms):
    """VMs one point starts: the most over the topologies swept."""
    unknown = [t for t in topologies if t not in VMS_PER_UNIT]
    if unknown:
        return None
    return max(VMS_PER_UNIT[t] for t in topologies) * vms


def make_twin(args, sections):
    src = args.input
    hosts_sec = next((s for s in sections if s.name == "hosts"), None)
    global_sec = next((s for s in sections if s.name == "global"), None)
    tests = [s for s in sections if s.name not in ("hosts", "global")]

    # Twin hosts.
    twin_hosts = {}
    for spec in args.host:
        name, endpoint, data, guests = parse_host(spec)
        if name in twin_hosts:
            raise TwinError(f"--host '{spec}': host '{name}' given twice")
        twin_hosts[name] = (endpoint, data, guests)
    if not twin_hosts:
        raise TwinError("no --host given; the twin's [hosts] would be empty")

    maps = {p: {} for p in MAP_PATHS}
    for spec in args.map:
        path, planhost, twinhost = parse_map(spec)
        if twinhost not in twin_hosts:
            raise TwinError(f"--map '{spec}': no --host '{twinhost}' (hosts: {', '.join(twin_hosts)})")
        old = maps[path].get(planhost)
        if old is not None and old != twinhost:
            raise TwinError(f"--map '{spec}': {path}:{planhost} is already mapped to '{old}'")
        maps[path][planhost] = twinhost

    path_as = {}
    for spec in args.path_as:
        src_path, dst_path = parse_path_as(spec)
        if src_path in path_as and path_as[src_path] != dst_path:
            raise TwinError(f"--path-as '{spec}': path {src_path} is already written as {path_as[src_path]}")
        path_as[src_path] = dst_path

    sets = {}
    for spec in args.set:
        key, value = parse_set(spec)
        if key in sets:
            raise TwinError(f"--set '{spec}': key '{key}' is set twice")
        sets[key] = value
    first = set(args.first)
    for key in first:
        if not KEY_RE.match(key):
            raise TwinError(f"--first '{key}': not a key name")
    if args.max_guests is not None and args.max_guests < 0:
        raise TwinError(f"--max-guests {args.max_guests}: must be 0 or more")
    names = {s.name for s in tests}
    for d in args.drop:
        if d not in names:
            known = ", ".join(s.name for s in tests)
            raise TwinError(f"--drop '{d}': {src} has no test section [{d}] (tests: {known})")

    # The input's hosts, for the two-host default of sender and receiver.
    plan_hosts = [k for k in (hosts_sec.keys if hosts_sec else {}) if "." not in k]

    def firsted(key, value):
        return split_list(value)[0] if key in first else value

    # [global]: its keys minus sender/receiver/path and the --set ones.
    gkeys = dict(global_sec.keys) if global_sec else {}
    glines = dict(global_sec.lines) if global_sec else {}
    gvals = {k: firsted(k, v) for k, v in gkeys.items()}  # what tests inherit (pre --set)
    twin_global = {k: v for k, v in gvals.items() if k not in HOST_KEYS and k != "path" and k not in sets}
    twin_global.update(sets)
    inherit = dict(gvals)
    inherit.update(sets)  # what a twin test inherits: [global] after --set

    out_tests = []  # (name, {key: value}, original section name)
    seen = {}
    for sec in tests:
        if sec.name in args.drop:
            continue
        where = f"{src}:{sec.line}: [{sec.name}]"
        own = {k: firsted(k, v) for k, v in sec.keys.items() if k not in sets}

        def eff(key, default=None):
            return own[key] if key in own else inherit.get(key, default)

        def line_of(key):
            return sec.lines[key] if key in sec.lines else glines.get(key, sec.line)

        path_value = own.get("path", gvals.get("path"))
        if path_value is None:
            paths = [None]
        else:
            paths = []
            for p in split_list(path_value):
                if p not in PLAN_PATHS:
                    raise TwinError(
                        f"{src}:{line_of('path')}: [{sec.name}] key 'path': '{p}' is not a path "
                        f"({', '.join(PLAN_PATHS)})"
                    )
                if p not in paths:
                    paths.append(p)
        topologies = split_list(eff("topology", "host-host"))
        all_same = all(t == "vm-vm-same" for t in topologies)

        # Sender and receiver as the plan has them (before mapping).
        ends = {}
        for key in HOST_KEYS:
            if key in own:
                ends[key] = (split_list(own[key]), f"[{sec.name}]")
            elif key == "receiver" and all_same:
                continue  # vm-vm-same: the receiver is the sender's host
            elif key in gvals:
                ends[key] = (split_list(gvals[key]), "[global]")
            elif len(plan_hosts) == 2:
                ends[key] = ([plan_hosts[HOST_KEYS.index(key)]], "the two hosts of [hosts]")
        if "sender" not in ends:
            raise TwinError(f"{where} key 'sender': no sender in the test or [global], and [hosts] names "
                            f"{len(plan_hosts)} hosts, not two")

        for p in paths:
            cat = "native" if p in (None, "auto", "native") else p
            if args.only_path and cat not in args.only_path:
                continue
            name = sec.name if len(paths) == 1 else f"{sec.name}_{p}"
            keys = {}
            mapped = {}
            for key, (items, origin) in ends.items():
                out = []
                for h in items:
                    if h not in maps[cat]:
                        raise TwinError(
                            f"{src}:{line_of(key)}: [{sec.name}] key '{key}': host '{h}' (from {origin}) has no "
                            f"mapping for path {cat}; add --map {cat}:{h}=TWINHOST"
                        )
                    out.append(maps[cat][h])
                mapped[key] = join_list(out)
            # Section keys in their order; sender/receiver/path in place,
            # or first when the test inherited them.
            out_path = path_as.get(p, p)
            for key in ("path",) + HOST_KEYS:
                if key not in own:
                    if key == "path" and p is not None:
                        keys["path"] = out_path
                    elif key in mapped:
                        keys[key] = mapped[key]
            for key, value in own.items():
                if key == "path":
                    keys[key] = out_path
                elif key in HOST_KEYS:
                    keys[key] = mapped[key]
                else:
                    keys[key] = value

            if args.max_guests is not None and p in VM_PATHS:
                vms_text = eff("vms", "1")
                if not all(re.fullmatch(r"[0-9]+", v) for v in split_list(vms_text)):
                    raise TwinError(
                        f"{src}:{line_of('vms')}: [{sec.name}] key 'vms': '{vms_text}' is not a list of whole numbers"
                    )
                vms = [int(v) for v in split_list(vms_text)]
                per = max_vms_total(topologies, 1)
                if per is None:
                    raise TwinError(
                        f"{src}:{line_of('topology')}: [{sec.name}] key 'topology': unknown topology in "
                        f"'{eff('topology')}' ({', '.join(VMS_PER_UNIT)})"
                    )
                keep = [str(v) for v in vms if per * v <= args.max_guests]
                if not keep:
                    best = args.max_guests // per  # per > 0: with 0 every value fits
                    if best < 1:
                        note(
                            f"dropped [{name}] of {src}: topology {', '.join(topologies)} starts {per} VMs "
                            f"with vms = 1, more than --max-guests {args.max_guests}"
                        )
                        continue
                    keep = [str(best)]
                if keep != split_list(vms_text):
                    keys["vms"] = join_list(keep)
            if name in seen or name in ("hosts", "global"):
                raise TwinError(
                    f"{where}: twin section [{name}] clashes with the one made from [{seen.get(name, name)}]; "
                    f"--drop one of them"
                )
            if not NAME_RE.match(name):
                raise TwinError(
                    f"{where}: twin section name '{name}' is not valid (1 to 63 letters, digits, '_', '.' or '-')"
                )
            seen[name] = sec.name
            out_tests.append((name, keys))
    if not out_tests:
        raise TwinError(f"{src}: no test is left in the twin")
    return twin_hosts, twin_global, out_tests


def wrap_command(argv, width=96):
    """The command line as comment lines ending in ' \\'."""
    words = []
    for w in argv:  # an option and its value stay on one line
        if words and words[-1].startswith("--") and "=" not in words[-1] and not w.startswith("-"):
            words[-1] += " " + shlex.quote(w)
        else:
            words.append(shlex.quote(w))
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur + " \\")
            cur = "    " + w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return ["#   " + line for line in lines]


def render(args, argv, twin_hosts, twin_global, out_tests):
    out = [f"# Generated from {args.input} by {PROG}; edit that plan or the command, not this file:"]
    out += wrap_command(argv)
    out.append("")
    out.append("[hosts]")
    for name, (endpoint, data, guests) in twin_hosts.items():
        out.append(f"{name} = {endpoint}")
        if data is not None:
            out.append(f"{name}.data = {data}")
        if guests is not None:
            out.append(f"{name}.guests = {guests}")
    if twin_global:
        out += ["", "[global]"] + [f"{k} = {v}" for k, v in twin_global.items()]
    for name, keys in out_tests:
        out += ["", f"[{name}]"] + [f"{k} = {v}" for k, v in keys.items()]
    for i, line in enumerate(out, 1):
        n = len(line.encode("utf-8"))
        if n > MAX_LINE:
            raise TwinError(f"twin line {i} would be {n} bytes, coord allows at most {MAX_LINE}: {line[:60]}...")
    return "\n".join(out) + "\n"


def main(argv):
    args = build_argparser().parse_args(argv[1:])
    try:
        sections = parse_plan(args.input)
        twin_hosts, twin_global, out_tests = make_twin(args, sections)
        text = render(args, [PROG] + argv[1:], twin_hosts, twin_global, out_tests)
    except TwinError as e:
        die(str(e))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    tmp = f"{args.output}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.output)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        die(f"{args.output}: cannot write: {e.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
