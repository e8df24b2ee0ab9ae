#!/bin/bash
# run-rxe-vm.sh DIR COMMAND... - run COMMAND next to SoftRoCE (rxe) inside a small qemu VM.
#
# This machine's kernel has no RDMA. A stock Debian kernel (linux-image-amd64, which ships
# rdma_rxe) boots under qemu-system-x86_64 with software emulation (TCG) in a few seconds, from a
# minimal initramfs built out of Debian packages (apt-get download + dpkg -x, cached; nothing is
# installed on the host but qemu-system-x86). Inside the guest the script loads the RDMA modules,
# creates the dummy netdev dummy0 with 198.18.0.1/24 and 198.18.0.2/24, creates rxe0 over it,
# copies DIR to /tests (the working directory), runs COMMAND with bash (one argument: a shell
# string; several: an argv), streams the guest console to stdout and exits with COMMAND's code.
# Shared libraries that the ELF files in DIR need (ldd on the host) travel along.
#
# PITFALLS (learned the hard way; keep them)
#   - Load crc32_generic first: rdma_rxe asks the crypto API for "crc32" at run time, which is not
#     a modules.dep dependency; without it the rxe link cannot be created.
#   - rdma_cm does not work over rxe on `lo` (rdma_resolve_route: ENODEV). Use a dummy netdev: rxe
#     loops traffic between addresses of one device internally.
#   - GID index 1 is the IPv4-mapped RoCEv2 GID of the first address (index 0 is the link-local
#     IPv6 one); each further address adds GIDs. Wait for them before running anything.
#   - Put a timeout on everything: a guest that hangs hangs the test run. busybox `timeout` in the
#     guest leaves a watcher behind, so the init kills every process before powering off.
#   - Debian's busybox sh runs its own applets (ip, ...) before PATH: run commands with bash.
#   - /dev/kvm may exist and still not work (nested, restricted): the default accelerator is TCG.
#   - On a busy host TCG runs the guest's timer check too slowly and the kernel panics at boot
#     ("IO-APIC + timer doesn't work!"), which would read as "cannot boot" (a skip): the kernel
#     command line has no_timer_check.
#
# Host prerequisites (Debian 12): qemu-system-x86 (scripts/install-deps.sh installs it), apt-get,
# dpkg-deb, gzip, ldd, timeout.
#
# Environment:
#   RXE_VM_CACHE    cache of .debs and the base image  (${XDG_CACHE_HOME:-$HOME/.cache}/ibnbd-rxe-vm)
#   RXE_VM_TIMEOUT  seconds for the whole VM run (900)
#   RXE_VM_MEM      guest RAM in MiB (1024); RXE_VM_SMP vCPUs (2)
#   RXE_VM_ACCEL    qemu accelerator (tcg); RXE_VM_CPU cpu model (max); RXE_VM_QEMU the binary
#   RXE_VM_PASSENV  names of host environment variables to export into the guest command
#   RXE_VM_KPKG     kernel package (default: what linux-image-amd64 depends on); one base image
#                   is kept per kernel
#   RXE_VM_KEEP=1   keep the per-run directory
# In the guest COMMAND sees RXE_VM_IP=198.18.0.1, RXE_VM_IP2=198.18.0.2, RXE_VM_IFACE=dummy0,
# RXE_VM_RDMA_DEV=rxe0 and RXE_VM_GID_INDEX (the first IPv4 GID).
#
# Exit codes: COMMAND's; 77 = the VM cannot run here (no qemu, or the guest never booted: the
# message says which); 124 = timeout after the guest booted; 125 = other VM or infrastructure
# failure (base image could not be built, guest died without an exit code).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 DIR COMMAND..." >&2
    exit 2
