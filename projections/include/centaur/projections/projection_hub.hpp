#pragma once
// In-process wake-ups: the projector publishes "thread K is projected up to event E" after each commit; the
// events stream's live feeds (one watch per thread per process, shared by all its clients) and read-your-writes
// waits watch a thread and wake when it moves. Streams always read the events from Postgres, so a missed or
// coalesced wake-up costs latency, never data; read-your-writes may answer from `projected` alone, because a
// publish always follows the commit it reports.

#include <centaur/schemas/ids.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace centaur::projections {

/// Owned by the app; outlives every Watch. `publish` is thread-safe; everything else runs on the io_context.
class ProjectionHub {
public:
    explicit ProjectionHub(boost::asio::any_io_executor io);

    /// A registration for one thread key. Records the highest event id published for it since creation.
    class Watch {
    public:
        ~Watch();
        Watch(const Watch&) = delete;
        Watch& operator=(const Watch&) = delete;
        /// Highest event id published for the key since the watch was made (0 if none).
        EventId latest() const { return latest_; }
        /// Completes when `latest() > beyond` (at once if already so) or at `deadline`; true when it moved.
        boost::asio::awaitable<bool> wait_beyond(EventId beyond, std::chrono::steady_clock::time_point deadline);
        /// Ends a pending and every later `wait_beyond` at once (returning false); for stream shutdown.
        void cancel();
        bool cancelled() const { return cancelled_; }

    private:
        friend class ProjectionHub;
        Watch(ProjectionHub& hub, std::string key);
        ProjectionHub& hub_;
        std::string key_;
        EventId latest_;
        bool cancelled_ = false;
        boost::asio::steady_timer timer_;
    };

    /// Registers a watch on `key`. Register before reading Postgres, then wait: no wake-up is lost in between.
    std::unique_ptr<Watch> watch(const std::string& key);
    /// Records projected progress, any thread: (thread key, highest event id applied or skipped as duplicate).
    void publish(std::vector<std::pair<std::string, EventId>> advanced);
    /// Highest event id published for `key` while the hub remembered it (the last `remembered_keys` keys
    /// published; 0 when unknown): a floor of what Postgres shows for the key, never above it.
    EventId projected(const std::string& key) const;
    /// True once anything was published: a projector (or live feed) in this process reports progress here.
    bool publishing() const { return publishing_.load(std::memory_order_relaxed); }
    /// Keys `projected` remembers at most; past that the memory starts over (a hint only: callers then read Postgres).
    static constexpr std::size_t remembered_keys = 16384;
    /// Number of live watches (tests, metrics).
    std::size_t watch_count() const;

private:
    void deliver(const std::vector<std::pair<std::string, EventId>>& advanced);
    boost::asio::any_io_executor io_;
    std::unordered_multimap<std::string, Watch*> watches_;
    std::unordered_map<std::string, EventId> projected_;
    std::atomic<bool> publishing_{false};
};

}  // namespace centaur::projections
