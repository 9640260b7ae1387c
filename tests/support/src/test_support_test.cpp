// Self-test of the test-support library: each helper against the real thing it wraps (a Postgres
// server from CENTAUR_TEST_DATABASE_URL, real child processes, a real HTTP server in python3).

#include <centaur/test_support/test_support.hpp>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pqxx/pqxx>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

namespace centaur::test_support {
namespace {

using namespace std::chrono_literals;

// ---- TestDatabase ----

long long count_databases_named(const std::string& admin_url, const std::string& name) {
    pqxx::connection conn(admin_url);
    pqxx::nontransaction tx(conn);
    return tx.exec_params("select count(*) from pg_database where datname = $1", name)[0][0].as<long long>();
}

TEST(TestDatabase, CreatesAFreshDatabaseAndDropsItEvenWithOpenConnections) {
    std::string name, admin;
    std::unique_ptr<pqxx::connection> lingering;
    {
        TestDatabase db;
        name = db.name();
        admin = db.admin_url();
        EXPECT_TRUE(std::regex_match(name, std::regex("centaur_test_[0-9]+_[0-9a-f]{8}"))) << name;
        pqxx::connection conn(db.url());
        EXPECT_EQ(conn.dbname(), name);
        pqxx::work tx(conn);
        tx.exec0("create table t (id bigint primary key, v text)");
        tx.exec0("insert into t values (1, 'one')");
        tx.commit();
        pqxx::nontransaction read(conn);
        EXPECT_EQ(read.exec("select v from t where id = 1")[0][0].as<std::string>(), "one");
        EXPECT_EQ(count_databases_named(admin, name), 1);
        lingering = std::make_unique<pqxx::connection>(db.url());  // still open when the db is dropped
    }
    EXPECT_EQ(count_databases_named(admin, name), 0);
}

TEST(TestDatabase, TwoDatabasesAreDistinct) {
    TestDatabase a, b;
    EXPECT_NE(a.name(), b.name());
    EXPECT_NE(a.url(), b.url());
}

TEST(TestDatabase, FailsLoudlyWithoutTheServerVariable) {
    const std::string saved = env_or("CENTAUR_TEST_DATABASE_URL", "");
    ::unsetenv("CENTAUR_TEST_DATABASE_URL");
    try {
        TestDatabase db;
        ADD_FAILURE() << "expected an exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("make test"), std::string::npos) << e.what();
    }
    ::setenv("CENTAUR_TEST_DATABASE_URL", saved.c_str(), 1);
}

TEST(WithDatabase, ReplacesTheDatabaseOfUrlsAndConninfo) {
    EXPECT_EQ(with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
              "postgresql://postgres@127.0.0.1:5432/x");
    EXPECT_EQ(with_database("postgres://u:p@h:1/db?sslmode=disable", "x"), "postgres://u:p@h:1/x?sslmode=disable");
    EXPECT_EQ(with_database("postgresql://h:1", "x"), "postgresql://h:1/x");
    EXPECT_EQ(with_database("host=h dbname=a", "x"), "host=h dbname=a dbname=x");
}

// ---- ChildProcess ----

TEST(ChildProcess, CapturesStdoutAndExitCodeZero) {
    ChildProcess p({"echo", "hello", "world"});
    EXPECT_EQ(p.wait_for_exit(5s), 0);
    EXPECT_EQ(p.stdout_text(), "hello world\n");
    EXPECT_EQ(p.stderr_text(), "");
    EXPECT_FALSE(p.running());
}

TEST(ChildProcess, ReportsNonZeroExitAndStderr) {
    ChildProcess p({"sh", "-c", "echo oops >&2; exit 3"});
    EXPECT_EQ(p.wait_for_exit(5s), 3);
    EXPECT_EQ(p.exit_code(), 3);
    EXPECT_EQ(p.stderr_text(), "oops\n");
}

TEST(ChildProcess, PassesEnvironmentOverridesOrACleanEnvironment) {
    ::setenv("CENTAUR_TS_INHERITED", "from-parent", 1);
    ChildProcess inherit({"sh", "-c", "echo \"$CENTAUR_TS_INHERITED $CENTAUR_TS_OVERRIDE\""},
                         {{"CENTAUR_TS_OVERRIDE", "over"}});
    ASSERT_EQ(inherit.wait_for_exit(5s), 0);
    EXPECT_EQ(inherit.stdout_text(), "from-parent over\n");

    ChildOptions clean;
    clean.inherit_env = false;
    ChildProcess isolated({"/bin/sh", "-c", "echo \"[$CENTAUR_TS_INHERITED][$ONLY]\""}, {{"ONLY", "1"}}, clean);
    ASSERT_EQ(isolated.wait_for_exit(5s), 0);
    EXPECT_EQ(isolated.stdout_text(), "[][1]\n");
    ::unsetenv("CENTAUR_TS_INHERITED");
}

TEST(ChildProcess, TimesOutThenIsKilledBySignal) {
    ChildProcess p({"sleep", "30"});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(p.wait_for_exit(200ms), std::nullopt);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
    EXPECT_TRUE(p.running());
    p.kill(SIGTERM);
    EXPECT_EQ(p.wait_for_exit(5s), 128 + SIGTERM);
}

TEST(ChildProcess, WaitsForOutputBounded) {
    ChildProcess p({"sh", "-c", "sleep 0.2; echo ready; sleep 30"});
    EXPECT_TRUE(p.wait_for_stdout("ready", 5s));
    EXPECT_FALSE(p.wait_for_stdout("never printed", 100ms));
    EXPECT_TRUE(p.wait_for_stdout([](const std::string& t) { return t == "ready\n"; }, 1s));
    // An exited child ends the wait at once instead of at the deadline.
    ChildProcess quick({"true"});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(quick.wait_for_stdout("x", 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ChildProcess, SharedLogFileInterleavesBothStreams) {
    const auto path = std::filesystem::temp_directory_path() / ("centaur-ts-" + std::to_string(::getpid()) + ".log");
    ChildOptions options;
    options.stdout_path = options.stderr_path = path.string();
    {
        ChildProcess p({"sh", "-c", "echo out; echo err >&2"}, {}, options);
        ASSERT_EQ(p.wait_for_exit(5s), 0);
        EXPECT_EQ(p.stdout_text(), "out\nerr\n");
    }
    EXPECT_TRUE(std::filesystem::exists(path)) << "caller-named files are kept";
    std::filesystem::remove(path);
}

TEST(ChildProcess, UnknownProgramThrows) {
    EXPECT_THROW(ChildProcess({"centaur-no-such-program-xyz"}), std::runtime_error);
    EXPECT_THROW(ChildProcess({"/nonexistent/prog"}), std::runtime_error);
}

bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0) return true;
    // Reparented to a pid 1 that may not reap: a zombie is gone too.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string skip, state;
    stat >> skip >> skip >> state;
    return state == "Z";
}

TEST(ChildProcess, DestructorKillsTheWholeProcessGroup) {
    pid_t grandchild = 0;
    {
        ChildProcess p({"sh", "-c", "sleep 300 & echo $!; wait"});
        ASSERT_TRUE(p.wait_for_stdout("\n", 5s));
        grandchild = std::stoi(p.stdout_text());
        EXPECT_FALSE(process_gone(grandchild));
    }
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i, std::this_thread::sleep_for(20ms)) gone = process_gone(grandchild);
    EXPECT_TRUE(gone);
}

// ---- paths ----

TEST(Paths, FreeTcpPortCanBeBound) {
    const int port = free_tcp_port();
    EXPECT_GT(port, 0);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
}

TEST(Paths, SourcePathPointsIntoTheRepository) {
    EXPECT_TRUE(std::filesystem::exists(source_path("tests/support/src/test_support_test.cpp")));
    EXPECT_THROW(bin_path("centaur-no-such-binary"), std::runtime_error);
}

// ---- http_request and ServerProcess against a python3 stand-in for the api server ----

// Serves /healthz, /readyz (503 until FAKE_READY_DELAY seconds passed), /env, /slow, echoes POSTs;
// SIGTERM exits 0. Binds BIND_ADDR like the real server.
const char* fake_server = R"PY(
import http.server, json, os, signal, sys, time
host, port = os.environ["BIND_ADDR"].rsplit(":", 1)
ready_at = time.monotonic() + float(os.environ.get("FAKE_READY_DELAY", "0"))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): sys.stderr.write("request %s %s\n" % (self.command, self.path))
    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "a")
        self.send_header("X-Echo", "b")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path == "/healthz": return self.reply(200, '{"ok":true}')
        if self.path == "/readyz": return self.reply(200 if time.monotonic() >= ready_at else 503, "{}")
        if self.path == "/env":
            keys = ["DATABASE_URL", "BIND_ADDR", "RUN_MIGRATIONS", "SESSION_SANDBOX_BACKEND", "SESSION_SANDBOX_WORKLOAD", "EXTRA"]
            return self.reply(200, json.dumps({k: os.environ.get(k) for k in keys}, sort_keys=True))
        if self.path == "/slow":
            time.sleep(5)
            return self.reply(200, "{}")
        self.reply(404, '{"ok":false,"error":"not found"}')
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.reply(201, json.dumps({"path": self.path, "body": body, "type": self.headers.get("Content-Type"),
                                    "x_test": self.headers.get("X-Test")}, sort_keys=True))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
