#include <centaur/schemas/payloads.hpp>

#include <array>

namespace centaur {
namespace json = boost::json;

bool is_known_harness(std::string_view harness) {
    static constexpr std::array<std::string_view, 7> known = {"codex", "amp", "claudecode", "nanocodex",
                                                              "hermes", "pi", "omp"};
    for (auto k : known)
        if (k == harness) return true;
    return false;
}

namespace json_get {
const json::value* field(const json::value& v, std::string_view key) {
    const auto* o = v.if_object();
    return o ? o->if_contains(key) : nullptr;
}
std::optional<std::string> string(const json::value& v, std::string_view key) {
    const auto* f = field(v, key);
    if (!f || !f->is_string()) return std::nullopt;
    return std::string(f->as_string());
}
std::optional<std::int64_t> int64(const json::value& v, std::string_view key) {
    const auto* f = field(v, key);
    if (!f) return std::nullopt;
    if (f->is_int64()) return f->as_int64();
    if (f->is_uint64() && f->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(f->as_uint64());
    return std::nullopt;
}
}  // namespace json_get

namespace {
json::value optional_string(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

json::object object_or_empty(const json::value& v, std::string_view key) {
    const auto* f = json_get::field(v, key);
    return f && f->is_object() ? f->as_object() : json::object{};
}
}  // namespace

json::value to_json(const SessionCreated& p) {
    return json::object{{"harness_type", p.harness_type},
                        {"persona_id", optional_string(p.persona_id)},
                        {"metadata", p.metadata},
                        {"restart_on_conflict", p.restart_on_conflict}};
}

json::value to_json(const MessageAppended& p) {
    return json::object{{"message_id", p.message_id},
                        {"client_message_id", optional_string(p.client_message_id)},
                        {"role", p.role},
                        {"parts", p.parts},
                        {"metadata", p.metadata}};
}

json::value to_json(const ExecutionRequested& p) {
    json::array lines;
    for (const auto& l : p.input_lines) lines.emplace_back(l);
    return json::object{{"execution_id", p.execution_id},
                        {"idempotency_key", optional_string(p.idempotency_key)},
                        {"input_lines", std::move(lines)},
                        {"idle_timeout_ms", p.idle_timeout_ms},
                        {"max_duration_ms", p.max_duration_ms},
                        {"metadata", p.metadata}};
}

json::value to_json(const InterruptRequested& p) {
    return json::object{{"execution_id", p.execution_id}, {"reason", p.reason}};
}

std::optional<SessionCreated> session_created_from(const json::value& v) {
    auto harness = json_get::string(v, "harness_type");
    if (!harness) return std::nullopt;
    SessionCreated p{*harness, json_get::string(v, "persona_id"), object_or_empty(v, "metadata"), false};
    if (const auto* r = json_get::field(v, "restart_on_conflict"); r && r->is_bool()) p.restart_on_conflict = r->as_bool();
    return p;
}

std::optional<MessageAppended> message_appended_from(const json::value& v) {
    auto id = json_get::string(v, "message_id");
    auto role = json_get::string(v, "role");
    const auto* parts = json_get::field(v, "parts");
    if (!id || !role || !parts || !parts->is_array()) return std::nullopt;
    return MessageAppended{*id, json_get::string(v, "client_message_id"), *role, parts->as_array(),
                           object_or_empty(v, "metadata")};
}

std::optional<ExecutionRequested> execution_requested_from(const json::value& v) {
    auto id = json_get::string(v, "execution_id");
    const auto* lines = json_get::field(v, "input_lines");
    auto idle = json_get::int64(v, "idle_timeout_ms");
    auto max = json_get::int64(v, "max_duration_ms");
    if (!id || !lines || !lines->is_array() || !idle || !max || *idle < 0 || *max < 0) return std::nullopt;
    ExecutionRequested p{*id, json_get::string(v, "idempotency_key"), {}, static_cast<std::uint64_t>(*idle),
                         static_cast<std::uint64_t>(*max), object_or_empty(v, "metadata")};
    for (const auto& l : lines->as_array()) {
        if (!l.is_string()) return std::nullopt;
        p.input_lines.emplace_back(l.as_string());
    }
    return p;
}

std::optional<InterruptRequested> interrupt_requested_from(const json::value& v) {
    auto id = json_get::string(v, "execution_id");
    if (!id) return std::nullopt;
    return InterruptRequested{*id, json_get::string(v, "reason").value_or("")};
}

}  // namespace centaur
