// End-to-end observability of the real server: JSON log lines (one per request and per turn, no secret in any
// line), /readyz following a private Postgres cluster that is stopped and started again, and the Grafana
// dashboard's queries naming only metrics a server exposes.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::http_request;
using test_support::ServerProcess;
using test_support::TestDatabase;

const std::string thread_key = "cli:0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e";
constexpr char execute_body[] = R"({"input_lines":["{\"type\":\"user\",\"model\":\"gpt-obs\"}"],"max_duration_ms":30000})";

/// `url` carrying `password` as its password (kept if it already has one; with trust auth libpq never sends it).
std::string with_password(const std::string& url, const std::string& password, std::string* used) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) {
        *used = password;
        return url + " password=" + password;
    }
    const auto start = scheme + 3;
    const auto at = url.find('@', start);
    const auto slash = url.find('/', start);
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) {
        *used = password;
        return url.substr(0, start) + "postgres:" + password + "@" + url.substr(start);
    }
    const auto colon = url.find(':', start);
    if (colon != std::string::npos && colon < at) {
        *used = url.substr(colon + 1, at - colon - 1);
        return url;
    }
    *used = password;
    return url.substr(0, at) + ":" + password + url.substr(at);
}

/// Starts a turn on `key`: create, execute. The execution id ("" on failure).
std::string run_turn(const ServerProcess& server, const std::map<std::string, std::string>& auth,
                     const std::string& key = thread_key, const std::string& body = execute_body) {
    const std::string thread = server.url() + "/api/session/" + key;
    auto created = http_request("POST", thread, R"({"harness_type":"codex"})", auth);
    EXPECT_EQ(created.status, 200) << created.body;
    auto executed = http_request("POST", thread + "/execute", body, auth);
    EXPECT_EQ(executed.status, 200) << executed.body;
    if (executed.status != 200) return {};
    return std::string(json::parse(executed.body).at("execution_id").as_string());
}

/// Every series and family name in Prometheus text: sample names, and for `# TYPE x histogram|summary` also
/// x_bucket, x_sum, x_count (a family with no sample yet still names what its queries may use).
std::set<std::string> exposed_names(const std::string& text) {
    std::set<std::string> names;
    for (const auto& line : test_support::lines_of(text)) {
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream in(line.substr(7));
            std::string name, type;
            in >> name >> type;
            names.insert(name);
            if (type == "histogram" || type == "summary")
                for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
            continue;
        }
        if (line.empty() || line.front() == '#') continue;
        names.insert(line.substr(0, line.find_first_of("{ ")));
    }
    return names;
}

/// Metric names a PromQL expression reads: identifiers that are not functions, keywords, label names (inside
/// {…} and by/without/on/ignoring (…)), strings or durations.
std::set<std::string> metric_names_in(std::string expr) {
    expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*")"), " ");
    expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
    expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
    expr = std::regex_replace(expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
    expr = std::regex_replace(expr, std::regex(R"(\$\w+)"), " ");  // Grafana variables ($__rate_interval)
    static const std::set<std::string> keywords = {"by", "without", "on", "ignoring", "group_left", "group_right",
                                                   "bool", "and", "or", "unless", "offset", "inf", "nan"};
    std::set<std::string> names;
    const std::regex ident(R"([A-Za-z_:][A-Za-z0-9_:]*(\s*\()?)");
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), ident); it != std::sregex_iterator(); ++it) {
        const std::string token = (*it)[0];
        if (token.back() == '(') continue;  // a function call
        if (keywords.count(token)) continue;
        const auto pos = static_cast<std::size_t>(it->position());
        if (pos > 0 && (std::isdigit(static_cast<unsigned char>(expr[pos - 1])) || expr[pos - 1] == '.')) continue;
        names.insert(token);
    }
    return names;
}

void collect_exprs(const json::value& v, std::vector<std::string>& out) {
    if (v.is_object()) {
        for (const auto& [k, child] : v.as_object()) {
            if (k == "expr" && child.is_string()) out.emplace_back(child.as_string());
            else collect_exprs(child, out);
        }
    } else if (v.is_array()) {
        for (const auto& child : v.as_array()) collect_exprs(child, out);
    }
}

