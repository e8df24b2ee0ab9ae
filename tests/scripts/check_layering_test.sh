#!/usr/bin/env bash
# scripts/check-layering.sh passes on the tree and catches each kind of layering break planted in
# a copy of it: core including the block layer, one backend including another, the daemons
# including the simulator, the block layer including a backend, nbd/ including the client, the
# client and the server including each other or the daemons.
#   usage: check_layering_test.sh SOURCE_ROOT
set -uo pipefail
src=$1
failed=0
expect() {  # expect WHAT RC OUTPUT_REGEX -- COMMAND...
    local what=$1 want_rc=$2 pattern=$3 out rc; shift 4
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" = "$want_rc" ] && [[ $out =~ $pattern ]]; then
        echo "PASS: $what"
    else
        echo "FAIL: $what (rc $rc, wanted $want_rc; output: $out)"; failed=1
    fi
}

expect "the tree keeps its layers" 0 "keep their layers" -- bash "$src/scripts/check-layering.sh" "$src"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
plant() {  # plant FILE INCLUDE: a fresh copy of the tree with one include added to FILE
    rm -rf "$work/tree" && mkdir -p "$work/tree" && cp -r "$src"/core "$src"/fabric "$src"/ibnbd "$work/tree"/
    echo "#include \"$2\"" >> "$work/tree/$1"
}
for case in "core/log.hpp ibnbd/client/block_device.hpp core:" \
            "fabric/sim/engine.hpp fabric/ofi/ofi_fabric.hpp fabric/sim:" \
            "ibnbd/daemon/path_text.hpp fabric/sim/engine.hpp ibnbd/daemon:" \
            "ibnbd/server/block_server.hpp fabric/verbs/verbs_fabric.hpp ibnbd:" \
            "fabric/fabric.hpp core/log.hpp fabric interface:" \
            "core/log.hpp tests/support/cluster.hpp core:" \
            "ibnbd/nbd/export_target.hpp ibnbd/client/block_device.hpp ibnbd/nbd:" \
            "ibnbd/client/device_io.hpp ibnbd/server/block_server.hpp ibnbd/client:" \
            "ibnbd/server/block_server.hpp ibnbd/daemon/path_text.hpp ibnbd/server:"; do
    read -r file include rule <<< "$case"
    plant "$file" "$include"
    expect "$file including $include is caught" 1 "$file:[0-9]+: $include \\($rule" -- \
        bash "$src/scripts/check-layering.sh" "$work/tree"
done
exit $failed
