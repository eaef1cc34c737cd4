#!/usr/bin/env bash
# Attack: a stored run with payloads in its strings (issue 14, item 8).
#
# A results directory may come from anyone (a colleague, a shared store).
# This one is the real fixture run (tests/fixtures/run-small) with its
# strings rewritten by sqlite3 as an attacker would: gnuplot command
# substitution (`touch ...`), a string break-out into system(), a macro
# (@x), markup (<script>), spreadsheet formulas (=HYPERLINK, +, -, @),
# path traversal in a name that becomes a file name (../../), terminal
# escapes, invalid UTF-8, a non-ASCII name that columns cut, and a 1 MB
# name; and symbolic links where coord writes or reads.  Then coord plot, report (table,
# --json, --csv) and compare run on it, and the test asserts:
#   - nothing ran: no PWNED file anywhere, no file outside figures/ and
#     index.html;
#   - the figures are still drawn (every PNG valid), and the payloads are
#     in the scripts only as single-quoted strings;
#   - index.html has no live tag from the run, only escaped text;
#   - every CSV cell that starts like a formula is defused with a ', and
#     numbers stay numbers;
#   - no output carries an escape (ESC, C1) or invalid UTF-8, no line is
#     endless, and nothing crashed.
source "$(dirname "$0")/lib.sh"

command -v gnuplot >/dev/null || skip "needs gnuplot (apt-get install gnuplot-nox)"
require_cmd python3 sqlite3
[ -x "$COORD" ] || fail "no coord at $COORD (build first)"

P=$TMP/PWNED # every payload would create a file named $P_*
RUN=$TMP/shared/run
mkdir -p "$TMP/shared"
cp -r "$SRC/tests/fixtures/run-small" "$RUN"
cp "$RUN/stored.plan" "$RUN/plan.plan"

# The payloads (sqlite string literals: ' doubled).
q() { printf '%s' "$1" | sed "s/'/''/g"; }
BACKTICK="\`touch ${P}_backtick\`"
BREAKOUT="a' . system('touch ${P}_system') . '"
BREAKOUT_DQ="a\" . system(\"touch ${P}_system_dq\") . \""
MACRO="@x \`touch ${P}_macro\`"
SCRIPT='<script>alert(1)</script><img src=x onerror=alert(2)>'
FORMULA='=HYPERLINK("http://198.18.0.99/x","click")'
TRAVERSAL="../../../../../../${TMP#/}/shared/PWNED_traversal"
sqlite3 "$RUN/results.db" "
  UPDATE run SET uuid = '$(q "$BACKTICK")', plan_path = '$(q "$SCRIPT")',
                 error = '$(q "$FORMULA")' || char(10) || '+1' || char(27) || ']0;pwned' || char(7);
  -- a test name that breaks out of gnuplot quotes, a sweep with a macro
  UPDATE point SET test = '$(q "$BREAKOUT")' WHERE point_no = 0;
  UPDATE point SET test = '$(q "$BREAKOUT_DQ")' WHERE point_no = 1;
  UPDATE point SET sweep = '$(q "$MACRO")' WHERE point_no = 2;
  UPDATE point SET test = '$(q "$SCRIPT")', sweep = '-2+3' WHERE point_no = 3;
  -- formulas, and a line break with a terminal escape
  UPDATE point SET sweep = '@SUM(1+1)' WHERE point_no = 4;
  UPDATE point SET sweep = '+cmd|'' /C calc''!A0' || char(13) || char(10) || 'x' WHERE point_no = 5;
  UPDATE point SET test = 'esc' || char(27) || '[31mred' || char(27) || '[0m' || char(155) || '2J' WHERE point_no = 6;
  -- invalid UTF-8 (a lone continuation, a cut sequence, 0xff) and 1 MB
  UPDATE point SET sweep = CAST(X'41ff80e282' AS TEXT) || 'Z', test = 'a' || replace(hex(zeroblob(20)), '00', 'é')
    WHERE point_no = 7;
  UPDATE point SET sweep = replace(hex(zeroblob(500000)), '0', 'A') WHERE point_no = 8;
  -- a workload that becomes a figure's file name
  UPDATE point SET workload = '$(q "$TRAVERSAL")' WHERE point_no IN (0, 1, 2);
  -- a failed repetition whose error is a formula
  UPDATE point SET status = 'failed', error = '$(q "$FORMULA")' WHERE point_no = 9 AND rep = 2;
  -- agent names: markup and a break-out, in links and the time series
  UPDATE agent SET name = '$(q "$SCRIPT")' WHERE name = 'a/vm01';
  UPDATE agent SET name = '$(q "$BREAKOUT")' WHERE name = 'a/vm02';
