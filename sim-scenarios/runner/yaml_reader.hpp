// Strict reading of YAML mappings for scenario files: every key must be known, every value must
// parse, and every problem is reported as "FILE:LINE: KEY: what is wrong". yaml-cpp's exceptions
// stop here: nothing above this layer sees one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim-scenarios/runner/units.hpp"

namespace ibnbd::scenario {

// Collects errors of one file.
class ParseErrors {
public:
    explicit ParseErrors(std::string file) : file_(std::move(file)) {}
    // `line` is 1-based; 0 when unknown.
    void add(int line, std::string_view key, std::string_view message);
    void add(const YAML::Node& node, std::string_view key, std::string_view message);
    bool empty() const { return messages_.empty(); }
    const std::vector<std::string>& messages() const { return messages_; }
    const std::string& file() const { return file_; }

private:
    std::string file_;
    std::vector<std::string> messages_;
};

int line_of(const YAML::Node& node);

// One mapping. Getters leave `out` unchanged when the key is absent; on a bad value they report
// an error and return false. finish() (or the destructor) reports every key no getter asked for.
class MapReader {
public:
    // `path` names the mapping in messages ("topology.servers[0]"); a node that is not a mapping
    // is reported at once.
    MapReader(const YAML::Node& node, std::string path, ParseErrors& errors);
    ~MapReader();
    MapReader(const MapReader&) = delete;
    MapReader& operator=(const MapReader&) = delete;

    bool ok() const { return ok_; }
    bool has(std::string_view key) const;
    // The child node (marked as known); an undefined node when absent.
    YAML::Node child(std::string_view key);
    std::string key_path(std::string_view key) const;
    int line() const { return line_of(node_); }

    bool string(std::string_view key, std::string& out);
    bool boolean(std::string_view key, bool& out);
    bool u64(std::string_view key, std::uint64_t& out, std::uint64_t low = 0, std::uint64_t high = UINT64_MAX);
    bool u32(std::string_view key, std::uint32_t& out, std::uint32_t low = 0, std::uint32_t high = UINT32_MAX);
    bool i32(std::string_view key, std::int32_t& out, std::int32_t low, std::int32_t high);
    bool duration(std::string_view key, Nanos& out);
    bool size(std::string_view key, std::uint64_t& out);
    bool bandwidth(std::string_view key, std::uint64_t& out);
    bool percent(std::string_view key, double& out);
    // A scalar parsed by `parse`, which returns false for bad text; `expected` says what is valid.
    bool custom(std::string_view key, std::string_view expected, const std::function<bool(const std::string&)>& parse);
    // "[low, high]" (a two-element sequence) or a single value meaning [v, v].
    bool duration_range(std::string_view key, Nanos& low, Nanos& high);
    bool u32_range(std::string_view key, std::uint32_t& low, std::uint32_t& high, std::uint32_t min,
                   std::uint32_t max);
    bool u64_range(std::string_view key, std::uint64_t& low, std::uint64_t& high);
    bool percent_range(std::string_view key, double& low, double& high);

    void error(std::string_view key, std::string_view message);
    void finish();

private:
    std::optional<std::string> scalar(std::string_view key);
    bool range_items(std::string_view key, std::string& first, std::string& second);

    YAML::Node node_;
    std::string path_;
    ParseErrors& errors_;
    std::set<std::string, std::less<>> used_;
    bool ok_ = true;
    bool finished_ = false;
};

// Calls `each(item, path)` for every element of a sequence; reports a non-sequence.
void for_each_item(const YAML::Node& node, const std::string& path, ParseErrors& errors,
                   const std::function<void(const YAML::Node&, const std::string&)>& each);

// Reports every key that appears twice in one mapping, anywhere under `node` ("FILE:LINE: KEY:
// duplicated key (first at line N)"). `path` names `node` ("" for the document).
void check_duplicate_keys(const YAML::Node& node, const std::string& path, ParseErrors& errors);

}  // namespace ibnbd::scenario
