// Errors as values for every layer of ibnbd.
//
// C++20 has no std::expected; this is the small subset we need. An Expected<T, E> holds either a
// value or an error; reading the wrong one is a programming error and asserts (assertions stay on
// in every build). Status<E> is Expected<void, E>: [[nodiscard]] so that a failed post or a failed
// decode cannot be ignored silently.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace ibnbd {

template <class E>
struct Unexpected {
    E error;
};

template <class E>
Unexpected<E> unexpected(E error) {
    return Unexpected<E>{error};
}

template <class T, class E>
class [[nodiscard]] Expected {
public:
    Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
    Expected(Unexpected<E> error) : storage_(std::in_place_index<1>, error.error) {}

    bool has_value() const { return storage_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(storage_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(storage_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(storage_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const E& error() const {
        assert(!has_value());
        return std::get<1>(storage_);
    }

private:
    std::variant<T, E> storage_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
public:
    Expected() = default;
    Expected(Unexpected<E> error) : ok_(false), error_(error.error) {}

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    void value() const { assert(ok_); }
    const E& error() const {
        assert(!ok_);
        return error_;
    }

private:
    bool ok_ = true;
    E error_{};
};

template <class E>
using Status = Expected<void, E>;

}  // namespace ibnbd
