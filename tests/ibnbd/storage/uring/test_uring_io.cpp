// Reads and writes through io_uring on files: data, O_DIRECT and buffered paths, flush and fua,
// queueing, and how completions are delivered.
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "tests/ibnbd/storage/uring/scratch.hpp"

using namespace ibnbd;
using namespace ibnbd::storage;
using namespace ibnbd::storage::uring;
using namespace ibnbd::storage::uring::test;
namespace utf = boost::unit_test;

BOOST_AUTO_TEST_SUITE(uring_io, *utf::precondition(scratch_available))

BOOST_AUTO_TEST_CASE(written_data_reads_back_and_holes_read_zeros) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    AlignedBuffer data(64 << 10), back(64 << 10);
    fill_pattern(data.span(), 1);
    BOOST_TEST(run(*backend, *device, write_request(128 << 10, data.span())) == 0);
    BOOST_TEST(run(*backend, *device, read_request(128 << 10, back.span())) == 0);
    BOOST_TEST(same(back.span(), data.span()));
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(all_zero(back.span()));
    // Another backend (another ring) on the same file sees it too: it is on the file.
    auto other = make_backend();
    auto second = open_device(*other, file, false);
    AlignedBuffer again(64 << 10);
    BOOST_TEST(run(*other, *second, read_request(128 << 10, again.span())) == 0);
    BOOST_TEST(same(again.span(), data.span()));
}

BOOST_AUTO_TEST_CASE(aligned_io_goes_direct_and_stays_coherent_with_buffered_io,
                     *utf::precondition(direct_io_available)) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    AlignedBuffer data(16384), back(16384);
    fill_pattern(data.span(), 2);
    BOOST_TEST(run(*backend, *device, write_request(8192, data.span())) == 0);
    BOOST_TEST(backend->stats().direct_ios == 1u);
    BOOST_TEST(backend->stats().buffered_ios == 0u);
    // Buffered read (unaligned buffer) of what went direct, then a buffered write read direct.
    AlignedBuffer unaligned(16384 + 512);
    BOOST_TEST(run(*backend, *device, read_request(8192, unaligned.span(512, 16384))) == 0);
    BOOST_TEST(backend->stats().buffered_ios == 1u);
    BOOST_TEST(same(unaligned.span(512, 16384), data.span()));
    fill_pattern(unaligned.span(512, 16384), 3);
    BOOST_TEST(run(*backend, *device, write_request(8192, unaligned.span(512, 16384))) == 0);
    BOOST_TEST(run(*backend, *device, read_request(8192, back.span())) == 0);
    BOOST_TEST(backend->stats().direct_ios == 2u);
    BOOST_TEST(backend->stats().buffered_ios == 2u);
    BOOST_TEST(same(back.span(), unaligned.span(512, 16384)));
}

BOOST_AUTO_TEST_CASE(unaligned_io_goes_buffered) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    AlignedBuffer storage(8192);
    // A 512-aligned offset and length (the device's logical block) on a buffer off the page.
    auto data = storage.span(512, 1536);
    fill_pattern(data, 4);
    BOOST_TEST(run(*backend, *device, write_request(512, data)) == 0);
    AlignedBuffer back(8192);
    BOOST_TEST(run(*backend, *device, read_request(512, back.span(1024, 1536))) == 0);
    BOOST_TEST(same(back.span(1024, 1536), data));
    BOOST_TEST(backend->stats().buffered_ios == 2u);
    BOOST_TEST(backend->stats().direct_ios == 0u);
}

BOOST_AUTO_TEST_CASE(reads_beyond_the_end_of_a_shrunk_file_return_zeros) {
    ScratchDir dir;
    const auto contents = pattern(1 << 20, 5);
    const std::string file = dir.make_file("vol", 1 << 20, contents);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_REQUIRE(::truncate(file.c_str(), 512 << 10) == 0);  // behind the device's back
    AlignedBuffer back(64 << 10);
    fill_pattern(back.span(), 6);
    // Straddles the new end: data, then zeros (a short read, then end of file).
    BOOST_TEST(run(*backend, *device, read_request((512 << 10) - 8192, back.span())) == 0);
    BOOST_TEST(same(back.span(0, 8192), std::span(contents).subspan((512 << 10) - 8192, 8192)));
    BOOST_TEST(all_zero(back.span(8192, (64 << 10) - 8192)));
    AlignedBuffer unaligned(4096 + 512);
    fill_pattern(unaligned.span(), 7);
    BOOST_TEST(run(*backend, *device, read_request(768 << 10, unaligned.span(512, 4096))) == 0);
    BOOST_TEST(all_zero(unaligned.span(512, 4096)));
}

