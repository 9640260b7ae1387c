#include <centaur/projections/events_route.hpp>
#include <centaur/projections/event_cursor.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/projections/stream_probe.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/envelope.hpp>

#include "live_fanout.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <charconv>

namespace centaur::projections {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr const char* reason_slow = "slow_client";
constexpr const char* reason_gap = "gap";
constexpr const char* reason_store = "store_unavailable";

/// Data of a `session.stream_error` frame.
std::string stream_error_data(std::string_view error, std::string_view reason) {
    return json::serialize(json::object{{"error", error}, {"reason", reason}});
}

std::string gap_message(const ThreadPoint& cursor, const StoredEvent* next) {
    return "cannot prove continuity after event " + std::to_string(cursor.event_id.value) + " (seq " +
           std::to_string(cursor.seq.value) + "): the projection has " +
           (next ? "seq " + std::to_string(next->seq.value) + " next" : std::string("no later event"));
}

std::string slow_client_message(std::size_t behind) {
    return "client too slow: fell more than " + std::to_string(behind) +
           " events behind the thread; reconnect with Last-Event-ID";
}

/// One attached stream, run by the route's stream function on the io_context. Every event of the thread with seq
/// > `cursor_.seq` is handled in seq order exactly once: replayed from Postgres while the stream is behind the
/// live feed's ring, then taken from the ring. Only events with id > `floor_` (the requested cursor) that match
/// the execution filter are written.
class EventStream {
public:
    EventStream(SessionQueries& queries, LiveFanout& fanout, const EventsRouteOptions& options, ThreadKey key,
                ThreadPoint start, EventId floor, std::optional<std::string> execution_id, http::SseStream& sse,
                Clock::time_point requested_at)
        : queries_(queries),
          fanout_(fanout),
          options_(options),
          key_(std::move(key)),
          cursor_(start),
          floor_(floor),
          execution_id_(std::move(execution_id)),
          sse_(sse),
          requested_at_(requested_at) {}

    asio::awaitable<void> run() {
        // Subscribe before the first read of the projection (the feed starts reading the head concurrently).
        auto ex = co_await asio::this_coro::executor;
        ex_ = ex;
        sub_ = fanout_.subscribe(key_, ex);
        sub_->set_cut_off([this] { sse_.close(); });
        sse_.on_close([weak = std::weak_ptr<LiveFanout::Subscription>(sub_)] {
            if (auto s = weak.lock()) s->cancel();
        });
        if (!co_await sse_.send_retry(options_.client_retry)) co_return;

        bool replayed_to_end = false;  // the last Postgres page was short: wait for the feed to start
        while (sse_.open()) {
            batch_.clear();
            const auto status = sub_->poll(cursor_.seq, options_.max_write_bytes, batch_);
            switch (status) {
                case LiveFanout::Status::ready:
                    if (!co_await send(batch_, true)) co_return;
                    break;
                case LiveFanout::Status::starting:
                    if (replayed_to_end) {
                        co_await sub_->wait(Clock::time_point::max());
                        break;
                    }
                    [[fallthrough]];
                case LiveFanout::Status::behind: {
                    const bool must_progress = status == LiveFanout::Status::behind;
                    const auto outcome = co_await replay_page(must_progress);
                    if (outcome == Replay::over) co_return;
                    replayed_to_end = outcome == Replay::caught_up;
                    break;
                }
                case LiveFanout::Status::waiting:
                    release_buffers();
                    co_await sub_->wait(Clock::time_point::max());
                    break;
                case LiveFanout::Status::lapped: {
                    const std::string message = slow_client_message(options_.buffer_events);
                    co_await stream_error(reason_slow, message);
                    co_return;
                }
                case LiveFanout::Status::failed:
                    co_await stream_error(sub_->failure_reason(), sub_->failure());
                    co_return;
            }
        }
    }

private:
    enum class Replay { more, caught_up, over };

