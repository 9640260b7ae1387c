#include <centaur/log/memory_event_log.hpp>
#include <centaur/schemas/partitioner.hpp>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <unordered_map>

namespace centaur::log {

namespace {

struct StoredRecord {
    std::string text;  ///< the encoded envelope (or raw bytes for bad-record tests)
    EventId event_id;
};

struct Group {
    std::vector<const void*> members;              ///< join order
    std::map<std::int32_t, const void*> owners;    ///< partition -> member reading it
    std::map<std::int32_t, std::int64_t> stored;   ///< partition -> stored offset
};

}  // namespace

struct InMemoryEventLog::State {
    std::mutex mutex;
    std::condition_variable appended;
    std::int32_t partitions = 1;
    std::vector<std::vector<StoredRecord>> records;
    std::unordered_map<EventUuid, LogPosition> by_uuid;
    std::int64_t next_event_id = 1;
    std::map<std::string, Group> groups;
};

namespace {

class MemoryReader final : public LogReader {
public:
    MemoryReader(std::shared_ptr<InMemoryEventLog::State> state, ReaderOptions options)
        : state_(std::move(state)), options_(std::move(options)),
          cursors_(static_cast<std::size_t>(state_->partitions), 0),
          caught_up_(static_cast<std::size_t>(state_->partitions), false) {
        if (!options_.group.empty()) {
            std::lock_guard lock(state_->mutex);
            state_->groups[options_.group].members.push_back(this);
        }
    }

    ~MemoryReader() override {
        if (options_.group.empty()) return;
        std::lock_guard lock(state_->mutex);
        auto& g = state_->groups[options_.group];
        std::erase(g.members, static_cast<const void*>(this));
        for (auto it = g.owners.begin(); it != g.owners.end();) it = it->second == this ? g.owners.erase(it) : ++it;
        state_->appended.notify_all();
    }

    result<std::vector<LogRecord>> poll(std::chrono::milliseconds max_wait, std::size_t max_records) override {
        flush_caught_up();
        const auto deadline = std::chrono::steady_clock::now() + max_wait;
        for (;;) {
            rebalance();
            std::vector<LogRecord> out;
            bool woke = false;
            {
                std::unique_lock lock(state_->mutex);
                for (;;) {
                    collect(out, max_records);
                    if (!out.empty() || (woke = woken_.exchange(false))) break;
                    if (!options_.group.empty() && membership_changed_locked()) break;
                    if (state_->appended.wait_until(lock, deadline) == std::cv_status::timeout) {
                        collect(out, max_records);
                        break;
                    }
                }
            }
            if (!out.empty() || woke || std::chrono::steady_clock::now() >= deadline) {
                if (out.empty()) flush_caught_up();
                return out;
            }
        }
    }

    void seek(std::int32_t partition, LogOffset after) override {
        CENTAUR_ASSERT(partition >= 0 && partition < state_->partitions, "partition in range");
        if (std::find(owned_.begin(), owned_.end(), partition) == owned_.end()) return;
        cursors_[static_cast<std::size_t>(partition)] = after.value;
        caught_up_[static_cast<std::size_t>(partition)] = false;
        std::erase(pending_caught_up_, partition);
    }

    void store(LogPosition position) override {
        if (options_.group.empty()) return;
        std::lock_guard lock(state_->mutex);
        state_->groups[options_.group].stored[position.partition] = position.offset.value;
    }

    PartitionList assignment() const override { return owned_; }

    void wake() override {
        woken_ = true;
        std::lock_guard lock(state_->mutex);
        state_->appended.notify_all();
    }

private:
    /// Partitions this member should own now (member i of n owns p % n == i). Caller holds the mutex.
    PartitionList share_locked() {
        auto& g = state_->groups[options_.group];
        const auto it = std::find(g.members.begin(), g.members.end(), static_cast<const void*>(this));
        const auto n = static_cast<std::int32_t>(g.members.size());
        const auto index = static_cast<std::int32_t>(it - g.members.begin());
        PartitionList share;
        for (std::int32_t p = index; p < state_->partitions; p += n) share.push_back(p);
        return share;
    }

    /// True when `rebalance` has something to do: a partition to give up, or a free one of our share to take.
    bool membership_changed_locked() {
        const auto share = share_locked();
        const auto& owners = state_->groups[options_.group].owners;
        for (auto p : owned_)
            if (std::find(share.begin(), share.end(), p) == share.end()) return true;
        for (auto p : share)
            if (!owners.count(p)) return true;
        return false;
    }

