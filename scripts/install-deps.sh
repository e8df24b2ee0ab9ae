#!/usr/bin/env bash
# Installs every Debian package ibnbd needs to build and test. Idempotent and non-interactive:
# packages already present are skipped, and `apt-get update` runs at most once per call.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config git
  clang libclang-rt-14-dev llvm
  libfabric-dev libfabric-bin
  libibverbs-dev librdmacm-dev ibverbs-providers rdma-core ibverbs-utils rdmacm-utils
  qemu-system-x86
  libboost-test-dev libbenchmark-dev
  liburing-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev
  libnbd-dev libnbd-bin nbdkit qemu-utils nbd-client fio
  fuse3 e2fsprogs iproute2 util-linux
  python3
)

# The kernel peer (scripts/kernel-peer, tests/interop): the rxe guest's kernel's headers and the
# sources of its series, to build the kernel's own rtrs/rnbd modules. Without package lists yet,
# the metapackages name the same ones.
guest_kernel=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [ -n "$guest_kernel" ]; then
  guest_kver=${guest_kernel#linux-image-}
  packages+=("linux-headers-$guest_kver" "linux-source-$(echo "$guest_kver" | cut -d. -f1,2)")
else
  packages+=(linux-headers-amd64 linux-source)
fi
# The interop tests' second kernel: the newest 6.12 of bookworm's updates, and its sources.
kernel612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+(\+deb[0-9]+)?-amd64$' 2>/dev/null |
            awk '{print $1}' | sort -V | tail -n 1)
if [ -n "$kernel612" ]; then packages+=("linux-headers-${kernel612#linux-image-}" linux-source-6.12); fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
