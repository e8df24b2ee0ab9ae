// The targets ibnbd-bench drives, parsed from URIs:
//   ibnbd://SESSION/DEVICE?path=[SRC@]DST[:PORT][&path=...]   native IBNBD client in-process
//   nbd://HOST[:PORT]/EXPORT                                    any NBD server, through libnbd
//   nbd+unix:///EXPORT?socket=PATH                              the same over a unix socket
//   /dev/NAME (any absolute path)                               a block device (/dev/ublkbN,
//                                                               /dev/nbdN, ...) or file, O_DIRECT
// Errors are sentences naming the part that is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fabric/expected.hpp"

namespace ibnbd::bench {

struct IbnbdPath {
    std::string source_host;       // empty: any
    std::string destination_host;
    std::uint16_t port = 1234;
};

struct IbnbdTarget {
    std::string session;
    std::string device;
    std::vector<IbnbdPath> paths;
};

struct NbdTarget {
    std::string uri;               // handed to libnbd as given
    bool unix_socket = false;
    std::string host;              // tcp
    std::uint16_t port = 10809;
    std::string socket;            // unix
    std::string export_name;
};

struct BlockTarget {
    std::string path;
};

using Target = std::variant<IbnbdTarget, NbdTarget, BlockTarget>;

Expected<Target, std::string> parse_target(std::string_view uri);
Expected<IbnbdPath, std::string> parse_ibnbd_path(std::string_view text);

}  // namespace ibnbd::bench
