#include "centaur/processors/redaction.hpp"

#include <array>
#include <cctype>

namespace centaur::processors {
namespace {

constexpr std::string_view bearer_word = "bearer";
constexpr std::array<std::string_view, 4> secret_names = {"api_key", "token", "secret", "password"};
constexpr std::string_view json_slash_escape = "\\/";
constexpr std::array<std::string_view, 3> fixed_prefixes = {"github_pat_", "sbx1.", "sk-"};

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_name(char c) { return is_word(c) || c == '-'; }
bool is_bearer_char(char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' || c == '-';
}
bool is_prefixed_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }
/// Printable ASCII that cannot delimit a value or break a JSON string (nor `[`, so redaction is idempotent).
bool is_value_char(char c) {
    if (c < '!' || c > '~') return false;
    constexpr std::string_view stops = "\"'\\,;&<>(){}[]|`";
    return stops.find(c) == std::string_view::npos;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
        if (iequals(haystack.substr(i, needle.size()), needle)) return true;
    return false;
}

/// True when position `i` does not continue a word of `continues` characters. The letter of a JSON or C
/// escape (`\n`, `\t`, ...) does not count as part of a word, so `\nsk-...` starts a token.
template <typename Continues>
bool starts_word(std::string_view s, std::size_t i, Continues continues) {
    if (i == 0) return true;
    const char prev = s[i - 1];
    if (!continues(prev)) return true;
    if (std::string_view("nrtbf").find(prev) == std::string_view::npos) return false;
    std::size_t backslashes = 0;
    for (std::size_t j = i - 1; j > 0 && s[j - 1] == '\\'; --j) ++backslashes;
    return backslashes % 2 == 1;
}

/// End of the run of `allowed` characters from `i`; a whole `\/` (JSON's escaped slash) counts as part of it.
template <typename Allowed>
std::size_t run_end(std::string_view s, std::size_t i, Allowed allowed) {
    while (i < s.size()) {
        if (allowed(s[i])) {
            ++i;
        } else if (s.substr(i, json_slash_escape.size()) == json_slash_escape) {
            i += json_slash_escape.size();
        } else {
            break;
        }
    }
    return i;
}

/// Length of the known token prefix at `i`, or 0.
std::size_t token_prefix(std::string_view s, std::size_t i) {
    const std::string_view rest = s.substr(i);
    for (std::string_view fixed : fixed_prefixes)
        if (rest.substr(0, fixed.size()) == fixed) return fixed.size();
    // xox[abprs]- and gh[pousr]_: a stem, one letter of a set, a separator.
    auto variable = [&](std::string_view stem, std::string_view letters, char separator) -> std::size_t {
        const std::size_t n = stem.size() + 2;
        if (rest.size() < n || rest.substr(0, stem.size()) != stem || rest[n - 1] != separator) return 0;
        return letters.find(rest[stem.size()]) == std::string_view::npos ? 0 : n;
    };
    if (const std::size_t n = variable("xox", "abprs", '-')) return n;
    return variable("gh", "pousr", '_');
}

}  // namespace

std::string redact_secrets(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    std::size_t i = 0;
    while (i < line.size()) {
        // Bearer <credential>: the word and the blanks stay.
        if (line.size() - i > bearer_word.size() &&
            iequals(line.substr(i, bearer_word.size()), bearer_word) && starts_word(line, i, is_word)) {
            std::size_t blanks_end = i + bearer_word.size();
            while (blanks_end < line.size() && (line[blanks_end] == ' ' || line[blanks_end] == '\t'))
                ++blanks_end;
            const std::size_t end = run_end(line, blanks_end, is_bearer_char);
            if (blanks_end > i + bearer_word.size() && end - blanks_end >= min_secret_chars) {
                out.append(line.substr(i, blanks_end - i)).append(redacted_token);
                i = end;
                continue;
            }
        }
        // A token with a known prefix, replaced whole.
        if (const std::size_t prefix = token_prefix(line, i); prefix > 0 && starts_word(line, i, is_name)) {
            const std::size_t end = run_end(line, i + prefix, is_prefixed_char);
            if (end - (i + prefix) >= min_secret_chars) {
                out.append(redacted_token);
                i = end;
                continue;
            }
        }
        // NAME=value with a secret-looking NAME; an opening quote before the value stays.
        if (is_name(line[i]) && starts_word(line, i, is_name)) {
            std::size_t name_end = i;
            while (name_end < line.size() && is_name(line[name_end])) ++name_end;
            const std::string_view name = line.substr(i, name_end - i);
            if (name_end < line.size() && line[name_end] == '=') {
                bool secret = false;
                for (std::string_view candidate : secret_names) secret = secret || icontains(name, candidate);
                std::size_t value_start = name_end + 1;
                const std::string_view after = line.substr(value_start);
                if (after.substr(0, 2) == "\\\"") {
                    value_start += 2;
                } else if (!after.empty() && (after[0] == '"' || after[0] == '\'')) {
                    value_start += 1;
                }
                const std::size_t end = run_end(line, value_start, is_value_char);
                if (secret && end > value_start) {
                    out.append(line.substr(i, value_start - i)).append(redacted_token);
                    i = end;
                    continue;
                }
            }
        }
        out.push_back(line[i]);
        ++i;
    }
    return out;
}

}  // namespace centaur::processors
