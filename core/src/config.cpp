#include <centaur/core/config.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace centaur {

std::optional<Config> Config::parse(std::vector<OptionSpec> specs, int argc, char** argv, std::string* error) {
    Config c;
    c.specs_ = std::move(specs);
    auto find = [&](const std::string& flag) -> const OptionSpec* {
        for (const auto& s : c.specs_)
            if (s.flag == flag) return &s;
        return nullptr;
    };
    for (const auto& s : c.specs_) {
        if (!s.env.empty()) {
            if (const char* v = std::getenv(s.env.c_str())) {
                c.values_[s.flag] = v;
                c.sources_[s.flag] = s.env;
                continue;
            }
        }
        c.values_[s.flag] = s.default_value;
    }
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            c.help_ = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0) {
            if (error) *error = "unexpected argument '" + arg + "' (see --help)";
            return std::nullopt;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const OptionSpec* spec = find(name);
        if (!spec) {
            if (error) *error = "unknown flag --" + name + " (see --help)";
            return std::nullopt;
        }
        if (!value) {
            if (spec->boolean) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                if (error) *error = "--" + name + " needs a value";
                return std::nullopt;
            }
        }
        c.values_[name] = *value;
        c.sources_[name] = "--" + name;
    }
    return c;
}

const std::string& Config::get(const std::string& flag) const { return values_.at(flag); }

std::vector<std::string> Config::get_list(const std::string& flag) const {
    std::vector<std::string> items;
    const std::string_view value = get(flag);
    for (std::size_t start = 0; start <= value.size();) {
        const auto end = std::min(value.find(',', start), value.size());
        auto item = value.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) items.emplace_back(item);
        start = end + 1;
    }
    return items;
}

bool Config::provided(const std::string& flag) const { return sources_.count(flag) > 0; }

std::string Config::source_name(const std::string& flag) const {
    if (auto it = sources_.find(flag); it != sources_.end()) return it->second;
    for (const auto& s : specs_)
        if (s.flag == flag) return s.env.empty() ? "--" + flag : s.env;
    return flag;
}

std::optional<bool> Config::get_bool(const std::string& flag, std::string* error) const {
    const auto& v = get(flag);
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off" || v.empty()) return false;
    if (error) *error = source_name(flag) + " must be true or false, got '" + v + "'";
    return std::nullopt;
}

std::optional<std::int64_t> Config::get_int(const std::string& flag, std::int64_t min, std::int64_t max,
                                            std::string* error) const {
    const auto& v = get(flag);
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || out < min || out > max) {
        if (error)
            *error = source_name(flag) + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                     ", got '" + v + "'";
        return std::nullopt;
    }
    return out;
}

std::string Config::help_text(const std::string& program, const std::string& summary) const {
    std::ostringstream out;
    out << summary << "\n\nUsage: " << program << " [OPTIONS]\n\nOptions (flags override environment variables):\n";
    for (const auto& s : specs_) {
        out << "  --" << s.flag << (s.boolean ? "" : " <value>");
        if (!s.env.empty()) out << "  [env: " << s.env << "]";
        if (!s.default_value.empty()) out << "  [default: " << (s.secret ? "***" : s.default_value) << "]";
        out << "\n      " << s.help << "\n";
    }
    out << "  --help\n      Print this help\n";
    return out.str();
}

}  // namespace centaur
