#include "router.hpp"

#include <centaur/core/result.hpp>

#include <algorithm>
#include <set>
#include <utility>

namespace centaur::http {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const auto slash = path.find('/', start);
        if (slash == std::string_view::npos) {
            parts.push_back(path.substr(start));
            return parts;
        }
        parts.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
}

bool parse_query(std::string_view query, std::map<std::string, std::string>& out) {
    std::size_t start = 0;
    while (start <= query.size()) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        const auto pair = query.substr(start, amp - start);
        start = amp + 1;
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        std::string key;
        std::string value;
        if (!percent_decode(pair.substr(0, eq), key, true)) return false;
        if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true)) return false;
        out[std::move(key)] = std::move(value);
    }
    return true;
}

Router::Router(std::vector<Route> routes) {
    std::set<std::pair<std::string, std::string>> seen;
    for (auto& route : routes) {
        CENTAUR_ASSERT(!route.path_template.empty() && route.path_template.front() == '/',
                       "route template must start with '/'");
        CENTAUR_ASSERT(static_cast<bool>(route.handler), "route needs a handler");
        CENTAUR_ASSERT(seen.emplace(route.method, route.path_template).second, "duplicate route");
        Entry entry;
        for (auto part : split_path(route.path_template)) {
            const bool param = part.size() >= 2 && part.front() == '{' && part.back() == '}';
            if (param) part = part.substr(1, part.size() - 2);
            CENTAUR_ASSERT(part.find_first_of("{}") == std::string_view::npos,
                           "a {name} must be a whole path segment");
            CENTAUR_ASSERT(!param || !part.empty(), "empty parameter name in route template");
            entry.segments.push_back(Segment{std::string(part), param});
        }
        entry.route = std::move(route);
        entries_.push_back(std::move(entry));
    }
}

bool Router::structurally_matches(const Entry& entry, const std::vector<std::string_view>& parts) {
    if (entry.segments.size() != parts.size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& seg = entry.segments[i];
        if (seg.param ? parts[i].empty() : parts[i] != seg.text) return false;
    }
    return true;
}

bool Router::more_specific(const Entry& a, const Entry& b) {
    for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
        if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
    }
    return false;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
    Match result;
    const auto parts = split_path(path);
    const Entry* best = nullptr;
    const Entry* best_any_method = nullptr;
    std::vector<std::string_view> methods;  // of every route whose template matches the path
    for (const auto& entry : entries_) {
        if (!structurally_matches(entry, parts)) continue;
        if (!best_any_method || more_specific(entry, *best_any_method)) best_any_method = &entry;
        if (std::find(methods.begin(), methods.end(), entry.route.method) == methods.end())
            methods.push_back(entry.route.method);
        if (entry.route.method == method) {
            if (!best || more_specific(entry, *best)) best = &entry;
        }
    }
    if (!best) {
        if (!best_any_method) return result;
        for (auto m : methods) {
            if (!result.allow.empty()) result.allow += ", ";
            result.allow += m;
        }
        result.outcome = Outcome::method_not_allowed;
        result.route = &best_any_method->route;
        return result;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& seg = best->segments[i];
        if (!seg.param) continue;
        std::string decoded;
        if (!percent_decode(parts[i], decoded, false)) {
            result.outcome = Outcome::bad_path;
            result.params.clear();
            return result;
        }
        result.params[seg.text] = std::move(decoded);
    }
    result.outcome = Outcome::matched;
    result.route = &best->route;
    return result;
}

}  // namespace centaur::http
