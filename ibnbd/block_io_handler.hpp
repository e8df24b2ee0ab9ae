// The completion interface of an asynchronous block request: what a mapped device (client/) calls
// and what an NBD export (nbd/) implements, so that neither layer includes the other.
#pragma once

#include <cstdint>

namespace ibnbd::block {

// Called exactly once per accepted request, never from inside the call that started it, on the
// thread that started it. `status`: 0 or a negative errno.
class BlockIoHandler {
public:
    virtual ~BlockIoHandler() = default;
    virtual void on_block_io_complete(std::uint64_t cookie, int status) = 0;
};

}  // namespace ibnbd::block
