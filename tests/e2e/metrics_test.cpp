// End-to-end metrics: one mock turn against the real server moves every stage's series by exactly what the turn
// produced (counted from the projection, the source of truth), and a busy server's /metrics passes
// `promtool check metrics` without a single remark.

#include <centaur/test_support/test_support.hpp>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

namespace centaur::e2e {
namespace {
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::http_request;
using test_support::lines_of;
using test_support::ServerProcess;
using test_support::TestDatabase;
using Labels = std::map<std::string, std::string>;

constexpr auto settle_timeout = 60s;
constexpr auto poll_pause = 50ms;
const std::set<std::string> ingest_types{"session.created", "session.message_appended", "session.execution_requested",
                                         "session.interrupt_requested"};

struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
};

/// Prometheus text format -> samples (comments skipped). Label values here never hold '"' or ','.
std::vector<Sample> parse_metrics(const std::string& text) {
    std::vector<Sample> out;
    for (const auto& line : lines_of(text)) {
        if (line.empty() || line[0] == '#') continue;
        Sample s;
        const auto brace = line.find('{');
        const auto space = line.rfind(' ');
        std::string labels;
        if (brace != std::string::npos && brace < space) {
            s.name = line.substr(0, brace);
            labels = line.substr(brace + 1, line.rfind('}') - brace - 1);
        } else {
            s.name = line.substr(0, space);
        }
        std::size_t at = 0;
        while (at < labels.size()) {
            const auto eq = labels.find('=', at);
            const auto close = labels.find('"', eq + 2);
            s.labels[labels.substr(at, eq - at)] = labels.substr(eq + 2, close - eq - 2);
            at = close + 2;  // past `",`
        }
        s.value = std::stod(line.substr(space + 1));
        out.push_back(std::move(s));
    }
    return out;
}

/// One scrape: sums of the series of a name whose labels include `match`.
class Scrape {
public:
    explicit Scrape(const ServerProcess& server) {
        const auto r = http_request("GET", server.url() + "/metrics");
        EXPECT_EQ(r.status, 200);
        samples_ = parse_metrics(r.body);
    }
    double sum(const std::string& name, const Labels& match = {}) const {
        double total = 0;
        for (const auto& s : samples_)
            if (matches(s, name, match)) total += s.value;
        return total;
    }
    /// Number of series of `name` whose labels include `match`.
    std::size_t series(const std::string& name, const Labels& match = {}) const {
        std::size_t n = 0;
        for (const auto& s : samples_) n += matches(s, name, match) ? 1 : 0;
        return n;
    }
    /// Distinct values of `label` among the series of `name`.
    std::set<std::string> values(const std::string& name, const std::string& label) const {
        std::set<std::string> out;
        for (const auto& s : samples_)
            if (s.name == name && s.labels.count(label)) out.insert(s.labels.at(label));
        return out;
    }

private:
    static bool matches(const Sample& s, const std::string& name, const Labels& match) {
        if (s.name != name) return false;
        for (const auto& [k, v] : match)
            if (!s.labels.count(k) || s.labels.at(k) != v) return false;
        return true;
    }