server = http.server.ThreadingHTTPServer((host, int(port)), H)
print("listening on", port, flush=True)
server.serve_forever()
)PY";

ServerOptions fake_options() {
    ServerOptions o;
    o.argv = {"python3", "-c", fake_server};
    o.start_timeout = 20s;
    return o;
}

TEST(HttpRequest, SendsMethodBodyHeadersAndReadsTheResponse) {
    ServerProcess server("postgresql://unused/db", {}, fake_options());
    auto get = http_request("GET", server.url() + "/healthz");
    EXPECT_EQ(get.status, 200);
    EXPECT_EQ(get.body, R"({"ok":true})");
    EXPECT_EQ(get.headers["content-type"], "application/json");
    EXPECT_EQ(get.headers["x-echo"], "a, b");

    auto post = http_request("POST", server.url() + "/things?x=1", R"({"a":1})", {{"X-Test", "yes"}});
    EXPECT_EQ(post.status, 201);
    EXPECT_EQ(post.body, R"({"body": "{\"a\":1}", "path": "/things?x=1", "type": "application/json", "x_test": "yes"})");

    auto typed = http_request("POST", server.url() + "/t", "x", {{"content-type", "text/plain"}});
    EXPECT_NE(typed.body.find(R"("type": "text/plain")"), std::string::npos) << typed.body;

    EXPECT_EQ(http_request("GET", server.url() + "/missing").status, 404);
}

