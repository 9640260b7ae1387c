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

std::string help_text() {
    return R"(centaur-session-cli: create a Centaur thread, send a turn and stream its events; or attach to a thread.

Usage: centaur-session-cli [OPTIONS]

Options:
  --api-url <URL>              API base URL [env: CENTAUR_API_URL] [default: http://127.0.0.1:8080]
  --api-token <TOKEN>          Bearer token [env: CENTAUR_API_TOKEN] (optional when the server runs open)
  --thread-key <KEY>           thread to use; a new cli:<uuid> is generated (and printed) when absent
  --attach                     only stream the thread (needs --thread-key; no --message/--input-line)
  --harness-type <TYPE>        codex | amp | claudecode | nanocodex | hermes | pi | omp [default: codex]
  --message <TEXT>             user message [default: "Reply with exactly PONG and nothing else."]
  --input-line <LINE>          raw sandbox stdin line for the execution (repeatable; replaces the message line)
  --idle-timeout-ms <MS>       execution idle timeout [default: 1000]
  --max-duration-ms <MS>       execution maximum duration [default: 60000]
  --after-event-id <ID>        stream events after this id [default: 0]; with --thread-key and no
                               --message/--input-line this attaches
  --all-events                 print every event, not only output lines
  --exit-on-terminal           exit 0 when an execution completes, fails or is cancelled
  --exit-on-output-type <T>    exit 0 when an output line's JSON "type" is T
  --stdin-events, --stdin      read commands from stdin: text, /message <text>, /input <raw-json-line>,
                               /execute <json-array-or-line>, /quit
  --reconnect-timeout-ms <MS>  keep reconnecting a dropped stream this long [default: 30000]
  --tui                        terminal UI: the thread as a live transcript with an input box (keys: /help);
                               cannot be combined with --stdin-events
  --debug                      with --tui: start with the raw events pane open (F2 toggles it)
  -h, --help                   print this help

Output: one line per output event, "<event_id>\t<raw line>"; with --all-events other events print as
{"sse_event":..,"id":..,"data":..}. Diagnostics go to stderr. Exit 1 on any error ("HTTP <status>: <body>").
)";
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
    if (o.api_url.rfind("http://", 0) != 0)
        return "--api-url must start with http:// (got '" + o.api_url + "'; https is not supported by this build)";
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
