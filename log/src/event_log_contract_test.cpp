// The EventLog contract: every backend (in-memory fake, embedded Postgres log, Kafka) passes the same tests.
// Kafka needs CENTAUR_TEST_KAFKA_BROKERS (make test starts a local broker); unset, the Kafka cases fail.

#include <centaur/log/kafka_event_log.hpp>
#include <centaur/log/memory_event_log.hpp>
#include <centaur/log/postgres_event_log.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/partitioner.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace centaur::log {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::int32_t test_partitions = 4;

EventEnvelope make_event(const std::string& key, int n, EventUuid uuid = EventUuid::random()) {
    return EventEnvelope{uuid, *ThreadKey::parse(key), std::nullopt, std::string(event_type::output_line),
                         boost::json::value("line " + std::to_string(n)), now_micros(), EventSource::processor};
}

std::string kafka_brokers() {
    const char* b = std::getenv("CENTAUR_TEST_KAFKA_BROKERS");
    if (!b || !*b)
        throw std::runtime_error("CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test` (scripts/run-tests "
                                 "starts a local broker with scripts/ensure-kafka)");
    return b;
}

/// One backend under test: owns the log and whatever it needs (a database, a topic).
class Backend {
public:
    virtual ~Backend() = default;
    virtual EventLog& log() = 0;
    /// Puts a record that is not an envelope into `partition`.
    virtual void append_garbage(std::int32_t partition) = 0;
    /// A log of this backend whose server cannot be reached: returns the error seen (start or append) and how
    /// long it took; nullopt when the backend has no server.
    virtual std::optional<std::pair<std::string, Clock::duration>> unreachable(boost::asio::io_context& io) = 0;
};

class MemoryBackend final : public Backend {
public:
    explicit MemoryBackend(boost::asio::io_context& io) : log_(test_partitions, io.get_executor()) {}
    EventLog& log() override { return log_; }
    void append_garbage(std::int32_t partition) override { log_.append_raw(partition, "not an envelope"); }
    std::optional<std::pair<std::string, Clock::duration>> unreachable(boost::asio::io_context&) override {
        return std::nullopt;
    }

private:
    InMemoryEventLog log_;
};

class PostgresBackend final : public Backend {
public:
    explicit PostgresBackend(boost::asio::io_context& io) {
        auto conn = pg::connect(db_.url());
        pg::run_migrations(*conn);
        log_ = std::make_unique<PostgresEventLog>(PostgresLogOptions{db_.url(), test_partitions}, io.get_executor());
        log_->start();
    }
    ~PostgresBackend() override { log_->stop(); }
    EventLog& log() override { return *log_; }
    void append_garbage(std::int32_t partition) override {
        auto conn = pg::connect(db_.url());
        pqxx::work tx(*conn);
        tx.exec_params("select centaur_log_append(jsonb_build_array(jsonb_build_object('event_uuid', $1::text, "
                       "'partition', $2::int, 'thread_key', 'bad:record', 'envelope', 'not an envelope')))",
                       EventUuid::random().canonical(), partition);
        tx.commit();
    }
    std::optional<std::pair<std::string, Clock::duration>> unreachable(boost::asio::io_context& io) override {
        const auto started = Clock::now();
        PostgresEventLog log(PostgresLogOptions{"postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", 1, 10, 1s},
                             io.get_executor());
        log.start();
        std::optional<result<Appended>> got;
        log.async_append(make_event("t:a", 1), [&](result<Appended> r) { got = std::move(r); });
        while (!got && Clock::now() - started < 20s) {
            io.restart();
            io.run_for(20ms);
        }
        log.stop();
        if (!got || got->has_value()) return std::make_pair(std::string("no error"), Clock::now() - started);
        return std::make_pair(got->error().message(), Clock::now() - started);
    }

private:
    test_support::TestDatabase db_;
    std::unique_ptr<PostgresEventLog> log_;
};