    std::vector<Sample> samples_;
};

/// session_events of `thread_key`, counted by event type.
std::map<std::string, double> projected_types(const std::string& database_url, const std::string& thread_key) {
    pqxx::connection c(database_url);
    pqxx::work tx(c);
    std::map<std::string, double> out;
    for (const auto& row : tx.exec_params("select event_type, count(*) from session_events where thread_key = $1 "
                                          "group by event_type",
                                          thread_key))
        out[row[0].as<std::string>()] = row[1].as<double>();
    return out;
}

double total(const std::map<std::string, double>& by_type) {
    double n = 0;
    for (const auto& [type, count] : by_type) n += count;
    return n;
}

/// Starts one mock turn on `key`: the session, then its execution.
void start_turn(ServerProcess& server, const std::string& key) {
    const std::string thread = server.url() + "/api/session/" + key;
    ASSERT_EQ(http_request("POST", thread, R"({"harness_type":"codex"})").status, 200);
    ASSERT_EQ(http_request("POST", thread + "/execute", R"({"input_lines":["{\"type\":\"user\"}"]})").status, 200);
}

/// Scrapes until the turn on `key` is projected, /metrics counts every event of it as appended, and `settled`
/// holds for the scrape; false at the bound (settle_timeout), with the exposition and the server's logs reported.
bool wait_settled(ServerProcess& server, const std::string& database_url, const std::string& key,
                  const std::function<bool(const Scrape&)>& settled) {
    const auto deadline = std::chrono::steady_clock::now() + settle_timeout;
    for (;;) {
        const auto types = projected_types(database_url, key);
        const Scrape now(server);
        if (types.count("session.execution_completed") &&
            now.sum("centaur_log_events_appended_total") == total(types) && settled(now))
            return true;
        if (std::chrono::steady_clock::now() >= deadline) {
            ADD_FAILURE() << "not settled\n" << http_request("GET", server.url() + "/metrics").body << server.logs();
            return false;
        }
        std::this_thread::sleep_for(poll_pause);
    }
}

class Metrics : public ::testing::Test {
protected:
    TestDatabase db_;
};

TEST_F(Metrics, OneTurnMovesEveryStageByExactlyWhatItProduced) {
    ServerProcess server(db_.url());
    const std::string key = "api-integration-test:metrics";
    const std::string thread = server.url() + "/api/session/" + key;
    const Scrape before(server);

    ASSERT_EQ(http_request("POST", thread, R"({"harness_type":"codex"})").status, 200);
    // A live client attached before the turn, so the turn's events reach it from the live feed.
    ChildProcess live({"curl", "-sN", "--max-time", "60", thread + "/events?after_event_id=0"}, {});
    ASSERT_TRUE(live.wait_for_stdout("event: session.created", 20s)) << live.stdout_text();
    const std::string execute =
        R"({"input_lines":["{\"type\":\"user\",\"model\":\"gpt-metrics\"}"],"idle_timeout_ms":3600000,)"
        R"("max_duration_ms":7200000})";
    ASSERT_EQ(http_request("POST", thread + "/execute", execute).status, 200);
    ASSERT_TRUE(live.wait_for_stdout("event: session.execution_completed", settle_timeout)) << live.stdout_text();
    EXPECT_EQ(http_request("POST", thread + "/execute", "{not json").status, 400);

    // A reconnect: Last-Event-ID of the thread's first event, to the end of the turn.
    const auto first_id_line = live.stdout_text().substr(live.stdout_text().find("id: ") + 4);
    const std::string first_id = first_id_line.substr(0, first_id_line.find('\n'));
    ChildProcess resumed({"curl", "-sN", "--max-time", "60", "-H", "Last-Event-ID: " + first_id, thread + "/events"},
                         {});
    ASSERT_TRUE(resumed.wait_for_stdout("event: session.execution_completed", settle_timeout))
        << resumed.stdout_text();

    // Settled: the projection holds the turn and both streams have written every event of it.
    std::map<std::string, double> types;
    const auto deadline = std::chrono::steady_clock::now() + settle_timeout;
    for (;;) {
        types = projected_types(db_.url(), key);
        const Scrape now(server);
        const double events = total(types);
        const bool settled = types.count("session.execution_completed") &&
                             now.sum("centaur_projector_events_projected_total") -
                                     before.sum("centaur_projector_events_projected_total") ==
                                 events &&
                             now.sum("centaur_sse_events_sent_total") - before.sum("centaur_sse_events_sent_total") ==
                                 2 * events - 1;
        if (settled) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "metrics did not settle\n" << server.logs();
        std::this_thread::sleep_for(poll_pause);
    }
    const Scrape after(server);
    const auto delta = [&](const std::string& name, const Labels& match = {}) {
        return after.sum(name, match) - before.sum(name, match);
    };

