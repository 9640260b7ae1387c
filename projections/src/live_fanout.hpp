#pragma once
// Live fan-out for the events stream: one feed per thread key per process, shared by every stream attached to
// that thread. The feed reads the projection (Postgres) after its own cursor when the hub hints that the thread
// moved, proves each page contiguous by `seq`, and keeps the last events in a bounded ring. Hints come from the
// in-process projector, and from one heads poll per process (every `poll`, one query for all threads with a
// feed), which covers a projector in another process. Streams take events from the ring by seq; a stream that is not
// yet within the ring replays from Postgres itself. Private to projections/.

#include <centaur/projections/session_queries.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace centaur::projections {

class ProjectionHub;
class StreamProbe;

struct FanoutOptions {
    std::size_t page_size = 500;               ///< rows per feed read
    std::size_t buffer_events = 4096;          ///< ring capacity per thread: how far a live stream may lag
    std::size_t buffer_bytes = 4 << 20;        ///< the same bound in bytes of event data
    std::chrono::milliseconds poll{250};       ///< the heads of all threads with a feed are read this often
    std::chrono::milliseconds retry_pause{200};  ///< pause before re-reading a hole or after a failed read
    int max_retries = 10;                      ///< re-reads of a hole or failed reads before the feed fails
};

/// Owned (shared) by the events route; lives until its last feed has stopped. io_context thread only; `queries`,
/// `hub` and `probe` outlive it. Feeds are created by the first subscription of a thread and stop when the last
/// one is destroyed.
class LiveFanout {
    struct Feed;
    struct Core;

public:
    /// What a stream should do next, relative to the last seq it has handled.
    enum class Status {
        starting,  ///< the feed is reading the thread head: replay from Postgres, then wait
        behind,    ///< the events it needs next are older than the ring: read them from Postgres
        ready,     ///< events were appended to `out`
        waiting,   ///< it has every event the feed has: wait
        lapped,    ///< it was at the live edge and fell more than the ring behind: cut it off
        failed,    ///< the feed cannot prove continuity or read the projection: `failure()` says why
    };

    /// One stream's registration. Destroying it leaves the feed.
    class Subscription {
    public:
        ~Subscription();
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;

        /// The state for a stream that has handled every event of the thread up to seq `through`. On `ready`
        /// appends the ring's next events (in seq order, at least one, at most `max_bytes` of data) to `out`.
        Status poll(EventSeq through, std::size_t max_bytes, std::vector<StoredEvent>& out);
        /// Completes when the feed changes, on `cancel()`, or at `deadline`.
        boost::asio::awaitable<void> wait(std::chrono::steady_clock::time_point deadline);
        /// Ends a pending and every later `wait` at once.
        void cancel();
        /// Brackets a write of events to the client; a stream lapped while writing is cut off with `cut_off`.
        void set_writing(bool writing) { writing_ = writing; }
        /// Run by the feed when the stream is lapped during a write: must close the stream. Not run after the
        /// subscription is destroyed.
        void set_cut_off(std::function<void()> cut_off) { cut_off_ = std::move(cut_off); }
        /// Why the feed failed: a message and a reason label ("gap", "store_unavailable").
        const std::string& failure() const;
        const char* failure_reason() const;
        /// True once the stream was lapped (cut off or due to be).
        bool lapped() const { return lapped_; }

    private:
        friend class LiveFanout;
        Subscription(std::shared_ptr<Feed> feed, boost::asio::any_io_executor ex);
        std::shared_ptr<Feed> feed_;
        boost::asio::steady_timer timer_;
        EventSeq through_{0};
        bool live_ = false;
        bool lapped_ = false;
        bool writing_ = false;
        bool cancelled_ = false;
        std::function<void()> cut_off_;
    };

    LiveFanout(SessionQueries& queries, ProjectionHub& hub, FanoutOptions options, StreamProbe* probe);
    ~LiveFanout();
    LiveFanout(const LiveFanout&) = delete;
    LiveFanout& operator=(const LiveFanout&) = delete;

    /// Joins the feed of `key`, starting one on `ex` when there is none.
    std::unique_ptr<Subscription> subscribe(const ThreadKey& key, boost::asio::any_io_executor ex);
    /// Threads with a running feed.
    std::size_t feed_count() const;
    const FanoutOptions& options() const;

private:
    static boost::asio::awaitable<void> run_feed(std::shared_ptr<Core> core, std::shared_ptr<Feed> feed);
    static boost::asio::awaitable<void> run_heads_poll(std::shared_ptr<Core> core);
    std::shared_ptr<Core> core_;
};

}  // namespace centaur::projections
