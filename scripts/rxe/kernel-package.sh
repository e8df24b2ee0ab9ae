#!/usr/bin/env bash
# kernel-package.sh SERIES - prints the newest Debian 12 kernel image package of a series (e.g.
# 6.12: linux-image-6.12.N+deb12-amd64, from bookworm's updates) found in the package lists, for
# RXE_VM_KPKG of run-rxe-vm.sh. Exit 1 (and nothing printed) when there is none.
set -uo pipefail
series=${1//./\\.}
package=$(apt-cache search --names-only "^linux-image-$series\.[0-9]+(\+deb[0-9]+)?-amd64\$" 2>/dev/null |
          awk '{print $1}' | sort -V | tail -n 1)
[ -n "$package" ] || exit 1
echo "$package"
