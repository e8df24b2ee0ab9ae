#!/bin/bash
# build-modules.sh [KPKG] - the Linux kernel's own RTRS/RNBD modules (rtrs-core, rtrs-client,
# rtrs-server, rnbd-client, rnbd-server) for the kernel the SoftRoCE guest boots
# (scripts/rxe/run-rxe-vm.sh), built out of tree and cached. Prints the directory holding the
# five .ko files on stdout; progress goes to stderr.
#
# Debian's kernel config does not build these drivers, so they are compiled from Debian's
# linux-source-X.Y package (the same kernel series) against the linux-headers package of that
# exact kernel (scripts/install-deps.sh installs both for the default guest kernel; as root this
# script installs what is missing for another one). The result is cached, keyed by the kernel
# release, the source package's version and this recipe (Kbuild + this script), like the
# guest's base image; one builder at a time (flock).
#
# KPKG: the kernel package (default: $RXE_VM_KPKG, else what linux-image-amd64 depends on, e.g.
#       linux-image-6.1.0-57-amd64 - the guest's default kernel).
# Env:  KERNEL_PEER_CACHE  cache directory (${XDG_CACHE_HOME:-$HOME/.cache}/ibnbd-kernel-peer)
# Exit: 0 built or cached; 77 the kernel's sources or headers cannot be had here (the message
#       says which package to install); 1 the build failed (the log's tail is printed).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "kernel-peer: $*" >&2; }
skip() { echo "SKIPPED: kernel peer: $*" >&2; exit 77; }

KPKG=${1:-${RXE_VM_KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')}}
[ -n "$KPKG" ] || skip "cannot resolve the guest kernel (linux-image-amd64); run apt-get update"
KVER=${KPKG#linux-image-}                         # 6.1.0-57-amd64, 6.12.118+deb12-amd64
SERIES=$(echo "$KVER" | cut -d. -f1,2)            # 6.1, 6.12
HEADERS=/usr/src/linux-headers-$KVER
TARBALL=/usr/src/linux-source-$SERIES.tar.xz

install_missing() {
    local want=() p
    [ -d "$HEADERS" ] || want+=("linux-headers-$KVER")
    [ -f "$TARBALL" ] || want+=("linux-source-$SERIES")
    [ ${#want[@]} = 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        skip "${want[*]} not installed (scripts/install-deps.sh installs them for the default guest kernel)"
    fi
    log "installing ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${want[@]}" >/dev/null 2>&1 || skip "could not install ${want[*]} (apt-get update?)"
}
install_missing
SRC_VERSION=$(dpkg-query -W -f='${Version}' "linux-source-$SERIES" 2>/dev/null || echo unknown)
IMAGE_VERSION=$(apt-cache show "$KPKG" 2>/dev/null | awk '/^Version:/{print $2; exit}')
if [ -n "$IMAGE_VERSION" ] && [ "$IMAGE_VERSION" != "$SRC_VERSION" ]; then
    log "warning: linux-source-$SERIES is $SRC_VERSION, the kernel $KPKG is $IMAGE_VERSION (built anyway)"
fi

CACHE=${KERNEL_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ibnbd-kernel-peer}
KEY=$( { echo "$KVER $SRC_VERSION"; cat "$HERE/Kbuild" "$0"; } | md5sum | cut -c1-12)
OUT=$CACHE/$KVER-$KEY
MODULES="rtrs-core rtrs-client rtrs-server rnbd-client rnbd-server"
have_all() { local m; for m in $MODULES; do [ -f "$OUT/$m.ko" ] || return 1; done; }

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
if ! have_all; then
    t=$(date +%s)
    log "building $MODULES for $KVER from linux-source-$SERIES $SRC_VERSION"
    B=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$B"' EXIT
    tar -xJf "$TARBALL" -C "$B" --strip-components=1 --wildcards \
        "linux-source-$SERIES/drivers/infiniband/ulp/rtrs/*" "linux-source-$SERIES/drivers/block/rnbd/*"
    mkdir "$B/m"
    cp "$B"/drivers/infiniband/ulp/rtrs/*.[ch] "$B"/drivers/block/rnbd/*.[ch] "$HERE/Kbuild" "$B/m/"
    cp "$B/drivers/infiniband/ulp/rtrs/Makefile" "$B/m/rtrs.mk"
    cp "$B/drivers/block/rnbd/Makefile" "$B/m/rnbd.mk"
    if ! make -C "$HEADERS" M="$B/m" -j "$(nproc)" modules > "$B/build.log" 2>&1; then
        tail -30 "$B/build.log" >&2
        log "the module build failed (full log above, last 30 lines)"
        exit 1
    fi
    rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp"
    for m in $MODULES; do strip --strip-debug -o "$OUT.tmp/$m.ko" "$B/m/$m.ko"; done
    cp "$B/build.log" "$OUT.tmp/"
    echo "$KPKG $SRC_VERSION" > "$OUT.tmp/source"
    rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
    # Builds of this kernel with an older recipe or source are stale now.
    find "$CACHE" -maxdepth 1 -name "$KVER-*" ! -path "$OUT" -exec rm -rf {} +
    log "built in $(( $(date +%s) - t ))s: $OUT"
fi
echo "$OUT"
