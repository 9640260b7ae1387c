// The events stream in one process, end to end below the binary: embedded Postgres log → projector → hub → live
// fan-out → Beast server → raw-socket SSE clients (HTTP/1.0, so the body is the bare event stream). Every stream
// is compared with the projection; every wait is bounded.

#include <centaur/http/server.hpp>
#include <centaur/log/postgres_event_log.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/projections/events_route.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/projector.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/projections/stream_probe.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <prometheus/registry.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace centaur::projections {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto wait_bound = 30s;

EventEnvelope output_line(const std::string& key, std::string line, std::optional<std::string> exe = {}) {
    return EventEnvelope{EventUuid::random(),      *ThreadKey::parse(key), std::move(exe),       std::string(event_type::output_line),
                         json::value(std::move(line)), now_micros(),         EventSource::ingest};
}

/// Polls `done` every 5 ms until it holds or `bound` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds bound = wait_bound) {
    const auto deadline = Clock::now() + bound;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Polls `done` every 5 ms until it holds, for as long as `progress` keeps moving: false once `progress` stood
/// still for `stall`, or after `cap` in all. For waits whose length scales with the machine's speed (a loaded CI
/// machine, sanitizers) but that must still fail promptly when the work stops.
bool eventually_progressing(const std::function<bool()>& done, const std::function<long long()>& progress,
                            std::chrono::milliseconds stall = wait_bound, std::chrono::milliseconds cap = 10min) {
    const auto hard_deadline = Clock::now() + cap;
    auto last = progress();
    auto moved_at = Clock::now();
    while (!done()) {
        const auto now = Clock::now();
        if (const auto p = progress(); p != last) {
            last = p;
            moved_at = now;
        }
        if (now - moved_at >= stall || now >= hard_deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

struct Frame {
    std::string id;
    std::string event;
    std::string data;
};

/// Incremental parser of an HTTP/1.0 SSE response: status line and headers, then frames.
class StreamParser {
public:
    /// Feeds bytes; complete frames are appended to `frames`.
    void feed(std::string_view bytes, std::vector<Frame>& frames) {
        buf_.append(bytes);
        if (status_ == 0) {
            const auto end = buf_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            status_ = std::stoi(buf_.substr(9, 3));
            head_ = buf_.substr(0, end);
            buf_.erase(0, end + 4);
        }
        for (;;) {
            const auto end = buf_.find("\n\n");
            if (end == std::string::npos) return;
            Frame f;
            bool has_fields = false;
            std::size_t pos = 0;
            const std::string block = buf_.substr(0, end + 1);
            buf_.erase(0, end + 2);
            while (pos < block.size()) {
                const auto nl = block.find('\n', pos);
                const std::string line = block.substr(pos, nl - pos);
                pos = nl + 1;
                if (line.rfind("id: ", 0) == 0) f.id = line.substr(4), has_fields = true;
                else if (line.rfind("event: ", 0) == 0) f.event = line.substr(7), has_fields = true;
                else if (line.rfind("data: ", 0) == 0) {
                    if (!f.data.empty() || has_data_) f.data += '\n';
                    f.data += line.substr(6);
                    has_fields = has_data_ = true;
                }
            }
            has_data_ = false;
            if (has_fields && !f.event.empty()) frames.push_back(std::move(f));
        }
    }
    int status() const { return status_; }
    const std::string& head() const { return head_; }
    const std::string& body_rest() const { return buf_; }

private:
    std::string buf_;
    std::string head_;
    int status_ = 0;
    bool has_data_ = false;
};

/// One SSE client run on the clients' io_context. Its fields are written on that thread only; `last_id` and
/// `finished` may be read from the test thread at any time, the rest after the clients' io_context stopped.
struct StreamClient {
    std::string target;
    std::string last_event_id;  ///< sent as Last-Event-ID when not empty
    StreamParser parser;
    std::vector<Frame> frames;
    std::atomic<long long> last_id{0};
    std::atomic<bool> finished{false};
    std::string error;
    std::shared_ptr<asio::ip::tcp::socket> socket;

    std::vector<long long> ids() const {
        std::vector<long long> out;
        for (const auto& f : frames)
            if (!f.id.empty()) out.push_back(std::stoll(f.id));
        return out;
    }
    std::vector<Frame> errors() const {
        std::vector<Frame> out;
        for (const auto& f : frames)
            if (f.event == event_type::stream_error) out.push_back(f);
        return out;
    }
};

asio::awaitable<void> run_client(std::uint16_t port, std::shared_ptr<StreamClient> c) {
    auto ex = co_await asio::this_coro::executor;
    c->socket = std::make_shared<asio::ip::tcp::socket>(ex);
    const asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
    auto [cec] = co_await c->socket->async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    if (cec) {
        c->error = "connect: " + cec.message();
        c->finished = true;
        co_return;
    }
    std::string request = "GET " + c->target + " HTTP/1.0\r\n";
    if (!c->last_event_id.empty()) request += "Last-Event-ID: " + c->last_event_id + "\r\n";
    request += "\r\n";
    auto [wec, wn] = co_await asio::async_write(*c->socket, asio::buffer(request), asio::as_tuple(asio::use_awaitable));
    if (wec) {
        c->error = "write: " + wec.message();
        c->finished = true;
        co_return;
    }
    std::array<char, 16384> buf;
    for (;;) {
        auto [ec, n] = co_await c->socket->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
        if (n > 0) {
            const auto before = c->frames.size();
            c->parser.feed(std::string_view(buf.data(), n), c->frames);
            for (auto i = before; i < c->frames.size(); ++i)
                if (!c->frames[i].id.empty()) c->last_id = std::stoll(c->frames[i].id);
        }
        if (ec) break;
    }
    c->finished = true;
}

/// A blocking client that connects with a tiny receive buffer and reads nothing until told: a stalled reader.
class StalledClient {
public:
    StalledClient(std::uint16_t port, const std::string& target) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
        const std::string request = "GET " + target + " HTTP/1.0\r\n\r\n";
        ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
    ~StalledClient() { ::close(fd_); }

    /// Reads everything until EOF or reset within `bound`; true when the server ended the connection.
    bool drain(std::chrono::milliseconds bound) {
        const auto deadline = Clock::now() + bound;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            char tmp[65536];
            const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return true;
            parser.feed(std::string_view(tmp, static_cast<std::size_t>(n)), frames);
        }
    }

    StreamParser parser;
    std::vector<Frame> frames;

private:
    int fd_ = -1;
};

class EventsStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = pg::connect(db_.url());
        pg::run_migrations(*conn_);
        log_ = std::make_unique<log::PostgresEventLog>(log::PostgresLogOptions{db_.url(), 4}, io_.get_executor());
        log_->start();
        pool_ = std::make_unique<pg::Pool>(db_.url(), 4);
        queries_ = std::make_unique<SessionQueries>(*pool_, hub_);
        ProjectorOptions projector_options;
        projector_options.url = db_.url();
        projector_options.max_batch = 200;
        projector_options.poll_wait = 50ms;
        projector_ = std::make_unique<Projector>(projector_options, *log_, &hub_, nullptr);
        projector_->start();
        io_thread_ = std::thread([this] { io_.run(); });
        client_thread_ = std::thread([this] { clients_io_.run(); });
    }

    void start_server(EventsRouteOptions options = {}) {
        options.probe = &probe_;
        std::promise<std::uint16_t> bound;
        asio::post(io_, [&] {
            http::ServerOptions server_options;
            server_options.port = 0;
            std::vector<http::Route> routes{events_route(*queries_, hub_, options)};
            server_ = std::make_unique<http::Server>(io_, server_options, std::move(routes), http::Guard{}, nullptr);
            auto port = server_->start();
            bound.set_value(port ? *port : 0);
        });
        port_ = bound.get_future().get();
        ASSERT_NE(port_, 0);
    }

    /// Stops the clients' io_context (idempotent); afterwards every client's fields may be read.
    void stop_clients() {
        if (clients_stopped_) return;
        clients_stopped_ = true;
        clients_io_.stop();
        client_thread_.join();
    }

    void TearDown() override {
        stop_clients();
        if (server_) {
            std::promise<void> stopped;
            asio::post(io_, [&] {
                server_->stop();
                stopped.set_value();
            });
            stopped.get_future().wait();
        }
        // Streams end, their subscriptions leave, the feeds stop: no watch may remain.
        EXPECT_TRUE(eventually([&] { return watch_count() == 0; }, 5s)) << watch_count() << " watches left";
        projector_->stop();
        log_->stop();
        pool_->stop();
        guard_.reset();
        asio::post(io_, [this] { server_.reset(); });
        io_thread_.join();
    }

    std::size_t watch_count() {
        std::promise<std::size_t> n;
        asio::post(io_, [&] { n.set_value(hub_.watch_count()); });
        return n.get_future().get();
    }

    /// Appends `events` (in order per thread) and waits until they are all acknowledged.
    void append(std::vector<EventEnvelope> events) {
        auto acked = std::make_shared<std::atomic<std::size_t>>(0);
        const auto total = events.size();
        for (auto& e : events) log_->async_append(std::move(e), [acked](result<Appended> r) {
            EXPECT_TRUE(r.has_value());
            ++*acked;
        });
        const auto acked_so_far = [&] { return static_cast<long long>(acked->load()); };
        ASSERT_TRUE(eventually_progressing([&] { return *acked == total; }, acked_so_far)) << "appends not acknowledged";
    }

    long long count(const std::string& sql) {
        pqxx::nontransaction tx(*conn_);
        return tx.exec(sql)[0][0].as<long long>();
    }

    void wait_projected(long long rows) {
        long long projected = 0;
        ASSERT_TRUE(eventually_progressing(
            [&] { return (projected = count("select count(*) from session_events")) >= rows; },
            [&] { return projected; }))
            << "projector did not reach " << rows << " events (stalled at " << projected << ")";
    }

    /// Event ids of `key` after `after` (optionally of one execution), as the projection holds them.
    std::vector<long long> ids_after(const std::string& key, long long after, std::optional<std::string> exe = {}) {
        pqxx::nontransaction tx(*conn_);
        auto rows = exe ? tx.exec_params("select event_id from session_events where thread_key = $1 and event_id > $2 "
                                         "and execution_id = $3 order by event_id",
                                         key, after, *exe)
                        : tx.exec_params("select event_id from session_events where thread_key = $1 and event_id > $2 "
                                         "order by event_id",
                                         key, after);
        std::vector<long long> out;
        for (const auto& r : rows) out.push_back(r[0].as<long long>());
        return out;
    }

    std::shared_ptr<StreamClient> attach(const std::string& target, const std::string& last_event_id = "") {
        auto c = std::make_shared<StreamClient>();
        c->target = target;
        c->last_event_id = last_event_id;
        clients_.push_back(c);
        asio::co_spawn(clients_io_, run_client(port_, c), asio::detached);
        return c;
    }

    static std::string events_path(const std::string& key) { return "/api/session/" + key + "/events"; }

    test_support::TestDatabase db_;
    std::unique_ptr<pqxx::connection> conn_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
    asio::io_context clients_io_;
    asio::executor_work_guard<asio::io_context::executor_type> clients_guard_{clients_io_.get_executor()};
    prometheus::Registry registry_;
    StreamProbe probe_{registry_};
    ProjectionHub hub_{io_.get_executor()};
    std::unique_ptr<log::PostgresEventLog> log_;
    std::unique_ptr<pg::Pool> pool_;
    std::unique_ptr<SessionQueries> queries_;
    std::unique_ptr<Projector> projector_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;
    std::thread io_thread_;
    std::thread client_thread_;
    std::vector<std::shared_ptr<StreamClient>> clients_;
    bool clients_stopped_ = false;
};