BOOST_AUTO_TEST_CASE(fua_writes_preflush_and_flush_complete) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    BOOST_TEST(device->geometry().fua);
    BOOST_TEST(device->geometry().volatile_write_cache);
    AlignedBuffer data(8192), back(8192);
    fill_pattern(data.span(), 8);
    IoFlags fua;
    fua.fua = true;
    BOOST_TEST(run(*backend, *device, write_request(0, data.span(), fua)) == 0);
    IoFlags preflush;
    preflush.preflush = true;
    BOOST_TEST(run(*backend, *device, write_request(8192, data.span(), preflush)) == 0);
    BOOST_TEST(run(*backend, *device, flush_request()) == 0);
    IoFlags both;
    both.fua = both.preflush = true;
    BOOST_TEST(run(*backend, *device, read_request(0, back.span())) == 0);
    BOOST_TEST(same(back.span(), data.span()));
    BOOST_TEST(run(*backend, *device, write_request(16384, data.span(), both)) == 0);
    BOOST_TEST(run(*backend, *device, read_request(16384, back.span())) == 0);
    BOOST_TEST(same(back.span(), data.span()));
}

BOOST_AUTO_TEST_CASE(completions_come_only_from_poll_and_wake_the_event_fd) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    Recorder recorder;
    AlignedBuffer a(4096), b(4096);
    BOOST_REQUIRE(device->submit(read_request(0, a.span()), recorder, 1).has_value());
    BOOST_REQUIRE(device->submit(read_request(4096, b.span()), recorder, 2).has_value());
    BOOST_TEST(recorder.completions.empty());
    BOOST_TEST(device->inflight() == 2u);
    pollfd readable{backend->event_fd(), POLLIN, 0};
    BOOST_TEST(::poll(&readable, 1, 5000) == 1);
    // Wait until both are reaped by the kernel, then take one: the event fd must stay readable.
    for (int i = 0; i < 500 && backend->ready() < 2; ++i) ::usleep(1000);
    BOOST_TEST(backend->poll(1) == 1u);
    BOOST_TEST(recorder.completions.size() == 1u);
    readable.revents = 0;
    BOOST_TEST(::poll(&readable, 1, 0) == 1);
    BOOST_TEST(wait_for(*backend, recorder, 2));
    BOOST_TEST(device->inflight() == 0u);
    BOOST_TEST(backend->poll(16) == 0u);  // nothing left
}

BOOST_AUTO_TEST_CASE(many_operations_in_flight_at_once) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 4 << 20);
    auto backend = make_backend({.ring_entries = 256});
    auto device = open_device(*backend, file);
    constexpr std::size_t kOps = 200;
    AlignedBuffer data(kOps * 4096), back(kOps * 4096);
    fill_pattern(data.span(), 9);
    Recorder writes;
    for (std::size_t i = 0; i < kOps; ++i) {
        // Every other one misaligned in memory, so both paths run side by side.
        const auto offset = static_cast<std::uint64_t>(i) * 8192;
        BOOST_REQUIRE(device->submit(write_request(offset, data.span(i * 4096, 4096)), writes, i).has_value());
    }
    BOOST_TEST(backend->inflight() == kOps);
    BOOST_TEST(device->inflight() == kOps);
    BOOST_REQUIRE(wait_for(*backend, writes, kOps));
    for (const auto& [cookie, status] : writes.completions) BOOST_TEST(status == 0);
    Recorder reads;
    for (std::size_t i = 0; i < kOps; ++i) {
        const auto offset = static_cast<std::uint64_t>(i) * 8192;
        BOOST_REQUIRE(device->submit(read_request(offset, back.span(i * 4096, 4096)), reads, i).has_value());
    }
    BOOST_REQUIRE(wait_for(*backend, reads, kOps));
    BOOST_TEST(same(back.span(), data.span()));
    BOOST_TEST(backend->stats().completed == 2 * kOps);
}

