#pragma once
// Process-wide log setup and structured log lines over spdlog's default logger.
//
// Formats: `text` (spdlog's pattern) or `json` (one JSON object per line, the shape of upstream api-rs's
// tracing-subscriber JSON: {"timestamp","level","fields":{"message",...},"target","service"}). Every line, in
// either format, passes `redact` first, so configured secrets, URL passwords, bearer tokens and token-like
// query values never reach the output.
//
// Lifecycle: `configure` and `add_secret` run once at start-up (main thread, before other threads log);
// `Event` and `redact` are thread-safe afterwards. Without `configure` (unit tests) lines go out as text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace centaur::logging {

enum class Level { trace, debug, info, warn, error, critical, off };
enum class Format { text, json };

struct Settings {
    Format format = Format::text;
    Level level = Level::info;
    std::string service = "centaur-api-server";  ///< the JSON lines' "service"
};

/// "trace", "debug", "info", "warn" (or "warning"), "error", "critical", "off"; case-insensitive.
std::optional<Level> parse_level(std::string_view text);
/// "text" or "json"; case-insensitive.
std::optional<Format> parse_format(std::string_view text);
/// A RUST_LOG-style filter: comma-separated directives `level` or `target=level`. A directive whose target
/// starts with "centaur" (centaur, centaur_api_server, centaur::http …) wins over a bare level; directives for
/// other targets (tower_http=warn) are ignored. nullopt with `error` set on a malformed level; nullopt without
/// error when no directive applies.
std::optional<Level> level_from_filter(std::string_view filter, std::string* error);

/// Installs the format and level on spdlog's default logger (stderr).
void configure(const Settings& settings);
/// True once `configure` selected Format::json.
bool json_enabled();

/// Registers a secret value (an API key, a token, a password) that is replaced by [REDACTED] wherever it
/// appears in a log line. Values shorter than 6 bytes are ignored (they would blank ordinary words). For a
/// Postgres URL or conninfo, pass it to `add_database_url_secrets` instead: it registers the password alone.
void add_secret(std::string value);
void add_database_url_secrets(const std::string& url);

/// `text` with registered secrets, `scheme://user:PASSWORD@` passwords, `password=` conninfo values,
/// `Bearer <token>` and the values of query parameters named like a credential replaced by [REDACTED].
std::string redact(std::string_view text);
/// A request target with the value of every query parameter whose name contains token, key, secret,
/// password or signature (case-insensitive) replaced by [REDACTED]; the path and other parameters unchanged.
std::string redact_target(std::string_view target);

/// One structured log line: a message plus named fields. Build it, then `emit()`. Cheap when the level is
/// off (fields are not formatted). String values are redacted. In text format the fields follow the message
/// as `name=value`; in JSON they sit beside "message" in "fields".
class Event {
public:
    Event(Level level, std::string_view target, std::string_view message);
    Event& str(std::string_view name, std::string_view value);
    Event& num(std::string_view name, std::int64_t value);
    Event& real(std::string_view name, double value);
    Event& boolean(std::string_view name, bool value);
    Event& null(std::string_view name);
    void emit();

private:
    void key(std::string_view name);

    Level level_;
    bool enabled_;
    bool json_;
    std::string target_;
    std::string message_;
    std::string fields_;  ///< json: `,"name":value…`; text: ` name=value…`
};

}  // namespace centaur::logging
