#pragma once
// The processor's durable view of one thread: a pure fold over the thread's events. The same `apply` runs
// when the processor decides (on the events it is about to append) and when it recovers (on the log), so
// both paths reach the same state.

#include <centaur/schemas/envelope.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace centaur::processors {

struct ExecutionPlan {
    std::string execution_id;
    std::vector<std::string> input_lines;
    std::uint64_t idle_timeout_ms = 0;
    std::uint64_t max_duration_ms = 0;
    std::int64_t requested_at_us = 0;  ///< occurred_at of the execution_requested event (metrics)
};

struct ThreadState {
    bool has_session = false;
    std::string harness_type = "codex";
    std::unordered_set<std::string> known_executions;  ///< every execution ever requested (dedupe)
    std::unordered_set<std::string> known_messages;    ///< every message id ever appended (dedupe)
    std::deque<ExecutionPlan> queue;                   ///< requested, not started, in log order
    std::optional<ExecutionPlan> active;               ///< started, no terminal event yet
    std::optional<std::string> last_execution_id;      ///< the most recently started execution

    /// Folds one event. Returns false for an input the state already holds (duplicate request or message),
    /// which the processor must not act on again.
    bool apply(const EventEnvelope& event);
};

}  // namespace centaur::processors
