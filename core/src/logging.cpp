#include <centaur/core/logging.hpp>

#include <centaur/schemas/hex.hpp>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <memory>
#include <shared_mutex>
#include <vector>

namespace centaur::logging {
namespace {

constexpr std::string_view redacted = "[REDACTED]";
constexpr std::size_t min_secret_bytes = 6;
constexpr char structured_mark = '\x1e';  ///< payload = mark target US message US json-fields
constexpr char unit_separator = '\x1f';
constexpr auto text_pattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";
constexpr std::string_view default_target = "centaur";

std::atomic<bool> json_mode{false};
std::shared_mutex secrets_mutex;
std::vector<std::string>& secrets() {
    static std::vector<std::string> values;
    return values;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool credential_name(std::string_view name) {
    const auto n = lower(name);
    for (const char* word : {"token", "key", "secret", "password", "signature"})
        if (n.find(word) != std::string::npos) return true;
    return false;
}

bool value_end(char c) {
    return c == '&' || c == '"' || c == '\'' || c == '#' || c == ',' || c == ';' ||
           std::isspace(static_cast<unsigned char>(c));
}

/// Replaces every `[?&]name=value` whose name looks like a credential.
void redact_query_values(std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '?' && s[i] != '&') continue;
        std::size_t eq = i + 1;
        while (eq < s.size() && s[eq] != '=' && s[eq] != '&' && !value_end(s[eq])) ++eq;
        if (eq >= s.size() || s[eq] != '=' || eq == i + 1) continue;
        if (!credential_name(std::string_view(s).substr(i + 1, eq - i - 1))) continue;
        std::size_t end = eq + 1;
        while (end < s.size() && !value_end(s[end])) ++end;
        if (end == eq + 1) continue;
        s.replace(eq + 1, end - eq - 1, redacted);
        i = eq + redacted.size();
    }
}

/// `scheme://user:password@host` → `scheme://user:[REDACTED]@host`.
void redact_url_passwords(std::string& s) {
    for (std::size_t p = s.find("://"); p != std::string::npos; p = s.find("://", p + 3)) {
        const std::size_t start = p + 3;
        std::size_t colon = std::string::npos, end = start;
        for (; end < s.size(); ++end) {
            const char c = s[end];
            if (c == '@' || c == '/' || c == '?' || c == '"' || c == '\'' || std::isspace(static_cast<unsigned char>(c)))
                break;
            if (c == ':' && colon == std::string::npos) colon = end;
        }
        if (end >= s.size() || s[end] != '@' || colon == std::string::npos || colon + 1 == end) continue;
        s.replace(colon + 1, end - colon - 1, redacted);
    }
}

/// `password=value` (conninfo) and `Bearer <token>` (a logged header or error text).
void redact_words(std::string& s) {
    const auto low = lower(s);
    struct Cut {
        std::size_t from, to;
    };
    std::vector<Cut> cuts;
    for (std::string_view word : {std::string_view("password="), std::string_view("bearer ")}) {
        for (std::size_t p = low.find(word); p != std::string::npos; p = low.find(word, p + 1)) {
            if (word.front() == 'p' && p > 0 && std::isalnum(static_cast<unsigned char>(low[p - 1]))) continue;
            std::size_t from = p + word.size(), to = from;
            while (to < s.size() && !value_end(s[to])) ++to;
            if (to > from && s.compare(from, to - from, redacted) != 0) cuts.push_back({from, to});
        }
    }
    std::sort(cuts.begin(), cuts.end(), [](const Cut& a, const Cut& b) { return a.from > b.from; });
    for (const auto& c : cuts) s.replace(c.from, c.to - c.from, redacted);
}

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
        case Level::trace: return spdlog::level::trace;
        case Level::debug: return spdlog::level::debug;
        case Level::info: return spdlog::level::info;
        case Level::warn: return spdlog::level::warn;
        case Level::error: return spdlog::level::err;
        case Level::critical: return spdlog::level::critical;
        case Level::off: return spdlog::level::off;
    }
    return spdlog::level::info;
}

std::string_view level_name(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace: return "TRACE";
        case spdlog::level::debug: return "DEBUG";
        case spdlog::level::info: return "INFO";
        case spdlog::level::warn: return "WARN";
        default: return "ERROR";
    }
}

