#include <centaur/core/fault_point.hpp>
#include <centaur/log/postgres_event_log.hpp>
#include <centaur/log/log_probe.hpp>
#include <centaur/pg/array_literal.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/schemas/partitioner.hpp>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>
#include <pqxx/transaction>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <ranges>
#include <set>
#include <thread>

namespace centaur::log {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto append_statement = "centaur_log_append";
constexpr auto read_statement = "centaur_log_read";
constexpr auto read_counting_statement = "centaur_log_read_counting";
constexpr auto notify_channel = "centaur_log";
constexpr auto reconnect_pause = 200ms;
constexpr auto notification_slice = 100ms;
constexpr auto rebalance_interval = 250ms;  // how often a group member re-checks its share
constexpr auto store_interval = 100ms;      // stored offsets are written at most this often (and before a revoke)
// A group reader behind the head counts its lag at most every `lag_count_interval`, and no sooner than
// `lag_count_spacing` times the duration of its last counting read (a deep backlog costs ~0.2 us a record to
// count: counting takes at most ~5% of the reader's time).
constexpr auto lag_count_interval = 1s;
constexpr int lag_count_spacing = 20;

/// The read of `read_statement` ($1 after, $2 limit, $3 owned partitions) plus, after its records, one row per
/// owned partition (position null) with the records of that partition after the reader's position once this
/// batch is consumed ($4: the cursors of $3, in the same order). One statement, so no extra round trip; the counts
/// are index-only scans of centaur_log_partition_idx (partition, position) over just the unread records.
constexpr auto read_counting_sql =
    "with batch as (select position, partition, envelope from centaur_log where position > $1 "
    "and partition = any($3::int[]) order by position limit $2), "
    "scanned as (select coalesce(max(b.position), $1::bigint) as upto from batch b) "
    "select u.position, u.partition, u.envelope, u.behind from ("
    "select b.position, b.partition, b.envelope, null::bigint as behind from batch b "
    "union all "
    "select null::bigint, o.p, null::text, (select count(*) from centaur_log l where l.partition = o.p "
    "and l.position > greatest(o.c, s.upto)) "
    "from unnest($3::int[], $4::bigint[]) as o(p, c), scanned s) u "
    "order by u.behind is not null, u.position";

/// Consumer lag of this process's group readers, shared by the log and its readers (a reader may outlive the log).
/// Threading: each reader writes only the entries of the partitions it owns, from the thread that polls it;
/// PostgresEventLog::consumer_lag reads from any thread (the /metrics refresh). The mutex guards copies of numbers,
/// never I/O.
struct LagBoard {
    std::mutex mutex;
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> lag;  ///< (group, partition) -> records behind
};

struct PendingAppend {
    EventEnvelope event;
    std::int32_t partition;
    AppendHandler done;
};

void prepare_append(pqxx::connection& conn) {
    conn.prepare(append_statement, "select ord, log_position, duplicate from centaur_log_append($1::jsonb)");
}

/// Blocking reader over `centaur_log`. One thread; `wake` from any.
///
/// Groups: every member holds the shared advisory lock (group, 0) while connected, so the members of a group
/// are the sessions holding it (pg_locks), gone when their connection ends. Member i of n (ordered by backend
/// pid) wants the partitions p with p % n == i and reads one only while holding the exclusive advisory lock
/// (group, p + 1): two members never read a partition at the same time, even while they disagree on n.
/// Stored offsets are kept in memory and written in one statement at most every `store_interval` (from `poll`),
/// before a partition is given up, and when the reader is destroyed; a connection loss forgets them (at least
/// once, as with Kafka's background commits).
///
/// Lag (group members only): after each read the reader puts on `lag_board` the records of every owned partition
/// after its cursor. A read shorter than its limit reached the head: 0 everywhere. A full read subtracts what it
/// returned; the exact counts come with the read itself (`read_counting_sql`) when a partition's lag is unknown
/// (just assigned or sought) and at most every `lag_count_interval` (longer after a slow count) while the reader
/// stays behind. Nothing is counted once caught up, and no poll makes an extra round trip for it.
class PostgresLogReader final : public LogReader {
public:
    PostgresLogReader(std::string url, std::int32_t partitions, ReaderOptions options,
                      std::shared_ptr<LagBoard> lag_board)
        : url_(std::move(url)), partitions_(partitions), options_(std::move(options)),
          cursors_(static_cast<std::size_t>(partitions), 0), caught_up_(static_cast<std::size_t>(partitions), false),
          group_key_(
              static_cast<std::int32_t>(static_cast<std::uint32_t>(kafka_murmur2(options_.group)) & 0x7fffffffU)),
          lag_board_(std::move(lag_board)), lag_(static_cast<std::size_t>(partitions), -1) {}