    /// Reads the next page after the cursor from Postgres and sends its contiguous prefix. A hole right after the
    /// cursor (or, with `must_progress`, no row although the feed has later ones) is re-read up to max_retries
    /// times, then the stream ends with a stream error.
    asio::awaitable<Replay> replay_page(bool must_progress) {
        for (int attempt = 0;; ++attempt) {
            auto page = co_await read_page();
            if (!sse_.open()) co_return Replay::over;
            if (!page) {
                if (attempt >= options_.max_retries) {
                    const std::string message = "event store unavailable";
                    co_await stream_error(reason_store, message);
                    co_return Replay::over;
                }
                co_await pause();
                continue;
            }
            std::size_t contiguous = 0;
            while (contiguous < page->size() && (*page)[contiguous].seq.value == cursor_.seq.value + 1 +
                                                                                    static_cast<std::int64_t>(contiguous))
                ++contiguous;
            const bool whole = contiguous == page->size();
            if (contiguous > 0 || (whole && !must_progress)) {
                const bool full = page->size() == options_.page_size;
                if (whole && full) read_ahead(page->back().event_id);  // overlaps this page's writes
                page->resize(contiguous);
                if (!co_await send_all(*page)) co_return Replay::over;
                co_return whole && !full ? Replay::caught_up : Replay::more;
            }
            if (attempt >= options_.max_retries) {
                const std::string message = gap_message(cursor_, page->empty() ? nullptr : &page->front());
                co_await stream_error(reason_gap, message);
                co_return Replay::over;
            }
            co_await pause();
        }
    }

    /// A replay read issued ahead of need: the page after `after`, delivered into `page`, then `done` fires.
    struct PendingRead {
        explicit PendingRead(asio::any_io_executor ex) : done(std::move(ex), Clock::time_point::max()) {}
        EventId after{0};
        std::optional<result<std::vector<StoredEvent>>> page;
        asio::steady_timer done;
    };

    /// Starts reading the page after `after` (unfiltered: the filter applies after the continuity check).
    void read_ahead(EventId after) {
        auto pending = std::make_shared<PendingRead>(ex_);
        pending->after = after;
        const std::optional<std::string> every_execution;
        asio::co_spawn(ex_, queries_.read_after(key_, after, every_execution, options_.page_size),
                       [pending](std::exception_ptr e, result<std::vector<StoredEvent>> page) {
                           if (e) page = make_error_code(errc::store_unavailable);
                           pending->page = std::move(page);
                           pending->done.cancel();
                       });
        ahead_ = std::move(pending);
    }

    /// The page after the cursor: the read issued ahead when it is for the cursor, else a new one. A page read
    /// earlier is still a contiguous prefix of what follows the cursor (at worst shorter than today's).
    asio::awaitable<result<std::vector<StoredEvent>>> read_page() {
        if (!ahead_ || ahead_->after != cursor_.event_id) read_ahead(cursor_.event_id);
        auto pending = std::move(ahead_);
        while (!pending->page) co_await pending->done.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return std::move(*pending->page);
    }

    /// An idle stream keeps no replay page: what a client costs while it waits stays small.
    void release_buffers() {
        constexpr std::size_t idle_capacity = 64;
        ahead_.reset();
        if (batch_.capacity() > idle_capacity) std::vector<StoredEvent>().swap(batch_);
        if (ids_.capacity() > idle_capacity) std::vector<std::string>().swap(ids_);
        if (frames_.capacity() > idle_capacity) std::vector<http::SseFrame>().swap(frames_);
    }

    /// Sends `events` in writes of at most max_write_bytes of data each.
    asio::awaitable<bool> send_all(const std::vector<StoredEvent>& events) {
        std::size_t i = 0;
        while (i < events.size()) {
            batch_.clear();
            std::size_t bytes = 0;
            while (i < events.size() && (batch_.empty() || bytes + events[i].data.size() <= options_.max_write_bytes)) {
                bytes += events[i].data.size();
                batch_.push_back(events[i]);
                ++i;
            }
            if (!co_await send(batch_)) co_return false;
        }
        co_return true;
    }

    /// Writes the events of `events` (contiguous after the cursor) that pass the floor and the filter, in one
    /// write, then moves the cursor past all of them. False when the stream is over. `live`: the events come
    /// from the live feed (their append-to-delivery latency is measured).
    asio::awaitable<bool> send(const std::vector<StoredEvent>& events, bool live = false) {
        frames_.clear();
        ids_.clear();
        ids_.reserve(events.size());  // frames_ hold views into ids_: no reallocation below
        for (const auto& e : events) {
            if (e.event_id.value <= floor_.value) continue;
            if (execution_id_ && e.execution_id != execution_id_) continue;
            ids_.push_back(std::to_string(e.event_id.value));
            frames_.push_back(http::SseFrame{ids_.back(), e.event_type, e.data});
        }
        if (!frames_.empty()) {
            sub_->set_writing(true);
            const bool written = co_await sse_.send_events(frames_);
            sub_->set_writing(false);
            if (!written) {
                if (sub_->lapped()) count_error(reason_slow);  // cut off by the feed during the write
                co_return false;
            }
            if (options_.probe) observe_written(events, live);
        }
        cursor_ = ThreadPoint{events.back().seq, events.back().event_id};
        co_return true;
    }