fi
TESTDIR=$(readlink -f "$1"); shift
if [ $# -eq 1 ]; then CMD=$1; else CMD=$(printf '%q ' "$@"); fi
[ -d "$TESTDIR" ] || { echo "rxe-vm: $TESTDIR is not a directory" >&2; exit 2; }

CACHE=${RXE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ibnbd-rxe-vm}
TIMEOUT=${RXE_VM_TIMEOUT:-900}
MEM=${RXE_VM_MEM:-1024}
SMP=${RXE_VM_SMP:-2}
QEMU=${RXE_VM_QEMU:-qemu-system-x86_64}

log() { echo "rxe-vm: $*" >&2; }
skip() { echo "SKIPPED: rxe VM: $*"; exit 77; }

command -v "$QEMU" >/dev/null || skip "$QEMU not found (apt-get install qemu-system-x86, or scripts/install-deps.sh)"

# Guest content: Debian packages unpacked into the initramfs, and kernel modules (with their
# modules.dep closure; modules built into the kernel are skipped). nbd and ext4 serve the kernel
# nbd-client test (tests/e2e/e2e_kernel_nbd.sh); brd and the NVMe-oF target and host modules the
# side-by-side benchmark (bench/guest_side_by_side.sh).
PKGS="busybox-static bash libtinfo6 iproute2 libibverbs1 ibverbs-providers ibverbs-utils librdmacm1 rdmacm-utils
      libc6 libgcc-s1 libstdc++6 libnl-3-200 libnl-route-3-200 libbpf1 libbsd0 libcap2 libelf1 libmd0 libmnl0
      libudev1 zlib1g"
MODS="crc32_generic rdma_rxe rdma_ucm ib_uverbs ib_umad dummy nbd ext4 crc32c_generic loop ublk_drv
      brd nvmet nvmet-rdma nvmet-tcp nvme-rdma nvme-tcp"
# Modules some kernels do not have (6.12 has no crc32_generic: its crc32 is built in; Debian's 6.1
# does not build ublk_drv).
OPTIONAL_MODS="crc32_generic ublk_drv"

# The kernel package; the base image is keyed by it, so a new Debian kernel gets a new image
# (and the kernel peer's modules, scripts/kernel-peer, are built for the kernel that boots).
resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
KPKG=${RXE_VM_KPKG:-$(resolve_kernel)}
if [ -z "$KPKG" ] && [ "$(id -u)" = 0 ]; then
    log "no package lists: apt-get update"; apt-get update -qq >/dev/null 2>&1 || true; KPKG=$(resolve_kernel)
fi
[ -n "$KPKG" ] || { log "cannot resolve linux-image-amd64 (run apt-get update)"; exit 125; }

build_base() {
    local base=$1 work=$CACHE/build.$$
    rm -rf "$work"; mkdir -p "$work/root" "$work/k" "$CACHE/debs"
    local kpkg=$KPKG
    (cd "$CACHE/debs" && for p in $kpkg $PKGS; do
        ls "${p}"_*.deb >/dev/null 2>&1 || echo "$p"; done | xargs -r apt-get download -q 2>&1 | grep -v unsandboxed || true)
    local p
    for p in $kpkg $PKGS; do
        ls "$CACHE/debs/${p}"_*.deb >/dev/null 2>&1 || { log "could not download $p"; exit 125; }
    done
    dpkg-deb --fsys-tarfile "$CACHE"/debs/"${kpkg}"_*.deb | tar -x -C "$work/k" ./boot ./lib/modules
    local kver; kver=$(ls "$work/k/lib/modules")
    dpkg -x "$CACHE"/debs/busybox-static_*.deb "$work/root"
    local bb=$work/root/bin/busybox
    "$bb" depmod -b "$work/k" "$kver"
    local md=$work/k/lib/modules/$kver m line f
    mkdir -p "$work/root/lib/modules/$kver"
    # Newer kernels ship modules as .ko.xz; busybox modprobe loads plain .ko: unpack them.
    for m in $MODS; do
        if ! line=$(grep -E "/$m\.ko(\.xz)?:" "$md/modules.dep"); then
            grep -qE "/$m\.ko(\.xz)?$" "$md/modules.builtin" && continue  # built into this kernel
            case " $OPTIONAL_MODS " in *" $m "*) log "module $m not in this kernel: skipped"; continue;; esac
            log "module $m not found"; exit 125
        fi
        for f in ${line%%:*} ${line#*:}; do
            mkdir -p "$work/root/lib/modules/$kver/$(dirname "$f")"
            case "$f" in
                *.xz) [ -e "$work/root/lib/modules/$kver/${f%.xz}" ] ||
                          xz -dc "$md/$f" > "$work/root/lib/modules/$kver/${f%.xz}" ;;
                *) cp -n "$md/$f" "$work/root/lib/modules/$kver/$f" ;;
            esac
        done
    done
    cp "$md"/modules.builtin* "$md/modules.order" "$work/root/lib/modules/$kver/"
    "$bb" depmod -b "$work/root" "$kver"
    for p in $PKGS; do [ "$p" = busybox-static ] || dpkg -x "$CACHE"/debs/"${p}"_*.deb "$work/root"; done
    rm -rf "$work/root"/usr/share/{doc,man,locale,info,lintian,bug,bash-completion,zsh} \
           "$work/root"/usr/lib/x86_64-linux-gnu/gconv
    mkdir -p "$work/root"/{proc,sys,dev,tmp,run,tests,rxe-vm,bb,sbin,etc,root}
    ln -sf /bb/modprobe "$work/root/sbin/modprobe"
    ln -sf bash "$work/root/bin/sh"
    printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' > "$work/root/etc/ld.so.conf"
    ldconfig -r "$work/root" 2>/dev/null || true
    echo 'root:x:0:0:root:/root:/bin/sh' > "$work/root/etc/passwd"
    echo 'root:x:0:' > "$work/root/etc/group"
    printf '127.0.0.1 localhost\n198.18.0.1 rxe-vm\n' > "$work/root/etc/hosts"
    write_init > "$work/root/init"
    chmod +x "$work/root/init"
    (cd "$work/root" && find . -type f -o -type l | sed 's|^\./||' | grep -E '\.so' | xargs -r -n1 basename | sort -u) > "$work/libs.txt"
    (cd "$work/root" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -6) > "$work/base.cpio.gz"
    mkdir -p "$base.tmp"
    cp "$work"/k/boot/vmlinuz-* "$base.tmp/vmlinuz"
    mv "$work/base.cpio.gz" "$work/libs.txt" "$base.tmp/"
    cp "$bb" "$base.tmp/busybox"
    rm -rf "$base"; mv "$base.tmp" "$base"; rm -rf "$work"
}

