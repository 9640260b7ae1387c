#include "options.hpp"

#include <centaur/schemas/thread_key.hpp>

#include <array>
#include <charconv>
#include <string_view>

namespace centaur::cli {

const char* const kDefaultPrompt = "Reply with exactly PONG and nothing else.";

namespace {

constexpr std::array kHarnessTypes{"codex", "amp", "claudecode", "nanocodex", "hermes", "pi", "omp"};

template <class Int>
bool parse_int(std::string_view text, Int& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

}  // namespace

const std::vector<FlagSpec>& flag_table() {
    static const std::vector<FlagSpec> table{
        {"--api-url", nullptr, "URL", "CENTAUR_API_URL", "http://127.0.0.1:8080", "API base URL (http:// or https://; https verifies against the system CA store)", nullptr},
        {"--api-token", nullptr, "TOKEN", "CENTAUR_API_TOKEN", nullptr,
         "bearer token; optional when the server runs open", nullptr},
        {"--thread-key", nullptr, "KEY", nullptr, nullptr,
         "thread to use; a new cli:<uuid> is generated and printed as thread_key=... on stderr when absent", nullptr},
        {"--attach", nullptr, nullptr, nullptr, nullptr,
         "only stream the thread (needs --thread-key; refuses --message and --input-line)", nullptr},
        {"--harness-type", nullptr, "TYPE", nullptr, "codex", "harness of a new session",
         "codex amp claudecode nanocodex hermes pi omp"},
        {"--message", nullptr, "TEXT", nullptr, "Reply with exactly PONG and nothing else.", "user message of the turn",
         nullptr},
        {"--input-line", nullptr, "LINE", nullptr, nullptr,
         "raw sandbox stdin line for the execution (repeatable; replaces the message line)", nullptr},
        {"--idle-timeout-ms", nullptr, "MS", nullptr, "1000", "execution idle timeout", nullptr},
        {"--max-duration-ms", nullptr, "MS", nullptr, "60000", "execution maximum duration", nullptr},
        {"--after-event-id", nullptr, "ID", nullptr, "0",
         "stream events after this id; with --thread-key and no --message/--input-line this attaches", nullptr},
        {"--all-events", nullptr, nullptr, nullptr, nullptr, "print every event, not only output lines", nullptr},
        {"--exit-on-terminal", nullptr, nullptr, nullptr, nullptr,
         "exit 0 when an execution completes, fails or is cancelled (attach: any; else the ones started here)",
         nullptr},
        {"--exit-on-output-type", nullptr, "TYPE", nullptr, nullptr, "exit 0 when an output line's JSON \"type\" is TYPE",
         nullptr},
        {"--stdin-events", "--stdin", nullptr, nullptr, nullptr,
         "read commands from stdin: text, /message <text>, /input <raw-json-line>, /execute <json-array-or-line>, "
         "/quit; an unknown /command exits 1",
         nullptr},
        {"--tui", nullptr, nullptr, nullptr, nullptr,
         "terminal UI: the thread as a live transcript with an input box (cannot be combined with --stdin-events)",
         nullptr},
        {"--debug", nullptr, nullptr, nullptr, nullptr, "with --tui: open the raw events pane (F2 toggles it)", nullptr},
        {"--reconnect-timeout-ms", nullptr, "MS", nullptr, "30000",
         "keep reconnecting a dropped stream (with Last-Event-ID) this long", nullptr},
        {"--generate", nullptr, "WHAT", nullptr, nullptr, "print the bash or zsh completion script or the man page",
         "bash zsh man"},
        {"--help", "-h", nullptr, nullptr, nullptr, "print this help", nullptr},
    };
    return table;
}

namespace {

std::string flag_synopsis(const FlagSpec& f) {
    std::string s = f.name;
    if (f.alias) s += std::string(", ") + f.alias;
    if (f.value) s += std::string(" <") + f.value + ">";
    return s;
}

std::string flag_details(const FlagSpec& f) {
    std::string s = f.help;
    if (f.choices) s += std::string(" [possible values: ") + f.choices + "]";
    if (f.env) s += std::string(" [env: ") + f.env + "]";
    if (f.default_value) s += std::string(" [default: ") + f.default_value + "]";
    return s;
}

/// Escapes roff's special characters in running text.
std::string roff(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') out += "\\e";
        else if (c == '-') out += "\\-";
        else out.push_back(c);
    }
    if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
    return out;
}

}  // namespace

std::string help_text() {
    std::string out =
        "centaur-session-cli: create a Centaur thread, send a turn and stream its events; or attach to a thread.\n\n"
        "Usage: centaur-session-cli [OPTIONS]\n\nOptions:\n";
    for (const auto& f : flag_table()) {
        std::string synopsis = "  " + flag_synopsis(f);
        constexpr std::size_t column = 34;
        synopsis += synopsis.size() < column ? std::string(column - synopsis.size(), ' ') : "\n" + std::string(column, ' ');
        out += synopsis + flag_details(f) + "\n";
    }
    out += R"(
Output: one line per output event, "<event_id>\t<raw line>"; with --all-events other events print as
{"sse_event":..,"id":..,"data":..}. Diagnostics go to stderr. Exit 0 when the stream ends or an exit
condition matches, 1 on any error ("HTTP <status>: <body>"), 2 on a bad command line.
TUI keys: Enter send, Ctrl-J or Alt-Enter newline, Up/Down history, Ctrl-X interrupt the running
execution, PgUp/PgDn scroll, F2 raw events, F3 all events, Ctrl-O fold/unfold command output,
Ctrl-D or Ctrl-C quit; /help, /interrupt, /debug, /all, /clear, /quit.
)";
    return out;
}

