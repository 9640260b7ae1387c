#pragma once
// Postgres array literals (`{1,2,3}`) for `$n::int[]` / `$n::bigint[]` parameters: libpqxx 6.4 has no
// conversion from a container to an array parameter. Header-only, no state: callable from any thread.

#include <concepts>
#include <ranges>
#include <string>

namespace centaur::pg {

/// `values` in iteration order as a Postgres array literal: `{}` when empty, else `{v1,v2,...}`. Integers
/// need no quoting, so the text is what `array[v1,v2,...]::bigint[]::text` would print.
template <std::ranges::input_range Range>
    requires std::integral<std::ranges::range_value_t<Range>> &&
             (!std::same_as<std::ranges::range_value_t<Range>, bool>)
std::string int_array_literal(Range&& values) {
    std::string out = "{";
    for (const auto value : values) {
        if (out.size() > 1) out += ',';
        out += std::to_string(value);
    }
    out += '}';
    return out;
}

}  // namespace centaur::pg
