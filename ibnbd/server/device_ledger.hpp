// What every reactor of a server must agree on about a device (storage::Identity), whichever
// reactor's sessions use it: the writers of the access-mode rules (device_table.hpp) and the
// sessions gone with IO still in flight on it, whose IO must finish before the device is opened
// again (block_server.hpp). Each reactor opens its own handle of a device, for its own io_uring;
// the ledger is what they share.
//
// THREADING
//     Any thread; a mutex guards it. Taken on OPEN, CLOSE and session loss, never per IO.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "core/wire/rnbd.hpp"
#include "fabric/expected.hpp"
#include "ibnbd/storage/device.hpp"

namespace ibnbd::block {

class DeviceLedger {
public:
    // Counts one more writer of `identity` for `mode` (rw: none may write yet; migration: at most
    // one other). Errors: -EPERM. A reader (ro) is always admitted and not counted.
    Status<int> admit(const storage::Identity& identity, wire::AccessMode mode);
    void release(const storage::Identity& identity, wire::AccessMode mode);

    // A session gone with IO in flight on the device (begin), and that IO done (end).
    void begin_drain(const storage::Identity& identity);
    void end_drain(const storage::Identity& identity);
    bool draining(const storage::Identity& identity) const;
    // Runs (on the thread that ended it, without the lock) when a drain ends: reactors with OPENs
    // waiting for the device retry them.
    void on_drained(std::function<void()> wake) { wake_ = std::move(wake); }

private:
    struct Entry {
        std::uint32_t writers = 0;
        std::uint32_t draining = 0;
    };
    void forget_if_unused(std::map<storage::Identity, Entry>::iterator entry);

    mutable std::mutex mutex_;
    std::map<storage::Identity, Entry> entries_;
    std::function<void()> wake_;
};

bool is_writer(wire::AccessMode mode);

}  // namespace ibnbd::block