std::string bash_completion() {
    std::string flags, cases;
    for (const auto& f : flag_table()) {
        flags += std::string(flags.empty() ? "" : " ") + f.name + (f.alias ? std::string(" ") + f.alias : "");
        if (f.choices) cases += std::string("        ") + f.name + ") COMPREPLY=($(compgen -W \"" + f.choices + "\" -- \"$cur\")); return ;;\n";
    }
    std::string valued;
    for (const auto& f : flag_table())
        if (f.value && !f.choices) valued += std::string(valued.empty() ? "" : "|") + f.name;
    return "# bash completion for centaur-session-cli (generated by `centaur-session-cli --generate bash`)\n"
           "_centaur_session_cli() {\n"
           "    local cur prev\n"
           "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
           "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
           "    case \"$prev\" in\n" +
           cases + "        " + valued + ") return ;;\n" +
           "    esac\n"
           "    COMPREPLY=($(compgen -W \"" + flags + "\" -- \"$cur\"))\n"
           "}\n"
           "complete -F _centaur_session_cli centaur-session-cli\n";
}

std::string zsh_completion() {
    std::string out = "#compdef centaur-session-cli\n# zsh completion (generated by `centaur-session-cli --generate zsh`)\n"
                      "_arguments \\\n";
    for (const auto& f : flag_table()) {
        std::string help = f.help;
        for (char& c : help)
            if (c == '[' || c == ']' || c == '\'' || c == ':') c = ' ';
        std::string action;
        if (f.choices) action = std::string(":") + f.value + ":(" + f.choices + ")";
        else if (f.value) action = std::string(":") + f.value + ": ";
        const std::string repeat = std::string(f.name) == "--input-line" ? "*" : "";
        if (f.alias)
            out += std::string("  '(") + f.name + " " + f.alias + ")'{" + f.name + "," + f.alias + "}'[" + help + "]" + action + "' \\\n";
        else
            out += "  '" + repeat + f.name + "[" + help + "]" + action + "' \\\n";
    }
    out.resize(out.size() - 3);
    return out + "\n";
}

std::string man_page() {
    std::string out = ".TH CENTAUR-SESSION-CLI 1 \"\" \"centaur\" \"User Commands\"\n"
                      ".SH NAME\ncentaur\\-session\\-cli \\- drive a Centaur thread from a terminal\n"
                      ".SH SYNOPSIS\n.B centaur\\-session\\-cli\n[\\fIOPTIONS\\fR]\n"
                      ".SH DESCRIPTION\nCreates a thread (or uses \\fB\\-\\-thread\\-key\\fR), sends a turn and streams the "
                      "thread's events; or attaches to a thread and follows it, replaying from an event id. "
                      "A dropped stream is resumed with Last\\-Event\\-ID.\n.SH OPTIONS\n";
    for (const auto& f : flag_table()) {
        out += ".TP\n\\fB" + roff(f.name) + "\\fR";
        if (f.alias) out += ", \\fB" + roff(f.alias) + "\\fR";
        if (f.value) out += std::string(" \\fI") + f.value + "\\fR";
        out += "\n" + roff(flag_details(f)) + "\n";
    }
    out += ".SH ENVIRONMENT\n";
    for (const auto& f : flag_table())
        if (f.env) out += ".TP\n.B " + std::string(f.env) + "\nsame as \\fB" + roff(f.name) + "\\fR\n";
    out += ".SH EXIT STATUS\n0 when the stream ends or an exit condition matches; 1 on any error; 2 on a bad "
           "command line.\n";
    return out;
}

