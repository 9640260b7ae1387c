#pragma once

#include "sse_parser.hpp"

#include <boost/json/fwd.hpp>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace centaur::cli {

/// One block of the TUI transcript.
struct TranscriptEntry {
    enum class Kind {
        user,     ///< a user message (sent from here or replayed from session.message_appended)
        agent,    ///< agent text, assembled from deltas or set by a completed item / assistant message
        command,  ///< a command execution (or tool call): `text` is the command, `output` its output
        system,   ///< execution / sandbox / turn status lines
        error,    ///< failures: turn.failed, execution_failed, stream errors, refused requests
        detail,   ///< everything else; shown only when all events are on
    };
    Kind kind = Kind::system;
    std::string text;
    std::string output;              ///< command: aggregated output
    std::string status;              ///< command: inProgress | completed | failed | declined …
    std::optional<long long> exit_code;
    std::optional<long long> duration_ms;
    std::string item_id;             ///< harness item id, routes deltas and completions
    std::string client_message_id;   ///< user: the id this client sent it with (to match the replay)
};

/// What the header shows: the thread's latest execution and sandbox as the stream reported them.
struct SessionStatus {
    std::string execution = "idle";  ///< idle | queued | running | completed | failed | cancelled
    std::string execution_id;
    std::string sandbox = "none";    ///< none | ready | paused | resumed | stopped | …
    std::optional<std::string> last_event_id;
    bool turn_running = false;
};

/// One rendered screen line of the transcript.
struct TranscriptLine {
    enum class Style { user, agent, command, output, system, error, detail };
    Style style = Style::system;
    std::string text;
};

struct RenderOptions {
    int width = 80;
    bool all_events = false;      ///< also render Kind::detail entries
    bool expand_output = false;   ///< unfold every command's output
};

/// The TUI's model: turns the thread's SSE events into a transcript (user messages, agent text from
/// deltas, command executions with their output, status lines) and keeps the raw events for the debug
/// pane. Understands codex app-server lines in both the dotted (`type: item.agentMessage.delta`) and the
/// JSON-RPC (`method: item/agentMessage/delta`, `params`) forms, plus Anthropic-style assistant/user
/// messages; anything unknown becomes a detail line, never an error. Pure: no I/O, no terminal; owned and
/// called by one thread (the TUI's io_context thread).
class Transcript {
public:
    /// Bounds memory on long threads: the oldest entries / raw lines are dropped past these.
    static constexpr std::size_t kMaxEntries = 5000;
    static constexpr std::size_t kMaxRawEvents = 2000;
    static constexpr std::size_t kMaxRawEventChars = 1000;

    /// Feeds one SSE frame (replayed or live).
    void on_event(const SseEvent& event);

    /// A message this client is sending; a later session.message_appended with the same
    /// client_message_id confirms it instead of adding it twice.
    void add_local_user_message(std::string text, std::string client_message_id);
    void add_system(std::string text);
    void add_error(std::string text);
    void clear();

    const std::vector<TranscriptEntry>& entries() const { return entries_; }
    const std::deque<std::string>& raw_events() const { return raw_events_; }
    const SessionStatus& status() const { return status_; }
    /// Bumped on every change; the view redraws when it moved.
    std::size_t version() const { return version_; }

    /// The transcript as screen lines of at most `options.width` columns (UTF-8 aware, wrapped at
    /// spaces when possible). Folded command output shows as one summary line.
    std::vector<TranscriptLine> render(const RenderOptions& options) const;

private:
    void on_output_line(const std::string& data);
    void on_harness_message(std::string_view type, const boost::json::object& params);
    void on_item(const boost::json::object& item, bool completed);
    void on_session_event(const SseEvent& event);
    TranscriptEntry& push(TranscriptEntry entry);
    TranscriptEntry* find_item(std::string_view item_id);
    TranscriptEntry& open_agent(std::string_view item_id);
    void close_agent() { open_agent_ = std::nullopt; }

    std::vector<TranscriptEntry> entries_;
    std::deque<std::string> raw_events_;
    SessionStatus status_;
    std::optional<std::size_t> open_agent_;  ///< index of the agent entry deltas append to
    std::size_t version_ = 0;
};

/// Splits `text` into lines of at most `width` display columns (one column per code point; a line break
/// in the text always breaks). Breaks at the last space when a line is too long, else mid-word.
std::vector<std::string> wrap_text(std::string_view text, int width);

/// Number of code points in UTF-8 `text` (its width in columns for the TUI's purposes).
std::size_t utf8_columns(std::string_view text);

}  // namespace centaur::cli