TEST(ObservabilityE2e, JsonLogLinesNameRequestsAndTurnsAndHoldNoSecret) {
    TestDatabase db;
    std::string db_password;
    const std::string database_url = with_password(db.url(), "pgPassw0rd-obs-4417", &db_password);
    const std::string admin_key = "adminKEY-obs-5521-secret";
    const std::string slack_token = "xoxb-obs-7731-slacktoken";
    const std::string signing_secret = "signing-obs-8812-secret";
    const std::string stream_secret = "stream-obs-9903-secret";
    const std::string jwt_secret = "jwt-obs-1094-secret";
    const std::string wrong_key = "wrongKEY-obs-2285";
    const std::string query_key = "queryKEY-obs-3376";
    ServerProcess server(database_url, {{"LOG_FORMAT", "json"},
                                        {"LOG_LEVEL", "debug"},
                                        {"CENTAUR_APIRS_ADMIN_API_KEY", admin_key},
                                        {"SLACK_BOT_TOKEN", slack_token},
                                        {"SLACK_SIGNING_SECRET", signing_secret},
                                        {"CENTAUR_STREAM_TOKEN_SECRET", stream_secret},
                                        {"CENTAUR_JWT_SIGNING_SECRET", jwt_secret},
                                        {"CENTAUR_MOCK_DELAY_MS", "5"}});
    const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + admin_key}};
    const std::string thread = server.url() + "/api/session/" + thread_key;

    const std::string execution_id = run_turn(server, auth);
    ASSERT_FALSE(execution_id.empty());
    auto minted = http_request("POST", thread + "/events/token", "", auth);
    ASSERT_EQ(minted.status, 200) << minted.body;
    const std::string stream_token(json::parse(minted.body).at("token").as_string());
    const std::string events_url(json::parse(minted.body).at("events_url").as_string());
    ChildProcess sse({"curl", "-sN", "--max-time", "30", server.url() + events_url + "&after_event_id=0"});
    ASSERT_TRUE(sse.wait_for_stdout("event: session.execution_completed", 30s)) << sse.stdout_text() << server.logs();
    sse.kill(SIGTERM);
    EXPECT_EQ(http_request("POST", thread + "/execute", execute_body, {{"Authorization", "Bearer " + wrong_key}}).status,
              401);
    EXPECT_EQ(http_request("GET", server.url() + "/healthz?api_key=" + query_key).status, 200);
    EXPECT_EQ(http_request("GET", server.url() + "/metrics").status, 200);
    ASSERT_EQ(server.stop(), 0) << server.logs();

    const std::string logs = server.logs();
    for (const auto& secret : {db_password, admin_key, slack_token, signing_secret, stream_secret, jwt_secret,
                               wrong_key, query_key, stream_token})
        EXPECT_EQ(logs.find(secret), std::string::npos) << "secret '" << secret << "' logged";

    int lines = 0;
    std::vector<json::object> requests, turns;
    for (const auto& line : test_support::lines_of(logs)) {
        if (line.empty() || line.rfind("==== ", 0) == 0) continue;  // ServerProcess's own start markers
        ++lines;
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        ASSERT_FALSE(ec) << "not a JSON line: " << line;
        ASSERT_TRUE(v.is_object()) << line;
        const auto& o = v.as_object();
        for (const char* key : {"timestamp", "level", "target", "service"})
            ASSERT_TRUE(o.contains(key) && o.at(key).is_string()) << key << " missing: " << line;
        ASSERT_TRUE(o.contains("fields") && o.at("fields").is_object()) << line;
        const auto& fields = o.at("fields").as_object();
        ASSERT_TRUE(fields.contains("message") && fields.at("message").is_string()) << line;
        EXPECT_EQ(o.at("service"), "centaur-api-server") << line;
        if (fields.at("message") == "http request") requests.push_back(fields);
        if (fields.at("message") == "turn finished") turns.push_back(fields);
    }
    EXPECT_GT(lines, 5);

    auto find_request = [&](const std::string& method, const std::string& route) -> const json::object* {
        for (const auto& r : requests)
            if (r.at("method") == method.c_str() && r.at("route") == route.c_str()) return &r;
        return nullptr;
    };
    const auto* execute = find_request("POST", "/api/session/{thread_key}/execute");
    ASSERT_NE(execute, nullptr) << logs;
    EXPECT_EQ(execute->at("status").as_int64(), 200);
    EXPECT_EQ(execute->at("thread_key"), thread_key.c_str());
    EXPECT_GE(execute->at("duration_ms").as_double(), 0.0);
    const auto* stream = find_request("GET", "/api/session/{thread_key}/events");
    ASSERT_NE(stream, nullptr) << logs;
    EXPECT_EQ(stream->at("status").as_int64(), 200);
    EXPECT_EQ(stream->at("stream"), true);
    EXPECT_NE(std::string(stream->at("target").as_string()).find("token=[REDACTED]"), std::string::npos) << logs;
    const json::object* health = nullptr;  // the one with a query (ServerProcess's start-up polls have none)
    for (const auto& r : requests)
        if (r.at("route") == "/healthz" && std::string(r.at("target").as_string()).find('?') != std::string::npos)
            health = &r;
    ASSERT_NE(health, nullptr) << "probes log at debug: " << logs;
    EXPECT_EQ(health->at("target"), "/healthz?api_key=[REDACTED]");
    int refused = 0;
    for (const auto& r : requests) refused += r.at("status").as_int64() == 401 ? 1 : 0;
    EXPECT_EQ(refused, 1);

    ASSERT_EQ(turns.size(), 1u) << logs;
    const auto& turn = turns.front();
    EXPECT_EQ(turn.at("thread_key"), thread_key.c_str());
    EXPECT_EQ(turn.at("execution_id"), execution_id.c_str());
    EXPECT_EQ(turn.at("status"), "completed");
    ASSERT_TRUE(turn.at("first_event_id").is_int64()) << logs;
    ASSERT_TRUE(turn.at("last_event_id").is_int64()) << logs;
    EXPECT_LT(turn.at("first_event_id").as_int64(), turn.at("last_event_id").as_int64());
    EXPECT_GE(turn.at("duration_ms").as_int64(), 0);
}

