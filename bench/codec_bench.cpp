// Encode and decode cost of the RTRS / RNBD messages (core/wire), the ones on the IO path first.
// Every benchmark also counts heap allocations per operation: the IO-path codecs must show 0.
#include <benchmark/benchmark.h>

#include <array>

#include "core/wire/rnbd.hpp"
#include "core/wire/rtrs.hpp"
#include "core/wire/rtrs_imm.hpp"
#include "tests/support/alloc_hook.hpp"

namespace {

using namespace ibnbd::wire;

// Runs `op` in the benchmark loop and reports allocations per call.
template <class Op>
void measure(benchmark::State& state, Op op) {
    const std::uint64_t before = ibnbd::test::allocation_count();
    std::uint64_t calls = 0;
    for (auto _ : state) {
        op();
        ++calls;
    }
    state.counters["allocs_per_op"] =
        static_cast<double>(ibnbd::test::allocation_count() - before) / static_cast<double>(calls ? calls : 1);
}

void BM_rnbd_io_encode(benchmark::State& state) {
    std::array<std::byte, kRnbdIoSize> out{};
    RnbdIo io{7, 123456, rnbd_rw(RnbdOp::write, kRnbdFlagFua), 4096, 0};
    measure(state, [&] {
        ++io.sector;
        benchmark::DoNotOptimize(encode_rnbd_io(io, out));
        benchmark::ClobberMemory();
    });
}

void BM_rnbd_io_decode(benchmark::State& state) {
    std::array<std::byte, kRnbdIoSize> in{};
    (void)encode_rnbd_io({7, 123456, rnbd_rw(RnbdOp::read, 0), 4096, 0}, in);
    measure(state, [&] {
        benchmark::DoNotOptimize(in);
        auto io = decode_rnbd_io(in);
        benchmark::DoNotOptimize(io);
    });
}

void BM_rtrs_read_request_encode(benchmark::State& state) {
    std::array<std::byte, rdma_read_size(1)> out{};
    std::array<SgDesc, 1> desc{{{0x1000, 42, 4096}}};
    measure(state, [&] {
        ++desc[0].addr;
        benchmark::DoNotOptimize(encode_rdma_read(kRnbdIoSize, 0, desc, out));
        benchmark::ClobberMemory();
    });
}

void BM_rtrs_read_request_decode(benchmark::State& state) {
    std::array<std::byte, rdma_read_size(1)> in{};
    const std::array<SgDesc, 1> desc{{{0x1000, 42, 4096}}};
    (void)encode_rdma_read(kRnbdIoSize, 0, desc, in);
    measure(state, [&] {
        benchmark::DoNotOptimize(in);
        auto read = decode_rdma_read(in);
        if (read) benchmark::DoNotOptimize(read->desc(0));
    });
}

void BM_rtrs_write_trailer_roundtrip(benchmark::State& state) {
    std::array<std::byte, kRdmaWriteSize> buffer{};
    RdmaWrite msg{kRnbdIoSize};
    measure(state, [&] {
        (void)encode_rdma_write(msg, buffer);
        benchmark::DoNotOptimize(buffer);
        auto decoded = decode_rdma_write(buffer);
        benchmark::DoNotOptimize(decoded);
    });
}

void BM_rtrs_imm_io_roundtrip(benchmark::State& state) {
    const unsigned bits = mem_bits(128);
    std::uint32_t chunk = 0;
    measure(state, [&] {
        chunk = (chunk + 1) & 127;
        auto request = io_req_payload(chunk, bits, 0);
        const IoReq req = io_req_decode(request ? *request : 0, bits);
        auto response = io_rsp_imm(req.msg_id, 0, false);
        const IoRsp rsp = io_rsp_decode(imm_decode(response ? *response : 0).payload);
        benchmark::DoNotOptimize(rsp);
    });
}

void BM_rtrs_conn_req_roundtrip(benchmark::State& state) {
    std::array<std::byte, kConnReqSize> buffer{};
    ConnReq req;
    req.cid_num = 2;
    req.first_conn = true;
    measure(state, [&] {
        ++req.recon_cnt;
        (void)encode_conn_req(req, buffer);
        auto decoded = decode_conn_req(buffer);
        benchmark::DoNotOptimize(decoded);
    });
}

void BM_rnbd_open_rsp_roundtrip(benchmark::State& state) {
    std::array<std::byte, kRnbdOpenRspSize> buffer{};
    RnbdOpenRsp rsp;
    rsp.nsectors = 1 << 21;
    rsp.logical_block_size = 512;
    measure(state, [&] {
        ++rsp.device_id;
        (void)encode_rnbd_open_rsp(rsp, buffer);
        auto decoded = decode_rnbd_open_rsp(buffer);
        benchmark::DoNotOptimize(decoded);
    });
}

}  // namespace

BENCHMARK(BM_rnbd_io_encode);
BENCHMARK(BM_rnbd_io_decode);
BENCHMARK(BM_rtrs_read_request_encode);
BENCHMARK(BM_rtrs_read_request_decode);
BENCHMARK(BM_rtrs_write_trailer_roundtrip);
BENCHMARK(BM_rtrs_imm_io_roundtrip);
BENCHMARK(BM_rtrs_conn_req_roundtrip);
BENCHMARK(BM_rnbd_open_rsp_roundtrip);
BENCHMARK_MAIN();