    ~PostgresLogReader() override {
        forget_lag(PartitionList(published_.begin(), published_.end()));
        try {
            flush_stores();
        } catch (const std::exception& e) {
            spdlog::warn("embedded log reader: storing offsets at close: {}", e.what());
        }
    }

    result<std::vector<LogRecord>> poll(std::chrono::milliseconds max_wait, std::size_t max_records) override {
        const auto deadline = std::chrono::steady_clock::now() + max_wait;
        try {
            ensure_connected();
            flush_caught_up();
            for (;;) {
                if (std::chrono::steady_clock::now() >= next_store_) flush_stores();
                rebalance();
                auto records = owned_.empty() ? std::vector<LogRecord>{} : read_once(max_records);
                if (!records.empty()) return records;
                // Nothing new: wait for the append notification (a hint only; the table is the data).
                for (;;) {
                    if (woken_.exchange(false)) return records;
                    const auto now = std::chrono::steady_clock::now();
                    if (now >= deadline) return records;
                    const auto slice = std::min<std::chrono::steady_clock::duration>(notification_slice, deadline - now);
                    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(slice).count();
                    if (conn_->await_notification(us / 1'000'000, us % 1'000'000) > 0) break;
                    if (!options_.group.empty() && std::chrono::steady_clock::now() >= next_rebalance_) break;
                }
            }
        } catch (const std::exception& e) {
            spdlog::warn("embedded log reader: {}", e.what());
            receiver_.reset();
            conn_.reset();
            pending_stores_.clear();
            // Advisory locks died with the connection: another member may take these partitions now.
            if (!options_.group.empty() && !owned_.empty()) {
                const PartitionList lost = owned_;
                owned_.clear();
                forget_lag(lost);
                if (options_.on_revoked) options_.on_revoked(lost);
            }
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(max_wait, reconnect_pause));
            return boost::system::error_code(errc::log_unavailable);
        }
    }

    void seek(std::int32_t partition, LogOffset after) override {
        CENTAUR_ASSERT(partition >= 0 && partition < partitions_, "partition in range");
        if (std::find(owned_.begin(), owned_.end(), partition) == owned_.end() && !options_.group.empty()) return;
        cursors_[static_cast<std::size_t>(partition)] = after.value;
        caught_up_[static_cast<std::size_t>(partition)] = false;
        lag_[static_cast<std::size_t>(partition)] = -1;
        std::erase(pending_caught_up_, partition);
    }

    void store(LogPosition position) override {
        if (options_.group.empty() || !conn_) return;
        pending_stores_[position.partition] = position.offset.value;
    }

    PartitionList assignment() const override { return owned_; }

    void wake() override { woken_ = true; }

private:
    class Receiver final : public pqxx::notification_receiver {
    public:
        explicit Receiver(pqxx::connection_base& c) : pqxx::notification_receiver(c, notify_channel) {}
        void operator()(const std::string&, int) override {}
    };

