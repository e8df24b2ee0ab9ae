// The verbs backend's ring of posted work (fabric/verbs/work_ring.hpp): exact capacity, wr_id
// lookup, and the backend's own flush. Pure logic: runs without an RDMA device.
#define BOOST_TEST_MODULE verbs_work_ring
#include <boost/test/unit_test.hpp>

#include <ostream>

#include "fabric/verbs/work_ring.hpp"

namespace ibnbd::fabric {
inline std::ostream& operator<<(std::ostream& out, WcStatus value) { return out << to_string(value); }
}  // namespace ibnbd::fabric

namespace ibnbd::fabric::verbs {

BOOST_AUTO_TEST_CASE(capacity_is_exact_and_slots_are_reused_in_order) {
    WorkRing ring(3, false);
    std::vector<std::uint64_t> ids;
    for (std::uint64_t i = 0; i < 3; ++i) {
        BOOST_REQUIRE(ring.push(10 + i, Opcode::send, 100) != nullptr);
        ids.push_back(ring.newest_wr_id());
    }
    BOOST_TEST(ring.push(13, Opcode::send, 100) == nullptr);
    BOOST_TEST(ring.size() == 3u);
    BOOST_TEST(ring.front().result.context == 10u);
    ring.front().done = true;
    BOOST_TEST(ring.front_done());
    ring.pop();
    BOOST_REQUIRE(ring.push(13, Opcode::rdma_write, 7) != nullptr);
    BOOST_TEST(ring.newest_wr_id() == ids[0]);  // the freed slot
    BOOST_TEST(ring.front().result.context == 11u);
}

BOOST_AUTO_TEST_CASE(find_accepts_only_posted_slots_of_its_own_queue) {
    WorkRing send(4, false);
    WorkRing recv(4, true);
    BOOST_REQUIRE(send.push(1, Opcode::send, 0) != nullptr);
    BOOST_REQUIRE(recv.push(2, Opcode::recv, 64) != nullptr);
    const std::uint64_t send_id = send.newest_wr_id();
    const std::uint64_t recv_id = recv.newest_wr_id();
    BOOST_TEST((recv_id & WorkRing::kRecvTag) != 0u);
    BOOST_TEST((send_id & WorkRing::kRecvTag) == 0u);
    BOOST_REQUIRE(send.find(send_id) != nullptr);
    BOOST_TEST(send.find(send_id)->result.context == 1u);
    BOOST_TEST(send.find(recv_id) == nullptr);
    BOOST_TEST(recv.find(send_id) == nullptr);
    BOOST_TEST(send.find(send_id + 1) == nullptr);  // never posted
    BOOST_TEST(send.find(99) == nullptr);           // outside the ring
    send.undo_push();
    BOOST_TEST(send.find(send_id) == nullptr);  // its post failed
    BOOST_TEST(send.empty());
}

BOOST_AUTO_TEST_CASE(flush_all_completes_unfinished_work_as_flushed_in_post_order) {
    WorkRing ring(4, true);
    for (std::uint64_t i = 0; i < 3; ++i) BOOST_REQUIRE(ring.push(20 + i, Opcode::recv, 64) != nullptr);
    WorkSlot* finished = ring.find(ring.newest_wr_id() - 1);
    BOOST_REQUIRE(finished != nullptr);
    finished->result.status = WcStatus::success;
    finished->result.byte_len = 33;
    finished->done = true;
    ring.flush_all();
    std::vector<Completion> delivered;
    while (ring.front_done()) {
        delivered.push_back(ring.front().result);
        ring.pop();
    }
    BOOST_REQUIRE(delivered.size() == 3u);
    BOOST_TEST(ring.empty());
    for (std::uint64_t i = 0; i < 3; ++i) BOOST_TEST(delivered[i].context == 20 + i);
    BOOST_TEST(delivered[0].status == WcStatus::flushed);
    BOOST_TEST(delivered[1].status == WcStatus::success);  // reported by the device before the flush
    BOOST_TEST(delivered[1].byte_len == 33u);
    BOOST_TEST(delivered[2].status == WcStatus::flushed);
    BOOST_TEST((delivered[2].opcode == Opcode::recv));
    BOOST_TEST(!delivered[2].recv_consumed);
}

}  // namespace ibnbd::fabric::verbs
