// The NBD export of mapped devices: a non-blocking NBD server
// on a unix socket (and optionally TCP on loopback), driven by a reactor like everything else.
// Standard clients (nbdinfo, nbdcopy, qemu-img, nbdfuse, the kernel's nbd-client) use it unmodified.
//
// MULTI-CONN  advertised: every connection of an export reaches the same device, and FLUSH reaches
//             the server's backing store, so a flush on one connection covers writes completed on
//             any other (what NBD_FLAG_CAN_MULTI_CONN promises).
// SOCKET PATH listen_unix() replaces only a stale socket at its path; a file, a directory or a
//             socket another process serves is refused (unix_listener.hpp).
// ERRORS      listen_unix(): those of listen_unix_socket(); listen_tcp(): -errno of socket/bind/listen;
//             remove_export(): -ENOENT, -EBUSY (connections use it and force is false).
#pragma once

#include <functional>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ibnbd/export_target.hpp"
#include "ibnbd/nbd/nbd_connection.hpp"
#include "ibnbd/runtime/reactor.hpp"

namespace ibnbd::nbd {

class NbdServer : public runtime::Pollable {
public:
    static Expected<std::unique_ptr<NbdServer>, int> listen_unix(const std::string& path);
    static Expected<std::unique_ptr<NbdServer>, int> listen_tcp(const std::string& host, std::uint16_t port);
    // A server without a socket of its own, for connections another server accepted and handed
    // over (adopt()): it serves them on its own reactor.
    static std::unique_ptr<NbdServer> host(std::string name);
    ~NbdServer() override;

    // Every accepted connection is first offered to `hand_off`, which returns true when it took
    // the descriptor (e.g. to adopt() it on another reactor's host).
    void spread(std::function<bool(int fd)> hand_off) { hand_off_ = std::move(hand_off); }
    // Serves an accepted, non-blocking connection from its first byte (the handshake).
    void adopt(int fd);

    void add_export(const std::string& name, block::ExportTarget& target);
    Status<int> remove_export(const std::string& name, bool force);
    block::ExportTarget* find_export(const std::string& name) const;
    std::vector<std::string> export_names() const;

    std::size_t poll(std::size_t budget) override;
    int wait_fd() const override { return epoll_fd_; }

    std::size_t connections() const { return connections_.size(); }
    std::size_t connections_of(const std::string& name) const;
    const std::string& address() const { return address_; }
    std::uint16_t port() const { return port_; }

private:
    NbdServer(int listen_fd, std::string address, std::uint16_t port);
    std::size_t accept_connections();
    void watch(const NbdConnection& connection, bool add);

    int listen_fd_;
    int epoll_fd_;
    std::string address_;
    std::uint16_t port_ = 0;
    bool unlink_on_close_ = false;
    std::map<std::string, block::ExportTarget*> exports_;
    std::vector<std::unique_ptr<NbdConnection>> connections_;
    std::function<bool(int)> hand_off_;
};

}  // namespace ibnbd::nbd
