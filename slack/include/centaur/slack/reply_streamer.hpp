#pragma once
// The Slack reply streamer: renders the agent's output of every execution the Slack webhook started into its
// Slack thread. Streams with chat.startStream / chat.appendStream / chat.stopStream (recipient user and team
// from the triggering message), falls back to chat.postMessage + throttled chat.update where streaming is refused,
// and shows assistant.threads.setStatus while the turn runs. Deltas are coalesced (flush at >= 256 chars or
// after 1 s); appends are chunked under Slack's 12,000-char limit; every call passes a token bucket per
// (workspace, method) that honours Retry-After on 429. A Slack failure never touches the turn itself: calls are
// retried with backoff and counted.
//
// Each thread's reply is rendered by one process: the streamer reads the log as a member of a consumer group
// (`centaur-slack-replies`), re-folds every partition it is assigned from the start without calling Slack, and
// goes live per partition once caught up with it.
//
// Progress is durable on the log, with uuids derived from the execution id: `slack.reply_intent` (recorded and
// durable BEFORE Slack is asked to create a message), `slack.reply_started` (the message ts Slack answered) and
// `slack.reply_completed`. A folded partition finishes what is unfinished: a reply already started continues in
// that message (chat.update with the whole text), a finished one is never posted again, and an intent without
// its ts is first looked up in the thread (`conversations.replies`: the message metadata marker a post carries,
// else a bot message no reply claims) instead of being posted again.

#include <centaur/core/event_log.hpp>
#include <centaur/core/slack_client.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace centaur::slack {

/// Event types the streamer appends (bookkeeping of what Slack already shows).
inline constexpr char reply_started_event[] = "slack.reply_started";
inline constexpr char reply_completed_event[] = "slack.reply_completed";
inline constexpr char reply_intent_event[] = "slack.reply_intent";
/// `metadata.event_type` of the messages the streamer posts (payload: execution_id, part).
inline constexpr char reply_metadata_type[] = "centaur_reply";

/// Sustained calls per minute and burst of one (workspace, method) bucket.
struct RateLimit {
    double per_minute = 50;
    double burst = 3;
};

struct ReplyStreamerOptions {
    std::string group = "centaur-slack-replies";      ///< consumer group; empty = every partition (one process)
    std::chrono::milliseconds revoke_drain{10'000};   ///< on revoke, wait this long for Slack calls in flight
    std::size_t lookup_limit = 1000;                  ///< messages of a thread one recovery lookup reads
    std::chrono::milliseconds poll_wait{200};         ///< one log poll when caught up
    std::size_t max_batch = 1000;
    std::size_t flush_chars = 256;                    ///< flush coalesced text at this size …
    std::chrono::milliseconds flush_interval{1'000};  ///< … or this long after the previous flush
    std::size_t max_append_chars = 12'000;            ///< Slack's markdown_text limit per append
    std::size_t max_message_chars = 35'000;           ///< fallback mode starts a new message beyond this
    bool streaming = true;                            ///< try chat.startStream first
    int max_attempts = 8;                             ///< per call, transport errors, 5xx and 429 included
    std::chrono::milliseconds retry_backoff{250};     ///< doubled per attempt, capped at 8 s
    std::chrono::minutes recovery_window{10};         ///< on start, finish replies of executions that ended since
    std::string status_text = "is working on your request…";
    /// Per method; methods not listed use `default_limit`. Defaults follow Slack's tiers.
    std::map<std::string, RateLimit> limits = {
        {slack_method::post_message, {60, 3}},   {slack_method::update, {50, 3}},
        {slack_method::start_stream, {20, 5}},   {slack_method::append_stream, {100, 5}},
        {slack_method::stop_stream, {50, 5}},    {slack_method::set_status, {50, 5}},
    };
    RateLimit default_limit{50, 3};
};

/// Counters `centaur_slack_api_*`. Thread-safe; outlives the streamer.
class SlackReplyProbe {
public:
    explicit SlackReplyProbe(prometheus::Registry& registry);
    prometheus::Family<prometheus::Counter>& calls;         ///< {method, outcome: ok | error | failed}
    prometheus::Family<prometheus::Counter>& rate_limited;  ///< 429 / ratelimited answers {method}
    prometheus::Family<prometheus::Counter>& retries;       ///< retried calls {method}
    prometheus::Family<prometheus::Counter>& recoveries;    ///< unconfirmed message creations looked up {outcome}
    double value(prometheus::Family<prometheus::Counter>& family, const std::map<std::string, std::string>& labels) const;
};

/// Threads: a reader thread polls the log and hands batches to the io_context (waiting until handled); all
/// state and every Slack call live on the io_context. Lifecycle: construct, `start()`, `co_await stop()`.
/// `log`, `client` and `probe` (may be null) outlive it.
class ReplyStreamer {
public:
    ReplyStreamer(boost::asio::io_context& io, EventLog& log, SlackClient& client, ReplyStreamerOptions options,
                  SlackReplyProbe* probe);
    ~ReplyStreamer();
    ReplyStreamer(const ReplyStreamer&) = delete;
    ReplyStreamer& operator=(const ReplyStreamer&) = delete;

    void start();
    boost::asio::awaitable<void> stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// What one harness stdout line adds to the reply: agent text (deltas, or a whole message when no delta came)
/// and short summaries of commands and tool calls. Pure; `saw_delta` carries state between lines.
std::string reply_text_of_line(std::string_view line, bool& saw_delta);

}  // namespace centaur::slack
