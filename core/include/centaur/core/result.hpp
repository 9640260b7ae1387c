#pragma once
// One error policy: expected failures are values (`result<T>` carrying an `errc`), broken invariants abort.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstdio>
#include <cstdlib>
#include <type_traits>

namespace centaur {

/// Expected failures across every port. Registered as a boost::system error category ("centaur").
enum class errc {
    ok = 0,
    log_unavailable,        ///< the event log cannot be reached or refused the append
    store_unavailable,      ///< Postgres cannot be reached or a query failed
    not_found,              ///< the thing asked for does not exist
    conflict,               ///< state forbids the request (harness conflict, …)
    invalid_argument,       ///< the caller's input is malformed
    timed_out,              ///< a bounded wait ran out
    sandbox_failed,         ///< a sandbox could not be created or operated
    sandbox_eof,            ///< the sandbox closed its stdout
    sandbox_gone,           ///< the sandbox no longer exists
    shutting_down,          ///< the component is stopping
};

const boost::system::error_category& centaur_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), centaur_category()};
}

template <typename T>
using result = boost::system::result<T>;

[[noreturn]] void assertion_failed(const char* cond, const char* why, const char* file, int line) noexcept;

}  // namespace centaur

template <>
struct boost::system::is_error_code_enum<centaur::errc> : std::true_type {};

/// Broken invariant: abort with a message, in every build type.
#define CENTAUR_ASSERT(cond, why) \
    ((cond) ? static_cast<void>(0) : ::centaur::assertion_failed(#cond, why, __FILE__, __LINE__))