    void ensure_connected() {
        if (conn_) return;
        conn_ = pg::connect(url_);
        conn_->prepare(read_statement,
                       "select position, partition, envelope from centaur_log where position > $1 "
                       "and partition = any($3::int[]) order by position limit $2");
        receiver_ = std::make_unique<Receiver>(*conn_);
        if (!options_.group.empty()) {
            conn_->prepare(read_counting_statement, read_counting_sql);
            pqxx::nontransaction tx(*conn_);
            tx.exec_params("select pg_advisory_lock_shared($1, 0)", group_key_);
        }
        next_rebalance_ = {};
    }

    /// Writes the offsets stored since the last write, all partitions in one statement.
    void flush_stores() {
        next_store_ = std::chrono::steady_clock::now() + store_interval;
        if (pending_stores_.empty() || !conn_) return;
        pqxx::nontransaction tx(*conn_);
        flush_stores(tx);
    }

    /// The same inside `tx`, the connection's open transaction.
    void flush_stores(pqxx::transaction_base& tx) {
        next_store_ = std::chrono::steady_clock::now() + store_interval;
        if (pending_stores_.empty()) return;
        const std::string partitions = pg::int_array_literal(std::views::keys(pending_stores_));
        const std::string positions = pg::int_array_literal(std::views::values(pending_stores_));
        tx.exec_params("insert into centaur_log_group_offsets (group_name, partition, position) "
                       "select $1, u.p, u.o from unnest($2::int[], $3::bigint[]) as u(p, o) "
                       "on conflict (group_name, partition) do update set position = excluded.position, "
                       "updated_at = now()",
                       options_.group, partitions, positions);
        pending_stores_.clear();
    }

    /// Brings `owned_` to this member's share. Standalone readers own every partition from the first poll.
    void rebalance() {
        if (options_.group.empty()) {
            if (!owned_.empty()) return;
            for (std::int32_t p = 0; p < partitions_; ++p) owned_.push_back(p);
            if (options_.on_assigned) options_.on_assigned(owned_);
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now < next_rebalance_) return;
        next_rebalance_ = now + rebalance_interval;
        pqxx::nontransaction tx(*conn_);
        const auto members = tx.exec_params(
            "select pid = pg_backend_pid() from pg_locks where locktype = 'advisory' and database = "
            "(select oid from pg_database where datname = current_database()) and classid = $1::bigint::oid "
            "and objid = 0 and objsubid = 2 and granted order by pid",
            group_key_);
        std::int32_t index = -1;
        const auto n = static_cast<std::int32_t>(members.size());
        for (std::int32_t i = 0; i < n; ++i)
            if (members[static_cast<pqxx::result::size_type>(i)][0].as<bool>()) index = i;
        if (index < 0) return;  // our membership lock is not visible yet
        PartitionList revoked;
        for (auto p : owned_)
            if (p % n != index) revoked.push_back(p);
        if (!revoked.empty()) {
            if (options_.on_revoked) options_.on_revoked(revoked);
            forget_lag(revoked);  // before the unlock: the next owner's entries are never erased by this member
            flush_stores(tx);  // the next owner resumes after what this member stored
            for (auto p : revoked) {
                tx.exec_params("select pg_advisory_unlock($1, $2)", group_key_, p + 1);
                owned_.erase(std::find(owned_.begin(), owned_.end(), p));
            }
        }
        PartitionList assigned;
        for (std::int32_t p = index; p < partitions_; p += n) {
            if (std::find(owned_.begin(), owned_.end(), p) != owned_.end()) continue;
            if (!tx.exec_params("select pg_try_advisory_lock($1, $2)", group_key_, p + 1)[0][0].as<bool>()) continue;
            const auto stored = tx.exec_params(
                "select position from centaur_log_group_offsets where group_name = $1 and partition = $2",
                options_.group, p);
            cursors_[static_cast<std::size_t>(p)] = stored.empty() ? 0 : stored[0][0].as<std::int64_t>();
            caught_up_[static_cast<std::size_t>(p)] = false;
            lag_[static_cast<std::size_t>(p)] = -1;
            owned_.push_back(p);
            assigned.push_back(p);
        }
        if ((!assigned.empty() || !first_assignment_done_) && options_.on_assigned) options_.on_assigned(assigned);
        first_assignment_done_ = true;
    }

