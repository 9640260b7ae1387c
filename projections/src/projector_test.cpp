#include <centaur/log/postgres_event_log.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/projector.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

namespace centaur::projections {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

EventEnvelope event(const std::string& key, std::string_view type, json::value payload,
                    std::optional<std::string> exe = {}) {
    return EventEnvelope{EventUuid::random(), *ThreadKey::parse(key), std::move(exe), std::string(type),
                         std::move(payload), now_micros(), EventSource::ingest};
}

class ProjectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = pg::connect(db_.url());
        pg::run_migrations(*conn_);
        log_ = std::make_unique<log::PostgresEventLog>(log::PostgresLogOptions{db_.url(), 4}, io_.get_executor());
        log_->start();
    }
    void TearDown() override { log_->stop(); }

    void append_all(std::vector<EventEnvelope> events) {
        std::size_t done = 0;
        for (auto& e : events)
            log_->async_append(std::move(e), [&](result<Appended> r) {
                EXPECT_TRUE(r.has_value());
                ++done;
            });
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (done < events.size() && std::chrono::steady_clock::now() < deadline) {
            io_.restart();
            io_.run_for(10ms);
        }
        ASSERT_EQ(done, events.size());
    }

    /// Runs a projector until `rows` events are in session_events (bounded), then stops it.
    void project_until(long long rows, ProjectionHub* hub = nullptr) {
        Projector projector(ProjectorOptions{db_.url(), "sessions", 100, 100ms}, *log_, hub, nullptr);
        projector.start();
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (count("select count(*) from session_events") < rows && std::chrono::steady_clock::now() < deadline) {
            io_.restart();
            io_.run_for(20ms);
        }
        projector.stop();
        EXPECT_EQ(count("select count(*) from session_events"), rows);
    }

    long long count(const std::string& sql) {
        pqxx::nontransaction tx(*conn_);
        return tx.exec(sql)[0][0].as<long long>();
    }

    test_support::TestDatabase db_;
    std::unique_ptr<pqxx::connection> conn_;
    boost::asio::io_context io_;
    std::unique_ptr<log::PostgresEventLog> log_;
};

TEST_F(ProjectorTest, EveryEventOnceWithContiguousSeqPerThread) {
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 300; ++i)
        events.push_back(event("t:" + std::to_string(i % 9), event_type::output_line, json::value("line")));
    append_all(events);
    // Out of band: one more event (a new uuid, from position 5's envelope) and a duplicate record (position 6's
    // envelope again at a new position, as a producer retry on Kafka leaves one). The duplicate must be skipped.
    {
        pqxx::work tx(*conn_);
        tx.exec("insert into centaur_log (position, partition, event_uuid, thread_key, envelope) "
                "select 1000, partition, 'ffffffff-ffff-4fff-bfff-ffffffffffff', thread_key, "
                "replace(envelope, replace(event_uuid::text, '-', ''), 'ffffffffffff4fffbfffffffffffffff') "
                "from centaur_log where position = 5");
        tx.exec("insert into centaur_log (position, partition, event_uuid, thread_key, envelope) "
                "select 1001, partition, gen_random_uuid(), thread_key, envelope from centaur_log where position = 6");
        tx.exec("update centaur_log_head set last_position = 1001");
        tx.commit();
    }
    project_until(301);
    EXPECT_EQ(count("select count(distinct event_uuid) from session_events"), 301);
    EXPECT_EQ(count("select count(*) from (select thread_key, count(*) n, max(seq) m, min(seq) s from session_events "
                    "group by thread_key) x where n <> m or s <> 1"),
              0)
        << "seq is 1..n per thread";
    EXPECT_EQ(count("select count(*) from session_events a join session_events b on a.thread_key = b.thread_key "
                    "and a.seq < b.seq and a.event_id > b.event_id"),
              0)
        << "seq follows event id";
    EXPECT_EQ(count("select max(position) from projection_checkpoints"), 1001);

    // A new projector resumes at the checkpoint and applies nothing twice.
    project_until(301);
}

TEST_F(ProjectorTest, DerivedTablesFollowTheExecutionLifecycle) {
    const std::string key = "cli:derived";
    append_all({event(key, event_type::session_created, to_json(SessionCreated{"codex", {}, {{"source", "t"}}, false})),
                event(key, event_type::message_appended,
                      to_json(MessageAppended{"msg_1", std::string("c1"), "user", json::array{}, {}})),
                event(key, event_type::execution_requested,
                      to_json(ExecutionRequested{"exe_1", std::string("k"), {"x"}, 10, 100, {}}), "exe_1"),
                event(key, event_type::execution_started, json::object{}, "exe_1")});
    project_until(4);
    EXPECT_EQ(count("select count(*) from sessions where status = 'executing' and harness_type = 'codex'"), 1);
    EXPECT_EQ(count("select count(*) from session_messages where client_message_id = 'c1'"), 1);
    EXPECT_EQ(count("select count(*) from session_executions where status = 'running' and started_at is not null"), 1);
    append_all({event(key, event_type::execution_completed,
                      json::object{{"completion_reason", "turn_completed"}, {"result_text", "PONG"}}, "exe_1")});
    project_until(5);
    EXPECT_EQ(count("select count(*) from session_executions where status = 'completed' and result_text = 'PONG'"), 1);
    EXPECT_EQ(count("select count(*) from sessions where status = 'idle'"), 1);
}

TEST_F(ProjectorTest, HubWakesAWatcherAndQueriesSeeTheEvents) {
    ProjectionHub hub(io_.get_executor());
    pg::Pool pool(db_.url(), 1);
    SessionQueries queries(pool, hub);
    auto watch = hub.watch("t:hub");
    append_all({event("t:hub", event_type::output_line, json::value("a")),
                event("t:hub", event_type::output_line, json::value("b"))});
    Projector projector(ProjectorOptions{db_.url(), "sessions", 100, 100ms}, *log_, &hub, nullptr);
    projector.start();
    auto woke = boost::asio::co_spawn(io_, watch->wait_beyond(EventId(0), std::chrono::steady_clock::now() + 10s),
                                      boost::asio::use_future);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((woke.wait_for(0s) != std::future_status::ready) && std::chrono::steady_clock::now() < deadline) {
        io_.restart();
        io_.run_for(10ms);
    }
    ASSERT_EQ(woke.wait_for(0s), std::future_status::ready);
    EXPECT_TRUE(woke.get());
    EXPECT_EQ(watch->latest(), EventId(2));
    auto read = boost::asio::co_spawn(io_, queries.read_after(*ThreadKey::parse("t:hub"), EventId(1), std::nullopt, 10),
                                      boost::asio::use_future);
    while ((read.wait_for(0s) != std::future_status::ready) && std::chrono::steady_clock::now() < deadline) {
        io_.restart();
        io_.run_for(10ms);
    }
    ASSERT_EQ(read.wait_for(0s), std::future_status::ready);
    auto events = read.get();
    ASSERT_TRUE(events);
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].event_id, EventId(2));
    EXPECT_EQ((*events)[0].seq, EventSeq(2));
    EXPECT_EQ((*events)[0].data, "b");
    projector.stop();
    pool.stop();
}

}  // namespace
}  // namespace centaur::projections
