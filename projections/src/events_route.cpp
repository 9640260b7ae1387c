#include <centaur/projections/events_route.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/schemas/event_types.hpp>

#include <charconv>

namespace centaur::projections {
namespace {

constexpr std::string_view stream_failed = R"({"error":"event stream failed"})";

/// Parses a non-negative decimal event id; nullopt on anything else.
std::optional<EventId> parse_event_id(std::string_view text) {
    std::int64_t v = 0;
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end || v < 0) return std::nullopt;
    return EventId(v);
}

boost::asio::awaitable<void> stream_events(SessionQueries& queries, ProjectionHub& hub, EventsRouteOptions options,
                                           ThreadKey key, EventId cursor, std::optional<std::string> execution_id,
                                           http::SseStream& sse) {
    std::shared_ptr<ProjectionHub::Watch> watch = hub.watch(key.str());
    sse.on_close([weak = std::weak_ptr<ProjectionHub::Watch>(watch)] {
        if (auto w = weak.lock()) w->cancel();
    });
    if (!co_await sse.send_retry(options.client_retry)) co_return;
    while (sse.open() && !watch->cancelled()) {
        const EventId seen = watch->latest();
        auto page = co_await queries.read_after(key, cursor, execution_id, options.page_size);
        if (!page) {
            co_await sse.send_event("", event_type::stream_error, stream_failed);
            co_return;
        }
        for (const auto& e : *page) {
            const std::string id = std::to_string(e.event_id.value);
            if (!co_await sse.send_event(id, e.event_type, e.data)) co_return;
            cursor = e.event_id;
        }
        if (page->size() == options.page_size) continue;
        co_await watch->wait_beyond(seen, std::chrono::steady_clock::now() + options.safety_poll);
    }
}

}  // namespace

http::Route events_route(SessionQueries& queries, ProjectionHub& hub, EventsRouteOptions options) {
    return http::Route{
        "GET", "/api/session/{thread_key}/events", http::Capability::sessions_read,
        [&queries, &hub, options](const http::Request& req,
                                  const http::PathParams& params) -> boost::asio::awaitable<http::Response> {
            std::string why;
            auto key = ThreadKey::parse(params.at("thread_key"), &why);
            if (!key) co_return http::error_response(400, why);

            EventId cursor(0);
            if (auto it = req.query.find("after_event_id"); it != req.query.end()) {
                auto id = parse_event_id(it->second);
                if (!id) co_return http::error_response(400, "after_event_id must be a non-negative integer");
                cursor = *id;
            }
            if (auto last = req.header("last-event-id")) {
                auto id = parse_event_id(*last);
                if (!id) co_return http::error_response(400, "Last-Event-ID must be a non-negative integer");
                cursor = *id;
            }
            if (cursor.value > 0) {
                auto owner = co_await queries.thread_of(cursor);
                if (!owner) co_return http::error_response(503, "event store unavailable");
                if (*owner && **owner != key->str())
                    co_return http::error_response(400, "event " + std::to_string(cursor.value) +
                                                            " belongs to another thread");
            }
            std::optional<std::string> execution_id;
            if (auto it = req.query.find("execution_id"); it != req.query.end() && !it->second.empty())
                execution_id = it->second;

            http::Response res;
            res.stream = [&queries, &hub, options, key = *key, cursor,
                          execution_id](http::SseStream& sse) -> boost::asio::awaitable<void> {
                co_await stream_events(queries, hub, options, key, cursor, execution_id, sse);
            };
            co_return res;
        }};
}

}  // namespace centaur::projections
