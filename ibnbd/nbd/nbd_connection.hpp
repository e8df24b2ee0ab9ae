// One NBD client connection: the fixed-newstyle handshake, then transmission with simple replies
// (replies may come out of order; the handle says which request each answers).
//
// HANDSHAKE  options EXPORT_NAME, GO, INFO (with NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE), LIST,
//            ABORT; everything else gets NBD_REP_ERR_UNSUP. An option longer than 64 KiB closes
//            the connection.
// COMMANDS   READ, WRITE (FUA), FLUSH, TRIM, WRITE_ZEROES (NO_HOLE → no unmap), CACHE (a no-op),
//            DISC. Requests larger than the target takes at once are split; the reply waits for
//            every part and carries the first error. Bad ranges or alignment get EINVAL, writes to
//            a read-only export EPERM, unknown commands EINVAL. A write larger than the advertised
//            maximum, or a bad request magic, closes the connection. Parts the target cannot take
//            yet (-EAGAIN: its request pool is shared by every connection) wait and are retried.
// LIMITS     at most kMaxInflight requests at once per connection: beyond that the connection stops
//            reading until one completes (back-pressure, not an error).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ibnbd/export_target.hpp"

namespace ibnbd::nbd {

class NbdServer;

class NbdConnection : private block::BlockIoHandler {
public:
    static constexpr std::size_t kMaxInflight = 32;
    static constexpr std::uint32_t kMaxRequest = 32u << 20;  // advertised maximum block size

    NbdConnection(NbdServer& server, int fd);
    ~NbdConnection() override;
    NbdConnection(const NbdConnection&) = delete;
    NbdConnection& operator=(const NbdConnection&) = delete;

    // Reads, handles and writes what it can without blocking; returns the work done.
    std::size_t progress();
    // Closed and nothing in flight: the server may destroy it.
    bool finished() const { return closed_ && inflight_ == 0; }
    bool wants_output() const { return out_.size() > out_pos_; }
    int fd() const { return fd_; }
    const std::string& export_name() const { return export_name_; }
    // Closes the connection (an export was removed by force).
    void close();

private:
    enum class Phase : std::uint8_t { client_flags, options, transmission };
    struct Request {
        bool used = false;
        std::uint64_t handle = 0;
        std::uint16_t type = 0;
        std::uint32_t length = 0;
        std::uint32_t parts = 0;  // still outstanding (started or not)
        std::uint32_t next_part = 0;  // parts [next_part, total) wait for the target (-EAGAIN)
        std::uint32_t total_parts = 0;
        std::uint32_t part_size = 0;
        std::uint16_t flags = 0;
        std::uint64_t offset = 0;
        int status = 0;
        std::vector<std::byte> data;  // read result / write payload, reused
    };

    std::size_t read_input();
    std::size_t parse();
    bool parse_option();
    bool parse_request();
    void handle_option(std::uint32_t option, std::span<const std::byte> data);
    void handle_go(std::uint32_t option, std::span<const std::byte> data);
    void enter_transmission();
    void option_reply(std::uint32_t option, std::uint32_t type, std::span<const std::byte> data = {});
    void submit(std::size_t slot, std::uint16_t flags, std::uint64_t offset);
    // Starts the request's remaining parts; stops (to retry later) when the target is busy.
    void start_parts(std::size_t slot);
    std::size_t retry_stalled();
    int check_range(std::uint64_t offset, std::uint32_t length) const;
    void finish_request(std::size_t slot);
    void on_block_io_complete(std::uint64_t cookie, int status) override;
    void append(std::span<const std::byte> bytes);
    std::size_t flush_output();
    std::uint16_t transmission_flags() const;

    NbdServer& server_;
    int fd_;
    Phase phase_ = Phase::client_flags;
    bool no_zeroes_ = false;
    bool closed_ = false;
    bool disconnecting_ = false;
    std::vector<std::byte> in_;
    std::size_t in_pos_ = 0;
    std::vector<std::byte> out_;
    std::size_t out_pos_ = 0;
    std::string export_name_;
    block::ExportTarget* target_ = nullptr;
    block::ExportInfo info_;
    std::vector<Request> requests_;
    std::size_t inflight_ = 0;
};

}  // namespace ibnbd::nbd
