#include "stdin_commands.hpp"

#include <boost/json.hpp>

namespace centaur::cli {
namespace json = boost::json;

namespace {

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

/// Splits `/name rest` into name (with the slash) and trimmed rest.
std::pair<std::string_view, std::string_view> split_command(std::string_view line) {
    auto space = line.find_first_of(" \t");
    if (space == std::string_view::npos) return {line, {}};
    return {line.substr(0, space), trim(line.substr(space + 1))};
}

StdinCommand execute_argument(std::string_view rest) {
    if (rest.empty()) return Invalid{"/execute needs a JSON array of input lines or one raw line"};
    if (rest.front() != '[') return ExecuteLines{{std::string(rest)}};
    json::error_code ec;
    auto parsed = json::parse(rest, ec);
    if (ec || !parsed.is_array()) return Invalid{"/execute: not a JSON array of strings"};
    ExecuteLines out;
    for (const auto& v : parsed.as_array()) {
        if (!v.is_string()) return Invalid{"/execute: not a JSON array of strings"};
        out.lines.emplace_back(v.as_string());
    }
    if (out.lines.empty()) return Invalid{"/execute: the array is empty"};
    return out;
}

const json::string* string_field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? &it->value().as_string() : nullptr;
}

StdinCommand json_command(std::string_view line) {
    json::error_code ec;
    auto parsed = json::parse(line, ec);
    if (ec || !parsed.is_object()) return ExecuteLines{{std::string(line)}};
    const auto& o = parsed.as_object();
    const auto* type = string_field(o, "type");
    if (!type) return ExecuteLines{{std::string(line)}};
    if (*type == "quit" || *type == "exit") return Quit{};
    if (*type == "message") {
        const auto* text = string_field(o, "text");
        if (!text) return Invalid{"message command needs a string \"text\""};
        return SendMessage{std::string(*text)};
    }
    if (*type == "input_line") {
        const auto* raw = string_field(o, "line");
        if (!raw) return Invalid{"input_line command needs a string \"line\""};
        return ExecuteLines{{std::string(*raw)}};
    }
    if (*type == "execute") {
        auto it = o.find("input_lines");
        if (it == o.end()) return Invalid{"execute command needs \"input_lines\""};
        return execute_argument(json::serialize(it->value()));
    }
    return ExecuteLines{{std::string(line)}};
}

}  // namespace

StdinCommand parse_stdin_command(std::string_view raw) {
    const auto line = trim(raw);
    if (line.empty()) return Skip{};
    if (line.front() == '{') return json_command(line);
    if (line.front() != '/') return SendMessage{std::string(line)};
    auto [name, rest] = split_command(line);
    if (name == "/quit" || name == "/exit") return Quit{};
    if (name == "/message") {
        if (rest.empty()) return Invalid{"/message needs text"};
        return SendMessage{std::string(rest)};
    }
    if (name == "/input") {
        if (rest.empty()) return Invalid{"/input needs a raw input line"};
        return ExecuteLines{{std::string(rest)}};
    }
    if (name == "/execute") return execute_argument(rest);
    return Unknown{std::string(name)};
}

std::string user_input_line(std::string_view text) {
    json::object part{{"type", "text"}, {"text", text}};
    json::object message{{"content", json::array{std::move(part)}}};
    return json::serialize(json::object{{"type", "user"}, {"message", std::move(message)}});
}

}  // namespace centaur::cli
