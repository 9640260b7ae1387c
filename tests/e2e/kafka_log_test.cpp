// End-to-end on Kafka: the runbook smoke turn with the event log on a real broker (CENTAUR_TEST_KAFKA_BROKERS,
// started by `make test`; unset, these tests fail), once with every role in one process and once with api,
// processor and projector as three processes; both produce the same projection. kcat reads the thread.
// `centaur-api-server rebuild-projections` replays the log (embedded and Kafka) into fresh tables, swaps them in
// while the server serves, and the rebuilt rows equal the originals row for row.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <regex>
#include <sstream>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::lines_of;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto turn_timeout = 90s;
const std::string pong_prompt = "Reply with exactly PONG and nothing else.";

std::string brokers() {
    const auto b = test_support::env_or("CENTAUR_TEST_KAFKA_BROKERS", "");
    if (b.empty())
        throw std::runtime_error("CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test` (scripts/run-tests "
                                 "starts a local broker with scripts/ensure-kafka)");
    return b;
}

std::string fresh_topic() { return "e2e-" + test_support::env_or("HOSTNAME", "h") + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()); }

/// The runbook smoke turn through `api`. Returns the thread key (empty on failure, with test failures).
std::string smoke_turn(const ServerProcess& api) {
    auto cli = std::make_unique<ChildProcess>(
        std::vector<std::string>{test_support::bin_path("centaur-session-cli"), "--harness-type", "codex", "--message",
                                 pong_prompt, "--exit-on-terminal", "--max-duration-ms", "120000"},
        std::map<std::string, std::string>{{"CENTAUR_API_URL", api.url()}});
    const auto code = cli->wait_for_exit(turn_timeout);
    EXPECT_EQ(code, std::optional<int>(0)) << cli->stderr_text() << api.logs();
    EXPECT_NE(cli->stdout_text().find("PONG model=unknown harness=codex"), std::string::npos) << cli->stdout_text();
    std::smatch m;
    const std::string err = cli->stderr_text();
    return std::regex_search(err, m, std::regex("thread_key=(cli:[0-9a-f]{32})")) ? m[1].str() : "";
}

/// The thread's projection as comparable text: sessions row, executions, and the events (seq, type, data of
/// non-volatile events) in order. Ids, timestamps and sandbox ids differ between runs and are left out.
struct Projection {
    std::string session;
    std::vector<std::string> executions;
    std::vector<std::string> events;
    std::vector<long long> event_ids;
};

Projection read_projection(const std::string& url, const std::string& key) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    Projection p;
    for (const auto& r : tx.exec_params("select harness_type, status from sessions where thread_key = $1", key))
        p.session = std::string(r[0].c_str()) + "/" + r[1].c_str();
    for (const auto& r : tx.exec_params("select status, coalesce(completion_reason, ''), jsonb_array_length(input_lines) "
                                        "from session_executions where thread_key = $1 order by event_id",
                                        key))
        p.executions.push_back(std::string(r[0].c_str()) + "/" + r[1].c_str() + "/" + r[2].c_str());
    for (const auto& r : tx.exec_params("select seq, event_type, data, event_id from session_events where thread_key = $1 "
                                        "order by event_id",
                                        key)) {
        const std::string type = r[1].c_str();
        const bool stable = type == "session.output.line";  // other payloads name per-run ids
        p.events.push_back(std::string(r[0].c_str()) + " " + type + (stable ? " " + std::string(r[2].c_str()) : ""));
        p.event_ids.push_back(r[3].as<long long>());
    }
    return p;
}