    std::vector<LogRecord> read_once(std::size_t max_records) {
        std::int64_t from = std::numeric_limits<std::int64_t>::max();
        for (auto p : owned_) from = std::min(from, cursors_[static_cast<std::size_t>(p)]);
        const std::string owned = pg::int_array_literal(owned_);
        const bool count_lag = lag_count_due();
        const auto started = std::chrono::steady_clock::now();
        pqxx::read_transaction tx(*conn_);
        const auto rows =
            count_lag ? tx.exec_prepared(read_counting_statement, from, static_cast<long long>(max_records), owned,
                                         pg::int_array_literal(owned_ | std::views::transform([this](std::int32_t p) {
                                                                   return cursors_[static_cast<std::size_t>(p)];
                                                               })))
                      : tx.exec_prepared(read_statement, from, static_cast<long long>(max_records), owned);
        tx.commit();
        std::vector<LogRecord> out;
        out.reserve(rows.size());
        std::int64_t scanned = from;
        std::size_t record_rows = 0;
        std::vector<std::pair<std::int32_t, std::int64_t>> counted;  // (partition, records after its cursor)
        for (const auto& row : rows) {
            if (row[0].is_null()) {  // a count row of read_counting_sql, after every record row
                counted.emplace_back(row[1].as<std::int32_t>(), row[3].as<std::int64_t>());
                continue;
            }
            ++record_rows;
            const auto position = row[0].as<std::int64_t>();
            const auto partition = row[1].as<std::int32_t>();
            scanned = position;
            if (partition < 0 || partition >= partitions_) {
                spdlog::error("embedded log: record at position {} names partition {} outside 0..{}", position,
                              partition, partitions_ - 1);
                continue;
            }
            auto& cursor = cursors_[static_cast<std::size_t>(partition)];
            if (position <= cursor) continue;
            cursor = position;
            if (auto& lag = lag_[static_cast<std::size_t>(partition)]; lag > 0) --lag;
            std::string why;
            auto envelope = decode_envelope(row[2].c_str(), &why);
            if (!envelope) {
                ++undecodable_;
                count_dead_lettered_record();
                spdlog::error("embedded log: skipping undecodable record at partition {} position {}: {}", partition,
                              position, why);
                continue;
            }
            out.push_back(LogRecord{{partition, LogOffset(position)}, EventId(position), std::move(*envelope)});
        }
        // Positions commit in order: every owned partition has now been seen up to `scanned`.
        for (auto p : owned_) {
            auto& c = cursors_[static_cast<std::size_t>(p)];
            c = std::max(c, scanned);
        }
        update_lag(record_rows >= max_records, counted, std::chrono::steady_clock::now() - started);
        if (record_rows < max_records && options_.on_caught_up) {
            for (auto p : owned_) {
                if (caught_up_[static_cast<std::size_t>(p)]) continue;
                caught_up_[static_cast<std::size_t>(p)] = true;
                pending_caught_up_.push_back(p);
            }
        }
        if (out.empty()) flush_caught_up();
        return out;
    }

    /// Group members: the next read counts the lag when a partition's lag is unknown, or when the last read was
    /// full and the last count is `lag_count_interval` old.
    bool lag_count_due() const {
        if (options_.group.empty() || !lag_board_) return false;
        for (auto p : owned_)
            if (lag_[static_cast<std::size_t>(p)] < 0) return true;
        return behind_ && std::chrono::steady_clock::now() >= next_lag_count_;
    }