TEST(HttpRequest, ThrowsOnRefusedConnectionBadUrlAndTimeout) {
    const int closed_port = free_tcp_port();
    EXPECT_THROW(http_request("GET", "http://127.0.0.1:" + std::to_string(closed_port) + "/"), std::runtime_error);
    EXPECT_THROW(http_request("GET", "https://example.com/"), std::runtime_error);
    EXPECT_THROW(http_request("FROB", "http://127.0.0.1:1/"), std::runtime_error);

    // A listener that accepts (in the kernel backlog) but never answers.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 8), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const auto url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
    const auto start = std::chrono::steady_clock::now();
    try {
        http_request("GET", url, "", {}, 300ms);
        ADD_FAILURE() << "expected a timeout";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_FALSE(wait_http_ok(url, 300ms));
    ::close(fd);
}

TEST(ServerProcess, StartsWithTheServerEnvironmentAndWaitsForReadiness) {
    auto options = fake_options();
    ServerProcess server("postgresql://postgres@127.0.0.1:1/db", {{"EXTRA", "x"}, {"FAKE_READY_DELAY", "0.5"}},
                         options);
    EXPECT_EQ(http_request("GET", server.url() + "/readyz").status, 200) << "constructor waited for /readyz";
    const auto env = http_request("GET", server.url() + "/env").body;
    EXPECT_EQ(env, R"({"BIND_ADDR": "127.0.0.1:)" + std::to_string(server.port()) +
                       R"(", "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/db", "EXTRA": "x", )"
                       R"("RUN_MIGRATIONS": "true", "SESSION_SANDBOX_BACKEND": "local", "SESSION_SANDBOX_WORKLOAD": "mock"})");
    EXPECT_NE(server.logs().find("request GET /readyz"), std::string::npos) << server.logs();
}

TEST(ServerProcess, StopRestartAndKill9KeepPortAndLogs) {
    ServerProcess server("postgresql://unused/db", {}, fake_options());
    const auto url = server.url();
    const auto first_pid = server.pid();
    EXPECT_EQ(server.stop(), 0) << "SIGTERM exits 0";
    EXPECT_EQ(server.stop(), 0) << "idempotent";
    EXPECT_FALSE(server.running());
    EXPECT_THROW(http_request("GET", url + "/healthz"), std::runtime_error);

    server.restart();
    EXPECT_EQ(server.url(), url);
    EXPECT_NE(server.pid(), first_pid);
    EXPECT_EQ(http_request("GET", url + "/healthz").status, 200);

    server.kill9();
    EXPECT_FALSE(server.running());
    EXPECT_EQ(server.stop(), 128 + SIGKILL);
    server.restart();
    EXPECT_EQ(http_request("GET", url + "/healthz").status, 200);
    const auto logs = server.logs();
    EXPECT_NE(logs.find("==== centaur test: start #3"), std::string::npos) << logs;
    EXPECT_NE(logs.find("listening on"), std::string::npos) << logs;
}

TEST(ServerProcess, ThrowsWithTheLogWhenTheServerDiesAtStart) {
    ServerOptions options;
    options.argv = {"sh", "-c", "echo 'bad configuration: DATABASE_URL' >&2; exit 2"};
    try {
        ServerProcess server("postgresql://unused/db", {}, options);
        ADD_FAILURE() << "expected an exception";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("exited with code 2"), std::string::npos) << what;
        EXPECT_NE(what.find("bad configuration: DATABASE_URL"), std::string::npos) << what;
    }
}

TEST(ServerProcess, ThrowsWhenNeverReadyWithinTheBound) {
    auto options = fake_options();
    options.start_timeout = 1500ms;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(ServerProcess("postgresql://unused/db", {{"FAKE_READY_DELAY", "60"}}, options), std::runtime_error);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

}  // namespace
}  // namespace centaur::test_support
