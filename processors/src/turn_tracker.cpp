#include <centaur/processors/turn_tracker.hpp>

#include <boost/json.hpp>

#include <algorithm>

namespace centaur::processors {
namespace json = boost::json;

namespace {

const json::value* find(const json::value* v, std::string_view key) {
    if (!v) return nullptr;
    const auto* o = v->if_object();
    return o ? o->if_contains(key) : nullptr;
}

std::optional<std::string> text(const json::value* v) {
    if (v && v->is_string()) return std::string(v->as_string());
    return std::nullopt;
}

/// The event name with JSON-RPC `method`s normalised to the dotted form (`turn/completed` -> `turn.completed`).
std::string event_name(const json::value& v) {
    if (auto t = text(find(&v, "type"))) return *t;
    if (auto m = text(find(&v, "method"))) {
        std::replace(m->begin(), m->end(), '/', '.');
        return *m;
    }
    return {};
}

/// Fields live at the top level in the dotted form and under `params` in the JSON-RPC form.
const json::value* body(const json::value& v) {
    const auto* params = find(&v, "params");
    return params && params->is_object() ? params : &v;
}

std::string error_text(const json::value& v, std::string_view fallback) {
    const auto* b = body(v);
    const auto* err = find(b, "error");
    if (auto s = text(err)) return *s;
    if (auto s = text(find(err, "message"))) return *s;
    if (auto s = text(find(b, "message"))) return *s;
    return std::string(fallback);
}

/// Text of an Anthropic-style assistant message: content string, or the concatenated text blocks.
std::optional<std::string> assistant_text(const json::value& v) {
    const auto* message = find(&v, "message");
    const auto* content = find(message ? message : &v, "content");
    if (auto s = text(content)) return s;
    if (!content || !content->is_array()) return std::nullopt;
    std::string out;
    for (const auto& block : content->as_array()) {
        if (text(find(&block, "type")) == "text") {
            if (auto s = text(find(&block, "text"))) out += *s;
        }
    }
    return out.empty() ? std::nullopt : std::optional<std::string>(out);
}

}  // namespace

std::optional<TerminalOutcome> TurnTracker::observe(std::string_view line) {
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const std::string name = event_name(v);
    const json::value* b = body(v);

    if (name == "thread.started") {
        if (auto id = text(find(b, "thread_id"))) harness_thread_id_ = id;
        else if (auto id2 = text(find(find(b, "thread"), "id"))) harness_thread_id_ = id2;
        return std::nullopt;
    }
    if (name == "item.agentMessage.delta") {
        if (auto d = text(find(b, "delta"))) {
            answer_ += *d;
            saw_agent_text_ = true;
        }
        return std::nullopt;
    }
    if (name == "assistant") {
        if (auto t = assistant_text(v)) {
            answer_ = *t;
            saw_agent_text_ = true;
        }
        return std::nullopt;
    }
    if (name == "item.completed") {
        const auto* item = find(b, "item");
        const auto phase = text(find(item, "phase"));
        if (text(find(item, "type")) == "agentMessage" &&
            (!phase || *phase == "final_answer" || *phase == "answer")) {
            if (auto t = text(find(item, "text"))) {
                answer_ = *t;
                saw_agent_text_ = true;
            }
        }
        return std::nullopt;
    }
    if (name == "error" || name == "turn.failed") {
        return TerminalOutcome{TerminalKind::failed, error_text(v, "harness reported an error"), std::nullopt};
    }
    if (name == "result") {
        const auto subtype = text(find(b, "subtype"));
        if (subtype && (*subtype == "error" || *subtype == "failure" || *subtype == "failed"))
            return TerminalOutcome{TerminalKind::failed, error_text(v, "harness result reported failure"), std::nullopt};
        auto result = text(find(b, "result"));
        return TerminalOutcome{TerminalKind::completed, "result", result ? result : optional_answer()};
    }
    if (name == "turn.done") {
        auto result = text(find(b, "result"));
        return TerminalOutcome{TerminalKind::completed, "turn_done", result ? result : optional_answer()};
    }
    if (name == "turn.completed") {
        const auto* turn = find(b, "turn");
        const auto status = text(find(turn, "status"));
        auto payload_text = text(find(b, "text"));
        if (!status || *status == "completed" || *status == "succeeded" || *status == "success")
            return TerminalOutcome{TerminalKind::completed, "turn_completed",
                                   payload_text ? payload_text : optional_answer()};
        if (*status == "interrupted") return TerminalOutcome{TerminalKind::cancelled, "turn_interrupted", std::nullopt};
        if (!answer_.empty()) return TerminalOutcome{TerminalKind::completed, "turn_completed", answer_};
        return TerminalOutcome{TerminalKind::failed, "turn completed with status " + *status + " before final answer",
                               std::nullopt};
    }
    return std::nullopt;
}

}  // namespace centaur::processors
