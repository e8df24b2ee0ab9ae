// Storage behind the IBNBD server: one interface, two backends.
//
//   uring/  files and block devices through io_uring (liburing), for the real daemons
//   memory/ an in-memory store for the simulator, with a durability model, injectable errors and
//           latency, driven by the fabric's timers (so runs stay deterministic)
//
// OPERATIONS (offsets and lengths in bytes)
//   read          length bytes at offset into buffer
//   write         length bytes from buffer at offset; with fua, durable when it completes
//   flush         everything completed before it is durable (fdatasync); offset/length ignored
//   discard       the range may read back as anything (zeros on files: a punched hole)
//   secure_erase  as discard, and the old data must be unrecoverable
//   write_zeroes  the range reads back as zeros; unmap allowed (punch) unless nounmap
//   preflush      a flush before the operation
// Durability: data written without fua is durable only once a later flush has completed. A
// crashed memory store loses (or tears per 512-byte sector) exactly the writes not yet durable.
//
// THREADING AND COMPLETIONS
//   A device belongs to one reactor. submit() never blocks and never calls the completion
//   inline: completions arrive later from the backend's poll() (uring) or a fabric timer
//   (memory). buffer must stay valid until the completion.
//
// ERRORS (negative errno)
//   submit():     -EINVAL   range not aligned to the logical block size, or past the end
//                 -EROFS    write-type operation on a read-only device
//                 -EAGAIN   too many operations in flight (the backend's queue is full)
//                 -EOPNOTSUPP operation the device cannot do (secure erase on a file)
//   completion:   -EIO and whatever the kernel returned for the operation
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "fabric/expected.hpp"

namespace ibnbd::storage {

enum class Op : std::uint8_t { read, write, flush, discard, secure_erase, write_zeroes };

struct IoFlags {
    bool fua = false;
    bool preflush = false;
    bool nounmap = false;  // write_zeroes only
};

struct Request {
    Op op = Op::read;
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
    std::span<std::byte> buffer;  // read: destination; write: source (length bytes); others: empty
    IoFlags flags;
    std::uint16_t priority = 0;   // the client's ioprio (RNBD prio); a hint backends may pass on
};

// What the device is, as the RNBD open response reports it (docs/protocol.md §3.5).
struct Geometry {
    std::uint64_t size_bytes = 0;
    std::uint32_t logical_block_size = 512;
    std::uint32_t physical_block_size = 4096;
    std::uint32_t max_hw_sectors = 0;            // 0: no limit of its own
    std::uint32_t max_discard_sectors = 0;       // 0: discard not supported
    std::uint32_t discard_granularity = 0;       // bytes
    std::uint32_t discard_alignment = 0;         // bytes
    std::uint32_t max_write_zeroes_sectors = 0;  // 0: not supported
    bool secure_discard = false;
    bool volatile_write_cache = false;           // flush/fua are meaningful
    bool fua = false;                            // native FUA (else emulated with a flush)
    bool read_only = false;
};

// Identifies the underlying object, so that two names of one file or device count as one for
// the access-mode rules (docs/protocol.md §3.8).
struct Identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    bool operator==(const Identity&) const = default;
    bool operator<(const Identity& other) const {
        return device != other.device ? device < other.device : inode < other.inode;
    }
};

class CompletionHandler {
public:
    virtual ~CompletionHandler() = default;
    virtual void on_storage_complete(std::uint64_t cookie, int status) = 0;
};

class Device {
public:
    virtual ~Device() = default;
    virtual const Geometry& geometry() const = 0;
    virtual Identity identity() const = 0;
    virtual Status<int> submit(const Request& request, CompletionHandler& handler, std::uint64_t cookie) = 0;
    // Operations submitted and not yet completed. A device must not be destroyed with any.
    virtual std::uint32_t inflight() const = 0;
};

// Where devices come from: a file system (uring) or a catalogue of memory stores (memory).
class Backend {
public:
    virtual ~Backend() = default;
    // The canonical absolute path of `path`, following every symlink. Errors: -ENOENT, -ENAMETOOLONG,
    // -ELOOP, -EACCES.
    virtual Expected<std::string, int> canonical_path(const std::string& path) = 0;
    // Opens a canonical path. Errors: -ENOENT, -EACCES, -EISDIR (a directory), -ENOTBLK (neither a
    // regular file nor a block device), -EROFS, -ENOMEM.
    virtual Expected<std::unique_ptr<Device>, int> open(const std::string& canonical, bool writable) = 0;
};

// Checks a request against a geometry: alignment, range and read-only. 0 or a negative errno.
int validate(const Request& request, const Geometry& geometry);

}  // namespace ibnbd::storage
