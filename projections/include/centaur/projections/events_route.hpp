#pragma once
// `GET /api/session/{thread_key}/events`: replay after an event id, then follow live, as server-sent events.

#include <centaur/http/types.hpp>

#include <chrono>
#include <cstddef>

namespace centaur::projections {

class ProjectionHub;
class SessionQueries;
class StreamProbe;

struct EventsRouteOptions {
    std::size_t page_size = 500;                    ///< rows per replay query (and per live-feed read)
    std::chrono::milliseconds client_retry{1'000};  ///< `retry:` sent once at the start of the stream
    /// Events kept per thread for its live streams (CENTAUR_SSE_CLIENT_BUFFER_EVENTS): a live client that falls
    /// further behind the thread's head is cut off with `session.stream_error` and resumes with Last-Event-ID.
    std::size_t buffer_events = 4096;
    std::size_t buffer_bytes = 4 << 20;             ///< the same bound in bytes of event data per thread
    std::size_t max_write_bytes = 64 << 10;         ///< event data per socket write (at least one event)
    /// The heads of every thread with a live feed are read this often (one query per process): the wake-up when
    /// the projector runs in another process. An in-process projector wakes feeds at once.
    std::chrono::milliseconds live_poll{250};
    std::chrono::milliseconds retry_pause{200};     ///< pause before re-reading a hole or after a failed read
    int max_retries = 10;                           ///< re-reads before `session.stream_error` (hole, store down)
    StreamProbe* probe = nullptr;                   ///< metrics; optional, outlives the server
};

/// The route. Frames: `id:` decimal event id, `event:` type, `data:` raw harness line for session.output.line,
/// compact JSON otherwise; optional `execution_id` filter. Start point: the `Last-Event-ID` header (an empty one
/// is ignored), else `after_event_id`, else the beginning; a non-numeric cursor or one that belongs to another
/// thread is a 400 before the stream starts; a cursor past the end, or a thread without events yet, waits.
/// `retry:` is sent once; idle streams get heartbeat comments from the server (CENTAUR_SSE_KEEPALIVE_SECS).
/// Every event of the thread after the cursor is sent once, in order, proven contiguous by the per-thread `seq`
/// (replay from Postgres, then the thread's shared live feed); when continuity cannot be proven within
/// `max_retries` re-reads, or the client falls more than `buffer_events` behind while live, the stream sends
/// `event: session.stream_error` (no id, JSON `{"error","reason"}`) and closes. It never ends on a terminal event.
/// `queries` and `hub` outlive the server.
http::Route events_route(SessionQueries& queries, ProjectionHub& hub, EventsRouteOptions options);

}  // namespace centaur::projections