" || fail "cannot write the payloads into the copy"

touch "$TMP/before"
sleep 1 # mtimes: what coord writes is newer than this

# -- coord plot: the figures drawn, nothing run ---------------------------
"$COORD" plot "$RUN" >"$TMP/plot.out" 2>"$TMP/plot.err"
rc=$?
cat "$TMP/plot.err" >&2
expect_eq "coord plot exit status" "$rc" 0
F=$RUN/figures
for f in latency-tcp_rr cpu-streams cpu-rr timeseries-001 timeseries-010; do
  [ -s "$F/$f.png" ] || fail "figure $f was not drawn: $(ls "$F")"
done
ls "$F"/bandwidth-*tcp_stream*.png >/dev/null 2>&1 || fail "no bandwidth figure: $(ls "$F")"
# The traversal stayed a file name in figures/.
ls "$F"/bandwidth-*PWNED_traversal*.png >/dev/null 2>&1 || fail "no figure for the traversal workload: $(ls "$F")"
python3 - "$F" <<'PY' || fail "bad image (above)"
import os, struct, sys
d = sys.argv[1]
pngs = [f for f in os.listdir(d) if f.endswith(".png")]
assert len(pngs) >= 15, f"only {len(pngs)} PNGs: {sorted(pngs)}"
for f in pngs:
    head = open(os.path.join(d, f), "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{f}: not a PNG"
    w, h = struct.unpack(">II", head[16:24])
    assert w > 0 and h > 0, f"{f}: {w}x{h}"
    assert "/" not in f and not f.startswith("."), f
# The SVGs (opened on their own, a browser runs their scripts): well
# formed, the payloads only as text, no script element, no handler.
import xml.etree.ElementTree as ET
svgs = [f for f in os.listdir(d) if f.endswith(".svg")]
assert len(svgs) == len(pngs), (len(svgs), len(pngs))
for f in svgs:
    for e in ET.parse(os.path.join(d, f)).getroot().iter():
        assert not e.tag.endswith("script"), f"{f}: a script element"
        for k in e.attrib:
            assert not k.lower().startswith("on"), f"{f}: an event handler {k}"
PY

# Nothing ran, nothing escaped the figures directory.
found=$(find /tmp "$TMP" -name 'PWNED*' -newer "$TMP/before" 2>/dev/null | grep -v "^$F/" | head)
[ -z "$found" ] || fail "a payload ran or a file escaped: $found"
ls "$P"_* 2>/dev/null && fail "a payload ran: $(ls "$P"_*)"
outside=$(find "$TMP" -newer "$TMP/before" -type f ! -path "$F/*" ! -path "$RUN/index.html" ! -path "$TMP/plot.*" | head)
[ -z "$outside" ] || fail "coord plot wrote outside figures/ and index.html: $outside"

# The payloads are in the scripts as single-quoted strings (quotes
# doubled), never double-quoted.
grep -rqF "'\`touch ${P}_backtick\`: " "$F" || fail "the uuid is not single-quoted in a title: $(grep -rh 'set title' "$F" | head -3)"
grep -rqF "a'' . system(''touch ${P}_system'') . ''" "$F" ||
  fail "the break-out is not quoted as text: $(grep -rh 'system' "$F"/*.gp | head -3)"
if grep -h '`' "$F"/*.gp | grep -v "^#" | grep -q "\"[^\"']*\`"; then
  fail "a backquote inside a double-quoted string: $(grep -h '`' "$F"/*.gp | head -3)"
fi

# index.html: the payloads escaped, no tag of theirs.
H=$RUN/index.html
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$H" || fail "index.html does not show the escaped markup"
python3 - "$H" <<'PY' || fail "index.html has a live tag or attribute from the run (above)"
import html.parser, sys
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        assert tag != "script", "a <script> tag"
        for k, v in attrs:
            assert not k.startswith("on"), f"an event handler: {k}={v!r}"
        if tag == "img":
            src = dict(attrs)["src"]
            name = src[len("figures/"):]
            assert src.startswith("figures/") and "/" not in name and name not in (".", ".."), f"img src {src!r}"
P().feed(open(sys.argv[1]).read())
PY

# -- every output: no escape, valid UTF-8, bounded lines ------------------
"$COORD" report "$RUN" >"$TMP/table.txt" 2>"$TMP/table.err" || fail "coord report failed: $(cat "$TMP/table.err")"
"$COORD" report "$RUN" --runs >"$TMP/runs.txt" 2>&1 || fail "coord report --runs failed"
"$COORD" report "$RUN" --json >"$TMP/report.json" 2>"$TMP/json.err" || fail "coord report --json failed: $(cat "$TMP/json.err")"
"$COORD" report "$RUN" --csv >"$TMP/report.csv" 2>"$TMP/csv.err" || fail "coord report --csv failed: $(cat "$TMP/csv.err")"
"$COORD" compare "$SRC/tests/fixtures/run-small" "$RUN" >"$TMP/compare.txt" 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "coord compare exited $rc: $(tail -5 "$TMP/compare.txt")"
grep -q 'points compared' "$TMP/compare.txt" || fail "coord compare did not compare: $(tail -5 "$TMP/compare.txt")"

python3 - "$TMP" "$RUN" "$FORMULA" <<'PY' || fail "an output is unsafe (above)"
import csv, json, os, sys
tmp, run, formula = sys.argv[1:4]
outs = ["table.txt", "runs.txt", "report.json", "report.csv", "compare.txt", "plot.out", "plot.err"]
outs += [os.path.join(run, "figures", f) for f in os.listdir(os.path.join(run, "figures"))
         if f.endswith((".gp", ".dat"))]
for name in outs:
    raw = open(os.path.join(tmp, name), "rb").read()
    text = raw.decode("utf-8")  # raises on invalid UTF-8
    assert "\x1b" not in text and not any("\x80" <= c <= "\x9f" for c in text), f"{name}: an escape"
    assert "\x07" not in text and "\r" not in text, f"{name}: BEL or CR"
    longest = max((len(l) for l in text.splitlines()), default=0)
    assert longest < 20000, f"{name}: a line of {longest} characters"

# JSON: parses, every string printable.
d = json.load(open(os.path.join(tmp, "report.json")))
def walk(v):
    if isinstance(v, str):
        assert v.isprintable(), f"JSON string not printable: {v[:80]!r}"
    elif isinstance(v, dict):
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(d)
assert len(d["points"]) == 30, len(d["points"])
tests = {p["test"] for p in d["points"]}
assert "esc?[31mred?[0m?2J" in tests, f"the escapes are not shown as '?': {tests}"
assert any(p["sweep"] == "A????Z" for p in d["points"]), "invalid UTF-8 is not shown as '?'"
assert max(len(p["sweep"] or "") for p in d["points"]) <= 8192, "a 1 MB name kept whole"

# CSV: RFC 4180 (the csv module reads it back, one row per run, every row
# as wide as the header); formulas defused; numbers left numeric.
rows = list(csv.reader(open(os.path.join(tmp, "report.csv"), newline="")))
head, body = rows[0], rows[1:]
assert len(body) == 30, f"{len(body)} CSV rows"
for r in body:
    assert len(r) == len(head), f"row of {len(r)} cells, header {len(head)}: {r[:6]}"
    for c in r:
        if c[:1] in ("=", "+", "-", "@", "\t", "\r"):
            try:
                float(c)
            except ValueError:
                raise AssertionError(f"formula not defused: {c!r}")
col = {k: i for i, k in enumerate(head)}
errors = [r[col["error"]] for r in body if r[col["status"]] == "failed"]
assert errors == ["'" + formula], f"failed rows' errors: {errors}"
sweeps = {r[col["sweep"]] for r in body}
assert "'-2+3" in sweeps and "'@SUM(1+1)" in sweeps, sweeps
assert any(s.startswith("'+cmd|") for s in sweeps), sweeps
assert all(r[col["run"]].startswith("`touch") for r in body)
# The numbers are numbers (a negative one would stay too).
for r in body:
    float(r[col["msg_size"]]); int(r[col["vms"]])
print("outputs safe")
PY

# A results directory whose name holds a line break and a command: gnuplot
# is told to cd there, so coord refuses it, naming it, before any figure.
NL=$TMP/$'x\nprint `touch '"${P}_dirname"'`'
mkdir -p "$NL"
cp -r "$SRC/tests/fixtures/run-small" "$NL/run"
"$COORD" plot -q "$NL/run" 2>"$TMP/err"
expect_eq "coord plot exit status in a directory with a line break" $? 1
grep -q "has a control character (a line break?) in its path" "$TMP/err" || fail "no clear error: $(cat "$TMP/err")"
[ -e "$NL/run/figures" ] && fail "a figures directory was made in a path gnuplot cannot use"
"$COORD" plot -q --out "$TMP/elsewhere" "$NL/run" 2>"$TMP/err" || fail "--out did not help: $(cat "$TMP/err")"
[ -s "$TMP/elsewhere/cpu-rr.png" ] || fail "--out drew nothing"

# Symbolic links in the results directory, where coord writes (index.html
# and a figure's image and script, pointing at a file of the victim's)
# and where it reads what index.html shows (plan.plan and an inventory,
# pointing at a secret): nothing is written through a link, no secret
# reaches index.html.  A figures directory that is a link is refused.
L=$TMP/links
cp -r "$SRC/tests/fixtures/run-small" "$L"
echo "victim's file" >"$TMP/victim_rc"
echo "SECRET key material" >"$TMP/victim_key"
ln -s "$TMP/victim_rc" "$L/index.html"
ln -s "$TMP/victim_key" "$L/plan.plan"
ln -s "$TMP/victim_key" "$L/inventory/evil.json"
mkdir "$L/figures"
ln -s "$TMP/victim_rc" "$L/figures/cpu-rr.png"
ln -s "$TMP/victim_rc" "$L/figures/cpu-rr.gp"
ln -s "$TMP/victim_rc" "$L/figures/latency-tcp_rr.dat"
"$COORD" plot -q "$L" 2>"$TMP/err" || fail "coord plot with links in the run exited $?: $(cat "$TMP/err")"
expect_eq "the victim's file after coord plot" "$(cat "$TMP/victim_rc")" "victim's file"
grep -q SECRET "$L/index.html" && fail "index.html shows what a link pointed at"
grep -q 'plan.plan is a symbolic link: left out' "$L/index.html" || fail "index.html does not say the plan was left out"
[ -L "$L/index.html" ] || [ -L "$L/figures/cpu-rr.png" ] && fail "a link was kept where coord writes"
[ -s "$L/figures/cpu-rr.png" ] || fail "cpu-rr was not drawn in place of the link"
L2=$TMP/links2
cp -r "$SRC/tests/fixtures/run-small" "$L2"
mkdir "$TMP/victim_dir"
ln -s "$TMP/victim_dir" "$L2/figures"
"$COORD" plot -q "$L2" 2>"$TMP/err"
expect_eq "coord plot exit status with figures/ a link" $? 1
grep -q "figures' is a symbolic link" "$TMP/err" || fail "no clear error for figures/ as a link: $(cat "$TMP/err")"
[ -z "$(ls -A "$TMP/victim_dir")" ] || fail "coord plot wrote through the figures link: $(ls "$TMP/victim_dir")"

# Nothing ran while reporting either.
ls "$P"_* 2>/dev/null && fail "a payload ran: $(ls "$P"_*)"
log "PASS"
