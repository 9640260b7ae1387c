#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace centaur::cli {

/// centaur-session-cli's command line, flag for flag as upstream's (see README.md).
struct Options {
    std::string api_url = "http://127.0.0.1:8080";  ///< no trailing '/'
    std::string api_token;                          ///< empty = send no Authorization header
    std::optional<std::string> thread_key;          ///< validated
    bool attach = false;                            ///< explicit --attach or the implicit attach rule
    std::string harness_type = "codex";
    std::optional<std::string> message;
    std::vector<std::string> input_lines;
    std::uint64_t idle_timeout_ms = 1000;
    std::uint64_t max_duration_ms = 60000;
    std::int64_t after_event_id = 0;
    bool all_events = false;
    bool exit_on_terminal = false;
    std::optional<std::string> exit_on_output_type;
    bool stdin_events = false;
    bool tui = false;
    bool debug = false;
    /// How long a dropped stream is retried (with Last-Event-ID) before the CLI gives up.
    std::uint64_t reconnect_timeout_ms = 30000;
};

struct ShowHelp {};
/// `--generate <bash|zsh|man>`: print a shell completion script or the man page (built from flag_table()).
struct Generate {
    std::string what;
};
using ParseResult = std::variant<Options, ShowHelp, Generate, std::string /* error */>;

/// One command-line flag as --help, the completions and the man page describe it.
struct FlagSpec {
    const char* name;           ///< "--api-url"
    const char* alias;          ///< "--stdin" or nullptr
    const char* value;          ///< value placeholder ("URL") or nullptr for a switch
    const char* env;            ///< environment variable or nullptr
    const char* default_value;  ///< shown as [default: …] or nullptr
    const char* help;
    const char* choices;        ///< space-separated values for completion, or nullptr
};

/// Every flag parse_options accepts, in --help order. The single source for help, completions and man page.
const std::vector<FlagSpec>& flag_table();

/// Parses argv (without argv[0]). `getenv` supplies CENTAUR_API_URL / CENTAUR_API_TOKEN defaults.
ParseResult parse_options(const std::vector<std::string>& args,
                          const std::function<std::optional<std::string>(const char*)>& getenv);

extern const char* const kDefaultPrompt;
std::string help_text();
std::string bash_completion();
std::string zsh_completion();
std::string man_page();

}  // namespace centaur::cli
