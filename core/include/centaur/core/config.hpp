#pragma once
// Start-up configuration: every option has a flag, an env variable (upstream's names) and a default; flags
// override env. Bad configuration exits at start with one clear line naming the variable.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace centaur {

struct OptionSpec {
    std::string flag;           ///< long flag without dashes, e.g. "bind-addr"
    std::string env;            ///< env variable, e.g. "BIND_ADDR"; empty when flag-only
    std::string default_value;  ///< used when neither is given
    std::string help;
    bool boolean = false;       ///< a flag that takes no value (`--run-migrations`)
    bool secret = false;        ///< never printed
};

/// Parsed options. Construction only through `parse`; immutable afterwards.
class Config {
public:
    /// Parses argv (`--flag value`, `--flag=value`, `--bool-flag`) over the environment. nullopt with `error`
    /// on an unknown flag or a missing value. `--help` sets `help_requested()`.
    static std::optional<Config> parse(std::vector<OptionSpec> specs, int argc, char** argv, std::string* error);

    bool help_requested() const { return help_; }
    /// The value of `flag` (flag > env > default).
    const std::string& get(const std::string& flag) const;
    /// True when given by flag or env (not defaulted).
    bool provided(const std::string& flag) const;
    /// Typed reads; nullopt with `error` naming the variable on a malformed value.
    std::optional<bool> get_bool(const std::string& flag, std::string* error) const;
    std::optional<std::int64_t> get_int(const std::string& flag, std::int64_t min, std::int64_t max,
                                        std::string* error) const;
    /// A comma-separated value as its items, each trimmed of spaces; empty items are dropped.
    std::vector<std::string> get_list(const std::string& flag) const;
    /// Where a value came from, for error messages: "BIND_ADDR" or "--bind-addr".
    std::string source_name(const std::string& flag) const;
    /// The --help text: usage line, then every flag with its env variable and default.
    std::string help_text(const std::string& program, const std::string& summary) const;

private:
    std::vector<OptionSpec> specs_;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> sources_;
    bool help_ = false;
};

}  // namespace centaur