class KafkaBackend final : public Backend {
public:
    explicit KafkaBackend(boost::asio::io_context& io) {
        options_.brokers = kafka_brokers();
        options_.topic = "contract-" + EventUuid::random().hex().substr(0, 12);
        options_.partitions = test_partitions;
        log_ = std::make_unique<KafkaEventLog>(options_, io.get_executor());
        log_->start();
    }
    ~KafkaBackend() override { log_->stop(); }
    EventLog& log() override { return *log_; }
    void append_garbage(std::int32_t partition) override {
        std::string err;
        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        conf->set("bootstrap.servers", options_.brokers, err);
        std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
        std::string value = "not an envelope";
        ASSERT_EQ(p->produce(options_.topic, partition, RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(),
                             nullptr, 0, 0, nullptr),
                  RdKafka::ERR_NO_ERROR);
        ASSERT_EQ(p->flush(10'000), RdKafka::ERR_NO_ERROR);
    }
    std::optional<std::pair<std::string, Clock::duration>> unreachable(boost::asio::io_context& io) override {
        KafkaLogOptions o;
        o.brokers = "127.0.0.1:1";
        o.connect_timeout = 2s;
        KafkaEventLog log(o, io.get_executor());
        const auto started = Clock::now();
        try {
            log.start();
        } catch (const std::exception& e) {
            return std::make_pair(std::string(e.what()), Clock::now() - started);
        }
        return std::make_pair(std::string("no error"), Clock::now() - started);
    }

private:
    KafkaLogOptions options_;
    std::unique_ptr<KafkaEventLog> log_;
};

using BackendFactory = std::unique_ptr<Backend> (*)(boost::asio::io_context&);

/// A backend of the suite: its factory, printed by name in test names.
struct BackendParam {
    const char* name;
    BackendFactory make;
};
void PrintTo(const BackendParam& p, std::ostream* os) { *os << p.name; }

std::unique_ptr<Backend> make_memory(boost::asio::io_context& io) { return std::make_unique<MemoryBackend>(io); }
std::unique_ptr<Backend> make_postgres(boost::asio::io_context& io) { return std::make_unique<PostgresBackend>(io); }
std::unique_ptr<Backend> make_kafka(boost::asio::io_context& io) { return std::make_unique<KafkaBackend>(io); }

class EventLogContract : public ::testing::TestWithParam<BackendParam> {
protected:
    void SetUp() override { backend_ = GetParam().make(io_); }
    void TearDown() override { backend_.reset(); }
    EventLog& log() { return backend_->log(); }

    /// Appends every event (issued in order from this thread) and runs the io_context until all completed.
    std::vector<result<Appended>> append_all(std::vector<EventEnvelope> events) {
        std::vector<result<Appended>> out(events.size(), boost::system::error_code(errc::timed_out));
        std::size_t done = 0;
        for (std::size_t i = 0; i < events.size(); ++i) {
            log().async_append(std::move(events[i]), [&, i](result<Appended> r) {
                out[i] = std::move(r);
                ++done;
            });
        }
        run_until([&] { return done == out.size(); }, 30s);
        EXPECT_EQ(done, out.size()) << "appends did not complete in time";
        return out;
    }

    template <typename Pred>
    void run_until(Pred pred, Clock::duration bound) {
        const auto deadline = Clock::now() + bound;
        while (!pred() && Clock::now() < deadline) {
            io_.restart();
            io_.run_for(5ms);
        }
    }

    /// Polls until `expected` records arrived (bounded), storing offsets after each batch.
    static std::vector<LogRecord> read(LogReader& reader, std::size_t expected, Clock::duration bound = 30s) {
        std::vector<LogRecord> all;
        const auto deadline = Clock::now() + bound;
        while (all.size() < expected && Clock::now() < deadline) {
            auto batch = reader.poll(100ms, 500);
            if (!batch) continue;
            for (auto& r : *batch) {
                reader.store(r.position);
                all.push_back(std::move(r));
            }
        }
        return all;
    }

    boost::asio::io_context io_;
    std::unique_ptr<Backend> backend_;
};

std::string group_name() { return "contract-group-" + EventUuid::random().hex().substr(0, 8); }

TEST_P(EventLogContract, KeepsPerKeyOrderAcrossManyKeys) {
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 600; ++i) events.push_back(make_event("order:" + std::to_string(i % 40), i));
    auto results = append_all(events);
    std::map<std::string, EventId> last_id;
    for (std::size_t i = 0; i < results.size(); ++i) {
        ASSERT_TRUE(results[i].has_value()) << i << ": " << results[i].error().message();
        EXPECT_FALSE(results[i]->duplicate);
        EXPECT_EQ(results[i]->position.partition, partition_for_key(events[i].thread_key.str(), log().partitions()));
        auto& last = last_id[events[i].thread_key.str()];
        EXPECT_LT(last, results[i]->event_id) << "ids increase within a thread";
        last = results[i]->event_id;
    }
    auto reader = log().open_reader();
    auto records = read(*reader, events.size());
    ASSERT_EQ(records.size(), events.size());
    std::map<std::string, std::vector<EventUuid>> appended, seen;
    for (const auto& e : events) appended[e.thread_key.str()].push_back(e.event_uuid);
    std::set<EventId> ids;
    for (const auto& r : records) {
        seen[r.envelope.thread_key.str()].push_back(r.envelope.event_uuid);
        EXPECT_TRUE(ids.insert(r.event_id).second) << "event ids are unique";
    }
    EXPECT_EQ(seen, appended);
    EXPECT_TRUE(reader->poll(100ms, 10)->empty());
}

TEST_P(EventLogContract, ReAppendOfTheSameUuidIsOneEvent) {
    const auto uuid = EventUuid::random();
    auto first = append_all({make_event("dup:a", 1, uuid)});
    auto again = append_all({make_event("dup:a", 2), make_event("dup:a", 1, uuid), make_event("dup:a", 1, uuid)});
    ASSERT_TRUE(first[0] && again[0] && again[1] && again[2]);
    EXPECT_FALSE(first[0]->duplicate);
    EXPECT_FALSE(again[0]->duplicate);
    EXPECT_TRUE(again[1]->duplicate);
    EXPECT_TRUE(again[2]->duplicate);
    EXPECT_EQ(again[1]->event_id, first[0]->event_id);
    EXPECT_EQ(again[1]->position, first[0]->position);
    auto reader = log().open_reader();
    auto records = read(*reader, 2);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].envelope.event_uuid, uuid);
    EXPECT_TRUE(reader->poll(200ms, 10)->empty());
}

