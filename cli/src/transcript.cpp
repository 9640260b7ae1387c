#include "transcript.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace centaur::cli {
namespace json = boost::json;

namespace {

constexpr std::size_t kDetailChars = 300;
constexpr int kTabColumns = 4;

const json::object kEmptyObject;

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object& obj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? v->as_object() : kEmptyObject;
}

std::optional<long long> integer(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<long long>(v->as_uint64());
    if (v->is_double()) return static_cast<long long>(v->as_double());
    return std::nullopt;
}

std::string truncate(std::string text, std::size_t max_chars) {
    if (text.size() <= max_chars) return text;
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    text.resize(cut);
    return text + "...";
}

std::string compact(const json::value& v, std::size_t max_chars = kDetailChars) {
    return truncate(v.is_string() ? std::string(v.as_string()) : json::serialize(v), max_chars);
}

/// An error's message: `{"message":…}`, a plain string, or the compact JSON.
std::string error_text(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return "";
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_object()) {
        if (auto m = str(v->as_object(), "message"); !m.empty()) return m;
    }
    return compact(*v);
}

std::string short_id(const std::string& id) { return id.size() > 12 ? id.substr(0, 12) + "…" : id; }

/// Text of Anthropic-style content: a string, or the `text` of every text part.
std::string content_text(const json::value* content) {
    if (!content) return "";
    if (content->is_string()) return std::string(content->as_string());
    std::string out;
    if (!content->is_array()) return out;
    for (const auto& part : content->as_array()) {
        if (!part.is_object()) continue;
        const auto& p = part.as_object();
        if (str(p, "type") == "text") out += str(p, "text");
    }
    return out;
}

/// Replaces control characters (escape sequences would corrupt the screen) and expands tabs.
std::string sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') out.push_back(c);
        else if (c == '\t') out.append(kTabColumns, ' ');
        else if (u < 0x20 || u == 0x7F) continue;
        else out.push_back(c);
    }
    return out;
}

std::string item_summary(const json::object& item) {
    const std::string type = str(item, "type");
    if (type == "fileChange") {
        std::string paths;
        if (const auto* changes = item.if_contains("changes"); changes && changes->is_array()) {
            for (const auto& c : changes->as_array())
                if (c.is_object()) paths += (paths.empty() ? "" : ", ") + str(c.as_object(), "path");
        }
        return "apply patch " + paths;
    }
    if (type == "mcpToolCall") return "mcp " + str(item, "server") + "." + str(item, "tool");
    if (type == "webSearch") return "web search " + str(item, "query");
    std::string name = str(item, "tool");
    if (name.empty()) name = str(item, "name");
    return type + (name.empty() ? "" : " " + name);
}

}  // namespace

