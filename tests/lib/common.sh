# What every shell test here shares: fail (with the tails of the logs in $WORK), skip (exit 77,
# which ctest counts as skipped), need (skip unless the tools are installed). Source it after
# setting WORK. server_ready (scripts/server_ready.sh) waits for a background ibnbd-server.
fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
need() { for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"; done; }
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/server_ready.sh"
