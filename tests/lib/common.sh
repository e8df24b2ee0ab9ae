# What every shell test here shares: fail (with the tails of the logs in $WORK), skip (exit 77,
# which ctest counts as skipped), need (skip unless the tools are installed). Source it after
# setting WORK.
fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
need() { for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"; done; }