    // The turn's own events, as upstream's processor emits them.
    for (const char* type : {"session.created", "session.execution_requested", "session.execution_started",
                             "session.sandbox_ready", "session.first_token", "session.execution_completed"})
        EXPECT_EQ(types[type], 1) << type;
    EXPECT_GE(types["session.output.line"], 1);
    const double events = total(types);
    double ingest_events = 0;
    for (const auto& [type, count] : types) {
        const std::string source = ingest_types.count(type) ? "ingest" : "processor";
        if (source == "ingest") ingest_events += count;
        EXPECT_EQ(delta("centaur_log_events_appended_total", {{"event_type", type}, {"source", source}}), count) << type;
        EXPECT_EQ(delta("centaur_projector_events_projected_total", {{"event_type", type}, {"source", source}}), count)
            << type;
    }
    EXPECT_EQ(delta("centaur_log_events_appended_total"), events) << "no event of another type or source";
    EXPECT_EQ(delta("centaur_projector_events_projected_total"), events);
    EXPECT_EQ(delta("centaur_log_append_duration_seconds_count", {{"source", "ingest"}}), ingest_events);
    EXPECT_EQ(delta("centaur_log_append_duration_seconds_count", {{"source", "processor"}}), events - ingest_events);
    EXPECT_EQ(delta("centaur_ingest_request_to_durable_seconds_count"), ingest_events);
    EXPECT_EQ(delta("centaur_projector_projection_latency_seconds_count"), events);
    EXPECT_EQ(delta("centaur_log_duplicate_appends_total"), 0);
    EXPECT_EQ(delta("centaur_projector_duplicates_dropped_total"), 0);
    EXPECT_EQ(delta("centaur_log_append_failures_total"), 0);
    EXPECT_EQ(delta("centaur_log_dead_lettered_records_total"), 0);

    // Upstream's session series: one completed codex execution, nothing failed.
    EXPECT_EQ(delta("centaur_session_executions_total", {{"harness", "codex"}, {"status", "completed"}}), 1);
    EXPECT_EQ(delta("centaur_session_executions_total"), 1);
    EXPECT_EQ(delta("centaur_session_failures_total"), 0);
    EXPECT_EQ(delta("centaur_session_execution_duration_seconds_count"), 1);
    EXPECT_EQ(delta("centaur_session_first_token_latency_seconds_count", {{"harness", "codex"}}), 1);
    EXPECT_EQ(delta("centaur_session_turn_duration_seconds_count", {{"harness", "codex"}}), 1);
    EXPECT_EQ(after.sum("centaur_session_running_executions"), 0);
    EXPECT_EQ(after.sum("centaur_processor_threads"), 1);

    // One cold sandbox for the turn, still held by the thread (idle timeout of an hour).
    const Labels cold_create{{"backend", "local"}, {"operation", "create"}, {"status", "ok"}};
    EXPECT_EQ(delta("centaur_sandbox_operations_total", cold_create), 1);
    EXPECT_EQ(delta("centaur_sandbox_operations_total"), 1);
    EXPECT_EQ(delta("centaur_sandbox_startup_duration_seconds_count"), 1);
    EXPECT_EQ(delta("centaur_sandbox_create_duration_seconds_count", {{"pool", "cold"}}), 1);
    EXPECT_EQ(delta("centaur_sandbox_warm_pool_claims_total", {{"result", "miss"}}), 1);
    EXPECT_EQ(delta("centaur_sandbox_limit_kills_total"), 0);
    EXPECT_EQ(after.sum("centaur_sandboxes", {{"state", "busy"}}), 1);
    EXPECT_EQ(after.sum("centaur_sandboxes", {{"state", "warm"}}), 0);