TEST_F(EventsStreamTest, AttachBeforeTheFirstEventWaitsThenGetsEveryEventOnceInOrder) {
    start_server();
    const std::string key = "t:first";
    auto c = attach(events_path(key));
    ASSERT_TRUE(eventually([&] { return probe_.clients.Value() == 1 && probe_.live_feeds.Value() == 1; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(c->last_id.load(), 0) << "nothing to send yet";
    EXPECT_FALSE(c->finished.load()) << "a thread without events is attached and waits";
    for (int batch = 0; batch < 4; ++batch) {
        std::vector<EventEnvelope> events;
        for (int i = 0; i < 50; ++i) events.push_back(output_line(key, "line " + std::to_string(batch * 50 + i)));
        append(std::move(events));
    }
    wait_projected(200);
    const auto expected = ids_after(key, 0);
    ASSERT_EQ(expected.size(), 200u);
    ASSERT_TRUE(eventually([&] { return c->last_id == expected.back(); })) << c->last_id;
    stop_clients();
    EXPECT_EQ(c->parser.status(), 200);
    EXPECT_EQ(c->ids(), expected);
    for (std::size_t i = 0; i < c->frames.size(); ++i) {
        EXPECT_EQ(c->frames[i].event, event_type::output_line);
        EXPECT_EQ(c->frames[i].data, "line " + std::to_string(i)) << "raw line as data";
    }
}

TEST_F(EventsStreamTest, WithTheProjectorInAnotherProcessTheHeadsPollWakesTheFeed) {
    // A projector that publishes no hint to this process's hub, as when it runs elsewhere.
    projector_->stop();
    ProjectorOptions projector_options;
    projector_options.url = db_.url();
    projector_options.poll_wait = 50ms;
    projector_ = std::make_unique<Projector>(projector_options, *log_, nullptr, nullptr);
    projector_->start();
    EventsRouteOptions options;
    options.live_poll = 100ms;
    start_server(options);
    const std::string key = "t:elsewhere";
    auto c = attach(events_path(key));
    ASSERT_TRUE(eventually([&] { return probe_.live_feeds.Value() == 1; }));
    std::vector<EventEnvelope> events;
    for (int i = 0; i < 20; ++i) events.push_back(output_line(key, "e" + std::to_string(i)));
    append(std::move(events));
    wait_projected(20);
    const auto expected = ids_after(key, 0);
    EXPECT_TRUE(eventually([&] { return c->last_id == expected.back(); }, 5s)) << "woken well before the safety wait";
    stop_clients();
    EXPECT_EQ(c->ids(), expected);
}

TEST_F(EventsStreamTest, CursorPastTheEndWaitsAndSendsOnlyLaterIds) {
    start_server();
    const std::string key = "t:past";
    append({output_line(key, "a"), output_line(key, "b")});
    wait_projected(2);
    const long long head = ids_after(key, 0).back();
    const long long cursor = head + 3;  // no event has this id yet: past the end
    auto by_query = attach(events_path(key) + "?after_event_id=" + std::to_string(cursor));
    auto by_header = attach(events_path(key) + "?after_event_id=0", std::to_string(cursor));  // the header wins
    ASSERT_TRUE(eventually([&] { return probe_.clients.Value() == 2; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(by_query->last_id.load(), 0);
    EXPECT_EQ(by_header->last_id.load(), 0);
    std::vector<EventEnvelope> later;
    for (int i = 0; i < 10; ++i) later.push_back(output_line(key, "later " + std::to_string(i)));
    append(std::move(later));
    wait_projected(12);
    const auto expected = ids_after(key, cursor);
    ASSERT_EQ(expected.size(), 7u) << "the embedded log numbers this thread's appends consecutively";
    ASSERT_TRUE(eventually([&] { return by_query->last_id == expected.back() && by_header->last_id == expected.back(); }));
    stop_clients();
    EXPECT_EQ(by_query->ids(), expected);
    EXPECT_EQ(by_header->ids(), expected);
}

TEST_F(EventsStreamTest, ManyClientsWithConcurrentAppendsEachSeeTheirThreadExactly) {
    start_server();
    constexpr int threads = 6;
    constexpr int clients = 300;
    constexpr int before = 40;  // events per thread before the clients attach
    constexpr int during = 160; // events per thread appended while they attach
    auto key_of = [](int t) { return "t:many" + std::to_string(t); };
    auto exe_of = [](int i) { return i % 2 ? std::string("exe_odd") : std::string("exe_even"); };
    {
        std::vector<EventEnvelope> events;
        for (int i = 0; i < before; ++i)
            for (int t = 0; t < threads; ++t) events.push_back(output_line(key_of(t), "pre " + std::to_string(i), exe_of(i)));
        append(std::move(events));
        wait_projected(threads * before);
    }
    std::map<int, std::vector<long long>> existing;
    for (int t = 0; t < threads; ++t) existing[t] = ids_after(key_of(t), 0);

    std::atomic<bool> appending{true};
    std::thread appender([&] {
        for (int i = 0; i < during; i += 10) {
            std::vector<EventEnvelope> events;
            for (int j = i; j < i + 10; ++j)
                for (int t = 0; t < threads; ++t)
                    events.push_back(output_line(key_of(t), "live " + std::to_string(j), exe_of(j)));
            append(std::move(events));
            std::this_thread::sleep_for(10ms);
        }
        appending = false;
    });

    struct Expectation {
        int thread;
        long long cursor;
        std::optional<std::string> exe;
    };
    std::vector<Expectation> plan;
    std::mt19937 rng(12345);
    for (int i = 0; i < clients; ++i) {
        const int t = i % threads;
        const auto& ids = existing[t];
        const long long cursor = i % 3 == 0 ? 0 : ids[rng() % ids.size()];
        std::optional<std::string> exe;
        if (i % 7 == 0) exe = exe_of(i);
        std::string target = events_path(key_of(t));
        std::string header;
        if (i % 2 == 0) {
            target += "?after_event_id=" + std::to_string(cursor);
        } else {
            target += "?after_event_id=0";
            header = std::to_string(cursor);
        }
        if (exe) target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("execution_id=") + *exe;
        plan.push_back({t, cursor, exe});
        attach(target, header);
        if (i % 50 == 49) std::this_thread::sleep_for(20ms);  // attach in waves while the appender runs
    }
    appender.join();
    wait_projected(threads * (before + during));
    EXPECT_EQ(probe_.live_feeds.Value(), threads) << "one shared live feed per thread";

    std::vector<std::vector<long long>> expected;
    for (const auto& p : plan) expected.push_back(ids_after(key_of(p.thread), p.cursor, p.exe));
    const bool all_done = eventually([&] {
        for (std::size_t i = 0; i < plan.size(); ++i)
            if (clients_[i]->last_id != expected[i].back()) return false;
        return true;
    });
    stop_clients();
    EXPECT_TRUE(all_done) << "not every client reached the end of its thread";
    int mismatches = 0;
    for (std::size_t i = 0; i < plan.size(); ++i) {
        if (clients_[i]->ids() != expected[i] && ++mismatches <= 3)
            ADD_FAILURE() << "client " << i << " (thread " << plan[i].thread << ", cursor " << plan[i].cursor
                          << ") got " << clients_[i]->ids().size() << " events, expected " << expected[i].size();
        EXPECT_TRUE(clients_[i]->errors().empty()) << clients_[i]->errors().front().data;
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(probe_.slow_disconnects.Value(), 0);
}

TEST_F(EventsStreamTest, SlowClientIsCutOffWhileAFastOneKeepsUp) {
    EventsRouteOptions options;
    options.buffer_events = 256;
    start_server(options);
    const std::string key = "t:slow";
    auto fast = attach(events_path(key));
    StalledClient slow(port_, events_path(key));
    ASSERT_TRUE(eventually([&] { return probe_.clients.Value() == 2; }));
    const std::string payload(4096, 'x');
    constexpr int total = 3000;
    for (int i = 0; i < total; i += 250) {
        std::vector<EventEnvelope> events;
        for (int j = i; j < i + 250; ++j) events.push_back(output_line(key, std::to_string(j) + payload));
        append(std::move(events));
    }
    wait_projected(total);
    const auto expected = ids_after(key, 0);
    // The fast client's wait lasts as long as it keeps receiving (a sanitizer build is many times slower); once it
    // has the whole thread, the slow one is far more than the buffer behind and must be cut off promptly.
    const auto fast_at = [&] { return fast->last_id.load(); };
    ASSERT_TRUE(eventually_progressing([&] { return fast->last_id == expected.back(); }, fast_at))
        << "the fast client fell behind (stalled at id " << fast->last_id << ")";
    EXPECT_TRUE(eventually([&] { return probe_.slow_disconnects.Value() >= 1; })) << "the slow client was not cut off";
    ASSERT_TRUE(slow.drain(wait_bound)) << "the server kept the slow client's connection";
    // Whatever the slow client got is a gap-free prefix of the thread.
    std::vector<long long> got;
    for (const auto& f : slow.frames)
        if (!f.id.empty()) got.push_back(std::stoll(f.id));
    ASSERT_LT(got.size(), expected.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()));
    stop_clients();
    EXPECT_EQ(fast->ids(), expected);
    EXPECT_TRUE(fast->errors().empty());
}

TEST_F(EventsStreamTest, AHoleIsReReadThenReportedInsteadOfSkipped) {
    EventsRouteOptions options;
    options.retry_pause = 50ms;
    options.max_retries = 20;  // a 1 s bound: the filled hole below is filled well within it
    start_server(options);
    // Rows written around the projector: seq 1 and 3 of a thread, seq 2 missing.
    auto insert = [&](const std::string& key, long long id, long long seq) {
        pqxx::work tx(*conn_);
        tx.exec_params("insert into session_events (event_id, thread_key, seq, event_uuid, event_type, data, created_at) "
                       "values ($1, $2, $3, gen_random_uuid(), 'session.output.line', 'row', now())",
                       id, key, seq);
        tx.commit();
    };
    insert("t:hole", 1001, 1);
    insert("t:hole", 1003, 3);
    insert("t:filled", 2001, 1);
    insert("t:filled", 2003, 3);
    auto holed = attach(events_path("t:hole"));
    auto filled = attach(events_path("t:filled"));
    ASSERT_TRUE(eventually([&] { return filled->last_id == 2001; }));
    insert("t:filled", 2002, 2);  // within the re-read bound
    ASSERT_TRUE(eventually([&] { return holed->finished.load() && filled->last_id == 2003; }, 10s));
    stop_clients();
    EXPECT_EQ(holed->ids(), std::vector<long long>{1001}) << "never a hole";
    ASSERT_EQ(holed->errors().size(), 1u);
    auto error = json::parse(holed->errors()[0].data);
    EXPECT_EQ(error.at("reason"), "gap");
    EXPECT_NE(std::string(error.at("error").as_string()).find("seq 3"), std::string::npos) << error;
    EXPECT_EQ(filled->ids(), (std::vector<long long>{2001, 2002, 2003}));
    EXPECT_TRUE(filled->errors().empty());
    EXPECT_GE(probe_.stream_errors.Add({{"reason", "gap"}}).Value(), 1);
}

TEST_F(EventsStreamTest, BadAndForeignCursorsAre400BeforeTheStream) {
    start_server();
    append({output_line("t:a", "a1"), output_line("t:b", "b1")});
    wait_projected(2);
    const auto foreign = ids_after("t:b", 0).front();
    auto request = [&](const std::string& target, const std::string& header) {
        auto c = attach(target, header);
        EXPECT_TRUE(eventually([&] { return c->finished.load(); }, 10s));
        return c;
    };
    auto not_a_number = request(events_path("t:a") + "?after_event_id=abc", "");
    auto negative = request(events_path("t:a") + "?after_event_id=-1", "");
    auto header_not_a_number = request(events_path("t:a"), "12x");
    auto other_thread = request(events_path("t:a"), std::to_string(foreign));
    auto other_thread_query = request(events_path("t:a") + "?after_event_id=" + std::to_string(foreign), "");
    stop_clients();
    for (auto* c : {&not_a_number, &negative, &header_not_a_number, &other_thread, &other_thread_query}) {
        EXPECT_EQ((*c)->parser.status(), 400) << (*c)->target;
        const auto body = (*c)->parser.body_rest();
        auto v = json::parse(body);
        EXPECT_EQ(v.at("ok"), false) << body;
    }
    EXPECT_NE(other_thread->parser.body_rest().find("belongs to another thread"), std::string::npos);
    EXPECT_NE(header_not_a_number->parser.body_rest().find("Last-Event-ID"), std::string::npos);
}

}  // namespace
}  // namespace centaur::projections
