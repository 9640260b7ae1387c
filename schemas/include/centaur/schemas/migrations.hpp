#pragma once
// The versioned SQL migrations of schemas/sql/, compiled in. Applied in order by pg/'s migration runner.

#include <span>
#include <string_view>

namespace centaur {

struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

/// Every migration, ordered by version.
std::span<const Migration> migrations();

}  // namespace centaur