    // Streams: two attached clients, one of them a Last-Event-ID resume; each wrote its first frame once.
    EXPECT_EQ(delta("centaur_sse_resumes_total"), 1);
    EXPECT_EQ(delta("centaur_sse_resume_failures_total"), 0);
    EXPECT_EQ(delta("centaur_sse_replay_first_byte_seconds_count"), 2);
    EXPECT_EQ(after.sum("centaur_sse_clients"), 2);
    // Frames written from the live feed (the rest came from Postgres pages): at least the turn's end, at most all.
    const double live_frames = delta("centaur_sse_delivery_latency_seconds_count");
    EXPECT_GE(live_frames, 1);
    EXPECT_LE(live_frames, 2 * events - 1);

    // The malformed execute, by reason; the requests themselves by route template.
    EXPECT_EQ(delta("centaur_http_bad_requests_total", {{"reason", "invalid_json"}}), 1);
    EXPECT_EQ(delta("centaur_http_bad_requests_total"), 1);
    EXPECT_EQ(delta("http_server_requests_total",
                    {{"method", "POST"}, {"route", "/api/session/{thread_key}/execute"}, {"status", "200"}}),
              1);

    // Bounded labels: no thread key anywhere in the exposition.
    const auto text = http_request("GET", server.url() + "/metrics").body;
    EXPECT_EQ(text.find(key), std::string::npos);
    // Nothing moves once the turn is over: a later scrape shows the same counters.
    const Scrape later(server);
    EXPECT_EQ(later.sum("centaur_log_events_appended_total"), after.sum("centaur_log_events_appended_total"));
    EXPECT_EQ(later.sum("centaur_session_executions_total"), after.sum("centaur_session_executions_total"));
}

TEST_F(Metrics, EveryRoleServesMetricsHealthAndReadiness) {
    const std::map<std::string, std::string> family_of_role{{"processor", "centaur_session_running_executions"},
                                                            {"projector", "centaur_projector_checkpoint_age_seconds"},
                                                            {"api", "centaur_sse_clients"}};
    for (const auto& [role, family] : family_of_role) {
        ServerProcess server(db_.url(), {{"CENTAUR_ROLES", role}});  // returns once /healthz and /readyz are 200
        EXPECT_EQ(http_request("GET", server.url() + "/healthz").status, 200) << role;
        EXPECT_EQ(http_request("GET", server.url() + "/readyz").status, 200) << role;
        const auto metrics = http_request("GET", server.url() + "/metrics");
        EXPECT_EQ(metrics.status, 200) << role;
        EXPECT_NE(metrics.body.find("# TYPE " + family + " gauge"), std::string::npos) << role << "\n" << metrics.body;
        EXPECT_NE(metrics.body.find("# TYPE centaur_log_duplicate_appends_total counter"), std::string::npos) << role;
    }
}

TEST_F(Metrics, KafkaLogExportsConsumerLagPerPartitionAndBrokerStatistics) {
    const char* brokers = std::getenv("CENTAUR_TEST_KAFKA_BROKERS");
    ASSERT_TRUE(brokers && *brokers) << "CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test` "
                                        "(scripts/run-tests starts a broker with scripts/ensure-kafka)";
    const std::string topic = "metrics-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand());
    ServerProcess server(db_.url(), {{"CENTAUR_KAFKA_BROKERS", brokers},
                                     {"CENTAUR_KAFKA_TOPIC", topic},
                                     {"CENTAUR_KAFKA_CONFIG_STATISTICS_INTERVAL_MS", "500"}});
    const std::string key = "api-integration-test:kafka-metrics";
    start_turn(server, key);
    // Settled: both consumer groups caught up on every partition, broker statistics in.
    ASSERT_TRUE(wait_settled(server, db_.url(), key, [](const Scrape& now) {
        return now.values("centaur_log_consumer_lag_records", "partition").size() == 8 &&
               now.values("centaur_log_consumer_lag_records", "group") ==
                   std::set<std::string>{"centaur-processor", "centaur-projector"} &&
               now.sum("centaur_log_consumer_lag_records") == 0 &&
               !now.values("centaur_kafka_broker_rtt_seconds", "broker").empty();
    }));
    const Scrape after(server);
    EXPECT_EQ(after.sum("centaur_projector_events_projected_total"), after.sum("centaur_log_events_appended_total"));
    EXPECT_EQ(after.values("centaur_kafka_broker_rtt_seconds", "stat"), (std::set<std::string>{"avg", "p99"}));
    EXPECT_EQ(after.sum("centaur_log_dead_lettered_records_total"), 0);
}