/// A private cluster under the build tree (scripts/ensure-postgres with its own CENTAUR_PG_DIR): the shared
/// server on 127.0.0.1:5432 is never stopped. Stopped again when the test ends.
class PrivateCluster {
public:
    PrivateCluster() : dir_(std::filesystem::path(test_support::bin_path("centaur-api-server")).parent_path().parent_path() /
                            "observability-pg") {}
    ~PrivateCluster() { run("stop-postgres", {}); }

    /// Starts (or reuses) the cluster; returns the URL of database `database` on it.
    std::string start(const std::string& database) {
        const auto url = run("ensure-postgres", {"--database", database});
        if (url.empty()) throw std::runtime_error("ensure-postgres failed for " + dir_.string());
        return url;
    }
    void stop() { run("stop-postgres", {}); }

private:
    std::string run(const std::string& script, std::vector<std::string> args) {
        std::vector<std::string> argv{test_support::source_path("scripts/" + script)};
        argv.insert(argv.end(), args.begin(), args.end());
        // Not the shared server: ensure-postgres probes a port nothing listens on, so it uses the private dir.
        ChildProcess child(argv, {{"CENTAUR_PG_DIR", dir_.string()},
                                  {"CENTAUR_PG_FSYNC", "off"},
                                  {"CENTAUR_PG_PORT_PROBE", "1"},
                                  {"DATABASE_URL", ""}});
        const auto code = child.wait_for_exit(120s);
        if (!code || *code != 0) {
            ADD_FAILURE() << script << " failed: " << child.stderr_text();
            return {};
        }
        auto out = child.stdout_text();
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }

    std::filesystem::path dir_;
};

/// Polls /readyz until its status is `want` (bounded); the last answer.
test_support::HttpResponse wait_readyz(const ServerProcess& server, int want, std::chrono::seconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    test_support::HttpResponse last;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            last = http_request("GET", server.url() + "/readyz", "", {}, 5s);
            if (last.status == want) return last;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(200ms);
    }
    return last;
}

TEST(ObservabilityE2e, ReadinessNamesPostgresWhileItIsDownAndRecovers) {
    PrivateCluster cluster;
    const std::string url = cluster.start("centaur_readyz");
    ASSERT_FALSE(url.empty());
    ServerProcess server(url, {{"LOG_FORMAT", "json"}});

    auto ready = http_request("GET", server.url() + "/readyz");
    ASSERT_EQ(ready.status, 200) << ready.body;
    const auto body = json::parse(ready.body).as_object();
    EXPECT_EQ(body.at("ready"), true);
    const auto& components = body.at("components").as_object();
    for (const char* name : {"postgres", "migrations", "log", "processor", "projector"})
        EXPECT_EQ(components.at(name), "ready") << name << ": " << ready.body;

    cluster.stop();
    auto down = wait_readyz(server, 503, 60s);
    ASSERT_EQ(down.status, 503) << down.body << server.logs();
    const auto down_body = json::parse(down.body).as_object();
    EXPECT_EQ(down_body.at("ready"), false);
    EXPECT_NE(std::string(down_body.at("error").as_string()).find("postgres"), std::string::npos) << down.body;
    const std::string postgres_state(down_body.at("components").at("postgres").as_string());
    EXPECT_EQ(postgres_state.rfind("unreachable", 0), 0u) << down.body;
    EXPECT_EQ(http_request("GET", server.url() + "/healthz").status, 200) << "liveness does not follow Postgres";

    ASSERT_FALSE(cluster.start("centaur_readyz").empty());
    auto back = wait_readyz(server, 200, 90s);
    EXPECT_EQ(back.status, 200) << back.body << server.logs();
}