/// Waits (bounded) until the thread's projection shows its terminal event and the sandbox pause after it.
Projection settled_projection(const std::string& url, const std::string& key) {
    Projection p;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    do {
        p = read_projection(url, key);
        if (!p.events.empty() && p.events.back().find("session.sandbox_paused") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return p;
}

/// The thread's records on the topic, read with kcat: one JSON envelope per line.
std::vector<json::object> kcat_thread(const std::string& topic, const std::string& key) {
    ChildProcess kcat({"kcat", "-C", "-b", brokers(), "-t", topic, "-e", "-q", "-f", "%k\t%h\t%s\n"});
    EXPECT_EQ(kcat.wait_for_exit(30s), std::optional<int>(0)) << kcat.stderr_text();
    std::vector<json::object> out;
    for (const auto& line : lines_of(kcat.stdout_text())) {
        const auto t1 = line.find('\t');
        const auto t2 = line.find('\t', t1 + 1);
        if (line.substr(0, t1) != key) continue;
        auto envelope = json::parse(line.substr(t2 + 1)).as_object();
        const auto headers = line.substr(t1 + 1, t2 - t1 - 1);
        EXPECT_NE(headers.find("event_type=" + std::string(envelope.at("event_type").as_string())), std::string::npos)
            << headers;
        EXPECT_NE(headers.find("event_uuid=" + std::string(envelope.at("event_uuid").as_string())), std::string::npos)
            << headers;
        out.push_back(std::move(envelope));
    }
    return out;
}

TEST(KafkaLog, SmokeTurnWithEveryRoleInOneProcessAndAsThreeProcessesGivesTheSameProjection) {
    // One process, every role.
    TestDatabase db_single;
    const auto topic_single = fresh_topic();
    const std::map<std::string, std::string> kafka_single{{"CENTAUR_KAFKA_BROKERS", brokers()},
                                                          {"CENTAUR_KAFKA_TOPIC", topic_single}};
    Projection single;
    {
        ServerProcess server(db_single.url(), kafka_single);
        EXPECT_NE(server.logs().find("event log: kafka"), std::string::npos) << server.logs();
        const auto key = smoke_turn(server);
        ASSERT_FALSE(key.empty());
        single = settled_projection(db_single.url(), key);

        // kcat reads the thread: one readable envelope per event, in the projection's order.
        const auto records = kcat_thread(topic_single, key);
        ASSERT_EQ(records.size(), single.events.size());
        for (std::size_t i = 0; i < records.size(); ++i) {
            EXPECT_EQ(records[i].at("thread_key").as_string(), key);
            EXPECT_NE(single.events[i].find(std::string(records[i].at("event_type").as_string())), std::string::npos)
                << i << ": " << single.events[i];
        }
    }
    ASSERT_FALSE(single.events.empty());
    EXPECT_EQ(single.session, "codex/idle");
    for (std::size_t i = 1; i < single.event_ids.size(); ++i) EXPECT_LT(single.event_ids[i - 1], single.event_ids[i]);

    // Three processes: projector, processor, ingest+api (which run no consumer at all).
    TestDatabase db_split;
    const auto topic_split = fresh_topic();
    auto env = [&](const char* roles) {
        return std::map<std::string, std::string>{
            {"CENTAUR_KAFKA_BROKERS", brokers()}, {"CENTAUR_KAFKA_TOPIC", topic_split}, {"CENTAUR_ROLES", roles}};
    };
    ServerProcess projector(db_split.url(), env("projector"));
    ServerProcess processor(db_split.url(), env("processor"));
    ServerProcess api(db_split.url(), env("ingest,api"));
    EXPECT_NE(api.logs().find("roles: ingest api\n"), std::string::npos) << api.logs();
    const auto key = smoke_turn(api);
    ASSERT_FALSE(key.empty()) << processor.logs() << projector.logs();
    const auto split = settled_projection(db_split.url(), key);
    EXPECT_EQ(split.session, single.session) << "the same projection rows";
    EXPECT_EQ(split.executions, single.executions);
    EXPECT_EQ(split.events, single.events);
    EXPECT_EQ(kcat_thread(topic_split, key).size(), split.events.size());
}

TEST(KafkaLog, UnreachableBrokerRefusesToStartWithOneLine) {
    TestDatabase db;
    ChildProcess server({test_support::bin_path("centaur-api-server")},
                        {{"DATABASE_URL", db.url()},
                         {"BIND_ADDR", "127.0.0.1:" + std::to_string(test_support::free_tcp_port())},
                         {"CENTAUR_KAFKA_BROKERS", "127.0.0.1:1"},
                         {"CENTAUR_KAFKA_CONNECT_TIMEOUT_MS", "1500"}});
    const auto code = server.wait_for_exit(20s);
    ASSERT_TRUE(code.has_value()) << "the server must refuse to start";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(server.stderr_text().find("centaur-api-server: event log: Kafka brokers 127.0.0.1:1 unreachable after 1500 ms"),
              std::string::npos)
        << server.stderr_text();
}

TEST(KafkaLog, BadRolesRefuseToStart) {
    TestDatabase db;
    ChildProcess server({test_support::bin_path("centaur-api-server")},
                        {{"DATABASE_URL", db.url()}, {"CENTAUR_ROLES", "api,indexer"}});
    ASSERT_EQ(server.wait_for_exit(20s), std::optional<int>(2));
    EXPECT_NE(server.stderr_text().find("CENTAUR_ROLES has an unknown role 'indexer'"), std::string::npos)
        << server.stderr_text();
}

/// Every row of `table` in `schema`, as text, in key order.
std::vector<std::string> rows_of(const std::string& url, const std::string& schema, const std::string& table,
                                 const std::string& key) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const auto& r : tx.exec("select t::text from " + schema + "." + table + " t order by " + key))
        out.emplace_back(r[0].c_str());
    return out;
}

