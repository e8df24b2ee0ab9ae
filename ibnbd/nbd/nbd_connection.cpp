#include "ibnbd/nbd/nbd_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "ibnbd/nbd/nbd_protocol.hpp"
#include "ibnbd/nbd/nbd_server.hpp"

namespace ibnbd::nbd {

namespace {
constexpr std::size_t kOptionHeader = 16;
constexpr std::size_t kRequestHeader = 28;
constexpr std::uint32_t kMaxOption = 64 * 1024;
}  // namespace

std::uint32_t to_nbd_error(int status) {
    switch (-status) {
        case 0: return 0;
        case EPERM:
        case EROFS: return kEperm;
        case ENOMEM: return kEnomem;
        case EINVAL: return kEinval;
        case ENOSPC: return kEnospc;
        case EOVERFLOW: return kEoverflow;
        case EOPNOTSUPP: return kEnotsup;
        case ESHUTDOWN: return kEshutdown;
        default: return kEio;
    }
}

NbdConnection::NbdConnection(NbdServer& server, int fd) : server_(server), fd_(fd), requests_(kMaxInflight) {
    std::array<std::byte, 18> greeting{};
    store_be64(greeting.data(), kNbdMagic);
    store_be64(greeting.data() + 8, kOptsMagic);
    store_be16(greeting.data() + 16, kFlagFixedNewstyle | kFlagNoZeroes);
    append(greeting);
    in_.reserve(64 * 1024);
}

NbdConnection::~NbdConnection() {
    if (target_ != nullptr) target_->detach();
    ::close(fd_);
}

void NbdConnection::close() {
    if (closed_) return;
    closed_ = true;
    ::shutdown(fd_, SHUT_RDWR);
}

std::size_t NbdConnection::progress() {
    if (closed_) return 0;
    std::size_t work = retry_stalled();
    work += read_input();
    work += parse();
    work += flush_output();
    if (disconnecting_ && inflight_ == 0 && !wants_output()) close();
    return work;
}

std::size_t NbdConnection::read_input() {
    if (in_pos_ > 0) {  // drop what has been parsed
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
        in_pos_ = 0;
    }
    std::size_t total = 0;
    std::array<std::byte, 64 * 1024> chunk;
    for (;;) {
        const ssize_t got = ::recv(fd_, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (got > 0) {
            in_.insert(in_.end(), chunk.begin(), chunk.begin() + got);
            total += static_cast<std::size_t>(got);
            if (in_.size() - in_pos_ > 2 * std::size_t{kMaxRequest}) break;  // enough buffered
            continue;
        }
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            disconnecting_ = true;  // peer went away: finish what is in flight, then close
            if (inflight_ == 0) close();
        }
        break;
    }
    return total;
}

std::size_t NbdConnection::parse() {
    std::size_t handled = 0;
    while (!closed_) {
        const std::size_t available = in_.size() - in_pos_;
        if (phase_ == Phase::client_flags) {
            if (available < 4) break;
            const std::uint32_t flags = load_be32(in_.data() + in_pos_);
            in_pos_ += 4;
            if (!(flags & kClientFixedNewstyle)) log().warn("nbd: client without fixed newstyle");
            no_zeroes_ = (flags & kClientNoZeroes) != 0;
            phase_ = Phase::options;
        } else if (phase_ == Phase::options) {
            if (!parse_option()) break;
        } else if (!parse_request()) {
            break;
        }
        ++handled;
    }
    return handled;
}

bool NbdConnection::parse_option() {
    const std::size_t available = in_.size() - in_pos_;
    if (available < kOptionHeader) return false;
    const std::byte* header = in_.data() + in_pos_;
    const std::uint32_t option = load_be32(header + 8);
    const std::uint32_t length = load_be32(header + 12);
    if (load_be64(header) != kOptsMagic || length > kMaxOption) {
        close();
        return false;
    }
    if (available < kOptionHeader + length) return false;
    const std::span<const std::byte> data(header + kOptionHeader, length);
    in_pos_ += kOptionHeader + length;
    handle_option(option, data);
    return true;
}

void NbdConnection::option_reply(std::uint32_t option, std::uint32_t type, std::span<const std::byte> data) {
    std::array<std::byte, 20> header{};
    store_be64(header.data(), kReplyMagic);
    store_be32(header.data() + 8, option);
    store_be32(header.data() + 12, type);
    store_be32(header.data() + 16, static_cast<std::uint32_t>(data.size()));
    append(header);
    append(data);
}

void NbdConnection::handle_option(std::uint32_t option, std::span<const std::byte> data) {
    switch (option) {
        case opt_export_name: {
            export_name_.assign(reinterpret_cast<const char*>(data.data()), data.size());
            target_ = server_.find_export(export_name_);
            if (target_ == nullptr) return close();  // no way to say no here: the protocol closes
            target_->attach();
            info_ = target_->info();
            std::array<std::byte, 10 + 124> reply{};
            store_be64(reply.data(), info_.size);
            store_be16(reply.data() + 8, transmission_flags());
            append({reply.data(), no_zeroes_ ? 10u : reply.size()});
            return enter_transmission();
        }
        case opt_go:
        case opt_info: return handle_go(option, data);
        case opt_list:
            for (const std::string& name : server_.export_names()) {
                std::vector<std::byte> entry(4 + name.size());
                store_be32(entry.data(), static_cast<std::uint32_t>(name.size()));
                std::memcpy(entry.data() + 4, name.data(), name.size());
                option_reply(option, rep_server, entry);
            }
            return option_reply(option, rep_ack);
        case opt_abort:
            option_reply(option, rep_ack);
            flush_output();
            return close();
        default: return option_reply(option, rep_err_unsup);
    }
}

void NbdConnection::handle_go(std::uint32_t option, std::span<const std::byte> data) {
    if (data.size() < 6) return option_reply(option, rep_err_invalid);
    const std::uint32_t name_length = load_be32(data.data());
    if (data.size() < 4 + std::size_t{name_length} + 2) return option_reply(option, rep_err_invalid);
    const std::string name(reinterpret_cast<const char*>(data.data() + 4), name_length);
    const std::uint16_t requests = load_be16(data.data() + 4 + name_length);
    if (data.size() != 4 + std::size_t{name_length} + 2 + 2 * std::size_t{requests}) {
        return option_reply(option, rep_err_invalid);
    }
    block::ExportTarget* target = server_.find_export(name);
    if (target == nullptr) return option_reply(option, rep_err_unknown);
    const block::ExportInfo info = target->info();
    std::array<std::byte, 12> export_info{};
    store_be16(export_info.data(), info_export);
    store_be64(export_info.data() + 2, info.size);
    info_ = info;
    store_be16(export_info.data() + 10, transmission_flags());
    option_reply(option, rep_info, export_info);
    std::array<std::byte, 14> block_info{};
    store_be16(block_info.data(), info_block_size);
    store_be32(block_info.data() + 2, info.block_size);
    store_be32(block_info.data() + 6, std::max<std::uint32_t>(info.block_size, 4096));
    store_be32(block_info.data() + 10, kMaxRequest);
    option_reply(option, rep_info, block_info);
    option_reply(option, rep_ack);
    if (option == opt_go) {
        export_name_ = name;
        target_ = target;
        target_->attach();
        enter_transmission();
    }
}

void NbdConnection::enter_transmission() {
    phase_ = Phase::transmission;
    log().debug("nbd: connection on export '{}' in transmission", export_name_);
}

std::uint16_t NbdConnection::transmission_flags() const {
    std::uint16_t flags = kHasFlags | kCanMultiConn | kSendFlush | kSendFua;
    if (info_.read_only) flags |= kReadOnly;
    if (info_.max_trim != 0) flags |= kSendTrim;
    if (info_.max_zeroes != 0) flags |= kSendWriteZeroes;
    return flags;
}

// ---- transmission -------------------------------------------------------------------------------

bool NbdConnection::parse_request() {
    const std::size_t available = in_.size() - in_pos_;
    if (available < kRequestHeader || disconnecting_) return false;
    const std::byte* header = in_.data() + in_pos_;
    if (load_be32(header) != kRequestMagic) {
        log().warn("nbd: bad request magic on export '{}', closing", export_name_);
        close();
        return false;
    }
    const std::uint16_t flags = load_be16(header + 4);
    const std::uint16_t type = load_be16(header + 6);
    const std::uint32_t length = load_be32(header + 24);
    if (type == cmd_write && length > kMaxRequest) {
        close();
        return false;
    }
    const std::size_t payload = type == cmd_write ? length : 0;
    if (available < kRequestHeader + payload) return false;
    const auto free_slot = std::find_if(requests_.begin(), requests_.end(), [](const Request& r) { return !r.used; });
    if (free_slot == requests_.end()) return false;  // back-pressure until a request completes
    Request& request = *free_slot;
    request.used = true;
    request.handle = load_be64(header + 8);
    request.type = type;
    request.length = length;
    request.status = 0;
    const std::uint64_t offset = load_be64(header + 16);
    if (type == cmd_write) request.data.assign(header + kRequestHeader, header + kRequestHeader + length);
    in_pos_ += kRequestHeader + payload;
    ++inflight_;
    submit(static_cast<std::size_t>(free_slot - requests_.begin()), flags, offset);
    return true;
}

int NbdConnection::check_range(std::uint64_t offset, std::uint32_t length) const {
    if (offset > info_.size || length > info_.size - offset) return -EINVAL;
    if (offset % info_.block_size != 0 || length % info_.block_size != 0) return -EINVAL;
    return 0;
}

void NbdConnection::submit(std::size_t slot, std::uint16_t flags, std::uint64_t offset) {
    Request& request = requests_[slot];
    request.next_part = request.total_parts = 0;
    const auto fail = [&](int status) {
        request.status = status;
        request.parts = 0;
        finish_request(slot);
    };
    switch (request.type) {
        case cmd_disc:
            disconnecting_ = true;
            request.used = false;  // DISC has no reply
            --inflight_;
            return;
        case cmd_cache: return fail(0);
        case cmd_flush:
            request.parts = 1;
            if (auto started = target_->flush(*this, slot); !started) fail(started.error());  // -EAGAIN too: rare
            return;
        case cmd_read:
        case cmd_write:
        case cmd_trim:
        case cmd_write_zeroes: break;
        default: return fail(-EINVAL);
    }
    if (request.type != cmd_read && info_.read_only) return fail(-EPERM);
    if (request.length > kMaxRequest && request.type == cmd_read) return fail(-EOVERFLOW);
    if (const int error = check_range(offset, request.length); error != 0) return fail(error);
    if (request.length == 0) return fail(0);  // nothing to move: the target never sees an empty request
    const std::uint32_t limit = request.type == cmd_trim          ? info_.max_trim
                                : request.type == cmd_write_zeroes ? info_.max_zeroes
                                                                   : info_.max_io;
    if (limit == 0) return fail(-EOPNOTSUPP);
    if (request.type == cmd_read) request.data.resize(request.length);
    request.part_size = limit;
    request.total_parts = std::max<std::uint32_t>(1, (request.length + limit - 1) / limit);
    request.parts = request.total_parts;
    request.next_part = 0;
    request.flags = flags;
    request.offset = offset;
    start_parts(slot);
}

void NbdConnection::start_parts(std::size_t slot) {
    Request& request = requests_[slot];
    while (request.next_part < request.total_parts) {
        const std::uint32_t start = request.next_part * request.part_size;
        const std::uint32_t size = std::min(request.part_size, request.length - start);
        const std::uint64_t at = request.offset + start;
        Status<int> started;
        switch (request.type) {
            case cmd_read: started = target_->read(at, {request.data.data() + start, size}, *this, slot); break;
            case cmd_write:
                started = target_->write(at, {request.data.data() + start, size}, request.flags & kCmdFlagFua,
                                         *this, slot);
                break;
            case cmd_trim: started = target_->trim(at, size, *this, slot); break;
            default: started = target_->write_zeroes(at, size, request.flags & kCmdFlagNoHole, *this, slot); break;
        }
        if (!started && started.error() == -EAGAIN) return;  // retried from progress()
        ++request.next_part;
        if (!started) {
            if (request.status == 0) request.status = started.error();
            // The parts after a failed one are not started: the reply carries the error.
            request.parts -= request.total_parts - request.next_part + 1;
            request.next_part = request.total_parts;
            if (request.parts == 0) finish_request(slot);
            return;
        }
    }
}

std::size_t NbdConnection::retry_stalled() {
    std::size_t retried = 0;
    for (std::size_t slot = 0; slot < requests_.size(); ++slot) {
        Request& request = requests_[slot];
        if (!request.used || request.next_part >= request.total_parts || request.parts == 0) continue;
        const std::uint32_t before = request.next_part;
        start_parts(slot);
        retried += request.next_part != before;
    }
    return retried;
}

void NbdConnection::on_block_io_complete(std::uint64_t cookie, int status) {
    Request& request = requests_[cookie];
    if (status != 0 && request.status == 0) request.status = status;
    if (--request.parts == 0) finish_request(cookie);
}

void NbdConnection::finish_request(std::size_t slot) {
    Request& request = requests_[slot];
    std::array<std::byte, 16> reply{};
    store_be32(reply.data(), kSimpleReplyMagic);
    store_be32(reply.data() + 4, to_nbd_error(request.status));
    store_be64(reply.data() + 8, request.handle);
    if (!closed_) {
        append(reply);
        if (request.type == cmd_read && request.status == 0) append(request.data);
    }
    request.used = false;
    --inflight_;
    if (!closed_) flush_output();
}

void NbdConnection::append(std::span<const std::byte> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

std::size_t NbdConnection::flush_output() {
    std::size_t sent_total = 0;
    while (out_pos_ < out_.size() && !closed_) {
        const ssize_t sent = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            out_pos_ += static_cast<std::size_t>(sent);
            sent_total += static_cast<std::size_t>(sent);
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        close();  // the peer is gone
        break;
    }
    if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
    }
    return sent_total;
}

}  // namespace ibnbd::nbd