TEST_P(EventLogContract, ManyConcurrentAppendersLoseNothing) {
    constexpr int writers = 4;
    constexpr int per_writer = 150;
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            for (int i = 0; i < per_writer; ++i)
                log().async_append(make_event("writer:" + std::to_string(w) + "-" + std::to_string(i % 3), i),
                                   [&](result<Appended> r) { (r ? ok : failed)++; });
        });
    }
    for (auto& t : threads) t.join();
    run_until([&] { return ok + failed == writers * per_writer; }, 30s);
    ASSERT_EQ(ok.load(), writers * per_writer);
    auto reader = log().open_reader();
    auto records = read(*reader, writers * per_writer);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(writers * per_writer));
    // Each writer appended each of its keys in call order: the payload numbers increase per key.
    std::map<std::string, int> last;
    for (const auto& r : records) {
        const int n = std::stoi(std::string(r.envelope.payload.as_string()).substr(5));
        auto [it, fresh] = last.emplace(r.envelope.thread_key.str(), n);
        if (!fresh) {
            EXPECT_LT(it->second, n) << r.envelope.thread_key.str();
            it->second = n;
        }
    }
}

TEST_P(EventLogContract, GroupMemberResumesAfterStoredOffsets) {
    const auto group = group_name();
    std::vector<EventEnvelope> first, second;
    for (int i = 0; i < 60; ++i) first.push_back(make_event("resume:" + std::to_string(i % 7), i));
    for (int i = 0; i < 30; ++i) second.push_back(make_event("resume:" + std::to_string(i % 7), 100 + i));
    append_all(first);
    {
        auto reader = log().open_reader(ReaderOptions{group});
        EXPECT_EQ(read(*reader, first.size()).size(), first.size());
    }
    append_all(second);
    auto reader = log().open_reader(ReaderOptions{group});
    auto records = read(*reader, second.size());
    ASSERT_EQ(records.size(), second.size());
    std::set<EventUuid> expected;
    for (const auto& e : second) expected.insert(e.event_uuid);
    for (const auto& r : records) EXPECT_TRUE(expected.count(r.envelope.event_uuid)) << "only records after the stored offsets";
    EXPECT_TRUE(reader->poll(300ms, 10)->empty());
}

