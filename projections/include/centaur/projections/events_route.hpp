#pragma once
// `GET /api/session/{thread_key}/events`: replay after an event id, then follow live, as server-sent events.

#include <centaur/http/types.hpp>

#include <chrono>

namespace centaur::projections {

class ProjectionHub;
class SessionQueries;

struct EventsRouteOptions {
    std::size_t page_size = 500;                    ///< rows per replay query
    std::chrono::milliseconds safety_poll{30'000};  ///< re-read Postgres this often even without a wake-up
    std::chrono::milliseconds client_retry{1'000};  ///< `retry:` sent once at the start of the stream
};

/// The route. Frames: `id:` decimal event id, `event:` type, `data:` raw harness line for session.output.line,
/// compact JSON otherwise. Start point: the `Last-Event-ID` header, else `after_event_id`, else the beginning;
/// a non-numeric cursor or one that belongs to another thread is a 400; a cursor past the end waits. The
/// stream never ends on a terminal event; a failure sends `event: session.stream_error` (no id) and closes.
/// `queries` and `hub` outlive the server.
http::Route events_route(SessionQueries& queries, ProjectionHub& hub, EventsRouteOptions options);

}  // namespace centaur::projections
