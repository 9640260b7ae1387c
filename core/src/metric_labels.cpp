#include <centaur/core/metric_labels.hpp>
#include <centaur/schemas/event_types.hpp>

#include <array>

namespace centaur {

std::string_view event_type_label(std::string_view type) {
    namespace t = event_type;
    static constexpr std::array known{t::session_created,      t::message_appended,      t::execution_requested,
                                      t::interrupt_requested,  t::execution_started,     t::sandbox_ready,
                                      t::sandbox_resumed,      t::sandbox_resume_failed, t::sandbox_paused,
                                      t::sandbox_pause_failed, t::sandbox_stopped,       t::output_line,
                                      t::first_token,          t::execution_completed,   t::execution_failed,
                                      t::execution_cancelled,  t::steering_delivered,    t::steering_failed,
                                      t::interrupt_delivered,  t::harness_switched,      t::stdout_eof};
    for (auto k : known)
        if (k == type) return k;
    // The sandbox queue's event and the Slack reply streamer's bookkeeping (slack/reply_streamer.hpp).
    static constexpr std::array<std::string_view, 4> more{"session.sandbox_queued", "slack.reply_intent",
                                                          "slack.reply_started", "slack.reply_completed"};
    for (auto k : more)
        if (k == type) return k;
    return "other";
}

std::string_view source_label(EventSource source) {
    return source == EventSource::processor ? "processor" : "ingest";
}

}  // namespace centaur