/// A group member on its own thread: polls, stores after each batch, records what it saw and what it owned.
struct Member {
    Member(EventLog& log, const std::string& group) {
        ReaderOptions o{group};
        o.on_assigned = [this](const PartitionList& ps) {
            std::lock_guard lock(mutex);
            for (auto p : ps) ever_owned.insert(p);
        };
        reader = log.open_reader(std::move(o));
        thread = std::thread([this] {
            while (!stop) {
                auto batch = reader->poll(100ms, 100);
                if (!batch) continue;
                std::lock_guard lock(mutex);
                for (auto& r : *batch) {
                    reader->store(r.position);
                    seen.push_back(r.envelope.event_uuid);
                }
                owned = reader->assignment();
            }
        });
    }
    ~Member() {
        stop = true;
        reader->wake();
        thread.join();
    }
    std::size_t count() {
        std::lock_guard lock(mutex);
        return seen.size();
    }
    PartitionList assignment() {
        std::lock_guard lock(mutex);
        return owned;
    }
    std::mutex mutex;
    std::vector<EventUuid> seen;
    PartitionList owned;
    std::set<std::int32_t> ever_owned;
    std::unique_ptr<LogReader> reader;
    std::atomic<bool> stop{false};
    std::thread thread;
};

TEST_P(EventLogContract, TwoGroupMembersSplitThePartitions) {
    const auto group = group_name();
    Member a(log(), group);
    Member b(log(), group);
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline &&
           (a.assignment().empty() || b.assignment().empty() ||
            a.assignment().size() + b.assignment().size() != static_cast<std::size_t>(log().partitions())))
        std::this_thread::sleep_for(20ms);
    ASSERT_FALSE(a.assignment().empty());
    ASSERT_FALSE(b.assignment().empty());
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 300; ++i) events.push_back(make_event("split:" + std::to_string(i % 50), i));
    append_all(events);
    while (Clock::now() < deadline + 30s && a.count() + b.count() < events.size()) std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(200ms);
    std::multiset<EventUuid> all;
    {
        std::scoped_lock lock(a.mutex, b.mutex);
        all.insert(a.seen.begin(), a.seen.end());
        all.insert(b.seen.begin(), b.seen.end());
        EXPECT_FALSE(a.seen.empty());
        EXPECT_FALSE(b.seen.empty());
        for (auto p : a.owned) EXPECT_EQ(std::count(b.owned.begin(), b.owned.end(), p), 0) << "partition " << p;
    }
    EXPECT_EQ(all.size(), events.size()) << "nothing lost or doubled";
    for (const auto& e : events) EXPECT_EQ(all.count(e.event_uuid), 1u);
}