    /// After a read of `owned_`: a short read reached the head of every owned partition; `counted` (from a
    /// counting read) replaces the running values. Then publishes the known values.
    void update_lag(bool full, const std::vector<std::pair<std::int32_t, std::int64_t>>& counted,
                    std::chrono::steady_clock::duration read_took) {
        if (options_.group.empty() || !lag_board_) return;
        behind_ = full;
        if (!full) {
            for (auto p : owned_) lag_[static_cast<std::size_t>(p)] = 0;
        } else {
            for (const auto& [p, records] : counted)
                if (p >= 0 && p < partitions_) lag_[static_cast<std::size_t>(p)] = records;
        }
        if (!counted.empty())
            next_lag_count_ = std::chrono::steady_clock::now() +
                              std::max<std::chrono::steady_clock::duration>(lag_count_interval,
                                                                            lag_count_spacing * read_took);
        std::lock_guard lock(lag_board_->mutex);
        for (auto p : owned_) {
            const auto lag = lag_[static_cast<std::size_t>(p)];
            if (lag < 0) continue;
            lag_board_->lag[{options_.group, p}] = lag;
            published_.insert(p);
        }
    }

    /// Takes `gone` off the board (partitions given up, lost with the connection, or the reader closing). After a
    /// lost connection another member may already have published a partition: its next read puts it back.
    void forget_lag(const PartitionList& gone) {
        for (auto p : gone) lag_[static_cast<std::size_t>(p)] = -1;
        if (options_.group.empty() || !lag_board_) return;
        std::lock_guard lock(lag_board_->mutex);
        for (auto p : gone) {
            if (published_.erase(p) == 0) continue;
            lag_board_->lag.erase({options_.group, p});
        }
    }

    /// Reports caught-up partitions after the records returned with them were handed out.
    void flush_caught_up() {
        auto pending = std::move(pending_caught_up_);
        pending_caught_up_.clear();
        for (auto p : pending)
            if (options_.on_caught_up) options_.on_caught_up(p);
    }

    std::string url_;
    std::int32_t partitions_;
    ReaderOptions options_;
    std::vector<std::int64_t> cursors_;
    std::vector<bool> caught_up_;
    std::int32_t group_key_;
    PartitionList owned_;
    PartitionList pending_caught_up_;
    bool first_assignment_done_ = false;
    std::chrono::steady_clock::time_point next_rebalance_{};
    std::chrono::steady_clock::time_point next_store_{};
    std::map<std::int32_t, std::int64_t> pending_stores_;  // partition -> last stored position, not yet written
    std::unique_ptr<pqxx::connection> conn_;
    std::unique_ptr<Receiver> receiver_;
    std::atomic<bool> woken_{false};
    std::uint64_t undecodable_ = 0;
    std::shared_ptr<LagBoard> lag_board_;
    std::vector<std::int64_t> lag_;  // per partition: records after the cursor as of the last read; -1 = unknown
    std::set<std::int32_t> published_;  // partitions of this reader on the board
    bool behind_ = false;               // the last read was full
    std::chrono::steady_clock::time_point next_lag_count_{};
};

}  // namespace

struct PostgresEventLog::Impl {
    PostgresLogOptions options;
    boost::asio::any_io_executor completions;
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<PendingAppend> queue;
    bool stopping = false;
    std::thread appender;
    std::unique_ptr<pqxx::connection> conn;
    std::shared_ptr<LagBoard> lag_board = std::make_shared<LagBoard>();

    void run() {
        for (;;) {
            std::vector<PendingAppend> batch;
            {
                std::unique_lock lock(mutex);
                cv.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) return;
                const auto n = std::min(queue.size(), options.max_batch);
                batch.reserve(n);
                for (std::size_t i = 0; i < n; ++i) {
                    batch.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
            }
            complete(batch, write(batch));
        }
    }

