#!/usr/bin/env bash
# The layering the build cannot enforce by itself (every target sees the source root), checked on
# the project's own #include "..." lines:
#   core/                  core/, and of fabric/ only the interface (fabric.hpp, expected.hpp)
#   fabric/*.{hpp,cpp}     the interface: fabric/ top-level files only
#   fabric/BACKEND/        the interface and its own directory (no other backend)
#   ibnbd/ (not daemon/)   no fabric backend
#   ibnbd/daemon/          the real backends (ofi, verbs), never the simulator
#   ibnbd/nbd/, ublk/      no client/ or server/ or each other: they see a target through
#                          ibnbd/export_target.hpp and ibnbd/block_io_handler.hpp
#   ibnbd/client/, server/ not each other, not the daemons or nbd/
#   core/, fabric/, ibnbd/ nothing from sim-scenarios/, tests/, fuzz/, bench/, tools/
# Prints each violation as FILE:LINE: INCLUDE (RULE) and exits 1 if there is any.
#   usage: scripts/check-layering.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"

violations=0
# check DIR RULE ALLOWED_REGEX [FIND_ARGS...]: every include under DIR must match ALLOWED_REGEX.
check() {
    local dir=$1 rule=$2 allowed=$3; shift 3
    local file line include
    while IFS= read -r file; do
        while IFS=: read -r line include; do
            include=${include#*\"}; include=${include%%\"*}
            if ! [[ $include =~ $allowed ]]; then
                echo "$file:$line: $include ($rule)"
                violations=$((violations + 1))
            fi
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
    done < <(find "$dir" "$@" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) | sort)
}

check core "core: core/ and the fabric interface" '^(core/|fabric/fabric\.hpp$|fabric/expected\.hpp$)'
check fabric "fabric interface: fabric/ top level" '^fabric/[^/]+$' -maxdepth 1
for backend in sim ofi verbs; do
    check "fabric/$backend" "fabric/$backend: the interface and itself" "^fabric/([^/]+|$backend/.+)$"
done
check ibnbd "ibnbd: no fabric backend, no test code" \
    '^(core/|fabric/[^/]+$|ibnbd/)' -not -path 'ibnbd/daemon/*'
check ibnbd/daemon "ibnbd/daemon: real backends only, no test code" \
    '^(core/|fabric/([^/]+|ofi/.+|verbs/.+)$|ibnbd/)'
check ibnbd/nbd "ibnbd/nbd: no client, server or daemon" \
    '^(core/|fabric/[^/]+$|ibnbd/(nbd/|runtime/|block_io_handler\.hpp$|export_target\.hpp$))'
check ibnbd/ublk "ibnbd/ublk: no client, server, daemon or nbd" \
    '^(core/|fabric/[^/]+$|ibnbd/(ublk/|runtime/|block_io_handler\.hpp$|export_target\.hpp$))'
check ibnbd/client "ibnbd/client: no server, daemon or nbd" '^(core/|fabric/[^/]+$|ibnbd/(client/|block_io_handler\.hpp$))'
check ibnbd/server "ibnbd/server: no client, daemon or nbd" '^(core/|fabric/[^/]+$|ibnbd/(server/|storage/))'

if [ "$violations" -gt 0 ]; then
    echo "check-layering: $violations include(s) break the layering" >&2
    exit 1
fi
echo "check-layering: core, fabric and ibnbd keep their layers"