BOOST_AUTO_TEST_CASE(a_full_pool_answers_eagain) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend({.ring_entries = 8, .max_inflight = 4});
    auto device = open_device(*backend, file);
    Recorder recorder;
    AlignedBuffer buffer(5 * 4096);
    for (std::uint64_t i = 0; i < 4; ++i) {
        BOOST_REQUIRE(device->submit(read_request(i * 4096, buffer.span(i * 4096, 4096)), recorder, i).has_value());
    }
    auto refused = device->submit(read_request(16384, buffer.span(16384, 4096)), recorder, 4);
    BOOST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error() == -EAGAIN);
    BOOST_TEST(backend->stats().rejected_busy == 1u);
    BOOST_TEST(device->inflight() == 4u);
    BOOST_REQUIRE(wait_for(*backend, recorder, 4));
    BOOST_TEST(device->submit(read_request(16384, buffer.span(16384, 4096)), recorder, 5).has_value());
    BOOST_REQUIRE(wait_for(*backend, recorder, 5));
    BOOST_TEST(recorder.status_of(4) == 1);  // never completes: it was refused
}

BOOST_AUTO_TEST_CASE(handlers_may_submit_from_their_completion) {
    struct Chain : CompletionHandler {
        void on_storage_complete(std::uint64_t cookie, int status) override {
            statuses.push_back(status);
            if (cookie < 20) BOOST_REQUIRE(device->submit(flush_request(), *this, cookie + 1).has_value());
        }
        Device* device = nullptr;
        std::vector<int> statuses;
    };
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend({.ring_entries = 4, .max_inflight = 1});
    auto device = open_device(*backend, file);
    Chain chain;
    chain.device = device.get();
    BOOST_REQUIRE(device->submit(flush_request(), chain, 0).has_value());
    for (int i = 0; i < 5000 && chain.statuses.size() < 21; ++i) {
        pollfd readable{backend->event_fd(), POLLIN, 0};
        ::poll(&readable, 1, 1);
        backend->poll(8);
    }
    BOOST_TEST(chain.statuses.size() == 21u);
    BOOST_TEST(std::count(chain.statuses.begin(), chain.statuses.end(), 0) == 21);
}

BOOST_AUTO_TEST_CASE(a_small_ring_still_runs_many_multi_step_operations) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    // Two submission entries for 16 operations of two steps each: the second steps queue up
    // behind a full submission ring and must be started by later polls.
    auto backend = make_backend({.ring_entries = 2, .max_inflight = 16});
    auto device = open_device(*backend, file);
    AlignedBuffer data(16 * 4096), back(16 * 4096);
    fill_pattern(data.span(), 10);
    IoFlags preflush;
    preflush.preflush = true;
    Recorder recorder;
    std::uint32_t accepted = 0;
    for (std::uint64_t i = 0; i < 16; ++i) {
        auto submitted = device->submit(write_request(i * 4096, data.span(i * 4096, 4096), preflush), recorder, i);
        if (submitted) ++accepted;
        else BOOST_TEST(submitted.error() == -EAGAIN);
    }
    BOOST_TEST(accepted > 2u);
    // Let every first step (the preflush) complete, so that one poll() starts all second steps.
    for (int i = 0; i < 5000 && backend->ready() < accepted; ++i) ::usleep(1000);
    BOOST_REQUIRE(backend->ready() == accepted);
    BOOST_REQUIRE(wait_for(*backend, recorder, accepted));
    BOOST_TEST_MESSAGE("accepted " << accepted << ", stalled steps " << backend->stats().stalled_steps);
    BOOST_TEST(backend->stats().stalled_steps > 0u);
    for (const auto& [cookie, status] : recorder.completions) BOOST_TEST(status == 0);
    BOOST_TEST(run(*backend, *device, read_request(0, back.span(0, accepted * 4096))) == 0);
    BOOST_TEST(same(back.span(0, accepted * 4096), data.span(0, accepted * 4096)));
}

BOOST_AUTO_TEST_CASE(priorities_that_the_kernel_would_refuse_are_dropped) {
    ScratchDir dir;
    const std::string file = dir.make_file("vol", 1 << 20);
    auto backend = make_backend();
    auto device = open_device(*backend, file);
    AlignedBuffer buffer(4096);
    for (const std::uint16_t priority : {0x0000, 0x2001, 0x4003, 0x400F, 0x4FF8, 0x6000, 0xE000, 0xFFFF}) {
        Request request = read_request(0, buffer.span());
        request.priority = priority;
        BOOST_TEST(run(*backend, *device, request) == 0, "priority " << priority);
    }
}

BOOST_AUTO_TEST_SUITE_END()
