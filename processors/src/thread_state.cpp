#include <centaur/processors/thread_state.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <algorithm>

namespace centaur::processors {

bool ThreadState::apply(const EventEnvelope& e) {
    const auto& type = e.event_type;
    if (type == event_type::session_created) {
        auto p = session_created_from(e.payload);
        if (!p) return false;
        if (!has_session || p->restart_on_conflict) harness_type = p->harness_type;
        has_session = true;
        return true;
    }
    if (type == event_type::message_appended) {
        auto p = message_appended_from(e.payload);
        return p && known_messages.insert(p->message_id).second;
    }
    if (type == event_type::execution_requested) {
        auto p = execution_requested_from(e.payload);
        if (!p || !known_executions.insert(p->execution_id).second) return false;
        queue.push_back(ExecutionPlan{p->execution_id, std::move(p->input_lines), p->idle_timeout_ms,
                                      p->max_duration_ms, e.occurred_at_us});
        return true;
    }
    if (type == event_type::execution_started) {
        if (!e.execution_id) return false;
        auto it = std::find_if(queue.begin(), queue.end(),
                               [&](const ExecutionPlan& p) { return p.execution_id == *e.execution_id; });
        if (it == queue.end()) return false;
        active = std::move(*it);
        queue.erase(it);
        last_execution_id = *e.execution_id;
        return true;
    }
    if (event_type::is_terminal(type)) {
        if (!e.execution_id) return false;
        if (active && active->execution_id == *e.execution_id) {
            active.reset();
            return true;
        }
        // Cancelled before it started: it leaves the queue.
        auto it = std::find_if(queue.begin(), queue.end(),
                               [&](const ExecutionPlan& p) { return p.execution_id == *e.execution_id; });
        if (it == queue.end()) return false;
        queue.erase(it);
        return true;
    }
    return true;
}

}  // namespace centaur::processors