std::size_t utf8_columns(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::vector<std::string> wrap_text(std::string_view text, int width) {
    const std::size_t cols = static_cast<std::size_t>(std::max(width, 1));
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto nl = text.find('\n', start);
        std::string_view para = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        if (para.empty()) out.emplace_back();
        while (!para.empty()) {
            // Byte offset of the first code point past `cols` columns.
            std::size_t pos = 0, seen = 0;
            while (pos < para.size()) {
                if ((static_cast<unsigned char>(para[pos]) & 0xC0) != 0x80) {
                    if (seen == cols) break;
                    ++seen;
                }
                ++pos;
            }
            if (pos >= para.size()) {
                out.emplace_back(para);
                break;
            }
            std::size_t cut = para.rfind(' ', pos);
            std::size_t resume;
            if (cut == std::string_view::npos || cut == 0) {
                cut = pos;
                resume = pos;
            } else {
                resume = cut + 1;
            }
            out.emplace_back(para.substr(0, cut));
            para.remove_prefix(resume);
        }
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return out;
}

void Transcript::on_event(const SseEvent& e) {
    ++version_;
    if (e.id) status_.last_event_id = e.id;
    raw_events_.push_back(truncate(e.id.value_or("-") + " " + e.event + " " + e.data, kMaxRawEventChars));
    while (raw_events_.size() > kMaxRawEvents) raw_events_.pop_front();
    if (e.event == "session.output.line") on_output_line(e.data);
    else on_session_event(e);
}

void Transcript::on_session_event(const SseEvent& e) {
    json::error_code ec;
    const auto parsed = json::parse(e.data, ec);
    const json::object& p = !ec && parsed.is_object() ? parsed.as_object() : kEmptyObject;
    const std::string& t = e.event;
    const std::string exe = str(p, "execution_id");
    auto set_execution = [&](const char* state) {
        status_.execution = state;
        if (!exe.empty()) status_.execution_id = exe;
    };

    if (t == "session.message_appended") {
        const std::string role = str(p, "role");
        const std::string text = content_text(p.if_contains("parts"));
        const std::string client_id = str(p, "client_message_id");
        if (role == "user") {
            const bool ours = !client_id.empty() && std::any_of(entries_.begin(), entries_.end(), [&](const auto& x) {
                return x.kind == TranscriptEntry::Kind::user && x.client_message_id == client_id;
            });
            if (!ours) push({.kind = TranscriptEntry::Kind::user, .text = text, .client_message_id = client_id});
        } else {
            push({.kind = TranscriptEntry::Kind::detail, .text = role + " message: " + text});
        }
    } else if (t == "session.execution_requested") {
        set_execution("queued");
        push({.kind = TranscriptEntry::Kind::detail, .text = "execution queued " + short_id(exe)});
    } else if (t == "session.execution_started") {
        set_execution("running");
        push({.kind = TranscriptEntry::Kind::system, .text = "execution started " + short_id(exe)});
    } else if (t == "session.sandbox_queued") {
        // The create waits for a slot under the runner's running limit.
        status_.sandbox = "queued";
        std::string where;
        if (auto position = integer(p, "position")) where = "position " + std::to_string(*position);
        if (auto limit = integer(p, "limit")) where += (where.empty() ? "" : ", ") + std::string("limit ") + std::to_string(*limit);
        push({.kind = TranscriptEntry::Kind::system, .text = "sandbox queued" + (where.empty() ? "" : " (" + where + ")")});
    } else if (t == "session.sandbox_ready") {
        status_.sandbox = "ready";
        std::string how = str(p, "sandbox_ready_source");
        if (auto ms = integer(p, "sandbox_ready_duration_ms")) how += (how.empty() ? "" : ", ") + std::to_string(*ms) + " ms";
        push({.kind = TranscriptEntry::Kind::system, .text = "sandbox ready" + (how.empty() ? "" : " (" + how + ")")});
    } else if (t == "session.sandbox_paused") {
        status_.sandbox = "paused";
        push({.kind = TranscriptEntry::Kind::system, .text = "sandbox paused" + (p.contains("reason") ? " (" + str(p, "reason") + ")" : std::string())});
    } else if (t == "session.sandbox_resumed") {
        status_.sandbox = "ready";
        push({.kind = TranscriptEntry::Kind::system, .text = "sandbox resumed"});
    } else if (t == "session.sandbox_stopped") {
        status_.sandbox = "stopped";
        push({.kind = TranscriptEntry::Kind::system, .text = "sandbox stopped" + (p.contains("reason") ? " (" + str(p, "reason") + ")" : std::string())});
    } else if (t == "session.sandbox_resume_failed" || t == "session.sandbox_pause_failed" ||
               t == "session.steering_failed") {
        push({.kind = TranscriptEntry::Kind::error, .text = t.substr(std::string_view("session.").size()) + ": " + error_text(p, "error")});
    } else if (t == "session.execution_completed") {
        set_execution("completed");
        status_.turn_running = false;
        close_agent();
        push({.kind = TranscriptEntry::Kind::system, .text = "execution completed"});
    } else if (t == "session.execution_failed") {
        set_execution("failed");
        status_.turn_running = false;
        close_agent();
        push({.kind = TranscriptEntry::Kind::error, .text = "execution failed: " + error_text(p, "error")});
    } else if (t == "session.execution_cancelled") {
        set_execution("cancelled");
        status_.turn_running = false;
        close_agent();
        const std::string reason = str(p, "reason");
        push({.kind = TranscriptEntry::Kind::system, .text = "execution cancelled" + (reason.empty() ? "" : " (" + reason + ")")});
    } else if (t == "session.steering_delivered") {
        push({.kind = TranscriptEntry::Kind::system, .text = "message steered into the running execution"});
    } else if (t == "session.interrupt_delivered") {
        push({.kind = TranscriptEntry::Kind::system, .text = "interrupt delivered"});
    } else if (t == "session.stream_error") {
        push({.kind = TranscriptEntry::Kind::error, .text = "stream error: " + error_text(p, "error")});
    } else if (t.rfind("slack.reply_", 0) == 0) {
        // The Slack reply streamer's bookkeeping (what Slack already shows): a detail, never agent output.
        const std::string ts = str(p, "message_ts");
        push({.kind = TranscriptEntry::Kind::detail,
              .text = "slack reply " + t.substr(std::string_view("slack.reply_").size()) +
                      (ts.empty() ? std::string() : " (message " + ts + ")")});
    } else if (t == "session.first_token") {
        push({.kind = TranscriptEntry::Kind::detail, .text = "first token after " + std::to_string(integer(p, "latency_ms").value_or(0)) + " ms"});
    } else {
        push({.kind = TranscriptEntry::Kind::detail, .text = t + " " + truncate(e.data, kDetailChars)});
    }
}

void Transcript::on_output_line(const std::string& data) {
    json::error_code ec;
    const auto parsed = json::parse(data, ec);
    if (ec || !parsed.is_object()) {
        push({.kind = TranscriptEntry::Kind::system, .text = "stdout: " + truncate(data, kDetailChars)});
        return;
    }
    const auto& o = parsed.as_object();
    if (auto method = str(o, "method"); !method.empty()) {
        std::replace(method.begin(), method.end(), '/', '.');
        on_harness_message(method, obj(o, "params"));
    } else if (auto type = str(o, "type"); !type.empty()) {
        on_harness_message(type, o);
    } else {
        push({.kind = TranscriptEntry::Kind::detail, .text = "stdout: " + compact(parsed)});
    }
}

void Transcript::on_harness_message(std::string_view type, const json::object& p) {
    using Kind = TranscriptEntry::Kind;
    if (type == "item.agentMessage.delta") {
        status_.turn_running = true;
        open_agent(str(p, "itemId")).text += str(p, "delta");
    } else if (type == "item.started" || type == "item.completed") {
        on_item(obj(p, "item"), type == "item.completed");
    } else if (type == "item.commandExecution.outputDelta") {
        if (auto* entry = find_item(str(p, "itemId"))) entry->output += str(p, "delta");
    } else if (type == "turn.started") {
        status_.turn_running = true;
        push({.kind = Kind::detail, .text = "turn started " + str(p, "turn_id") + str(obj(p, "turn"), "id")});
    } else if (type == "turn.completed") {
        status_.turn_running = false;
        close_agent();
        const auto& turn = obj(p, "turn");
        const std::string st = str(turn, "status");
        if (st == "interrupted") push({.kind = Kind::system, .text = "turn interrupted"});
        else if (st == "failed") push({.kind = Kind::error, .text = "turn failed: " + error_text(turn, "error")});
        else push({.kind = Kind::system, .text = "turn completed"});
    } else if (type == "turn.failed") {
        status_.turn_running = false;
        close_agent();
        push({.kind = Kind::error, .text = "turn failed: " + error_text(p, "error")});
    } else if (type == "turn.done" || type == "result") {
        status_.turn_running = false;
        const std::string result = str(p, "result");
        const bool repeats_answer = std::any_of(entries_.rbegin(), entries_.rend(), [&](const auto& x) {
            return x.kind == Kind::agent && x.text == result;
        });
        close_agent();
        const std::string subtype = str(p, "subtype");
        if (subtype == "error" || subtype == "failure" || subtype == "failed")
            push({.kind = Kind::error, .text = "result: " + (result.empty() ? subtype : result)});
        else if (!result.empty() && !repeats_answer)
            push({.kind = Kind::agent, .text = result});
        else
            push({.kind = Kind::system, .text = "turn done"});
    } else if (type == "error") {
        std::string message = error_text(p, "error");
        if (message.empty()) message = str(p, "message");
        push({.kind = Kind::error, .text = "error: " + message});
    } else if (type == "warning") {
        push({.kind = Kind::system, .text = "warning: " + str(p, "message")});
    } else if (type == "thread.started") {
        std::string id = str(p, "thread_id");
        if (id.empty()) id = str(obj(p, "thread"), "id");
        push({.kind = Kind::detail, .text = "harness thread " + id});
    } else if (type == "system") {
        push({.kind = Kind::detail, .text = "system " + str(p, "subtype") + " " + str(p, "phase")});
    } else if (type == "assistant") {
        const auto& message = obj(p, "message");
        if (auto text = content_text(message.if_contains("content")); !text.empty()) {
            close_agent();
            push({.kind = Kind::agent, .text = std::move(text)});
        }
        if (const auto* content = message.if_contains("content"); content && content->is_array()) {
            for (const auto& part : content->as_array()) {
                if (!part.is_object() || str(part.as_object(), "type") != "tool_use") continue;
                const auto& use = part.as_object();
                const auto* input = use.if_contains("input");
                push({.kind = Kind::command,
                      .text = str(use, "name") + (input ? " " + compact(*input, 200) : ""),
                      .status = "inProgress",
                      .item_id = str(use, "id")});
            }
        }
    } else if (type == "user") {
        const auto* content = obj(p, "message").if_contains("content");
        if (!content || !content->is_array()) return;
        for (const auto& part : content->as_array()) {
            if (!part.is_object() || str(part.as_object(), "type") != "tool_result") continue;
            const auto& result = part.as_object();
            if (auto* entry = find_item(str(result, "tool_use_id"))) {
                entry->output = content_text(result.if_contains("content"));
                const auto* is_error = result.if_contains("is_error");
                entry->status = is_error && is_error->is_bool() && is_error->as_bool() ? "failed" : "completed";
            }
        }
    } else {
        push({.kind = Kind::detail, .text = std::string(type) + " " + truncate(json::serialize(p), kDetailChars)});
    }
}

void Transcript::on_item(const json::object& item, bool completed) {
    using Kind = TranscriptEntry::Kind;
    const std::string type = str(item, "type");
    const std::string id = str(item, "id");
    const std::string text = str(item, "text");
    if (type == "agentMessage") {
        TranscriptEntry* entry = find_item(id);
        if (!entry && open_agent_ && entries_[*open_agent_].item_id.empty()) entry = &entries_[*open_agent_];
        if (!entry) entry = &open_agent(id);
        if (!text.empty()) entry->text = text;
        if (completed) close_agent();
    } else if (type == "commandExecution" || type == "fileChange" || type == "mcpToolCall" ||
               type == "dynamicToolCall" || type == "collabAgentToolCall" || type == "webSearch") {
        TranscriptEntry* entry = find_item(id);
        if (!entry) {
            std::string what = type == "commandExecution" ? str(item, "command") : item_summary(item);
            entry = &push({.kind = Kind::command, .text = std::move(what), .item_id = id});
        }
        if (auto st = str(item, "status"); !st.empty()) entry->status = st;
        else if (completed) entry->status = "completed";
        else entry->status = "inProgress";
        if (auto code = integer(item, "exitCode")) entry->exit_code = code;
        if (auto ms = integer(item, "durationMs")) entry->duration_ms = ms;
        if (const auto* out = item.if_contains("aggregatedOutput"); out && out->is_string())
            entry->output = std::string(out->as_string());
    } else if (type == "userMessage") {
        // The thread's session.message_appended already shows it.
    } else {
        push({.kind = Kind::detail, .text = "item " + type + (completed ? " completed" : " started") + (text.empty() ? "" : ": " + truncate(text, kDetailChars))});
    }
}

TranscriptEntry& Transcript::push(TranscriptEntry entry) {
    ++version_;
    entries_.push_back(std::move(entry));
    if (entries_.size() > kMaxEntries) {
        entries_.erase(entries_.begin());
        if (open_agent_) open_agent_ = *open_agent_ > 0 ? std::optional(*open_agent_ - 1) : std::nullopt;
    }
    return entries_.back();
}

TranscriptEntry* Transcript::find_item(std::string_view item_id) {
    if (item_id.empty()) return nullptr;
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
        if (it->item_id == item_id) return &*it;
    return nullptr;
}

TranscriptEntry& Transcript::open_agent(std::string_view item_id) {
    if (open_agent_) {
        auto& current = entries_[*open_agent_];
        if (item_id.empty() || current.item_id == item_id) return current;
        if (current.item_id.empty()) {
            current.item_id = std::string(item_id);
            return current;
        }
    }
    if (auto* existing = find_item(item_id); existing && existing->kind == TranscriptEntry::Kind::agent) {
        open_agent_ = static_cast<std::size_t>(existing - entries_.data());
        return *existing;
    }
    push({.kind = TranscriptEntry::Kind::agent, .item_id = std::string(item_id)});
    open_agent_ = entries_.size() - 1;
    return entries_.back();
}

void Transcript::add_local_user_message(std::string text, std::string client_message_id) {
    push({.kind = TranscriptEntry::Kind::user, .text = std::move(text), .client_message_id = std::move(client_message_id)});
}

void Transcript::add_system(std::string text) { push({.kind = TranscriptEntry::Kind::system, .text = std::move(text)}); }

void Transcript::add_error(std::string text) { push({.kind = TranscriptEntry::Kind::error, .text = std::move(text)}); }

void Transcript::clear() {
    ++version_;
    entries_.clear();
    raw_events_.clear();
    open_agent_ = std::nullopt;
}

std::vector<TranscriptLine> Transcript::render(const RenderOptions& options) const {
    using Kind = TranscriptEntry::Kind;
    using Style = TranscriptLine::Style;
    std::vector<TranscriptLine> out;
    auto emit = [&](Style style, const std::string& prefix, std::string_view text) {
        const std::string indent(utf8_columns(prefix), ' ');
        const int room = std::max(options.width - static_cast<int>(indent.size()), 1);
        bool first = true;
        for (auto& line : wrap_text(sanitize(text), room)) {
            out.push_back({style, (first ? prefix : indent) + line});
            first = false;
        }
    };
    for (const auto& e : entries_) {
        switch (e.kind) {
        case Kind::user: emit(Style::user, "you: ", e.text); break;
        case Kind::agent: emit(Style::agent, "agent: ", e.text.empty() ? "..." : e.text); break;
        case Kind::system: emit(Style::system, "-- ", e.text); break;
        case Kind::error: emit(Style::error, "!! ", e.text); break;
        case Kind::detail:
            if (options.all_events) emit(Style::detail, "   ", e.text);
            break;
        case Kind::command: {
            std::string state;
            if (e.status == "inProgress" || e.status.empty()) state = "running";
            else if (e.exit_code) state = "exit " + std::to_string(*e.exit_code);
            else state = e.status;
            if (e.duration_ms) state += ", " + std::to_string(*e.duration_ms) + " ms";
            emit(Style::command, "$ ", e.text + "  [" + state + "]");
            if (e.output.empty()) break;
            std::string_view output(e.output);
            if (output.back() == '\n') output.remove_suffix(1);
            if (options.expand_output) {
                std::size_t start = 0;
                for (;;) {
                    const auto nl = output.find('\n', start);
                    emit(Style::output, "  | ", output.substr(start, nl == std::string_view::npos ? nl : nl - start));
                    if (nl == std::string_view::npos) break;
                    start = nl + 1;
                }
            } else {
                const auto lines = static_cast<std::size_t>(std::count(output.begin(), output.end(), '\n')) + 1;
                emit(Style::output, "  ",
                     "[" + std::to_string(lines) + (lines == 1 ? " line" : " lines") + " of output folded; Ctrl-O unfolds]");
            }
            break;
        }
        }
    }
    return out;
}

}  // namespace centaur::cli
