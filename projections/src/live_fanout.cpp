#include "live_fanout.hpp"

#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/stream_probe.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <unordered_map>

namespace centaur::projections {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
/// A feed re-reads Postgres at least this often even when no hint arrives.
constexpr auto feed_safety_wait = std::chrono::seconds(30);

void log_failure(const char* what, std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        spdlog::error("events: {} threw: {}", what, ex.what());
    }
}
}  // namespace

struct LiveFanout::Core {
    Core(SessionQueries& q, ProjectionHub& h, FanoutOptions o, StreamProbe* p)
        : queries(q), hub(h), options(o), probe(p) {}
    SessionQueries& queries;
    ProjectionHub& hub;
    const FanoutOptions options;
    StreamProbe* const probe;
    std::unordered_map<std::string, std::shared_ptr<Feed>> feeds;
    std::optional<asio::steady_timer> poll_timer;  ///< the heads poll's; exists while it runs
    bool polling = false;
};

/// One thread's shared live feed. Its coroutine (run_feed) is the only writer of the ring; subscriptions read it.
struct LiveFanout::Feed {
    enum class State { starting, live, failed };

    Feed(std::shared_ptr<Core> c, ThreadKey k) : core(std::move(c)), key(std::move(k)) {}

    /// Wakes every waiting subscription.
    void notify() {
        for (auto* sub : subs) sub->timer_.cancel();
    }

    /// Leaves the fan-out's map (a later subscriber starts a fresh feed) and ends the coroutine's waits.
    void stop() {
        if (stopped) return;
        stopped = true;
        if (watch) watch->cancel();
        auto it = core->feeds.find(key.str());
        if (it != core->feeds.end() && it->second.get() == this) core->feeds.erase(it);
        if (core->feeds.empty() && core->poll_timer) core->poll_timer->cancel();
        if (core->probe) core->probe->live_feeds.Decrement();
    }

    void fail(const char* reason, std::string why) {
        spdlog::warn("events: live feed of {} failed: {}", key.str(), why);
        state = State::failed;
        failure_reason = reason;
        failure = std::move(why);
        stop();
        notify();
    }

    /// Appends a contiguous event, evicts beyond the bounds and flags the live subscriptions it lapped.
    void append(StoredEvent e) {
        next = EventSeq(e.seq.value + 1);
        cursor = e.event_id;
        ring_bytes += e.data.size();
        ring.push_back(std::move(e));
        const auto& o = core->options;
        bool evicted = false;
        while (ring.size() > std::max<std::size_t>(o.buffer_events, 1) || (ring_bytes > o.buffer_bytes && ring.size() > 1)) {
            ring_bytes -= ring.front().data.size();
            ring.pop_front();
            evicted = true;
        }
        if (!evicted) return;
        const auto first = ring.front().seq.value;
        for (auto* sub : subs) {
            if (!sub->live_ || sub->lapped_ || sub->through_.value + 1 >= first) continue;
            sub->lapped_ = true;
            sub->timer_.cancel();
            if (sub->writing_ && sub->cut_off_) sub->cut_off_();
        }
    }

    std::shared_ptr<Core> core;
    ThreadKey key;
    State state = State::starting;
    std::string failure;
    const char* failure_reason = "";
    std::deque<StoredEvent> ring;  ///< contiguous by seq; ends at next - 1
    std::size_t ring_bytes = 0;
    EventSeq next{1};     ///< seq of the next event the feed will read
    EventId cursor{0};    ///< id of the last event read (the thread head when the feed started)
    std::vector<Subscription*> subs;
    std::unique_ptr<ProjectionHub::Watch> watch;
    bool stopped = false;
};

LiveFanout::Subscription::Subscription(std::shared_ptr<Feed> feed, asio::any_io_executor ex)
    : feed_(std::move(feed)), timer_(std::move(ex)) {}

LiveFanout::Subscription::~Subscription() {
    std::erase(feed_->subs, this);
    if (feed_->core->probe) feed_->core->probe->clients.Decrement();
    if (feed_->subs.empty()) feed_->stop();
}

LiveFanout::Status LiveFanout::Subscription::poll(EventSeq through, std::size_t max_bytes,
                                                  std::vector<StoredEvent>& out) {
    through_ = through;
    if (lapped_) return Status::lapped;
    const Feed& f = *feed_;
    if (f.state == Feed::State::failed) return Status::failed;
    if (f.state == Feed::State::starting) return Status::starting;
    const auto wanted = through.value + 1;
    if (f.ring.empty() || wanted < f.ring.front().seq.value) {
        if (wanted >= f.next.value) {  // caught up with (or ahead of) the feed
            live_ = true;
            return Status::waiting;
        }
        if (!live_) return Status::behind;
        lapped_ = true;
        return Status::lapped;
    }
    if (wanted >= f.next.value) {
        live_ = true;
        return Status::waiting;
    }
    std::size_t bytes = 0;
    for (auto i = static_cast<std::size_t>(wanted - f.ring.front().seq.value); i < f.ring.size(); ++i) {
        const auto& e = f.ring[i];
        if (!out.empty() && bytes + e.data.size() > max_bytes) break;
        bytes += e.data.size();
        out.push_back(e);
    }
    through_ = out.back().seq;
    live_ = true;
    return Status::ready;
}