/// Appends `s` as a JSON string body (no quotes); invalid UTF-8 becomes U+FFFD.
void append_escaped(std::string& out, std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20 || c == 0x7f) {
                        out += "\\u00";
                        schemas::append_hex(out, &c, 1);
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
        bool valid = len > 0 && i + len <= s.size();
        for (std::size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (valid && len == 3) {
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            valid = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
        }
        if (valid && len == 4) {
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            valid = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (valid) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
}

void append_timestamp(std::string& out, spdlog::log_clock::time_point t) {
    const auto since = t.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
    const std::time_t tt = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(micros));
    out.append(buf, static_cast<std::size_t>(std::max(n, 0)));
}

/// Formats every line of the default logger: redaction first, then the text pattern or a JSON object.
class LineFormatter final : public spdlog::formatter {
public:
    LineFormatter(Format format, std::string service)
        : format_(format), service_(std::move(service)),
          text_(std::make_unique<spdlog::pattern_formatter>(text_pattern)) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const std::string_view payload(msg.payload.data(), msg.payload.size());
        if (format_ == Format::text) {
            const std::string clean = redact(payload);
            spdlog::details::log_msg copy = msg;
            copy.payload = spdlog::string_view_t(clean.data(), clean.size());
            text_->format(copy, dest);
            return;
        }
        std::string_view target = default_target, fields;
        std::string message;
        if (!payload.empty() && payload.front() == structured_mark) {
            const auto a = payload.find(unit_separator, 1);
            const auto b = a == std::string_view::npos ? a : payload.find(unit_separator, a + 1);
            if (b != std::string_view::npos) {
                target = payload.substr(1, a - 1);
                message = redact(payload.substr(a + 1, b - a - 1));
                fields = payload.substr(b + 1);
            } else {
                message = redact(payload.substr(1));
            }
        } else {
            message = redact(payload);
        }
        std::string line;
        line.reserve(160 + message.size() + fields.size());
        line += "{\"timestamp\":\"";
        append_timestamp(line, msg.time);
        line += "\",\"level\":\"";
        line += level_name(msg.level);
        line += "\",\"fields\":{\"message\":\"";
        append_escaped(line, message);
        line += '"';
        line += fields;
        line += "},\"target\":\"";
        append_escaped(line, target);
        line += "\",\"service\":\"";
        append_escaped(line, service_);
        line += "\"}\n";
        dest.append(line.data(), line.data() + line.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<LineFormatter>(format_, service_);
    }

private:
    Format format_;
    std::string service_;
    std::unique_ptr<spdlog::pattern_formatter> text_;
};

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
    const auto t = lower(text);
    if (t == "trace") return Level::trace;
    if (t == "debug") return Level::debug;
    if (t == "info") return Level::info;
    if (t == "warn" || t == "warning") return Level::warn;
    if (t == "error" || t == "err") return Level::error;
    if (t == "critical") return Level::critical;
    if (t == "off") return Level::off;
    return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
    const auto t = lower(text);
    if (t == "text") return Format::text;
    if (t == "json") return Format::json;
    return std::nullopt;
}

std::optional<Level> level_from_filter(std::string_view filter, std::string* error) {
    std::optional<Level> bare, ours;
    while (!filter.empty()) {
        const auto comma = filter.find(',');
        auto directive = filter.substr(0, comma);
        filter = comma == std::string_view::npos ? std::string_view() : filter.substr(comma + 1);
        while (!directive.empty() && std::isspace(static_cast<unsigned char>(directive.front()))) directive.remove_prefix(1);
        while (!directive.empty() && std::isspace(static_cast<unsigned char>(directive.back()))) directive.remove_suffix(1);
        if (directive.empty()) continue;
        const auto eq = directive.find('=');
        const auto level_text = eq == std::string_view::npos ? directive : directive.substr(eq + 1);
        const auto level = parse_level(level_text);
        if (!level) {
            if (error) *error = "unknown log level '" + std::string(level_text) + "'";
            return std::nullopt;
        }
        if (eq == std::string_view::npos)
            bare = level;
        else if (directive.substr(0, eq).rfind("centaur", 0) == 0)
            ours = level;
    }
    return ours ? ours : bare;
}

