#include "ibnbd/storage/device.hpp"

#include <cerrno>

namespace ibnbd::storage {

namespace {

bool changes_data(Op op) { return op != Op::read && op != Op::flush; }

bool supported(Op op, const Geometry& geometry) {
    switch (op) {
        case Op::discard: return geometry.max_discard_sectors != 0;
        case Op::secure_erase: return geometry.secure_discard && geometry.max_discard_sectors != 0;
        case Op::write_zeroes: return geometry.max_write_zeroes_sectors != 0;
        default: return true;
    }
}

bool known(Op op) { return static_cast<std::uint8_t>(op) <= static_cast<std::uint8_t>(Op::write_zeroes); }

}  // namespace

int validate(const Request& request, const Geometry& geometry) {
    if (!known(request.op)) return -EINVAL;
    // A flush names no range: the whole device is its object.
    if (request.op == Op::flush) return 0;
    if (changes_data(request.op) && geometry.read_only) return -EROFS;
    const std::uint64_t block = geometry.logical_block_size;
    if (block == 0 || request.length == 0) return -EINVAL;
    if (request.offset % block != 0 || request.length % block != 0) return -EINVAL;
    // Written as a subtraction so that offsets near 2^64 cannot wrap around.
    if (request.offset > geometry.size_bytes || request.length > geometry.size_bytes - request.offset) {
        return -EINVAL;
    }
    const bool carries_data = request.op == Op::read || request.op == Op::write;
    if (carries_data && request.buffer.size() < request.length) return -EINVAL;
    if (!supported(request.op, geometry)) return -EOPNOTSUPP;
    return 0;
}

}  // namespace ibnbd::storage