ParseResult parse_options(const std::vector<std::string>& args,
                          const std::function<std::optional<std::string>(const char*)>& getenv) {
    Options o;
    if (auto url = getenv("CENTAUR_API_URL")) o.api_url = *url;
    if (auto token = getenv("CENTAUR_API_TOKEN")) o.api_token = *token;
    bool token_given = getenv("CENTAUR_API_TOKEN").has_value();
    bool after_given = false;

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i];
        std::optional<std::string> inline_value;
        if (flag.rfind("--", 0) == 0) {
            if (auto eq = flag.find('='); eq != std::string::npos) {
                inline_value = flag.substr(eq + 1);
                flag.resize(eq);
            }
        }
        auto value = [&]() -> std::optional<std::string> {
            if (inline_value) return inline_value;
            if (i + 1 < args.size()) return args[++i];
            return std::nullopt;
        };
        auto need = [&](std::string& out) -> std::optional<std::string> {
            auto v = value();
            if (!v) return "a value is required for '" + flag + "'";
            out = *v;
            return std::nullopt;
        };
        auto need_uint = [&](auto& out) -> std::optional<std::string> {
            std::string text;
            if (auto e = need(text)) return e;
            if (!parse_int(text, out)) return "invalid value '" + text + "' for '" + flag + "': not a number";
            return std::nullopt;
        };
        auto boolean = [&](bool& out) -> std::optional<std::string> {
            if (inline_value) return "flag '" + flag + "' takes no value";
            out = true;
            return std::nullopt;
        };

        std::optional<std::string> error;
        std::string text;
        if (flag == "-h" || flag == "--help") return ShowHelp{};
        else if (flag == "--generate") {
            if ((error = need(text))) return *error;
            if (text != "bash" && text != "zsh" && text != "man")
                return "invalid value '" + text + "' for '--generate' [possible values: bash, zsh, man]";
            return Generate{text};
        }
        else if (flag == "--api-url") error = need(o.api_url);
        else if (flag == "--api-token") { error = need(o.api_token); token_given = true; }
        else if (flag == "--thread-key") { error = need(text); o.thread_key = text; }
        else if (flag == "--attach") error = boolean(o.attach);
        else if (flag == "--harness-type") error = need(o.harness_type);
        else if (flag == "--message") { error = need(text); o.message = text; }
        else if (flag == "--input-line") { error = need(text); o.input_lines.push_back(text); }
        else if (flag == "--idle-timeout-ms") error = need_uint(o.idle_timeout_ms);
        else if (flag == "--max-duration-ms") error = need_uint(o.max_duration_ms);
        else if (flag == "--after-event-id") { error = need_uint(o.after_event_id); after_given = true; }
        else if (flag == "--all-events") error = boolean(o.all_events);
        else if (flag == "--exit-on-terminal") error = boolean(o.exit_on_terminal);
        else if (flag == "--exit-on-output-type") { error = need(text); o.exit_on_output_type = text; }
        else if (flag == "--stdin-events" || flag == "--stdin") error = boolean(o.stdin_events);
        else if (flag == "--tui") error = boolean(o.tui);
        else if (flag == "--debug") error = boolean(o.debug);
        else if (flag == "--reconnect-timeout-ms") error = need_uint(o.reconnect_timeout_ms);
        else error = "unexpected argument '" + args[i] + "'";
        if (error) return *error;
    }

    while (!o.api_url.empty() && o.api_url.back() == '/') o.api_url.pop_back();
    if (o.api_url.empty()) return std::string("--api-url must not be empty");
    if (o.api_url.rfind("http://", 0) != 0 && o.api_url.rfind("https://", 0) != 0)
        return "--api-url must start with http:// or https:// (got '" + o.api_url + "')";
    if (token_given && o.api_token.empty()) return std::string("--api-token must not be empty");
    if (o.after_event_id < 0) return std::string("--after-event-id must be >= 0");
    if (o.thread_key) {
        std::string why;
        if (!ThreadKey::parse(*o.thread_key, &why)) return "invalid --thread-key '" + *o.thread_key + "': " + why;
    }
    bool known = false;
    for (const char* h : kHarnessTypes) known = known || o.harness_type == h;
    if (!known)
        return "invalid value '" + o.harness_type +
               "' for '--harness-type' [possible values: codex, amp, claudecode, nanocodex, hermes, pi, omp]";
    if (o.idle_timeout_ms == 0 || o.max_duration_ms == 0)
        return std::string("--idle-timeout-ms and --max-duration-ms must be > 0");
    if (o.idle_timeout_ms > o.max_duration_ms)
        return std::string("--idle-timeout-ms must not exceed --max-duration-ms");
    if (o.tui && o.stdin_events) return std::string("--tui cannot be used with --stdin-events");

    const bool has_turn = o.message || !o.input_lines.empty();
    if (o.attach) {
        if (!o.thread_key) return std::string("--attach requires --thread-key");
        if (has_turn) return std::string("--attach cannot be used with --message or --input-line");
    } else if (o.thread_key && after_given && o.after_event_id > 0 && !has_turn && !o.stdin_events) {
        o.attach = true;
    }
    return o;
}

}  // namespace centaur::cli