void configure(const Settings& settings) {
    json_mode = settings.format == Format::json;
    auto logger = spdlog::default_logger();
    logger->set_formatter(std::make_unique<LineFormatter>(settings.format, settings.service));
    logger->set_level(to_spdlog(settings.level));
}

bool json_enabled() { return json_mode; }

void add_secret(std::string value) {
    if (value.size() < min_secret_bytes) return;
    std::unique_lock lock(secrets_mutex);
    auto& all = secrets();
    if (std::find(all.begin(), all.end(), value) != all.end()) return;
    all.push_back(std::move(value));
    // Longest first, so a secret containing another is replaced whole.
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

void add_database_url_secrets(const std::string& url) {
    const auto scheme = url.find("://");
    if (scheme != std::string::npos) {
        const auto start = scheme + 3;
        const auto at = url.find('@', start);
        const auto slash = url.find('/', start);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            const auto colon = url.find(':', start);
            if (colon != std::string::npos && colon < at) add_secret(url.substr(colon + 1, at - colon - 1));
        }
    }
    for (const std::string key : {"password="}) {
        for (auto p = url.find(key); p != std::string::npos; p = url.find(key, p + 1)) {
            auto from = p + key.size(), to = from;
            while (to < url.size() && !value_end(url[to])) ++to;
            if (to > from) add_secret(url.substr(from, to - from));
        }
    }
}

std::string redact(std::string_view text) {
    std::string s(text);
    {
        std::shared_lock lock(secrets_mutex);
        for (const auto& secret : secrets())
            for (auto p = s.find(secret); p != std::string::npos; p = s.find(secret, p + redacted.size()))
                s.replace(p, secret.size(), redacted);
    }
    redact_url_passwords(s);
    redact_words(s);
    redact_query_values(s);
    return s;
}

std::string redact_target(std::string_view target) {
    std::string s(target);
    redact_query_values(s);
    return s;
}

Event::Event(Level level, std::string_view target, std::string_view message)
    : level_(level), enabled_(spdlog::default_logger_raw()->should_log(to_spdlog(level))), json_(json_mode) {
    if (!enabled_) return;
    target_ = target;
    message_ = message;
}

void Event::key(std::string_view name) {
    if (json_) {
        fields_ += ",\"";
        append_escaped(fields_, name);
        fields_ += "\":";
    } else {
        fields_ += ' ';
        fields_ += name;
        fields_ += '=';
    }
}

Event& Event::str(std::string_view name, std::string_view value) {
    if (!enabled_) return *this;
    key(name);
    const std::string clean = redact(value);
    if (json_) {
        fields_ += '"';
        append_escaped(fields_, clean);
        fields_ += '"';
    } else if (clean.find_first_of(" \"=") != std::string::npos || clean.empty()) {
        fields_ += '"';
        for (char c : clean) {
            if (c == '"' || c == '\\') fields_ += '\\';
            fields_ += c;
        }
        fields_ += '"';
    } else {
        fields_ += clean;
    }
    return *this;
}

Event& Event::num(std::string_view name, std::int64_t value) {
    if (!enabled_) return *this;
    key(name);
    fields_ += std::to_string(value);
    return *this;
}

Event& Event::real(std::string_view name, double value) {
    if (!enabled_) return *this;
    key(name);
    if (!std::isfinite(value)) {
        fields_ += json_ ? "null" : "nan";
        return *this;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 3);
    fields_.append(buf, r.ptr);
    return *this;
}

Event& Event::boolean(std::string_view name, bool value) {
    if (!enabled_) return *this;
    key(name);
    fields_ += value ? "true" : "false";
    return *this;
}

Event& Event::null(std::string_view name) {
    if (!enabled_) return *this;
    key(name);
    fields_ += json_ ? "null" : "-";
    return *this;
}

void Event::emit() {
    if (!enabled_) return;
    std::string payload;
    if (json_) {
        payload.reserve(target_.size() + message_.size() + fields_.size() + 3);
        payload += structured_mark;
        payload += target_;
        payload += unit_separator;
        payload += message_;
        payload += unit_separator;
        payload += fields_;
    } else {
        payload = message_ + fields_;
    }
    spdlog::default_logger_raw()->log(to_spdlog(level_), spdlog::string_view_t(payload.data(), payload.size()));
    enabled_ = false;
}

}  // namespace centaur::logging
