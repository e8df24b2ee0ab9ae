#!/bin/bash
# run-rxe-tests.sh - what the rxe ctest runs inside the SoftRoCE VM (see run-rxe-vm.sh), from the
# staged directory that holds the test programs:
#   1. the fabric conformance suite on the verbs backend (rxe0, 198.18.0.1);
#   2. ibtrs_rxe_e2e: IBTRS and IBNBD server and client processes over verbs, two paths
#      (198.18.0.1 and 198.18.0.2 on dummy0), every IO verified, one path killed under load;
#   3. verbs_device_removal: rxe0 removed under connected endpoints (last: rxe0 is gone after it).
# Every step has a timeout. Exits with the number of failed steps (0: all passed).
set -u
fails=0
ms() { local up; read -r up _ < /proc/uptime; echo $(( ${up/./} * 10 )); }
step() {
    local name=$1 limit=$2; shift 2
    local t0; t0=$(ms)
    echo "=== $name: $*"
    timeout "$limit" "$@"
    local rc=$?
    echo "=== $name: rc=$rc after $(( $(ms) - t0 )) ms"
    [ "$rc" = 0 ] || fails=$((fails + 1))
}

echo "rxe: device ${RXE_VM_RDMA_DEV:-?}, addresses ${RXE_VM_IP:-?} ${RXE_VM_IP2:-}, netdev ${RXE_VM_IFACE:-?}"
rdma link show 2>/dev/null || true

step conformance.verbs 90 ./test_fabric_conformance --log_level=test_suite --report_level=short -- --backend=verbs
step ibtrs_rxe_e2e 180 ./ibtrs_rxe_e2e --log_level=test_suite --report_level=short
step verbs_device_removal 40 ./verbs_device_removal --log_level=test_suite --report_level=short
# The removal completes once that process has exited and released the device.
step device_removed 20 bash -c 'while rdma link show | grep -q rxe0; do sleep 0.5; done'

echo "rxe: $fails failed step(s)"
exit "$fails"
