#include "requests.hpp"

#include <centaur/schemas/ids.hpp>

#include <boost/json.hpp>

namespace centaur::cli {
namespace json = boost::json;

namespace {
constexpr const char* kSource = "centaur-session-cli";
json::object source_metadata() { return json::object{{"source", kSource}}; }
}  // namespace

json::value create_session_body(const std::string& harness_type) {
    return json::object{{"harness_type", harness_type}, {"metadata", source_metadata()}};
}

json::value append_message_body(const std::string& text, const std::optional<std::string>& client_message_id) {
    json::object part{{"type", "text"}, {"text", text}};
    json::object message{{"role", "user"}, {"parts", json::array{std::move(part)}}, {"metadata", source_metadata()}};
    if (client_message_id) message["client_message_id"] = *client_message_id;
    return json::object{{"messages", json::array{std::move(message)}}};
}

json::value execute_body(const std::vector<std::string>& lines, std::uint64_t idle_timeout_ms,
                         std::uint64_t max_duration_ms) {
    json::array input;
    for (const auto& l : lines) input.emplace_back(l);
    return json::object{{"idempotency_key", "cli-" + EventUuid::random().hex()},
                        {"metadata", source_metadata()},
                        {"input_lines", std::move(input)},
                        {"idle_timeout_ms", idle_timeout_ms},
                        {"max_duration_ms", max_duration_ms}};
}

json::value interrupt_body(const std::string& reason) { return json::object{{"reason", reason}}; }

}  // namespace centaur::cli
