// Where the io_uring tests keep their files, and helpers to drive an UringBackend.
//
// The directory must be on a real disk file system (tmpfs has no O_DIRECT and no zero range):
// the first of $TMPDIR, the build directory and /var/tmp that is writable and not tmpfs/ramfs.
// Tests that need O_DIRECT or a loop block device check for them with a precondition, so that a
// machine without them reports those tests as skipped, with the reason, instead of passing them.
#pragma once

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ibnbd/storage/uring/uring_backend.hpp"

namespace ibnbd::storage::uring::test {

// The chosen directory (a fresh one below a candidate), made once per test run.
struct ScratchArea {
    std::string root;           // empty if no candidate works
    std::string fs_type;        // for the log: "ext4", "xfs", ...
    bool direct_io = false;     // the file system accepts O_DIRECT
    std::string why_no_direct;  // when it does not
};
const ScratchArea& scratch_area();
boost::test_tools::assertion_result direct_io_available(boost::unit_test::test_unit_id);
boost::test_tools::assertion_result scratch_available(boost::unit_test::test_unit_id);

// A directory of its own for one test, removed with everything in it afterwards.
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::string& path() const { return path_; }
    // A file of `size` bytes: sparse, or filled with `contents` from offset 0.
    std::string make_file(const std::string& name, std::uint64_t size, std::span<const std::byte> contents = {});
    std::string make_symlink(const std::string& name, const std::string& target);
    std::string make_directory(const std::string& name);
    std::string make_fifo(const std::string& name);

private:
    std::string path_;
};

struct StatBlocks {
    static std::uint64_t of(const std::string& path);  // st_blocks, in 512-byte units
};

// Memory aligned to 4096 bytes, as O_DIRECT wants.
class AlignedBuffer {
public:
    explicit AlignedBuffer(std::size_t size);
    std::span<std::byte> span() { return {data_.get(), size_}; }
    std::span<std::byte> span(std::size_t offset, std::size_t length) { return span().subspan(offset, length); }
    std::byte* data() { return data_.get(); }
    std::size_t size() const { return size_; }

private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte, Free> data_;
    std::size_t size_;
};

struct Recorder : CompletionHandler {
    void on_storage_complete(std::uint64_t cookie, int status) override { completions.push_back({cookie, status}); }
    int status_of(std::uint64_t cookie) const;
    std::vector<std::pair<std::uint64_t, int>> completions;
};

std::unique_ptr<UringBackend> make_backend(UringConfig config = {});
// Waits on the backend's event fd and polls until `recorder` has `count` completions (5 s at most).
bool wait_for(UringBackend& backend, const Recorder& recorder, std::size_t count);
// Submits one request and waits for it: its completion status, or the submit error.
int run(UringBackend& backend, Device& device, const Request& request);
std::unique_ptr<Device> open_device(UringBackend& backend, const std::string& path, bool writable = true);

inline Request read_request(std::uint64_t offset, std::span<std::byte> buffer) {
    return Request{Op::read, offset, static_cast<std::uint32_t>(buffer.size()), buffer, {}, 0};
}
inline Request write_request(std::uint64_t offset, std::span<std::byte> data, IoFlags flags = {}) {
    return Request{Op::write, offset, static_cast<std::uint32_t>(data.size()), data, flags, 0};
}
inline Request range_request(Op op, std::uint64_t offset, std::uint32_t length, IoFlags flags = {}) {
    return Request{op, offset, length, {}, flags, 0};
}
inline Request flush_request() { return Request{Op::flush, 0, 0, {}, {}, 0}; }

void fill_pattern(std::span<std::byte> data, std::uint64_t seed);
std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed);
bool all_zero(std::span<const std::byte> data);
bool same(std::span<const std::byte> a, std::span<const std::byte> b);

}  // namespace ibnbd::storage::uring::test
