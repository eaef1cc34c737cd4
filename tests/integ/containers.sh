#!/usr/bin/env bash
# The container images of docker/: Dockerfile.coord and Dockerfile.agent
# build from this checkout with podman (no Docker engine), on a Debian 12
# base made here with mmdebstrap; each image then holds a binary of this
# build's version that runs, and no compiler.
#
# Topology: none (no namespaces, no traffic).  podman run does not work on
# every host (crun refuses cgroups v1/hybrid), so each image's filesystem
# is mounted (podman image mount) and its binaries run with chroot:
#
#   mmdebstrap (minbase bookworm) -> base.tar, cached a week in
#     /var/cache/iovbench/containers
#   podman import base.tar -> localhost/debian:12
#     +-- podman build docker/Dockerfile.coord -> image -> mount -> chroot coord --version
#     +-- podman build docker/Dockerfile.agent -> image -> mount -> chroot iovbench-agent --version
#
# Everything podman makes (images, build layers) goes into a private
# store (podman --root) under /var/tmp that the test deletes, mounts and
# all, however it ends; the host's own podman images are never touched.
# Needs root and Debian's mirror (IOV_DEBIAN_MIRROR, default
# deb.debian.org); installs podman and mmdebstrap when they are missing;
# skips (exit 4) when that or the mirror fails.  Takes 1 to 3.5 minutes
# on 2 CPUs (docker/README.md has the figures).
source "$(dirname "$0")/lib.sh"