TEST_F(Metrics, EmbeddedLogExportsConsumerLagPerPartition) {
    ServerProcess server(db_.url());  // no CENTAUR_KAFKA_BROKERS: the embedded log
    const std::string key = "api-integration-test:embedded-lag";
    start_turn(server, key);
    // Settled: both consumer groups caught up on every partition of the log.
    ASSERT_TRUE(wait_settled(server, db_.url(), key, [](const Scrape& now) {
        return now.series("centaur_log_consumer_lag_records", {{"group", "centaur-projector"}}) == 8 &&
               now.series("centaur_log_consumer_lag_records", {{"group", "centaur-processor"}}) == 8 &&
               now.series("centaur_log_consumer_lag_records") == 16 && now.sum("centaur_log_consumer_lag_records") == 0;
    }));
    const Scrape after(server);
    EXPECT_EQ(after.sum("centaur_projector_events_projected_total"), after.sum("centaur_log_events_appended_total"));
    EXPECT_EQ(after.sum("centaur_log_dead_lettered_records_total"), 0);
}

TEST_F(Metrics, EmbeddedLogConsumerLagCountsWhatAStalledProjectorHasNotRead) {
    // More messages than the projector reads in one batch (ProjectorOptions::max_batch, 1000): its first read
    // after the restart is full, so it counts what is left behind it before it stalls on its insert.
    constexpr int messages = 1500;
    const std::string key = "api-integration-test:stalled-projector";
    ServerProcess server(db_.url());  // every role: the session is projected
    ASSERT_EQ(http_request("POST", server.url() + "/api/session/" + key, R"({"harness_type":"codex"})").status, 200);
    server.stop();
    {
        // The messages reach the log while no projector runs: a server with the writing roles only, which answers
        // once its read-your-writes wait (100 ms) is over.
        ServerProcess writer(db_.url(), {{"CENTAUR_ROLES", "ingest,api"}, {"CENTAUR_PROJECTION_WAIT_MS", "100"}});
        std::string body = R"({"messages":[)";
        for (int i = 0; i < messages; ++i)
            body += std::string(i ? "," : "") + R"({"role":"user","parts":[{"type":"text","text":"m)" +
                    std::to_string(i) + R"("}]})";
        body += "]}";
        const auto r = http_request("POST", writer.url() + "/api/session/" + key + "/messages", body);
        ASSERT_EQ(r.status, 200) << r.body << writer.logs();
    }
    pqxx::connection lock_conn(db_.url());
    const auto partition = [&] {
        pqxx::work tx(lock_conn);
        const auto n = tx.exec_params("select count(*) from centaur_log where thread_key = $1", key)[0][0].as<int>();
        EXPECT_EQ(n, messages + 1);
        return tx.exec_params("select partition from centaur_log where thread_key = $1 limit 1", key)[0][0]
            .as<std::string>();
    }();

    // The projector stalls on its first insert: the test holds a lock that blocks writes to session_events.
    auto stall = std::make_unique<pqxx::work>(lock_conn);
    stall->exec("lock table session_events in exclusive mode");
    server.restart();
    const Labels projector_p{{"group", "centaur-projector"}, {"partition", partition}};
    auto deadline = std::chrono::steady_clock::now() + settle_timeout;
    for (;;) {
        const Scrape now(server);
        const bool stalled = now.series("centaur_log_consumer_lag_records", {{"group", "centaur-projector"}}) == 8 &&
                             now.sum("centaur_log_consumer_lag_records", projector_p) > 0 &&
                             now.series("centaur_log_consumer_lag_records", {{"group", "centaur-processor"}}) == 8 &&
                             now.sum("centaur_log_consumer_lag_records", {{"group", "centaur-processor"}}) == 0;
        if (stalled) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "no lag of the stalled projector\n" << http_request("GET", server.url() + "/metrics").body
            << server.logs();
        std::this_thread::sleep_for(poll_pause);
    }
    const Scrape stalled(server);
    const double behind = stalled.sum("centaur_log_consumer_lag_records", projector_p);
    EXPECT_LT(behind, messages) << "it read a batch before it stalled";
    EXPECT_EQ(stalled.sum("centaur_log_consumer_lag_records", {{"group", "centaur-projector"}}), behind)
        << "only the thread's partition is behind";
    EXPECT_EQ(total(projected_types(db_.url(), key)), 1) << "nothing projected while the insert waits";

    // Released: the projector catches up and its lag goes to 0 on every partition.
    stall->abort();
    stall.reset();
    deadline = std::chrono::steady_clock::now() + settle_timeout;
    for (;;) {
        const Scrape now(server);
        const bool caught_up = total(projected_types(db_.url(), key)) == messages + 1 &&
                               now.series("centaur_log_consumer_lag_records") == 16 &&
                               now.sum("centaur_log_consumer_lag_records") == 0;
        if (caught_up) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "the projector did not catch up\n" << http_request("GET", server.url() + "/metrics").body
            << server.logs();
        std::this_thread::sleep_for(poll_pause);
    }
}