TEST(ObservabilityE2e, DashboardQueriesUseOnlyMetricsTheServerExposes) {
    std::ifstream file(test_support::source_path("compose/grafana/dashboards/centaur.json"));
    ASSERT_TRUE(file) << "dashboard JSON missing";
    std::stringstream text;
    text << file.rdbuf();
    boost::system::error_code ec;
    const auto dashboard = json::parse(text.str(), ec);
    ASSERT_FALSE(ec) << "dashboard is not JSON: " << ec.message();
    std::vector<std::string> exprs;
    collect_exprs(dashboard, exprs);
    ASSERT_GE(exprs.size(), 8u) << "stage latencies, throughput, lag and errors";

    TestDatabase db;
    ServerProcess server(db.url(), {{"CENTAUR_MOCK_DELAY_MS", "5"}});
    // What the error panels count happens once: a completed turn, a turn failed by its max duration, a resume
    // from another thread's event id (a resume failure and a refused request).
    ASSERT_FALSE(run_turn(server, {}).empty());
    ChildProcess sse({"curl", "-sN", "--max-time", "30",
                      server.url() + "/api/session/" + thread_key + "/events?after_event_id=0"});
    ASSERT_TRUE(sse.wait_for_stdout("event: session.execution_completed", 30s)) << sse.stdout_text();
    sse.kill(SIGTERM);
    const std::string failing_key = "cli:fa11fa11fa11fa11fa11fa11fa11fa11";
    ASSERT_FALSE(run_turn(server, {}, failing_key,
                          R"({"input_lines":["{\"type\":\"user\"}"],"idle_timeout_ms":1,"max_duration_ms":1})")
                     .empty());
    ChildProcess failing({"curl", "-sN", "--max-time", "30",
                          server.url() + "/api/session/" + failing_key + "/events?after_event_id=0"});
    ASSERT_TRUE(failing.wait_for_stdout("event: session.execution_failed", 30s)) << failing.stdout_text();
    failing.kill(SIGTERM);
    const auto id_at = failing.stdout_text().find("id: ");
    ASSERT_NE(id_at, std::string::npos);
    const std::string foreign_id = failing.stdout_text().substr(id_at + 4, failing.stdout_text().find('\n', id_at) - id_at - 4);
    EXPECT_EQ(http_request("GET", server.url() + "/api/session/" + thread_key + "/events?after_event_id=" + foreign_id)
                  .status,
              400);
    const auto scraped = http_request("GET", server.url() + "/metrics");
    ASSERT_EQ(scraped.status, 200);
    const auto exposed = exposed_names(scraped.body);

    // Emitted only by what this test does not run: the Kafka log backend (librdkafka statistics) and Slack's Web
    // API client (SLACK_BOT_TOKEN). Each is named here explicitly.
    const std::set<std::string> elsewhere = {
        "centaur_kafka_broker_rtt_seconds",                // Kafka: librdkafka statistics
        "centaur_kafka_producer_queue_messages",           // Kafka: librdkafka statistics
        "centaur_slack_api_call_duration_seconds_bucket",  // Slack Web API calls
        "centaur_slack_api_rate_limited_total",            // Slack Web API 429s
        "centaur_slack_api_retries_total",                 // Slack Web API retries
    };
    std::set<std::string> used;
    for (const auto& expr : exprs)
        for (const auto& name : metric_names_in(expr)) used.insert(name);
    ASSERT_GE(used.size(), 8u);
    for (const auto& name : used)
        EXPECT_TRUE(exposed.count(name) || elsewhere.count(name)) << name << " is not in /metrics";
}

}  // namespace
}  // namespace centaur::e2e
