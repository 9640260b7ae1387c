#pragma once
// Reads a harness's stdout lines (codex app-server NDJSON, dotted `type` or JSON-RPC `method` form) for one
// execution and says when the turn ended and how, with upstream's rules.

#include <optional>
#include <string>
#include <string_view>

namespace centaur::processors {

enum class TerminalKind { completed, failed, cancelled };

struct TerminalOutcome {
    TerminalKind kind;
    std::string reason;                      ///< completion_reason (completed), error (failed), reason (cancelled)
    std::optional<std::string> result_text;  ///< the final answer, when there is one
};

/// One per execution; pure (no I/O, no clock). Not thread-safe; owned by the processor.
class TurnTracker {
public:
    /// Feeds one stdout line. Returns the outcome when this line ends the turn.
    std::optional<TerminalOutcome> observe(std::string_view line);
    /// True once the harness produced agent text (the first token).
    bool saw_agent_text() const { return saw_agent_text_; }
    /// The answer assembled so far (deltas appended; a final message replaces them).
    const std::string& answer() const { return answer_; }
    /// `thread.started`'s thread id, when seen.
    const std::optional<std::string>& harness_thread_id() const { return harness_thread_id_; }

private:
    std::optional<std::string> optional_answer() const {
        return answer_.empty() ? std::nullopt : std::optional<std::string>(answer_);
    }
    std::string answer_;
    bool saw_agent_text_ = false;
    std::optional<std::string> harness_thread_id_;
};

}  // namespace centaur::processors