/// promtool from PATH, or empty.
std::string find_promtool() {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t at = 0;
    while (at <= dirs.size()) {
        const auto end = std::min(dirs.find(':', at), dirs.size());
        const auto candidate = std::filesystem::path(dirs.substr(at, end - at)) / "promtool";
        if (!candidate.parent_path().empty() && std::filesystem::exists(candidate)) return candidate.string();
        at = end + 1;
    }
    return {};
}

TEST_F(Metrics, PromtoolFindsNothingWrongWithABusyServersExposition) {
    const auto promtool = find_promtool();
    ASSERT_FALSE(promtool.empty()) << "promtool is not installed: scripts/bootstrap installs the Debian package "
                                      "`prometheus`";
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "50"}});
    // Busy: three threads mid-turn, an attached stream, a refused request, when the scrape happens.
    std::vector<std::unique_ptr<ChildProcess>> streams;
    for (int i = 0; i < 3; ++i) {
        const std::string thread = server.url() + "/api/session/api-integration-test:busy-" + std::to_string(i);
        ASSERT_EQ(http_request("POST", thread, R"({"harness_type":"codex"})").status, 200);
        ASSERT_EQ(http_request("POST", thread + "/execute", R"({"input_lines":["{\"type\":\"user\"}"]})").status, 200);
        streams.push_back(std::make_unique<ChildProcess>(
            std::vector<std::string>{"curl", "-sN", "--max-time", "60", thread + "/events?after_event_id=0"}));
    }
    EXPECT_EQ(http_request("POST", server.url() + "/api/session/api-integration-test:busy-0/execute", "[").status, 400);
    ASSERT_TRUE(streams.front()->wait_for_stdout("event: session.output.line", settle_timeout));

    const auto scraped = http_request("GET", server.url() + "/metrics");
    ASSERT_EQ(scraped.status, 200);
    const auto file = std::filesystem::temp_directory_path() / ("centaur-metrics-" + std::to_string(::getpid()));
    std::ofstream(file) << scraped.body;
    ChildProcess check({"sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, file.string()});
    const auto code = check.wait_for_exit(30s);
    std::filesystem::remove(file);
    ASSERT_TRUE(code.has_value()) << "promtool did not finish";
    EXPECT_EQ(*code, 0) << check.stdout_text() << check.stderr_text();
    EXPECT_EQ(check.stdout_text() + check.stderr_text(), "") << "promtool remarks on /metrics";
}

}  // namespace
}  // namespace centaur::e2e
