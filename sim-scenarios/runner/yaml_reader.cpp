#include "sim-scenarios/runner/yaml_reader.hpp"

#include <charconv>
#include <map>
#include <fmt/core.h>

namespace ibnbd::scenario {

void ParseErrors::add(int line, std::string_view key, std::string_view message) {
    messages_.push_back(line > 0 ? fmt::format("{}:{}: {}: {}", file_, line, key, message)
                                 : fmt::format("{}: {}: {}", file_, key, message));
}

void ParseErrors::add(const YAML::Node& node, std::string_view key, std::string_view message) {
    add(line_of(node), key, message);
}

int line_of(const YAML::Node& node) {
    if (!node.IsDefined()) return 0;
    const YAML::Mark mark = node.Mark();
    return mark.line < 0 ? 0 : mark.line + 1;
}

MapReader::MapReader(const YAML::Node& node, std::string path, ParseErrors& errors)
    : node_(node), path_(std::move(path)), errors_(errors) {
    if (!node_.IsMap()) {
        errors_.add(node_, path_.empty() ? "(top level)" : path_, "expected a mapping of keys to values");
        ok_ = false;
    }
}

MapReader::~MapReader() {
    if (!finished_) finish();
}

std::string MapReader::key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

bool MapReader::has(std::string_view key) const {
    if (!ok_) return false;
    for (const auto& item : node_) {
        if (item.first.IsScalar() && item.first.Scalar() == key) return true;
    }
    return false;
}

YAML::Node MapReader::child(std::string_view key) {
    used_.emplace(key);
    if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
    for (const auto& item : node_) {
        if (item.first.IsScalar() && item.first.Scalar() == key) return item.second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

void MapReader::error(std::string_view key, std::string_view message) {
    const YAML::Node value = child(key);
    errors_.add(value.IsDefined() ? line_of(value) : line_of(node_), key_path(key), message);
}

std::optional<std::string> MapReader::scalar(std::string_view key) {
    const YAML::Node value = child(key);
    if (!value.IsDefined()) return std::nullopt;
    if (!value.IsScalar()) {
        error(key, "expected a single value");
        return std::nullopt;
    }
    return value.Scalar();
}

bool MapReader::custom(std::string_view key, std::string_view expected,
                       const std::function<bool(const std::string&)>& parse) {
    const YAML::Node value = child(key);
    if (!value.IsDefined()) return true;
    const auto text = scalar(key);
    if (!text) return false;
    if (parse(*text)) return true;
    error(key, fmt::format("'{}' is not {}", *text, expected));
    return false;
}

bool MapReader::string(std::string_view key, std::string& out) {
    return custom(key, "a string", [&](const std::string& text) {
        out = text;
        return true;
    });
}

bool MapReader::boolean(std::string_view key, bool& out) {
    return custom(key, "true or false", [&](const std::string& text) {
        if (text == "true" || text == "yes" || text == "on") out = true;
        else if (text == "false" || text == "no" || text == "off") out = false;
        else return false;
        return true;
    });
}

namespace {

template <class T>
bool parse_integer(const std::string& text, T& out) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

}  // namespace

bool MapReader::u64(std::string_view key, std::uint64_t& out, std::uint64_t low, std::uint64_t high) {
    return custom(key, fmt::format("an integer in [{}, {}]", low, high), [&](const std::string& text) {
        std::uint64_t value = 0;
        if (!parse_integer(text, value) || value < low || value > high) return false;
        out = value;
        return true;
    });
}

bool MapReader::u32(std::string_view key, std::uint32_t& out, std::uint32_t low, std::uint32_t high) {
    std::uint64_t value = out;
    if (!u64(key, value, low, high)) return false;
    out = static_cast<std::uint32_t>(value);
    return true;
}

bool MapReader::i32(std::string_view key, std::int32_t& out, std::int32_t low, std::int32_t high) {
    return custom(key, fmt::format("an integer in [{}, {}]", low, high), [&](const std::string& text) {
        std::int32_t value = 0;
        if (!parse_integer(text, value) || value < low || value > high) return false;
        out = value;
        return true;
    });
}

bool MapReader::duration(std::string_view key, Nanos& out) {
    return custom(key, "a duration (e.g. 250us, 20ms, 1.5s)", [&](const std::string& text) {
        const auto value = parse_duration(text);
        if (value) out = *value;
        return value.has_value();
    });
}

bool MapReader::size(std::string_view key, std::uint64_t& out) {
    return custom(key, "a size (e.g. 4096, 4KiB, 64MiB)", [&](const std::string& text) {
        const auto value = parse_size(text);
        if (value) out = *value;
        return value.has_value();
    });
}

bool MapReader::bandwidth(std::string_view key, std::uint64_t& out) {
    const auto parse = [&](const std::string& text) {
        const auto value = parse_bandwidth(text);
        if (value) out = *value;
        return value.has_value();
    };
    return custom(key, "a bandwidth of at least 1 B/s (e.g. 10Gbit, 1.25GB/s), or inf for no limit", parse);
}

bool MapReader::percent(std::string_view key, double& out) {
    return custom(key, "a percentage in [0, 100]", [&](const std::string& text) {
        const auto value = parse_percent(text);
        if (value) out = *value;
        return value.has_value();
    });
}

bool MapReader::range_items(std::string_view key, std::string& first, std::string& second) {
    const YAML::Node value = child(key);
    if (value.IsScalar()) {
        first = second = value.Scalar();
        return true;
    }
    if (!value.IsSequence() || value.size() != 2 || !value[0].IsScalar() || !value[1].IsScalar()) {
        error(key, "expected [low, high] or a single value");
        return false;
    }
    first = value[0].Scalar();
    second = value[1].Scalar();
    return true;
}

bool MapReader::duration_range(std::string_view key, Nanos& low, Nanos& high) {
    if (!child(key).IsDefined()) return true;
    std::string a, b;
    if (!range_items(key, a, b)) return false;
    const auto x = parse_duration(a), y = parse_duration(b);
    if (!x || !y || *x > *y) {
        error(key, fmt::format("[{}, {}] is not a range of durations (low <= high)", a, b));
        return false;
    }
    low = *x;
    high = *y;
    return true;
}

bool MapReader::u32_range(std::string_view key, std::uint32_t& low, std::uint32_t& high, std::uint32_t min,
                          std::uint32_t max) {
    if (!child(key).IsDefined()) return true;
    std::string a, b;
    if (!range_items(key, a, b)) return false;
    std::uint32_t x = 0, y = 0;
    if (!parse_integer(a, x) || !parse_integer(b, y) || x > y || x < min || y > max) {
        error(key, fmt::format("[{}, {}] is not a range of integers within [{}, {}]", a, b, min, max));
        return false;
    }
    low = x;
    high = y;
    return true;
}

bool MapReader::u64_range(std::string_view key, std::uint64_t& low, std::uint64_t& high) {
    if (!child(key).IsDefined()) return true;
    std::string a, b;
    if (!range_items(key, a, b)) return false;
    std::uint64_t x = 0, y = 0;
    if (!parse_integer(a, x) || !parse_integer(b, y) || x > y) {
        error(key, fmt::format("[{}, {}] is not a range of integers (low <= high)", a, b));
        return false;
    }
    low = x;
    high = y;
    return true;
}

bool MapReader::percent_range(std::string_view key, double& low, double& high) {
    if (!child(key).IsDefined()) return true;
    std::string a, b;
    if (!range_items(key, a, b)) return false;
    const auto x = parse_percent(a), y = parse_percent(b);
    if (!x || !y || *x > *y) {
        error(key, fmt::format("[{}, {}] is not a range of percentages (low <= high)", a, b));
        return false;
    }
    low = *x;
    high = *y;
    return true;
}

void MapReader::finish() {
    finished_ = true;
    if (!ok_) return;
    for (const auto& item : node_) {
        const std::string key = item.first.IsScalar() ? item.first.Scalar() : std::string("?");
        if (used_.find(key) == used_.end()) {
            errors_.add(item.first, key_path(key), "unknown key");
        }
    }
}

void for_each_item(const YAML::Node& node, const std::string& path, ParseErrors& errors,
                   const std::function<void(const YAML::Node&, const std::string&)>& each) {
    if (!node.IsDefined()) return;
    if (!node.IsSequence()) {
        errors.add(node, path, "expected a list");
        return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) each(node[i], fmt::format("{}[{}]", path, i));
}

namespace {

std::string child_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

}  // namespace

// yaml-cpp keeps both entries of a duplicated key and lookups find the first, so the second would
// be dropped without a word; every mapping of the document is checked here instead.
void check_duplicate_keys(const YAML::Node& node, const std::string& path, ParseErrors& errors) {
    if (node.IsSequence()) {
        for (std::size_t i = 0; i < node.size(); ++i) check_duplicate_keys(node[i], fmt::format("{}[{}]", path, i), errors);
        return;
    }
    if (!node.IsMap()) return;
    std::map<std::string, int, std::less<>> first_line;
    for (const auto& item : node) {
        if (!item.first.IsScalar()) continue;
        const std::string& key = item.first.Scalar();
        const auto [seen, inserted] = first_line.emplace(key, line_of(item.first));
        if (!inserted) {
            errors.add(item.first, child_path(path, key), fmt::format("duplicated key (first at line {})", seen->second));
        }
        check_duplicate_keys(item.second, child_path(path, key), errors);
    }
}

}  // namespace ibnbd::scenario