# The guest's /init. Serial ports: ttyS0 console, ttyS1 exit code, ttyS2 "booted" marker.
write_init() {
    cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bb
export PATH=/tests:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd  # bash's <(...) needs it; devtmpfs has no /dev/fd
echo booted > /dev/ttyS2
echo /sbin/modprobe > /proc/sys/kernel/modprobe
stty -onlcr 2>/dev/null
. /rxe-vm/env
t0=$(cut -d' ' -f1 /proc/uptime)
fail() { echo "rxe-vm-guest: $*"; echo 125 > /dev/ttyS1; poweroff -f; }
/bin/ip link set lo up
modprobe crc32_generic 2>/dev/null  # rdma_rxe needs "crc32" at run time; built in on newer kernels
modprobe rdma_rxe && modprobe rdma_ucm && modprobe ib_uverbs || fail "module load failed"
modprobe dummy numdummies=0
/bin/ip link add dummy0 type dummy || fail "no dummy netdev"
/bin/ip addr add 198.18.0.1/24 dev dummy0 && /bin/ip addr add 198.18.0.2/24 dev dummy0 || fail "addresses"
/bin/ip link set dummy0 up
rdma link add rxe0 type rxe netdev dummy0 || fail "rdma link add failed"
# Wait until both IPv4-mapped GIDs are in rxe0's GID table (one grep: forks are slow under TCG).
gids=/sys/class/infiniband/rxe0/ports/1/gids
i=0
while [ "$(grep -l -E 'ffff:c612:000[12]$' $gids/* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do
  sleep 0.1; i=$((i+1))
done
gid=$(grep -l -E 'ffff:c612:0001$' $gids/* 2>/dev/null | head -n 1); gid=${gid##*/}
[ -n "$gid" ] || fail "no IPv4 GID on rxe0"
export RXE_VM_IP=198.18.0.1 RXE_VM_IP2=198.18.0.2 RXE_VM_IFACE=dummy0 RXE_VM_RDMA_DEV=rxe0 RXE_VM_GID_INDEX=$gid
ulimit -l unlimited
t1=$(cut -d' ' -f1 /proc/uptime)
echo "rxe-vm-guest: kernel boot ${t0}s, modules+rxe0 setup $(awk "BEGIN{print $t1-$t0}")s, ip=$RXE_VM_IP,$RXE_VM_IP2 gid_index=$gid"
cd /tests
/bin/bash -c "$(cat /rxe-vm/cmd)"
rc=$?
t2=$(cut -d' ' -f1 /proc/uptime)
echo "rxe-vm-guest: command exited rc=$rc after $(awk "BEGIN{print $t2-$t1}")s"
echo $rc > /dev/ttyS1
cd /; kill -TERM -1 2>/dev/null; sleep 0.2; kill -KILL -1 2>/dev/null; sync
poweroff -f
EOF
}

# The base image is keyed by the package and module lists and by the recipe itself.
KVER=${KPKG#linux-image-}
BASE=$CACHE/base-$KVER-$( { echo "$PKGS $MODS $OPTIONAL_MODS"; declare -f build_base write_init; } | md5sum | cut -c1-12)
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9   # one builder at a time; runs in parallel share the result
if [ ! -f "$BASE/base.cpio.gz" ]; then
    t=$(date +%s.%N); log "building the base image in $BASE"
    build_base "$BASE"
    # Older images of this kernel (and of the naming without the kernel) are stale; other
    # kernels' images stay (the interop tests may boot a second kernel).
    find "$CACHE" -maxdepth 1 \( -name "base-$KVER-*" -o -regex '.*/base-[0-9a-f]*' \) ! -path "$BASE" \
        -exec rm -rf {} +
    log "base image built in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t}")s"
fi
flock -u 9

RUN=$(mktemp -d /tmp/rxe-vm-run.XXXXXX)
cleanup() { if [ "${RXE_VM_KEEP:-0}" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi; }
trap cleanup EXIT

# Per-run overlay: the command, its environment, the libraries DIR's programs need that the base
# lacks, and DIR itself. Appended to the base cpio (the kernel unpacks both).
mkdir -p "$RUN/ov/rxe-vm" "$RUN/ov/usr/lib/x86_64-linux-gnu" "$RUN/ov/tests"
printf '%s\n' "$CMD" > "$RUN/ov/rxe-vm/cmd"
for v in ${RXE_VM_PASSENV:-}; do [ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"; done > "$RUN/ov/rxe-vm/env"
find "$TESTDIR" -type f -size +0 | while read -r f; do
    [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /not found/{print "MISSING:" $1}' || true
done | sort -u | while read -r lib; do
    case "$lib" in MISSING:*) log "warning: ${lib#MISSING:} not found on host"; continue;; esac
    grep -qxF "$(basename "$lib")" "$BASE/libs.txt" || cp -L "$lib" "$RUN/ov/usr/lib/x86_64-linux-gnu/"
done
cp -a "$TESTDIR/." "$RUN/ov/tests/"
(cd "$RUN/ov" && find . | "$BASE/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$RUN/ov.cpio.gz"
cat "$BASE/base.cpio.gz" "$RUN/ov.cpio.gz" > "$RUN/initrd"

QARGS=(-accel "${RXE_VM_ACCEL:-tcg}" -cpu "${RXE_VM_CPU:-max}" -m "$MEM" -smp "$SMP"
       -nodefaults -no-user-config -display none -no-reboot -nic none
       -kernel "$BASE/vmlinuz" -initrd "$RUN/initrd"
       -append "console=ttyS0 quiet panic=-1 rdinit=/init no_timer_check"
       -chardev stdio,id=con,signal=off -serial chardev:con
       -serial "file:$RUN/rc" -serial "file:$RUN/booted")

t=$(date +%s.%N)
set +e
timeout -k 10 "$TIMEOUT" "$QEMU" "${QARGS[@]}" </dev/null
qrc=$?
set -e
log "VM ran $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t}")s (qemu rc=$qrc)"
booted=$(grep -c booted "$RUN/booted" 2>/dev/null || true)
if [ "${booted:-0}" = 0 ]; then
    skip "$QEMU (accelerator ${RXE_VM_ACCEL:-tcg}) could not boot the guest kernel here (qemu rc=$qrc)"
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then log "timeout after ${TIMEOUT}s"; exit 124; fi
rc=$(tr -dc '0-9' < "$RUN/rc" 2>/dev/null || true)
if [ -z "$rc" ]; then log "no exit code from the guest (crash or panic?)"; exit 125; fi
exit "$rc"