void rebuild_round_trip(std::map<std::string, std::string> env) {
    TestDatabase db;
    ServerProcess server(db.url(), env);
    const auto first = smoke_turn(server);
    const auto second = smoke_turn(server);
    ASSERT_FALSE(first.empty());
    ASSERT_FALSE(second.empty());
    settled_projection(db.url(), first);
    const auto before = settled_projection(db.url(), second);

    env["DATABASE_URL"] = db.url();
    env["BIND_ADDR"] = "127.0.0.1:" + std::to_string(test_support::free_tcp_port());
    ChildProcess rebuild({test_support::bin_path("centaur-api-server"), "rebuild-projections"}, env);
    ASSERT_EQ(rebuild.wait_for_exit(120s), std::optional<int>(0)) << rebuild.stderr_text() << rebuild.stdout_text();
    EXPECT_NE(rebuild.stdout_text().find("projection epoch 2; previous tables kept in schema centaur_retired_2"),
              std::string::npos)
        << rebuild.stdout_text();

    const std::vector<std::pair<std::string, std::string>> tables = {{"session_threads", "thread_key"},
                                                                     {"session_events", "event_id"},
                                                                     {"sessions", "thread_key"},
                                                                     {"session_messages", "message_id"},
                                                                     {"session_executions", "execution_id"}};
    for (const auto& [table, key] : tables) {
        const auto rebuilt = rows_of(db.url(), "public", table, key);
        EXPECT_FALSE(rebuilt.empty()) << table;
        EXPECT_EQ(rebuilt, rows_of(db.url(), "centaur_retired_2", table, key)) << table << " row for row";
    }

    // The server kept serving: a new turn is projected into the rebuilt tables, its thread's seq 1..n.
    const auto third = smoke_turn(server);
    ASSERT_FALSE(third.empty()) << server.logs();
    const auto after = settled_projection(db.url(), third);
    ASSERT_FALSE(after.events.empty());
    for (std::size_t i = 0; i < after.events.size(); ++i)
        EXPECT_EQ(after.events[i].substr(0, after.events[i].find(' ')), std::to_string(i + 1));
    EXPECT_EQ(settled_projection(db.url(), second).events, before.events);
    EXPECT_NE(server.logs().find("projection epoch changed"), std::string::npos) << server.logs();
}

TEST(RebuildProjections, EmbeddedLogRebuildEqualsTheOriginalRowForRow) { rebuild_round_trip({}); }

TEST(RebuildProjections, KafkaLogRebuildEqualsTheOriginalRowForRow) {
    rebuild_round_trip({{"CENTAUR_KAFKA_BROKERS", brokers()}, {"CENTAUR_KAFKA_TOPIC", fresh_topic()}});
}

TEST(KafkaLog, TwoProcessorProcessesSplitThreadsAndRunEachTurnOnce) {
    TestDatabase db;
    const auto topic = fresh_topic();
    auto env = [&](const char* roles) {
        return std::map<std::string, std::string>{
            {"CENTAUR_KAFKA_BROKERS", brokers()}, {"CENTAUR_KAFKA_TOPIC", topic}, {"CENTAUR_ROLES", roles}};
    };
    ServerProcess api(db.url(), env("ingest,api,projector"));
    ServerProcess first(db.url(), env("processor"));
    ServerProcess second(db.url(), env("processor"));  // ready once its share of the partitions is caught up
    std::vector<std::string> keys;
    for (int i = 0; i < 6; ++i) {
        keys.push_back(smoke_turn(api));
        ASSERT_FALSE(keys.back().empty()) << first.logs() << second.logs();
    }
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    for (const auto& key : keys) {
        const auto counts = tx.exec_params(
            "select count(*) filter (where event_type = 'session.execution_started'), "
            "count(*) filter (where event_type in ('session.execution_completed', 'session.execution_failed', "
            "'session.execution_cancelled')) from session_events where thread_key = $1",
            key);
        EXPECT_EQ(counts[0][0].as<int>(), 1) << key;
        EXPECT_EQ(counts[0][1].as<int>(), 1) << key;
    }
    EXPECT_NE(first.logs().find("caught up with partition"), std::string::npos) << first.logs();
    EXPECT_NE(second.logs().find("caught up with partition"), std::string::npos) << second.logs();
    EXPECT_NE(first.logs().find("partitions revoked"), std::string::npos) << "the first processor handed partitions over";
}

}  // namespace
}  // namespace centaur::e2e
