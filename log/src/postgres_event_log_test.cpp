#include <centaur/log/postgres_event_log.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/partitioner.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <map>

namespace centaur::log {
namespace {
using namespace std::chrono_literals;

EventEnvelope make_event(const std::string& key, int n, EventUuid uuid = EventUuid::random()) {
    return EventEnvelope{uuid, *ThreadKey::parse(key), std::nullopt, std::string(event_type::output_line),
                         boost::json::value("line " + std::to_string(n)), now_micros(), EventSource::processor};
}

class PostgresEventLogTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto conn = pg::connect(db_.url());
        pg::run_migrations(*conn);
        log_ = std::make_unique<PostgresEventLog>(PostgresLogOptions{db_.url(), 4}, io_.get_executor());
        log_->start();
    }
    void TearDown() override { log_->stop(); }

    /// Appends every event (issued in order) and runs the io_context until all completed (bounded).
    std::vector<result<Appended>> append_all(std::vector<EventEnvelope> events) {
        std::vector<result<Appended>> out(events.size(), boost::system::error_code(errc::timed_out));
        std::size_t done = 0;
        for (std::size_t i = 0; i < events.size(); ++i) {
            log_->async_append(std::move(events[i]), [&, i](result<Appended> r) {
                out[i] = std::move(r);
                ++done;
            });
        }
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (done < out.size() && std::chrono::steady_clock::now() < deadline) {
            io_.restart();
            io_.run_for(10ms);
        }
        EXPECT_EQ(done, out.size()) << "appends did not complete in time";
        return out;
    }

    std::vector<LogRecord> read_all(LogReader& reader, std::size_t expected) {
        std::vector<LogRecord> all;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (all.size() < expected && std::chrono::steady_clock::now() < deadline) {
            auto batch = reader.poll(200ms, 500);
            EXPECT_TRUE(batch.has_value());
            if (!batch) break;
            for (auto& r : *batch) all.push_back(std::move(r));
        }
        return all;
    }

    test_support::TestDatabase db_;
    boost::asio::io_context io_;
    std::unique_ptr<PostgresEventLog> log_;
};

TEST_F(PostgresEventLogTest, AppendsAreGapFreeAndReadBackInOrder) {
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 500; ++i) events.push_back(make_event("t:" + std::to_string(i % 7), i));
    auto results = append_all(events);
    for (std::size_t i = 0; i < results.size(); ++i) {
        ASSERT_TRUE(results[i].has_value()) << i;
        EXPECT_FALSE(results[i]->duplicate);
        EXPECT_EQ(results[i]->event_id.value, static_cast<std::int64_t>(i + 1)) << "positions follow call order";
        EXPECT_EQ(results[i]->position.partition, partition_for_key(events[i].thread_key.str(), 4));
    }
    auto reader = log_->open_reader();
    auto records = read_all(*reader, events.size());
    ASSERT_EQ(records.size(), events.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        EXPECT_EQ(records[i].envelope.event_uuid, events[i].event_uuid);
        EXPECT_EQ(records[i].event_id.value, static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(records[i].envelope.payload, events[i].payload);
    }
}

TEST_F(PostgresEventLogTest, ReAppendOfTheSameUuidIsOneEvent) {
    const auto uuid = EventUuid::random();
    auto first = append_all({make_event("t:a", 1, uuid)});
    auto again = append_all({make_event("t:a", 2), make_event("t:a", 1, uuid), make_event("t:a", 1, uuid)});
    ASSERT_TRUE(first[0] && again[0] && again[1] && again[2]);
    EXPECT_FALSE(first[0]->duplicate);
    EXPECT_TRUE(again[1]->duplicate);
    EXPECT_TRUE(again[2]->duplicate);
    EXPECT_EQ(again[1]->event_id, first[0]->event_id);
    EXPECT_EQ(again[0]->event_id.value, first[0]->event_id.value + 1) << "a duplicate leaves no hole";
    auto reader = log_->open_reader();
    auto records = read_all(*reader, 2);
    EXPECT_EQ(records.size(), 2u);
    EXPECT_TRUE(reader->poll(100ms, 10)->empty());
}

TEST_F(PostgresEventLogTest, ReaderResumesAfterSeekPerPartition) {
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 40; ++i) events.push_back(make_event("k:" + std::to_string(i % 5), i));
    auto results = append_all(events);
    // Resume every partition after the 20th record: only later records come back, each partition in order.
    std::map<std::int32_t, std::int64_t> last_before;
    for (std::size_t i = 0; i < 20; ++i) last_before[results[i]->position.partition] = results[i]->event_id.value;
    auto reader = log_->open_reader();
    for (std::int32_t p = 0; p < 4; ++p) reader->seek(p, LogOffset(last_before.count(p) ? last_before[p] : 0));
    std::size_t expected = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto p = results[i]->position.partition;
        if (results[i]->event_id.value > (last_before.count(p) ? last_before[p] : 0)) ++expected;
    }
    auto records = read_all(*reader, expected);
    ASSERT_EQ(records.size(), expected);
    for (std::size_t i = 1; i < records.size(); ++i) EXPECT_LT(records[i - 1].event_id, records[i].event_id);
}

TEST_F(PostgresEventLogTest, BlockedPollWakesOnAppendFromAnotherWriter) {
    auto reader = log_->open_reader();
    EXPECT_TRUE(reader->poll(50ms, 10)->empty());
    PostgresEventLog other(PostgresLogOptions{db_.url(), 4}, io_.get_executor());
    other.start();
    bool appended = false;
    other.async_append(make_event("t:x", 1), [&](result<Appended> r) { appended = r.has_value(); });
    const auto started = std::chrono::steady_clock::now();
    auto records = read_all(*reader, 1);
    EXPECT_EQ(records.size(), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    // The record is readable once committed; its completion reaches the io_context a moment later.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!appended && std::chrono::steady_clock::now() < deadline) {
        io_.restart();
        io_.run_for(20ms);
    }
    EXPECT_TRUE(appended);
    other.stop();
}

TEST_F(PostgresEventLogTest, AppendAfterStopFailsInsteadOfHanging) {
    log_->stop();
    auto results = append_all({make_event("t:a", 1)});
    ASSERT_FALSE(results[0].has_value());
    EXPECT_EQ(results[0].error(), make_error_code(errc::shutting_down));
}

TEST(PostgresEventLogUnreachable, FailsWithLogUnavailableWithinTheBound) {
    boost::asio::io_context io;
    PostgresEventLog log(PostgresLogOptions{"postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", 1, 10, 500ms},
                         io.get_executor());
    log.start();
    std::optional<result<Appended>> got;
    log.async_append(make_event("t:a", 1), [&](result<Appended> r) { got = std::move(r); });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!got && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(20ms);
    }
    ASSERT_TRUE(got.has_value());
    ASSERT_FALSE(got->has_value());
    EXPECT_EQ(got->error(), make_error_code(errc::log_unavailable));
    log.stop();
}

}  // namespace
}  // namespace centaur::log
