// The data oracle on its own: what it accepts and what it catches.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "sim-scenarios/runner/data_model.hpp"
#include "sim-scenarios/runner/histogram.hpp"

using namespace ibnbd::scenario;

namespace {

// A store that applies writes when told to, so that tests choose what "landed".
struct Disk {
    explicit Disk(std::uint64_t sectors) : bytes(sectors * kSector) {}
    void land(std::uint64_t first, const std::vector<std::byte>& data) {
        std::copy(data.begin(), data.end(), bytes.begin() + static_cast<std::ptrdiff_t>(first * kSector));
    }
    std::vector<std::byte> read(std::uint64_t first, std::uint32_t count) const {
        const auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(first * kSector);
        return {begin, begin + count * kSector};
    }
    std::vector<std::byte> bytes;
};

struct Write {
    std::uint64_t first;
    std::uint32_t count;
    std::uint32_t version;
    std::vector<std::byte> data;
};

Write start_write(DataModel& model, std::uint64_t first, std::uint32_t count) {
    Write w{first, count, 0, std::vector<std::byte>(count * kSector)};
    w.version = model.begin_write(first, count, w.data);
    return w;
}

std::optional<DataModel::Violation> read_now(DataModel& model, const Disk& disk, std::uint64_t first, std::uint32_t count) {
    DataModel::ReadTicket ticket;
    model.begin_read(ticket, first, count);
    return model.end_read(ticket, disk.read(first, count));
}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_of_acknowledged_writes_pass) {
    DataModel model(64, 1);
    Disk disk(64);
    BOOST_TEST(!read_now(model, disk, 0, 64).has_value());  // zeros: never written
    Write w = start_write(model, 8, 8);
    disk.land(w.first, w.data);
    model.end_write(w.first, w.count, w.version, true, false, 0);
    BOOST_TEST(!read_now(model, disk, 0, 32).has_value());
}

BOOST_AUTO_TEST_CASE(a_stale_write_landing_late_is_caught) {
    DataModel model(16, 1);
    Disk disk(16);
    Write old_write = start_write(model, 0, 8);
    disk.land(old_write.first, old_write.data);
    model.end_write(0, 8, old_write.version, true, false, 0);
    Write newer = start_write(model, 0, 8);
    disk.land(newer.first, newer.data);
    model.end_write(0, 8, newer.version, true, false, 0);
    disk.land(old_write.first, old_write.data);  // the old write again, after the newer one
    const auto violation = read_now(model, disk, 0, 8);
    BOOST_REQUIRE(violation.has_value());
    BOOST_TEST(violation->what.find("stale write") != std::string::npos, violation->what);
}