asio::awaitable<void> LiveFanout::Subscription::wait(Clock::time_point deadline) {
    if (cancelled_) co_return;
    timer_.expires_at(deadline);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

void LiveFanout::Subscription::cancel() {
    cancelled_ = true;
    timer_.cancel();
}

const std::string& LiveFanout::Subscription::failure() const { return feed_->failure; }

const char* LiveFanout::Subscription::failure_reason() const { return feed_->failure_reason; }

LiveFanout::LiveFanout(SessionQueries& queries, ProjectionHub& hub, FanoutOptions options, StreamProbe* probe)
    : core_(std::make_shared<Core>(queries, hub, options, probe)) {}

LiveFanout::~LiveFanout() = default;

std::unique_ptr<LiveFanout::Subscription> LiveFanout::subscribe(const ThreadKey& key, asio::any_io_executor ex) {
    auto& slot = core_->feeds[key.str()];
    if (!slot) {
        slot = std::make_shared<Feed>(core_, key);
        // Registered before the feed's first read: no hint published after that read is lost.
        slot->watch = core_->hub.watch(key.str());
        if (core_->probe) core_->probe->live_feeds.Increment();
        asio::co_spawn(ex, run_feed(core_, slot), [](std::exception_ptr e) { log_failure("live feed", e); });
        if (!core_->polling) {
            core_->polling = true;
            asio::co_spawn(ex, run_heads_poll(core_), [](std::exception_ptr e) { log_failure("heads poll", e); });
        }
    }
    std::unique_ptr<Subscription> sub(new Subscription(slot, std::move(ex)));
    slot->subs.push_back(sub.get());
    if (core_->probe) core_->probe->clients.Increment();
    return sub;
}

std::size_t LiveFanout::feed_count() const { return core_->feeds.size(); }

const FanoutOptions& LiveFanout::options() const { return core_->options; }

asio::awaitable<void> LiveFanout::run_feed(std::shared_ptr<Core> core, std::shared_ptr<Feed> feed) {
    const auto& o = core->options;
    auto pause = [&feed, &o]() { return feed->watch->wait_beyond(feed->watch->latest(), Clock::now() + o.retry_pause); };

    int failures = 0;
    for (;;) {
        auto head = co_await core->queries.thread_head(feed->key);
        if (feed->stopped) co_return;
        if (head) {
            feed->next = EventSeq(head->seq.value + 1);
            feed->cursor = head->event_id;
            break;
        }
        if (++failures > o.max_retries) {
            feed->fail("store_unavailable", "event store unavailable");
            co_return;
        }
        co_await pause();
    }
    feed->state = Feed::State::live;
    feed->notify();

    failures = 0;
    int holes = 0;
    const auto page_size = std::max<std::size_t>(1, std::min(o.page_size, std::max<std::size_t>(o.buffer_events / 2, 1)));
    while (!feed->stopped) {
        const EventId seen = feed->watch->latest();
        const std::optional<std::string> every_execution;
        auto page = co_await core->queries.read_after(feed->key, feed->cursor, every_execution, page_size);
        if (feed->stopped) co_return;
        if (!page) {
            if (++failures > o.max_retries) {
                feed->fail("store_unavailable", "event store unavailable");
                co_return;
            }
            co_await pause();
            continue;
        }
        failures = 0;
        std::size_t taken = 0;
        for (auto& e : *page) {
            if (e.seq != feed->next) break;
            feed->append(std::move(e));
            ++taken;
        }
        if (taken > 0) feed->notify();
        if (taken < page->size()) {
            // A hole: the projection shows seq M where N was due. Re-read it within the bound, else fail.
            if (++holes > o.max_retries) {
                feed->fail("gap", "cannot prove continuity of the thread after seq " + std::to_string(feed->next.value - 1) +
                           ": the projection has seq " + std::to_string((*page)[taken].seq.value) + " next");
                co_return;
            }
            co_await pause();
            continue;
        }
        holes = 0;
        if (page->size() == page_size) continue;
        co_await feed->watch->wait_beyond(seen, Clock::now() + feed_safety_wait);
    }
}

asio::awaitable<void> LiveFanout::run_heads_poll(std::shared_ptr<Core> core) {
    core->poll_timer.emplace(co_await asio::this_coro::executor);
    while (!core->feeds.empty()) {
        core->poll_timer->expires_after(core->options.poll);
        co_await core->poll_timer->async_wait(asio::as_tuple(asio::use_awaitable));
        std::vector<std::string> keys;
        for (const auto& [key, feed] : core->feeds)
            if (feed->state == Feed::State::live) keys.push_back(key);
        if (keys.empty()) continue;
        auto heads = co_await core->queries.thread_heads(std::move(keys));
        if (!heads) continue;  // the feeds' own reads report a store that stays down
        std::vector<std::pair<std::string, EventId>> advanced;
        for (const auto& [key, head] : *heads) {
            auto it = core->feeds.find(key);
            if (it != core->feeds.end() && head > it->second->cursor && head > it->second->watch->latest())
                advanced.emplace_back(key, head);
        }
        if (!advanced.empty()) core->hub.publish(std::move(advanced));
    }
    core->poll_timer.reset();
    core->polling = false;
}

}  // namespace centaur::projections