require_root
# The images are built from the sources, not from this build: a sanitizer
# build would only build the same images again.
[ "${IOV_SANITIZE:-0}" = 0 ] || skip "the images do not depend on this build's sanitizers (IOV_SANITIZE=1)"
MIRROR=${IOV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MIRROR_SEC=${IOV_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE=/var/cache/iovbench/containers

# podman and mmdebstrap, from the same apt as everything else.
if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
  log "installing podman and mmdebstrap"
  { timeout 600 apt-get update -qq -o Acquire::http::Timeout=30 &&
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends \
      podman mmdebstrap >"$TMP/apt.log" 2>&1; } ||
    skip "cannot install podman and mmdebstrap with apt-get: $(tail -n 3 "$TMP/apt.log" 2>/dev/null)"
fi
require_cmd podman mmdebstrap python3 chroot findmnt

# The mirror: the base and both build stages download from it.
python3 - "$MIRROR/dists/bookworm/InRelease" <<'EOF' || skip "the Debian mirror $MIRROR is unreachable"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=20).read(64)
EOF

# The private podman store.  The work directory is not under $TMP
# (/tmp may be a small tmpfs): the images and their layers are about
# 1.5 GB while they build.
WORK=$(mktemp -d /var/tmp/iovb-containers.XXXXXX)
P=(podman --root "$WORK/root" --runroot "$WORK/run" --tmpdir "$WORK/tmp" --cgroup-manager=cgroupfs
   --events-backend=none)
defer "rm -rf '$WORK'"
# Unmounted before the store goes: image mounts, then anything podman left
# mounted below the store (its overlay layers), deepest first.
defer "${P[*]} image unmount --all --force >/dev/null 2>&1; ${P[*]} rmi --all --force >/dev/null 2>&1;" \
  "findmnt -rn -o TARGET | grep '^$WORK/' | sort -r | xargs -r -n1 umount -l"

# The Debian 12 base, as the official debian:12-slim is: minbase with
# updates and security, merged /usr without the usrmerge package (and so
# without perl), no documentation, man pages or translations.  Cached for
# a week (ISO week in the name): a fresh one every week brings the
# security updates in, and older ones are removed.
week=$(date +%G-W%V)
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
  base=$CACHE/debian-12-minbase-$week.tar
else
  base=$WORK/debian-12-minbase.tar
fi
if [ ! -s "$base" ]; then
  log "making the Debian 12 base with mmdebstrap: $base"
  part=${base%.tar}.part.tar # mmdebstrap picks the format by the name's end
  t0=$SECONDS
  timeout 900 mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$part" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb $MIRROR_SEC bookworm-security main" >"$TMP/mmdebstrap.log" 2>&1 || {
    rm -rf "$part"
    skip "mmdebstrap cannot make a Debian 12 base from $MIRROR: $(tail -n 3 "$TMP/mmdebstrap.log")"
  }
  mv "$part" "$base"
  log "base made in $((SECONDS - t0)) s"
  find "$CACHE" -maxdepth 1 -type f -name 'debian-12-minbase-*.tar' ! -name "${base##*/}" -delete 2>/dev/null || true
fi
"${P[@]}" import -q "$base" localhost/debian:12 >/dev/null || fail "podman import $base"

# Both Dockerfiles build the same first stage, so that the second build
# reuses the first one's layers; a difference would double the build.
stage1() { sed -n '/^ARG BASE=/,/^FROM \${BASE}$/p' "$SRC/docker/Dockerfile.$1"; }
[ -n "$(stage1 coord)" ] || fail "docker/Dockerfile.coord: no build stage between 'ARG BASE=' and 'FROM \${BASE}'"
diff <(stage1 coord) <(stage1 agent) >"$TMP/stage1.diff" ||
  fail "the build stages of docker/Dockerfile.coord and .agent differ: $(cat "$TMP/stage1.diff")"

version=$("$COORD" --version | awk '{print $NF}')
[ -n "$version" ] || fail "$COORD --version says nothing"
revision=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || true)
# One value for both builds: a build argument that differs makes podman
# build the shared first stage again.
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# check_image NAME PROGRAM...: the built image localhost/iovbench-NAME:test
# runs each PROGRAM with the same --version output as this build's, has no
# compiler, and its labels and entry point are set.  Sets SIZE_NAME (MB).
check_image() {
  local name=$1 img=localhost/iovbench-$1:test root user ids prog got want f size
  shift
  root=$("${P[@]}" image mount "$img") && [ -d "$root" ] || fail "podman image mount $img"
  # The image's user, as uid:gid from its own passwd (root when unset).
  user=$("${P[@]}" image inspect --format '{{.Config.User}}' "$img")
  ids=$(awk -F: -v u="${user:-root}" '$1 == u || $3 == u {print $3 ":" $4; exit}' "$root/etc/passwd")
  [ -n "$ids" ] || fail "$img: its user '$user' is not in its /etc/passwd"
  for prog in "$@"; do
    [ -x "$root/usr/bin/$prog" ] || fail "$img: no /usr/bin/$prog"
    want=$("$BUILD/bin/$prog" --version) || fail "$BUILD/bin/$prog --version"
    # As the image's user: coord's is not root.
    got=$(chroot --userspec="$ids" "$root" "/usr/bin/$prog" --version 2>"$TMP/$prog.err") ||
      fail "$img: /usr/bin/$prog --version fails: $(cat "$TMP/$prog.err")"
    expect_eq "$img: $prog --version" "$got" "$want"
    chroot "$root" ldd "/usr/bin/$prog" | grep 'not found' && fail "$img: $prog misses libraries"
  done
  for f in usr/bin/gcc usr/bin/cc usr/bin/c99 usr/bin/cpp usr/bin/clang usr/bin/as usr/bin/ld usr/bin/make \
    usr/bin/cmake usr/include/stdio.h; do
    [ ! -e "$root/$f" ] || fail "$img holds /$f: the build stage leaked into the runtime image"
  done
  [ -z "$(find "$root/usr/lib/gcc" -name cc1 2>/dev/null)" ] || fail "$img holds cc1"
  expect_eq "$img: entry point" "$("${P[@]}" image inspect --format '{{json .Config.Entrypoint}}' "$img")" \
    "[\"/usr/bin/$1\"]"
  expect_eq "$img: version label" \
    "$("${P[@]}" image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$img")" "$version"
  size=$("${P[@]}" image inspect --format '{{.Size}}' "$img")
  printf -v "SIZE_$name" '%s' "$((size / 1000000))"
  "${P[@]}" image unmount "$img" >/dev/null || fail "podman image unmount $img"
}

# build NAME: docker/Dockerfile.NAME -> localhost/iovbench-NAME:test.
build() {
  local t0=$SECONDS
  log "building docker/Dockerfile.$1"
  "${P[@]}" build --isolation=chroot --layers -f "$SRC/docker/Dockerfile.$1" -t "localhost/iovbench-$1:test" \
    --build-arg BASE=localhost/debian:12 --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg CREATED="$created" "$SRC" >"$TMP/build-$1.log" 2>&1 || {
    tail -n 40 "$TMP/build-$1.log" >&2
    fail "podman build docker/Dockerfile.$1"
  }
  log "docker/Dockerfile.$1 built in $((SECONDS - t0)) s ($(grep -c '^--> Using cache' "$TMP/build-$1.log") steps from the cache)"
}

SIZE_coord=? SIZE_agent=?
build coord
build agent

check_image coord coord
expect_eq "coord image: user" "$("${P[@]}" image inspect --format '{{.Config.User}}' localhost/iovbench-coord:test)" \
  iovbench
check_image agent iovbench-agent iovbench-guest-agent
log "image sizes: coord ${SIZE_coord} MB, agent ${SIZE_agent} MB"
log "PASS"