BOOST_AUTO_TEST_CASE(a_lost_write_and_garbage_are_caught) {
    DataModel model(16, 1);
    Disk disk(16);
    Write w = start_write(model, 4, 4);
    model.end_write(4, 4, w.version, true, false, 0);  // acknowledged, never landed
    BOOST_TEST(read_now(model, disk, 4, 4)->what.find("lost write") != std::string::npos);
    disk.land(w.first, w.data);
    disk.bytes[4 * kSector + 100] = std::byte{0x55};  // one byte of one sector torn
    const auto violation = read_now(model, disk, 4, 4);
    BOOST_REQUIRE(violation.has_value());
    BOOST_TEST(violation->sector == 4u);
    BOOST_TEST(violation->what.find("no write to this sector produced") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(data_of_another_sector_or_device_is_foreign) {
    DataModel model(16, 1);
    DataModel other_device(16, 2);
    Disk disk(16);
    Write w = start_write(model, 0, 1);
    disk.land(1, w.data);  // misdirected to sector 1
    model.end_write(0, 1, w.version, true, false, 0);
    BOOST_TEST(read_now(model, disk, 1, 1).has_value());
    Write theirs = start_write(other_device, 2, 1);
    disk.land(2, theirs.data);
    BOOST_TEST(read_now(model, disk, 2, 1).has_value());
}

BOOST_AUTO_TEST_CASE(failed_and_in_flight_writes_may_or_may_not_be_visible_but_once_seen_stay) {
    DataModel model(8, 1);
    Disk disk(8);
    Write first = start_write(model, 0, 1);
    disk.land(0, first.data);
    model.end_write(0, 1, first.version, true, false, 0);
    Write failed = start_write(model, 0, 1);
    model.end_write(0, 1, failed.version, false, false, 0);
    BOOST_TEST(!read_now(model, disk, 0, 1).has_value());  // it did not land: fine
    disk.land(0, failed.data);
    BOOST_TEST(!read_now(model, disk, 0, 1).has_value());  // it landed: fine too
    disk.land(0, first.data);                              // and now the older one again: not fine
    BOOST_TEST(read_now(model, disk, 0, 1).has_value());

    Write inflight = start_write(model, 4, 1);
    DataModel::ReadTicket ticket;
    model.begin_read(ticket, 4, 1);
    disk.land(4, inflight.data);  // lands while the read is in flight
    BOOST_TEST(!model.end_read(ticket, disk.read(4, 1)).has_value());
}

BOOST_AUTO_TEST_CASE(after_a_crash_flushed_and_fua_data_must_survive) {
    DataModel model(16, 1);
    Disk disk(16);
    Write flushed = start_write(model, 0, 4);
    disk.land(0, flushed.data);
    model.end_write(0, 4, flushed.version, true, false, 0);
    const auto mark = model.begin_flush();
    model.end_flush(mark, true, 0);
    Write fua = start_write(model, 4, 4);
    disk.land(4, fua.data);
    model.end_write(4, 4, fua.version, true, true, 0);
    Write volatile_write = start_write(model, 8, 4);
    disk.land(8, volatile_write.data);
    model.end_write(8, 4, volatile_write.version, true, false, 0);

    Disk after = disk;  // the crash kept sectors 0-7 and lost 8-11
    std::fill(after.bytes.begin() + 8 * kSector, after.bytes.begin() + 12 * kSector, std::byte{0});
    model.crash();
    BOOST_TEST(!read_now(model, after, 0, 16).has_value());
    BOOST_TEST(!read_now(model, disk, 0, 16).has_value());  // keeping the unflushed data is fine too

    Disk broken = after;  // a crash that lost flushed data
    std::fill(broken.bytes.begin(), broken.bytes.begin() + kSector, std::byte{0});
    BOOST_TEST(read_now(model, broken, 0, 1).has_value());
    Disk broken_fua = after;  // or FUA data
    std::fill(broken_fua.bytes.begin() + 5 * kSector, broken_fua.bytes.begin() + 6 * kSector, std::byte{0});
    BOOST_TEST(read_now(model, broken_fua, 5, 1).has_value());
}

BOOST_AUTO_TEST_CASE(a_flush_covers_only_writes_acknowledged_before_it_was_issued) {
    DataModel model(8, 1);
    Disk disk(8);
    Write before = start_write(model, 0, 1);
    disk.land(0, before.data);
    model.end_write(0, 1, before.version, true, false, 0);
    const auto mark = model.begin_flush();
    Write after_issue = start_write(model, 1, 1);
    disk.land(1, after_issue.data);
    model.end_write(1, 1, after_issue.version, true, false, 0);
    model.end_flush(mark, true, 0);
    BOOST_TEST(model.durable(0) == before.version);
    BOOST_TEST(model.durable(1) == 0u);
}

BOOST_AUTO_TEST_CASE(a_write_acknowledged_across_a_crash_is_not_required_to_survive) {
    DataModel model(8, 1);
    Disk disk(8);
    Write w = start_write(model, 0, 1);
    const auto crashes = model.crashes();
    model.crash();  // the old server may have executed it, then lost it
    model.end_write(0, 1, w.version, true, false, crashes);
    BOOST_TEST(!read_now(model, disk, 0, 1).has_value());
}

BOOST_AUTO_TEST_CASE(histogram_quantiles_are_within_a_few_percent) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 10);
    BOOST_TEST(h.count() == 100000u);
    BOOST_TEST(h.max() == 1'000'000u);
    const auto p50 = static_cast<double>(h.quantile(0.5));
    const auto p99 = static_cast<double>(h.quantile(0.99));
    BOOST_TEST(p50 >= 500'000 * 0.97);
    BOOST_TEST(p50 <= 500'000 * 1.04);
    BOOST_TEST(p99 >= 990'000 * 0.97);
    BOOST_TEST(p99 <= 990'000 * 1.04);
    BOOST_TEST(h.quantile(1.0) == 1'000'000u);
}
