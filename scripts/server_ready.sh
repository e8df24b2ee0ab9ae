# Sourced by the test and benchmark scripts that start ibnbd-server in the background.
# server_ready LOG PID [SEEN]: returns 0 once LOG holds more than SEEN (default 0) "serving" lines
# (the server prints one once it listens), 1 when PID exits first or 20 s pass. Start-up takes a
# few hundred milliseconds (libfabric and io_uring set-up per reactor), more on a loaded machine:
# a fixed sleep races with it.
server_ready() {
    local log=$1 pid=$2 seen=${3:-0}
    for _ in $(seq 400); do
        [ "$(grep -c serving "$log" 2>/dev/null)" -gt "$seen" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
