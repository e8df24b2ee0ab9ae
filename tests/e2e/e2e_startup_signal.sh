#!/usr/bin/env bash
# SIGTERM at any moment of ibnbd-server's (and ibnbd-client's) start-up ends the process within
# seconds. It used to hang for good when the signal landed inside libfabric's provider scan: the
# psm provider's SIGTERM handler calls exit(), whose clean-up waits for the lock fi_getinfo()
# holds. The daemons now block the stop signals first thing and take them from a signalfd. Exit
# codes: 0 (stopped cleanly), 143 (killed before the dynamic loader ran any library), 1 (the
# signal came before main(): that handler exits 1).
BIN=$1; source "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/vols"
ends_in_time() {  # ends_in_time PID: true when PID has exited within 5 s
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
    return 1
}
for delay in 0.05 0.1 0.15 0.2 0.25 0.3 0.35 0.4 0.5; do
    "$BIN/ibnbd-server" --listen "127.0.0.1:$PORT" --dev-search-path "$WORK/vols" > "$WORK/server.log" 2>&1 &
    pid=$!
    sleep "$delay"; kill -TERM "$pid"
    ends_in_time "$pid" || { kill -9 "$pid"; fail "ibnbd-server hangs after SIGTERM $delay s into its start-up"; }
    wait "$pid"; rc=$?
    case $rc in 0|1|143) ;; *) fail "ibnbd-server exited with $rc after SIGTERM $delay s into its start-up" ;; esac
    "$BIN/ibnbd-client" --control-socket "$WORK/c.sock" --nbd-dir "$WORK/nbd" > "$WORK/client.log" 2>&1 &
    pid=$!
    sleep "$delay"; kill -TERM "$pid"
    ends_in_time "$pid" || { kill -9 "$pid"; fail "ibnbd-client hangs after SIGTERM $delay s into its start-up"; }
    wait "$pid"; rc=$?
    case $rc in 0|1|143) ;; *) fail "ibnbd-client exited with $rc after SIGTERM $delay s into its start-up" ;; esac
done
echo "1 passed, 0 failed"