    void rebalance() {
        if (options_.group.empty()) {
            if (assigned_once_) return;
            assigned_once_ = true;
            for (std::int32_t p = 0; p < state_->partitions; ++p) owned_.push_back(p);
            if (options_.on_assigned) options_.on_assigned(owned_);
            return;
        }
        PartitionList revoked;
        {
            std::lock_guard lock(state_->mutex);
            const auto share = share_locked();
            for (auto p : owned_)
                if (std::find(share.begin(), share.end(), p) == share.end()) revoked.push_back(p);
        }
        if (!revoked.empty()) {
            if (options_.on_revoked) options_.on_revoked(revoked);
            std::lock_guard lock(state_->mutex);
            auto& g = state_->groups[options_.group];
            for (auto p : revoked) {
                g.owners.erase(p);
                std::erase(owned_, p);
                std::erase(pending_caught_up_, p);
            }
            state_->appended.notify_all();
        }
        PartitionList assigned;
        {
            std::lock_guard lock(state_->mutex);
            auto& g = state_->groups[options_.group];
            for (auto p : share_locked()) {
                if (std::find(owned_.begin(), owned_.end(), p) != owned_.end() || g.owners.count(p)) continue;
                g.owners[p] = this;
                owned_.push_back(p);
                assigned.push_back(p);
                cursors_[static_cast<std::size_t>(p)] = g.stored.count(p) ? g.stored[p] : 0;
                caught_up_[static_cast<std::size_t>(p)] = false;
            }
        }
        if ((!assigned.empty() || !assigned_once_) && options_.on_assigned) options_.on_assigned(assigned);
        assigned_once_ = true;
    }

    /// Takes records after the cursors of owned partitions. Caller holds the mutex.
    void collect(std::vector<LogRecord>& out, std::size_t max_records) {
        for (auto p : owned_) {
            const auto& part = state_->records[static_cast<std::size_t>(p)];
            auto& cursor = cursors_[static_cast<std::size_t>(p)];
            while (out.size() < max_records && cursor < static_cast<std::int64_t>(part.size())) {
                const auto& r = part[static_cast<std::size_t>(cursor)];
                ++cursor;
                std::string why;
                auto envelope = decode_envelope(r.text, &why);
                if (!envelope) {
                    spdlog::error("memory log: skipping undecodable record at partition {} offset {}: {}", p, cursor,
                                  why);
                    continue;
                }
                out.push_back(LogRecord{{p, LogOffset(cursor)}, r.event_id, std::move(*envelope)});
            }
            if (cursor >= static_cast<std::int64_t>(part.size()) && !caught_up_[static_cast<std::size_t>(p)]) {
                caught_up_[static_cast<std::size_t>(p)] = true;
                pending_caught_up_.push_back(p);
            }
        }
    }

    void flush_caught_up() {
        auto pending = std::move(pending_caught_up_);
        pending_caught_up_.clear();
        for (auto p : pending)
            if (options_.on_caught_up) options_.on_caught_up(p);
    }

    std::shared_ptr<InMemoryEventLog::State> state_;
    ReaderOptions options_;
    std::vector<std::int64_t> cursors_;
    std::vector<bool> caught_up_;
    PartitionList owned_;
    PartitionList pending_caught_up_;
    bool assigned_once_ = false;
    std::atomic<bool> woken_{false};
};

}  // namespace

InMemoryEventLog::InMemoryEventLog(std::int32_t partitions, boost::asio::any_io_executor completions)
    : state_(std::make_shared<State>()), completions_(std::move(completions)) {
    CENTAUR_ASSERT(partitions > 0, "at least one partition");
    state_->partitions = partitions;
    state_->records.resize(static_cast<std::size_t>(partitions));
}

InMemoryEventLog::~InMemoryEventLog() = default;

void InMemoryEventLog::async_append(EventEnvelope event, AppendHandler done) {
    Appended appended;
    {
        std::lock_guard lock(state_->mutex);
        if (auto it = state_->by_uuid.find(event.event_uuid); it != state_->by_uuid.end()) {
            const auto& r = state_->records[static_cast<std::size_t>(it->second.partition)]
                                           [static_cast<std::size_t>(it->second.offset.value - 1)];
            appended = Appended{it->second, r.event_id, true};
        } else {
            const auto p = partition_for_key(event.thread_key.str(), state_->partitions);
            auto& part = state_->records[static_cast<std::size_t>(p)];
            part.push_back(StoredRecord{encode_envelope(event), EventId(state_->next_event_id++)});
            const LogPosition position{p, LogOffset(static_cast<std::int64_t>(part.size()))};
            state_->by_uuid.emplace(event.event_uuid, position);
            appended = Appended{position, part.back().event_id, false};
            state_->appended.notify_all();
        }
    }
    boost::asio::post(completions_, [done = std::move(done), appended] { done(appended); });
}

LogPosition InMemoryEventLog::append_raw(std::int32_t partition, std::string text) {
    std::lock_guard lock(state_->mutex);
    auto& part = state_->records[static_cast<std::size_t>(partition)];
    part.push_back(StoredRecord{std::move(text), EventId(state_->next_event_id++)});
    state_->appended.notify_all();
    return LogPosition{partition, LogOffset(static_cast<std::int64_t>(part.size()))};
}

std::int32_t InMemoryEventLog::partitions() const { return state_->partitions; }

std::unique_ptr<LogReader> InMemoryEventLog::open_reader(ReaderOptions options) {
    return std::make_unique<MemoryReader>(state_, std::move(options));
}

}  // namespace centaur::log