    /// Writes one batch, retrying until `retry_for` runs out. Returns one result per element.
    std::vector<result<Appended>> write(const std::vector<PendingAppend>& batch) {
        json::array input;
        input.reserve(batch.size());
        for (const auto& p : batch) {
            input.push_back(json::object{{"event_uuid", p.event.event_uuid.canonical()},
                                         {"partition", p.partition},
                                         {"thread_key", p.event.thread_key.str()},
                                         {"envelope", encode_envelope(p.event)}});
        }
        const std::string payload = json::serialize(input);
        const auto deadline = std::chrono::steady_clock::now() + options.retry_for;
        for (;;) {
            try {
                if (!conn) {
                    conn = pg::connect(options.url);
                    prepare_append(*conn);
                }
                pqxx::work tx(*conn);
                const auto rows = tx.exec_prepared(append_statement, payload);
                fault_point("mid_log_append_txn");
                tx.commit();
                fault_point("after_log_commit_before_ack");
                std::vector<result<Appended>> out(batch.size(), boost::system::error_code(errc::log_unavailable));
                for (const auto& row : rows) {
                    const auto ord = row[0].as<std::size_t>();
                    const auto position = row[1].as<std::int64_t>();
                    CENTAUR_ASSERT(ord >= 1 && ord <= batch.size(), "append returns one row per input");
                    out[ord - 1] = Appended{{batch[ord - 1].partition, LogOffset(position)}, EventId(position),
                                            row[2].as<bool>()};
                }
                return out;
            } catch (const std::exception& e) {
                conn.reset();
                if (std::chrono::steady_clock::now() >= deadline) {
                    spdlog::error("embedded log: append of {} events failed: {}", batch.size(), e.what());
                    return std::vector<result<Appended>>(batch.size(), boost::system::error_code(errc::log_unavailable));
                }
                spdlog::warn("embedded log: append failed, retrying: {}", e.what());
                std::this_thread::sleep_for(reconnect_pause);
            }
        }
    }

    void complete(std::vector<PendingAppend>& batch, std::vector<result<Appended>> results) {
        boost::asio::post(completions, [batch = std::move(batch), results = std::move(results)]() mutable {
            for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
        });
    }
};

PostgresEventLog::PostgresEventLog(PostgresLogOptions options, boost::asio::any_io_executor completions)
    : impl_(std::make_unique<Impl>()) {
    CENTAUR_ASSERT(options.partitions > 0, "at least one partition");
    impl_->options = std::move(options);
    impl_->completions = std::move(completions);
}

PostgresEventLog::~PostgresEventLog() { stop(); }

void PostgresEventLog::start() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->appender.joinable() || impl_->stopping) return;
    impl_->appender = std::thread([impl = impl_.get()] { impl->run(); });
}

void PostgresEventLog::stop() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    if (impl_->appender.joinable()) impl_->appender.join();
    // Appends that arrived after stop, or with no appender ever started, fail instead of hanging.
    std::deque<PendingAppend> left;
    {
        std::lock_guard lock(impl_->mutex);
        left.swap(impl_->queue);
    }
    for (auto& p : left) {
        boost::asio::post(impl_->completions, [done = std::move(p.done)] {
            done(boost::system::error_code(errc::shutting_down));
        });
    }
}

void PostgresEventLog::async_append(EventEnvelope event, AppendHandler done) {
    const auto partition = partition_for_key(event.thread_key.str(), impl_->options.partitions);
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->stopping) {
            impl_->queue.push_back(PendingAppend{std::move(event), partition, std::move(done)});
            impl_->cv.notify_one();
            return;
        }
    }
    boost::asio::post(impl_->completions, [done = std::move(done)] {
        done(boost::system::error_code(errc::shutting_down));
    });
}

std::int32_t PostgresEventLog::partitions() const { return impl_->options.partitions; }

std::unique_ptr<LogReader> PostgresEventLog::open_reader(ReaderOptions options) {
    return std::make_unique<PostgresLogReader>(impl_->options.url, impl_->options.partitions, std::move(options),
                                               impl_->lag_board);
}

std::vector<ConsumerLag> PostgresEventLog::consumer_lag() const {
    std::lock_guard lock(impl_->lag_board->mutex);
    std::vector<ConsumerLag> out;
    out.reserve(impl_->lag_board->lag.size());
    for (const auto& [key, records] : impl_->lag_board->lag)
        out.push_back(ConsumerLag{key.first, key.second, records});
    return out;
}

}  // namespace centaur::log
