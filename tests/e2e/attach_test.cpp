// End-to-end live attach: the real centaur-api-server on a free port against a fresh database, attached to by the
// real centaur-session-cli, curl and raw sockets. Every stream is compared with the thread's rows in Postgres:
// every event exactly once, in order, across reconnects, a server restart, slow peers and split processes.

#include <centaur/test_support/test_support.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

namespace centaur::e2e {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test_support::ChildProcess;
using test_support::lines_of;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr auto turn_timeout = 60s;

std::string random_cli_key() {
    static std::mt19937_64 rng(std::random_device{}());
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    return std::string("cli:") + hex;
}

std::string events_path(const std::string& key) { return "/api/session/" + key + "/events"; }

/// Event ids printed by `centaur-session-cli --all-events`: "<id>\t<line>" or {"sse_event","id","data"}.
std::vector<long long> cli_event_ids(const std::string& out) {
    std::vector<long long> ids;
    for (const auto& line : lines_of(out)) {
        if (line[0] == '{') {
            const auto v = json::parse(line);
            const auto& id = v.at("id");
            if (id.is_string()) ids.push_back(std::stoll(std::string(id.as_string())));
            else if (id.is_int64()) ids.push_back(id.as_int64());
        } else {
            ids.push_back(std::stoll(line.substr(0, line.find('\t'))));
        }
    }
    return ids;
}

/// The thread's event ids in Postgres (id > after, id <= upto), in order.
std::vector<long long> thread_ids(const std::string& db_url, const std::string& key, long long after = 0,
                                  long long upto = std::numeric_limits<long long>::max()) {
    pqxx::connection c(db_url);
    pqxx::nontransaction tx(c);
    std::vector<long long> out;
    for (const auto& r : tx.exec_params("select event_id from session_events where thread_key = $1 and event_id > $2 "
                                        "and event_id <= $3 order by event_id",
                                        key, after, upto))
        out.push_back(r[0].as<long long>());
    return out;
}

/// Id of the thread's first terminal event, 0 when none yet.
long long terminal_id(const std::string& db_url, const std::string& key) {
    pqxx::connection c(db_url);
    pqxx::nontransaction tx(c);
    auto r = tx.exec_params("select coalesce(min(event_id), 0) from session_events where thread_key = $1 and "
                            "event_type in ('session.execution_completed', 'session.execution_failed', "
                            "'session.execution_cancelled')",
                            key);
    return r[0][0].as<long long>();
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds bound) {
    const auto deadline = Clock::now() + bound;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

void create_session(const ServerProcess& server, const std::string& key) {
    auto r = test_support::http_request("POST", server.url() + "/api/session/" + key, R"({"harness_type":"codex"})");
    ASSERT_EQ(r.status, 200) << r.body;
}

/// Appends `n` user messages in one request (n events); returns once the last is projected.
void append_messages(const ServerProcess& server, const std::string& key, int n, const std::string& text = "m") {
    json::array messages;
    for (int i = 0; i < n; ++i) {
        json::object part{{"type", "text"}, {"text", text + std::to_string(i)}};
        messages.push_back(json::object{{"role", "user"}, {"parts", json::array{std::move(part)}}});
    }
    const std::string body = json::serialize(json::object{{"messages", std::move(messages)}});
    auto r = test_support::http_request("POST", server.url() + "/api/session/" + key + "/messages", body);
    ASSERT_EQ(r.status, 200) << r.body;
}

std::unique_ptr<ChildProcess> start_cli(const ServerProcess& server, std::vector<std::string> args) {
    args.insert(args.begin(), test_support::bin_path("centaur-session-cli"));
    return std::make_unique<ChildProcess>(args, std::map<std::string, std::string>{{"CENTAUR_API_URL", server.url()}});
}

struct Frame {
    std::string id;
    std::string event;
    std::string data;
};

/// A raw HTTP/1.0 SSE connection (the body is the bare event stream until the server closes). Blocking, bounded.
class RawStream {
public:
    RawStream(int port, const std::string& target, const std::string& last_event_id = "", int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        std::string request = "GET " + target + " HTTP/1.0\r\n";
        if (!last_event_id.empty()) request += "Last-Event-ID: " + last_event_id + "\r\n";
        request += "\r\n";
        if (connected_) ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
    ~RawStream() { ::close(fd_); }
    RawStream(const RawStream&) = delete;
    RawStream& operator=(const RawStream&) = delete;

    bool connected() const { return connected_; }

    /// Reads the response head (waiting for it until `deadline`: a loaded server may be slow to answer), then
    /// until `max_bytes` of body were read, the peer closed, or nothing arrived for `idle` (and at most until
    /// `deadline`). Returns false once the peer closed.
    bool read(std::size_t max_bytes, std::chrono::milliseconds idle, Clock::time_point deadline) {
        std::size_t total = 0;
        while ((status_ == 0 || total < max_bytes) && !closed_) {
            const auto to_deadline =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            const auto left = status_ == 0 ? to_deadline : std::min<long long>(idle.count(), to_deadline);
            if (left <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
            char buf[8192];
            const bool head = status_ == 0;
            const auto n = ::recv(fd_, buf, head ? 1 : std::min(sizeof buf, max_bytes - total), 0);
            if (n <= 0) {
                closed_ = true;
                break;
            }
            if (!head) total += static_cast<std::size_t>(n);
            feed(std::string_view(buf, static_cast<std::size_t>(n)));
        }
        return !closed_;
    }

    int status() const { return status_; }
    const std::vector<Frame>& frames() const { return frames_; }
    /// `retry:` fields seen.
    int retries() const { return retries_; }

private:
    void feed(std::string_view bytes) {
        buf_.append(bytes);
        if (status_ == 0) {
            const auto end = buf_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            status_ = std::stoi(buf_.substr(9, 3));
            buf_.erase(0, end + 4);
        }
        for (;;) {
            const auto end = buf_.find("\n\n");
            if (end == std::string::npos) return;
            const std::string block = buf_.substr(0, end + 1);
            buf_.erase(0, end + 2);
            Frame f;
            std::size_t pos = 0;
            bool data_seen = false;
            while (pos < block.size()) {
                const auto nl = block.find('\n', pos);
                const std::string line = block.substr(pos, nl - pos);
                pos = nl + 1;
                if (line.rfind("id: ", 0) == 0) f.id = line.substr(4);
                else if (line.rfind("retry: ", 0) == 0) ++retries_;
                else if (line.rfind("event: ", 0) == 0) f.event = line.substr(7);
                else if (line.rfind("data: ", 0) == 0) {
                    if (data_seen) f.data += '\n';
                    f.data += line.substr(6);
                    data_seen = true;
                }
            }
            if (!f.event.empty()) frames_.push_back(std::move(f));
        }
    }

    int fd_ = -1;
    bool connected_ = false;
    bool closed_ = false;
    int status_ = 0;
    int retries_ = 0;
    std::string buf_;
    std::vector<Frame> frames_;
};

std::vector<long long> ids_of(const std::vector<Frame>& frames) {
    std::vector<long long> out;
    for (const auto& f : frames)
        if (!f.id.empty()) out.push_back(std::stoll(f.id));
    return out;
}

/// Connects, reads a random number of bytes, drops the connection, and resumes with Last-Event-ID, `rounds` times
/// (complete frames only count); then follows until the thread's last event is `last()` (polled). Returns every
/// event id received, in order, and the stream errors seen.
std::vector<long long> resume_at_random_points(const ServerProcess& server, const std::string& key, int rounds,
                                               const std::function<long long()>& last, std::vector<Frame>* errors) {
    std::mt19937 rng(20261201);
    std::vector<long long> got;
    std::string last_id;
    const auto deadline = Clock::now() + turn_timeout;
    for (int round = 0;; ++round) {
        RawStream s(server.port(), events_path(key), last_id);
        EXPECT_TRUE(s.connected());
        const bool final_round = round >= rounds;
        if (final_round) {
            while (Clock::now() < deadline && s.read(1 << 20, 100ms, deadline)) {
                const auto ids = ids_of(s.frames());
                const long long want = last();
                if (want > 0 && !ids.empty() && ids.back() >= want) break;
                if (want > 0 && ids.empty() && !got.empty() && got.back() >= want) break;
            }
        } else {
            s.read(1 + rng() % 6000, 100ms, deadline);
        }
        EXPECT_EQ(s.status(), 200);
        for (const auto& f : s.frames()) {
            if (f.event == "session.stream_error") {
                if (errors) errors->push_back(f);
                continue;
            }
            if (f.id.empty()) continue;
            got.push_back(std::stoll(f.id));
            last_id = f.id;
        }
        if (final_round) break;
    }
    return got;
}

class Attach : public ::testing::Test {
protected:
    TestDatabase db_;
};

TEST_F(Attach, CliAttachedBeforeTheFirstEventSeesTheTurnThenImplicitAttachMidTurnAndCursorRules) {
    ServerProcess server(db_.url(), {{"CENTAUR_MOCK_DELAY_MS", "100"}, {"CENTAUR_SSE_KEEPALIVE_SECS", "1"}});
    const auto key = random_cli_key();

    // Attached before the thread has any event: it waits.
    auto attach = start_cli(server, {"--attach", "--thread-key", key, "--all-events", "--exit-on-terminal"});
    ChildProcess curl({"curl", "-sN", "--max-time", "30", server.url() + events_path(key)});
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(attach->running()) << attach->stderr_text();
    EXPECT_EQ(attach->stdout_text(), "");

    // A turn on the thread (the CLI creates the session); the attached CLI exits on its terminal event.
    auto turn = start_cli(server, {"--thread-key", key, "--message", "hello", "--exit-on-terminal", "--all-events"});
    // Implicit attach mid-turn: --thread-key and --after-event-id without --message.
    ASSERT_TRUE(eventually([&] { return thread_ids(db_.url(), key).size() >= 6; }, turn_timeout)) << server.logs();
    const long long mid = thread_ids(db_.url(), key)[4];
    auto implicit = start_cli(server, {"--thread-key", key, "--after-event-id", std::to_string(mid), "--all-events",
                                       "--exit-on-terminal"});
    ASSERT_EQ(turn->wait_for_exit(turn_timeout), std::optional<int>(0)) << turn->stderr_text() << server.logs();
    ASSERT_EQ(attach->wait_for_exit(turn_timeout), std::optional<int>(0)) << attach->stderr_text();
    ASSERT_EQ(implicit->wait_for_exit(turn_timeout), std::optional<int>(0)) << implicit->stderr_text();
    const long long terminal = terminal_id(db_.url(), key);
    ASSERT_GT(terminal, 0);
    EXPECT_EQ(cli_event_ids(attach->stdout_text()), thread_ids(db_.url(), key, 0, terminal));
    EXPECT_EQ(cli_event_ids(implicit->stdout_text()), thread_ids(db_.url(), key, mid, terminal));
    EXPECT_EQ(cli_event_ids(turn->stdout_text()), thread_ids(db_.url(), key, 0, terminal));

    // curl -N read the same stream; it does not end on the terminal event.
    ASSERT_TRUE(curl.wait_for_stdout("session.execution_completed", 10s)) << curl.stdout_text();
    // Idle now: heartbeats are comments (CENTAUR_SSE_KEEPALIVE_SECS=1), the stream stays open.
    EXPECT_TRUE(curl.wait_for_stdout(
        [](const std::string& out) { return out.find(": keep-alive", out.find("session.execution_completed")) != std::string::npos; },
        5s));
    EXPECT_TRUE(curl.running());
    curl.kill(SIGTERM);
    const auto curl_text = curl.stdout_text();
    EXPECT_EQ(curl_text.rfind("retry: ", 0), 0u) << "retry is sent first";
    std::vector<long long> curl_ids;
    std::size_t retries = 0;
    for (const auto& line : lines_of(curl_text)) {
        if (line.rfind("id: ", 0) == 0) curl_ids.push_back(std::stoll(line.substr(4)));
        retries += line.rfind("retry: ", 0) == 0;
    }
    EXPECT_EQ(retries, 1u) << "retry is sent once";
    const auto all = thread_ids(db_.url(), key);
    ASSERT_GE(curl_ids.size(), thread_ids(db_.url(), key, 0, terminal).size());
    EXPECT_TRUE(std::equal(curl_ids.begin(), curl_ids.end(), all.begin())) << "curl got a prefix of the thread";

    // Cursor rules: not a number -> 400; another thread's event -> 400; past the end -> waits.
    const auto other = random_cli_key();
    create_session(server, other);
    const long long foreign = thread_ids(db_.url(), other).front();
    for (const auto& [target, header, needle] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {events_path(key) + "?after_event_id=abc", "", "after_event_id"},
             {events_path(key) + "?after_event_id=1.5", "", "after_event_id"},
             {events_path(key), "nope", "Last-Event-ID"},
             {events_path(key) + "?after_event_id=" + std::to_string(foreign), "", "another thread"},
             {events_path(key) + "?after_event_id=0", std::to_string(foreign), "another thread"}}) {
        std::map<std::string, std::string> headers;
        if (!header.empty()) headers["Last-Event-ID"] = header;
        auto r = test_support::http_request("GET", server.url() + target, "", headers, 10s);
        EXPECT_EQ(r.status, 400) << target << " " << r.body;
        EXPECT_EQ(json::parse(r.body).at("ok"), false) << r.body;
        EXPECT_NE(r.body.find(needle), std::string::npos) << r.body;
    }
    RawStream past(server.port(), events_path(key) + "?after_event_id=" + std::to_string(all.back() + 1000));
    past.read(1 << 16, 700ms, Clock::now() + 700ms);
    EXPECT_EQ(past.status(), 200);
    EXPECT_TRUE(past.frames().empty()) << "a cursor past the end waits";
    EXPECT_EQ(past.retries(), 1);
}

/// Drops and resumes the connection 100 times at random points while a flood turn and message appends run, then
/// follows to the end; the concatenation must be the thread exactly. `env` selects the log backend.
void resume_a_hundred_times(const std::string& db_url, std::map<std::string, std::string> env) {
    env["CENTAUR_MOCK_MODE"] = "flood";
    env["CENTAUR_MOCK_FLOOD_LINES"] = "1500";
    ServerProcess server(db_url, env);
    const auto key = random_cli_key();
    create_session(server, key);
    std::atomic<bool> appends_done{false};
    std::thread appender([&] {
        for (int i = 0; i < 30; ++i) {
            append_messages(server, key, 5, "r" + std::to_string(i) + "-");
            std::this_thread::sleep_for(30ms);
        }
        appends_done = true;
    });
    auto turn = start_cli(server, {"--thread-key", key, "--message", "flood", "--exit-on-terminal"});
    long long end_seen = 0;  // the thread's last event once the appends and the turn were over
    std::vector<Frame> errors;
    const auto got = resume_at_random_points(
        server, key, 100,
        [&]() -> long long {
            if (!appends_done || !turn->exit_code()) return 0;
            end_seen = thread_ids(db_url, key).back();
            return end_seen;
        },
        &errors);
    appender.join();
    ASSERT_EQ(turn->exit_code(), std::optional<int>(0)) << turn->stderr_text() << server.logs();
    ASSERT_GT(end_seen, 0) << "the stream did not reach the end of the thread";
    ASSERT_FALSE(got.empty());
    EXPECT_GE(got.back(), end_seen);
    EXPECT_EQ(got, thread_ids(db_url, key, 0, got.back())) << "every event once, in order, across 100 reconnects";
    EXPECT_GT(got.size(), 1500u);
    EXPECT_TRUE(errors.empty()) << errors.front().data;
}

TEST_F(Attach, HundredRandomReconnectsWithLastEventIdConcatenateToTheThreadOnTheEmbeddedLog) {
    resume_a_hundred_times(db_.url(), {});
}

TEST_F(Attach, HundredRandomReconnectsWithLastEventIdConcatenateToTheThreadOnKafka) {
    const auto brokers = test_support::env_or("CENTAUR_TEST_KAFKA_BROKERS", "");
    ASSERT_FALSE(brokers.empty()) << "CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test`";
    resume_a_hundred_times(db_.url(), {{"CENTAUR_KAFKA_BROKERS", brokers},
                                       {"CENTAUR_KAFKA_TOPIC", "attach-" + std::to_string(::getpid()) + "-" +
                                                                   std::to_string(std::random_device{}())}});
}

TEST_F(Attach, ServerRestartDuringAStreamResumesEveryEventOnce) {
    ServerProcess server(db_.url());
    const auto key = random_cli_key();
    create_session(server, key);
    append_messages(server, key, 40, "before-");
    auto attach = start_cli(server, {"--attach", "--thread-key", key, "--all-events", "--exit-on-terminal",
                                     "--reconnect-timeout-ms", "60000"});
    // HTTP/1.1 chunked: on a graceful stop the body ends cleanly, so curl exits 0.
    ChildProcess curl({"curl", "-sN", "--max-time", "60", server.url() + events_path(key)});
    const auto before = thread_ids(db_.url(), key);
    ASSERT_TRUE(eventually([&] { return cli_event_ids(attach->stdout_text()).size() == before.size(); }, 20s))
        << attach->stderr_text();
    ASSERT_TRUE(curl.wait_for_stdout("id: " + std::to_string(before.back()), 10s));
    // A raw client: what it got before the restart, then a resume with Last-Event-ID against the new process.
    std::vector<long long> raw;
    {
        RawStream s(server.port(), events_path(key) + "?after_event_id=" + std::to_string(before[9]));
        const auto deadline = Clock::now() + 10s;
        while (s.read(1 << 20, 100ms, deadline) && (ids_of(s.frames()).empty() || ids_of(s.frames()).back() < before.back())) {
        }
        raw = ids_of(s.frames());
    }

    server.restart();
    EXPECT_EQ(curl.wait_for_exit(10s), std::optional<int>(0)) << "curl saw a clean end: " << curl.stderr_text();
    append_messages(server, key, 30, "after-");
    auto turn = start_cli(server, {"--thread-key", key, "--message", "after restart", "--exit-on-terminal"});
    ASSERT_EQ(turn->wait_for_exit(turn_timeout), std::optional<int>(0)) << turn->stderr_text() << server.logs();
    ASSERT_EQ(attach->wait_for_exit(turn_timeout), std::optional<int>(0)) << attach->stderr_text();
    const long long terminal = terminal_id(db_.url(), key);
    EXPECT_EQ(cli_event_ids(attach->stdout_text()), thread_ids(db_.url(), key, 0, terminal));
    EXPECT_NE(attach->stderr_text().find("reconnecting"), std::string::npos) << attach->stderr_text();
    {
        // The query says 0, the header wins: the raw client resumes exactly after its last id.
        RawStream s(server.port(), events_path(key) + "?after_event_id=0", std::to_string(raw.back()));
        const auto deadline = Clock::now() + 10s;
        while (s.read(1 << 20, 100ms, deadline) && (ids_of(s.frames()).empty() || ids_of(s.frames()).back() < terminal)) {
        }
        const auto after = ids_of(s.frames());
        raw.insert(raw.end(), after.begin(), after.end());
    }
    ASSERT_FALSE(raw.empty());
    EXPECT_EQ(raw, thread_ids(db_.url(), key, before[9], raw.back()));
    EXPECT_GE(raw.back(), terminal);
}

TEST_F(Attach, SlowClientIsCutOffWhileTheCliKeepsUp) {
    ServerProcess server(db_.url(), {{"CENTAUR_SSE_CLIENT_BUFFER_EVENTS", "128"}});
    const auto key = random_cli_key();
    create_session(server, key);
    auto fast = start_cli(server, {"--attach", "--thread-key", key, "--all-events", "--exit-on-terminal"});
    RawStream stalled(server.port(), events_path(key), "", 4096);  // never read until the end
    std::this_thread::sleep_for(300ms);
    const std::string big(16 * 1024, 'b');
    for (int i = 0; i < 40; ++i) append_messages(server, key, 20, big);  // 800 events, ~13 MB
    auto turn = start_cli(server, {"--thread-key", key, "--message", "end", "--exit-on-terminal"});
    ASSERT_EQ(turn->wait_for_exit(turn_timeout), std::optional<int>(0)) << turn->stderr_text();
    ASSERT_EQ(fast->wait_for_exit(turn_timeout), std::optional<int>(0)) << fast->stderr_text();
    const long long terminal = terminal_id(db_.url(), key);
    EXPECT_EQ(cli_event_ids(fast->stdout_text()), thread_ids(db_.url(), key, 0, terminal));
    EXPECT_EQ(fast->stderr_text().find("reconnecting"), std::string::npos) << "the fast client was never cut off";

    // The stalled client was cut off: its connection ends, and what it got is a gap-free prefix of the thread.
    EXPECT_FALSE(stalled.read(64 << 20, 5s, Clock::now() + 20s)) << "the server kept the stalled connection";
    const auto got = ids_of(stalled.frames());
    const auto all = thread_ids(db_.url(), key);
    EXPECT_LT(got.size(), all.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin()));
    auto metrics = test_support::http_request("GET", server.url() + "/metrics");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(metrics.body, m, std::regex("centaur_sse_slow_client_disconnects_total ([0-9.e+]+)")))
        << metrics.body;
    EXPECT_GE(std::stod(m[1].str()), 1.0);
}

TEST_F(Attach, ApiProcessApartFromProjectorAndProcessorStillTailsLive) {
    // The ingest+api process runs no projector: its live feed is woken by its own poll of the projection.
    ServerProcess worker(db_.url(), {{"CENTAUR_ROLES", "processor,projector"}});
    ServerProcess api(db_.url(), {{"CENTAUR_ROLES", "ingest,api"}});
    const auto key = random_cli_key();
    auto attach = start_cli(api, {"--attach", "--thread-key", key, "--all-events", "--exit-on-terminal"});
    std::this_thread::sleep_for(300ms);
    auto turn = start_cli(api, {"--thread-key", key, "--message", "split", "--exit-on-terminal"});
    ASSERT_EQ(turn->wait_for_exit(turn_timeout), std::optional<int>(0)) << turn->stderr_text() << worker.logs();
    ASSERT_EQ(attach->wait_for_exit(turn_timeout), std::optional<int>(0)) << attach->stderr_text();
    const long long terminal = terminal_id(db_.url(), key);
    EXPECT_EQ(cli_event_ids(attach->stdout_text()), thread_ids(db_.url(), key, 0, terminal));
}

}  // namespace
}  // namespace centaur::e2e
