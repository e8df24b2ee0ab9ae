#include "sim-scenarios/runner/lagging_fabric.hpp"

namespace ibnbd::scenario {

namespace {

class LaggingEndpoint final : public fabric::Endpoint, private fabric::TimerHandler {
public:
    LaggingEndpoint(std::unique_ptr<fabric::Endpoint> inner, fabric::Fabric& clock, fabric::Nanos delay)
        : inner_(std::move(inner)), clock_(clock), delay_(delay) {}
    ~LaggingEndpoint() override {
        if (timer_ != 0) clock_.cancel_timer(timer_);
    }

    Status<fabric::Errc> post_recv(std::uint64_t context, std::span<const fabric::Sge> sges) override {
        return inner_->post_recv(context, sges);
    }
    Status<fabric::Errc> post_send(std::uint64_t context, std::span<const fabric::Sge> sges,
                                   const std::uint32_t* imm) override {
        return inner_->post_send(context, sges, imm);
    }
    Status<fabric::Errc> post_write(std::uint64_t context, std::span<const fabric::Sge> sges, fabric::RemoteKey remote,
                                    const std::uint32_t* imm) override {
        return inner_->post_write(context, sges, remote, imm);
    }
    Status<fabric::Errc> post_read(std::uint64_t context, std::span<const fabric::Sge> sges,
                                   fabric::RemoteKey remote) override {
        return inner_->post_read(context, sges, remote);
    }
    void disconnect() override {
        if (timer_ != 0 || torn_down_) return;
        timer_ = clock_.start_timer(delay_, *this, 0);
    }
    bool connected() const override { return inner_->connected(); }
    const fabric::Address& peer_address() const override { return inner_->peer_address(); }
    const fabric::Address& local_address() const override { return inner_->local_address(); }

private:
    void on_timer(std::uint64_t) override {
        timer_ = 0;
        torn_down_ = true;
        inner_->disconnect();
    }

    std::unique_ptr<fabric::Endpoint> inner_;
    fabric::Fabric& clock_;
    fabric::Nanos delay_;
    fabric::TimerId timer_ = 0;
    bool torn_down_ = false;
};

}  // namespace

Expected<std::unique_ptr<fabric::Endpoint>, fabric::Errc> LaggingFabric::connect(
    const fabric::Address& destination, const fabric::Address& source, std::span<const std::byte> private_data,
    fabric::EndpointHandler& handler, fabric::QueueSizes queues) {
    auto endpoint = inner_.connect(destination, source, private_data, handler, queues);
    if (!endpoint || delay_ == 0) return endpoint;
    return std::unique_ptr<fabric::Endpoint>(std::make_unique<LaggingEndpoint>(std::move(endpoint.value()), inner_, delay_));
}

}  // namespace ibnbd::scenario