TEST_P(EventLogContract, RebalanceMidStreamLosesAndDoublesNothing) {
    const auto group = group_name();
    auto a = std::make_unique<Member>(log(), group);
    std::vector<EventEnvelope> events;
    int n = 0;
    auto append_batch = [&](int count) {
        std::vector<EventEnvelope> batch;
        for (int i = 0; i < count; ++i, ++n) batch.push_back(make_event("rebalance:" + std::to_string(n % 60), n));
        events.insert(events.end(), batch.begin(), batch.end());
        append_all(std::move(batch));
    };
    append_batch(200);
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline && a->count() < 50) std::this_thread::sleep_for(5ms);
    auto b = std::make_unique<Member>(log(), group);  // joins while the stream flows
    auto b_owns = [&] {
        std::lock_guard lock(b->mutex);
        return !b->ever_owned.empty();
    };
    while (Clock::now() < deadline && !b_owns()) {
        append_batch(10);
        std::this_thread::sleep_for(20ms);
    }
    append_batch(100);
    while (Clock::now() < deadline && a->count() + b->count() < events.size()) std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(300ms);
    std::multiset<EventUuid> all;
    {
        std::scoped_lock lock(a->mutex, b->mutex);
        all.insert(a->seen.begin(), a->seen.end());
        all.insert(b->seen.begin(), b->seen.end());
        EXPECT_FALSE(b->ever_owned.empty()) << "the second member got partitions";
        EXPECT_FALSE(b->seen.empty());
    }
    EXPECT_EQ(all.size(), events.size()) << "nothing lost or doubled";
    for (const auto& e : events) EXPECT_EQ(all.count(e.event_uuid), 1u);
}

TEST_P(EventLogContract, BadRecordIsSkippedWithoutStallingThePartition) {
    const auto key = std::string("bad:after");
    const auto p = partition_for_key(key, log().partitions());
    append_all({make_event(key, 1)});
    backend_->append_garbage(p);
    append_all({make_event(key, 2)});
    auto reader = log().open_reader();
    auto records = read(*reader, 2, 20s);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].envelope.payload.as_string(), "line 2");
    EXPECT_TRUE(reader->poll(200ms, 10)->empty());
}

TEST_P(EventLogContract, WakeEndsABlockedPollPromptly) {
    auto reader = log().open_reader();
    EXPECT_TRUE(reader->poll(100ms, 10)->empty());
    std::thread waker([&] {
        std::this_thread::sleep_for(200ms);
        reader->wake();
    });
    const auto started = Clock::now();
    auto polled = reader->poll(10s, 10);
    waker.join();
    ASSERT_TRUE(polled.has_value());
    EXPECT_TRUE(polled->empty());
    EXPECT_LT(Clock::now() - started, 2s) << "a stopping consumer must not wait out its poll";
}

/// The contract cases that need a server to lose: every backend but the in-memory one.
class ServedEventLogContract : public EventLogContract {};

TEST_P(ServedEventLogContract, UnreachableServerGivesAClearErrorWithinABound) {
    auto got = backend_->unreachable(io_);
    ASSERT_TRUE(got) << GetParam().name << " has no server to make unreachable";
    EXPECT_NE(got->first, "no error");
    EXPECT_LT(got->second, 15s) << got->first;
    std::cout << "error: " << got->first << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(got->second).count() << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(Memory, EventLogContract, ::testing::Values(BackendParam{"memory", &make_memory}));
INSTANTIATE_TEST_SUITE_P(Embedded, EventLogContract, ::testing::Values(BackendParam{"postgres", &make_postgres}));
INSTANTIATE_TEST_SUITE_P(Kafka, EventLogContract, ::testing::Values(BackendParam{"kafka", &make_kafka}));
INSTANTIATE_TEST_SUITE_P(Embedded, ServedEventLogContract, ::testing::Values(BackendParam{"postgres", &make_postgres}));
INSTANTIATE_TEST_SUITE_P(Kafka, ServedEventLogContract, ::testing::Values(BackendParam{"kafka", &make_kafka}));

}  // namespace
}  // namespace centaur::log