    void observe_written(const std::vector<StoredEvent>& events, bool live) {
        auto* probe = options_.probe;
        probe->events_sent.Increment(static_cast<double>(frames_.size()));
        if (!first_written_) {
            first_written_ = true;
            probe->replay_first_byte.Observe(std::chrono::duration<double>(Clock::now() - requested_at_).count());
        }
        if (!live) return;
        const auto now = now_micros();
        for (const auto& e : events) {
            if (e.event_id.value <= floor_.value || (execution_id_ && e.execution_id != execution_id_)) continue;
            probe->delivery_latency.Observe(static_cast<double>(std::max<std::int64_t>(0, now - e.created_us)) / 1e6);
        }
    }

    asio::awaitable<void> stream_error(const char* reason, const std::string& message) {
        count_error(reason);
        const std::string data = stream_error_data(message, reason);
        co_await sse_.send_event("", event_type::stream_error, data);
    }

    void count_error(const char* reason) {
        if (!options_.probe) return;
        options_.probe->stream_error(reason);
        if (std::string_view(reason) == reason_slow) options_.probe->slow_disconnects.Increment();
    }

    asio::awaitable<void> pause() {
        const auto until = Clock::now() + options_.retry_pause;
        while (sse_.open() && Clock::now() < until) co_await sub_->wait(until);
    }

    SessionQueries& queries_;
    LiveFanout& fanout_;
    const EventsRouteOptions& options_;
    const ThreadKey key_;
    ThreadPoint cursor_;    ///< every event up to this seq has been handled
    const EventId floor_;   ///< events with an id at or below this are handled but not written
    const std::optional<std::string> execution_id_;
    http::SseStream& sse_;
    const Clock::time_point requested_at_;
    bool first_written_ = false;
    asio::any_io_executor ex_;
    std::shared_ptr<LiveFanout::Subscription> sub_;
    std::shared_ptr<PendingRead> ahead_;
    std::vector<StoredEvent> batch_;
    std::vector<std::string> ids_;
    std::vector<http::SseFrame> frames_;
};

FanoutOptions fanout_options(const EventsRouteOptions& o) {
    FanoutOptions f;
    f.page_size = o.page_size;
    f.buffer_events = o.buffer_events;
    f.buffer_bytes = o.buffer_bytes;
    f.poll = o.live_poll;
    f.retry_pause = o.retry_pause;
    f.max_retries = o.max_retries;
    return f;
}

}  // namespace

http::Route events_route(SessionQueries& queries, ProjectionHub& hub, EventsRouteOptions options) {
    auto fanout = std::make_shared<LiveFanout>(queries, hub, fanout_options(options), options.probe);
    auto shared_options = std::make_shared<const EventsRouteOptions>(options);
    return http::Route{
        "GET", "/api/session/{thread_key}/events", http::Capability::sessions_read,
        [&queries, fanout, shared_options](const http::Request& req,
                                           const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
            const auto requested_at = Clock::now();
            StreamProbe* const probe = shared_options->probe;
            std::string why;
            auto key = ThreadKey::parse(params.at("thread_key"), &why);
            if (!key) co_return http::error_response(400, why);

            std::optional<std::string_view> after_param;
            if (auto it = req.query.find("after_event_id"); it != req.query.end()) after_param = it->second;
            const StreamCursor requested = stream_cursor(after_param, req.header("last-event-id"));
            if (requested.error) co_return http::error_response(400, *requested.error);
            if (probe && req.header("last-event-id")) probe->resumes.Increment();
            const EventId cursor = requested.after;
            ThreadPoint start;
            if (cursor.value > 0) {
                auto position = co_await queries.cursor_position(*key, cursor);
                if (!position) {
                    if (probe) probe->resume_failed("store_unavailable");
                    co_return http::error_response(503, "event store unavailable");
                }
                if (position->owner && *position->owner != key->str()) {
                    if (probe) probe->resume_failed("foreign_cursor");
                    co_return http::error_response(400, "event " + std::to_string(cursor.value) +
                                                            " belongs to another thread");
                }
                start = position->at_or_before;
            }
            std::optional<std::string> execution_id;
            if (auto it = req.query.find("execution_id"); it != req.query.end() && !it->second.empty())
                execution_id = it->second;

            http::Response res;
            res.stream = [&queries, fanout, shared_options, key = *key, start, cursor, execution_id,
                          requested_at](http::SseStream& sse) -> boost::asio::awaitable<void> {
                EventStream stream(queries, *fanout, *shared_options, key, start, cursor, execution_id, sse,
                                   requested_at);
                co_await stream.run();
            };
            co_return res;
        }};
}

}  // namespace centaur::projections
