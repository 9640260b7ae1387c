#pragma once
// Route table of the server: matches a raw request path against route templates. Beast-free, private to http/.

#include <centaur/http/types.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace centaur::http {

/// Immutable after construction; owned by the server and read from its io_context thread only.
/// Templates are split on '/'; a `{name}` segment matches one whole non-empty segment of the raw
/// (percent-encoded) path, decoded into PathParams; other segments match byte for byte. When several routes
/// match, the one whose first differing segment is literal wins (so `/a/b` beats `/a/{x}`).
class Router {
public:
    enum class Outcome { matched, not_found, method_not_allowed, bad_path };

    struct Match {
        Outcome outcome = Outcome::not_found;
        const Route* route = nullptr;  ///< set when matched, or the path's best route when method_not_allowed
        PathParams params;             ///< when matched
        std::string allow;             ///< when method_not_allowed: "GET, POST"
    };

    /// Aborts (CENTAUR_ASSERT) on a malformed template or a duplicate method + template: routes are code.
    explicit Router(std::vector<Route> routes);

    /// `path` is the raw path (no query string). bad_path: a `{name}` segment holds a malformed %-escape.
    Match match(std::string_view method, std::string_view path) const;

private:
    struct Segment {
        std::string text;  ///< literal text, or the parameter name
        bool param = false;
    };
    struct Entry {
        Route route;
        std::vector<Segment> segments;
    };

    static bool structurally_matches(const Entry& entry, const std::vector<std::string_view>& parts);
    static bool more_specific(const Entry& a, const Entry& b);

    std::vector<Entry> entries_;
};

/// Splits `path` on '/' (the leading empty segment included: "/a/b" -> "", "a", "b").
std::vector<std::string_view> split_path(std::string_view path);

/// Parses `a=1&b=x+y` into decoded pairs (last value wins; a key without '=' maps to ""). False on a malformed
/// %-escape.
bool parse_query(std::string_view query, std::map<std::string, std::string>& out);

}  // namespace centaur::http
