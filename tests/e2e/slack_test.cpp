// End-to-end: Slack Events API webhooks into the real centaur-api-server (signed with the app's secret, sent
// over HTTP like Slack does), and the agent's reply streamed into a fake Slack Web API server run by this test.

#include <centaur/schemas/hex.hpp>
#include <centaur/test_support/test_support.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pqxx/pqxx>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>

namespace centaur::e2e {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::HttpResponse;
using test_support::ServerProcess;
using test_support::TestDatabase;

constexpr char secret[] = "test-signing-secret";
constexpr auto reply_timeout = 30s;

/// Polls `done` every 50 ms until it holds or `timeout` passes (then checks once more).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

/// One recorded Web API call.
struct SlackCall {
    std::string method;
    json::object args;
    std::string authorization;
    std::chrono::steady_clock::time_point at;
};

/// Percent-decodes a form value ('+' is a space).
std::string form_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out.push_back(' ');
        } else if (in[i] == '%' && i + 2 < in.size()) {
            out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

/// A fake Slack Web API: plain HTTP on 127.0.0.1, records every call, answers like Slack (streams get ts
/// "S<n>", posts "P<n>"). `rate_limit_first` calls of a method answer 429 with Retry-After: 1; with
/// `streaming` false chat.startStream answers unknown_method. The messages it created are kept per thread and
/// listed by conversations.replies (form-encoded, as Slack's read methods), posts with their metadata.
class FakeSlack {
public:
    explicit FakeSlack(bool streaming = true, std::map<std::string, int> rate_limit_first = {})
        : streaming_(streaming), rate_limit_left_(std::move(rate_limit_first)), acceptor_(io_) {
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { accept_loop(); });
    }
    ~FakeSlack() {
        stopping_ = true;
        {
            // A blocked accept() does not notice close(): wake it with one last connection.
            asio::io_context io;
            asio::ip::tcp::socket poke(io);
            boost::system::error_code ignored;
            poke.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, ignored);
        }
        boost::system::error_code ec;
        acceptor_.close(ec);
        if (thread_.joinable()) thread_.join();
        for (auto& t : workers_) t.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }
    int port() const { return port_; }

    std::vector<SlackCall> calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }
    std::vector<SlackCall> calls_of(const std::string& method) {
        std::vector<SlackCall> out;
        for (auto& c : calls())
            if (c.method == method) out.push_back(c);
        return out;
    }
    /// Calls of `method` whose `thread_ts` (message-creating calls) or `ts` (calls on a message) is `ts`.
    long count_of(const std::string& method, const std::string& key, const std::string& ts) {
        long n = 0;
        for (auto& c : calls_of(method))
            if (const auto* v = c.args.if_contains(key); v && v->is_string() && v->as_string() == ts) ++n;
        return n;
    }
    /// Waits (bounded) until `pred` holds over the recorded calls.
    bool wait_for(const std::function<bool(const std::vector<SlackCall>&)>& pred, std::chrono::milliseconds timeout) {
        return eventually([&] { return pred(calls()); }, timeout);
    }
    /// The text the thread shows: streamed markdown_text, or the last chat.update / postMessage text.
    std::string streamed_text() {
        std::string text;
        for (auto& c : calls()) {
            if (c.method == "chat.startStream" || c.method == "chat.appendStream") {
                if (auto* t = c.args.if_contains("markdown_text")) text += std::string(t->as_string());
            }
            if (c.method == "chat.postMessage" || c.method == "chat.update") {
                if (auto* t = c.args.if_contains("text")) text = std::string(t->as_string());
            }
        }
        return text;
    }

private:
    void accept_loop() {
        while (!stopping_) {
            asio::ip::tcp::socket socket(io_);
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);
            if (ec || stopping_) return;
            std::lock_guard lock(mutex_);
            workers_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
        }
    }

    void serve(asio::ip::tcp::socket socket) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            boost::system::error_code ec;
            bhttp::read(socket, buffer, req, ec);
            if (ec) return;
            std::string target(req.target());
            const std::string method = target.substr(target.rfind('/') + 1);
            json::object args;
            if (req[bhttp::field::content_type].starts_with("application/x-www-form-urlencoded")) {
                std::string_view body = req.body();
                while (!body.empty()) {
                    const auto amp = body.find('&');
                    const auto pair = body.substr(0, amp);
                    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
                    const auto eq = pair.find('=');
                    if (eq != std::string_view::npos) args[form_decode(pair.substr(0, eq))] = form_decode(pair.substr(eq + 1));
                }
            } else if (auto v = json::parse(req.body(), ec); !ec && v.is_object()) {
                args = v.as_object();
            }
            bhttp::response<bhttp::string_body> res{bhttp::status::ok, req.version()};
            res.set(bhttp::field::content_type, "application/json");
            json::object body{{"ok", true}};
            {
                std::lock_guard lock(mutex_);
                calls_.push_back({method, args, std::string(req[bhttp::field::authorization]),
                                  std::chrono::steady_clock::now()});
                if (auto it = rate_limit_left_.find(method); it != rate_limit_left_.end() && it->second > 0) {
                    --it->second;
                    res.result(bhttp::status::too_many_requests);
                    res.set(bhttp::field::retry_after, "1");
                    body = json::object{{"ok", false}, {"error", "ratelimited"}};
                } else if (method == "chat.startStream" && !streaming_) {
                    body = json::object{{"ok", false}, {"error", "unknown_method"}};
                } else if (method == "chat.startStream") {
                    body["ts"] = "S" + std::to_string(++counter_);
                    remember(args, body, "markdown_text");
                } else if (method == "chat.postMessage") {
                    body["ts"] = "P" + std::to_string(++counter_);
                    remember(args, body, "text");
                } else if (method == "conversations.replies") {
                    const auto thread = text_of(args, "ts");
                    json::array messages{json::object{{"ts", thread}, {"user", "U1"}, {"text", "the question"}}};
                    for (const auto& m : threads_[text_of(args, "channel") + "/" + thread]) messages.push_back(m);
                    body["messages"] = std::move(messages);
                }
            }
            res.body() = json::serialize(body);
            res.prepare_payload();
            res.keep_alive(req.keep_alive());
            bhttp::write(socket, res, ec);
            if (ec || !req.keep_alive()) return;
        }
    }

    static std::string text_of(const json::object& args, std::string_view key) {
        const auto* v = args.if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    }
    /// Keeps a message the call created (caller holds the mutex).
    void remember(const json::object& args, const json::object& answer, std::string_view text_key) {
        json::object message{{"ts", answer.at("ts")}, {"bot_id", "B1"}, {"text", text_of(args, text_key)}};
        if (const auto* meta = args.if_contains("metadata")) message["metadata"] = *meta;
        threads_[text_of(args, "channel") + "/" + text_of(args, "thread_ts")].push_back(std::move(message));
    }

    bool streaming_;
    std::map<std::string, json::array> threads_;  ///< "<channel>/<thread_ts>" -> messages the bot created
    std::map<std::string, int> rate_limit_left_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::thread> workers_;
    std::vector<SlackCall> calls_;
    int counter_ = 0;
};

std::string sign(const std::string& timestamp, const std::string& body, const std::string& key = secret) {
    const std::string base = "v0:" + timestamp + ":" + body;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(base.data()),
         base.size(), mac, &len);
    std::string out = "v0=";
    schemas::append_hex(out, mac, len);
    return out;
}

std::string now_ts() { return std::to_string(std::time(nullptr)); }

HttpResponse post_signed(const ServerProcess& server, const std::string& body,
                         std::map<std::string, std::string> headers = {}, const std::string& timestamp = now_ts()) {
    headers.emplace("X-Slack-Request-Timestamp", timestamp);
    headers.emplace("X-Slack-Signature", sign(timestamp, body));
    return test_support::http_request("POST", server.url() + "/api/webhooks/slack", body, headers);
}

json::object event_callback(const std::string& event_id, json::object event) {
    return json::object{{"type", "event_callback"},
                        {"team_id", "T1"},
                        {"api_app_id", "A1"},
                        {"event_id", event_id},
                        {"event_time", 1},
                        {"authorizations", json::array{json::object{{"user_id", "UBOT"}, {"is_bot", true}}}},
                        {"event", std::move(event)}};
}

json::object mention(const std::string& channel, const std::string& ts, const std::string& text,
                     const std::string& thread_ts = "") {
    json::object e{{"type", "app_mention"}, {"channel", channel}, {"user", "U1"}, {"team", "T1"},
                   {"text", "<@UBOT> " + text}, {"ts", ts}, {"event_ts", ts}};
    if (!thread_ts.empty()) e["thread_ts"] = thread_ts;
    return e;
}

json::object channel_message(const std::string& channel, const std::string& ts, const std::string& text,
                             const std::string& thread_ts = "") {
    json::object e{{"type", "message"}, {"channel_type", "channel"}, {"channel", channel}, {"user", "U1"},
                   {"team", "T1"}, {"text", text}, {"ts", ts}, {"event_ts", ts}};
    if (!thread_ts.empty()) e["thread_ts"] = thread_ts;
    return e;
}

/// Events of `thread_key` on the embedded log with `type`.
long log_count(const TestDatabase& db, const std::string& thread_key, const std::string& type) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    auto row = tx.exec_params1(
        "select count(*) from centaur_log where thread_key = $1 and (envelope::jsonb)->>'event_type' = $2",
        thread_key, type);
    return row[0].as<long>();
}

/// Events of `thread_key` in the projection (any log backend) with `type`.
long projected_count(const TestDatabase& db, const std::string& thread_key, const std::string& type) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    return tx.exec_params1("select count(*) from session_events where thread_key = $1 and event_type = $2", thread_key,
                           type)[0]
        .as<long>();
}

bool wait_projected(const TestDatabase& db, const std::string& key, const std::string& type, long at_least,
                    std::chrono::milliseconds timeout) {
    return eventually([&] { return projected_count(db, key, type) >= at_least; }, timeout);
}

long log_total(const TestDatabase& db) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    return tx.exec1("select count(*) from centaur_log")[0].as<long>();
}

bool wait_log(const TestDatabase& db, const std::string& key, const std::string& type, long at_least,
              std::chrono::milliseconds timeout) {
    return eventually([&] { return log_count(db, key, type) >= at_least; }, timeout);
}

std::map<std::string, std::string> slack_env(const FakeSlack& slack, std::map<std::string, std::string> extra = {}) {
    extra.emplace("SLACK_SIGNING_SECRET", secret);
    extra.emplace("SLACK_BOT_TOKEN", "xoxb-test-token");
    extra.emplace("SLACK_API_URL", slack.url());
    extra.emplace("CENTAUR_MOCK_DELAY_MS", "5");
    return extra;
}

/// Value of one series in the server's /metrics text (-1 when absent).
double metric(const ServerProcess& server, const std::string& series) {
    const auto body = test_support::http_request("GET", server.url() + "/metrics").body;
    const auto at = body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + series.size() + 2));
}

bool reply_done(const std::vector<SlackCall>& calls) {
    for (const auto& c : calls)
        if (c.method == "chat.stopStream") return true;
    return false;
}

TEST(SlackWebhook, RefusesBadRequestsAndAppendsNothing) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack));
    const std::string body = json::serialize(event_callback("Ev1", mention("C1", "100.1", "hi")));
    const auto ts = now_ts();

    auto bad = test_support::http_request("POST", server.url() + "/api/webhooks/slack", body,
                                          {{"X-Slack-Request-Timestamp", ts}, {"X-Slack-Signature", sign(ts, body, "nope")}});
    EXPECT_EQ(bad.status, 401);
    EXPECT_EQ(json::parse(bad.body).at("ok"), false);
    auto missing = test_support::http_request("POST", server.url() + "/api/webhooks/slack", body);
    EXPECT_EQ(missing.status, 401);
    const auto old = std::to_string(std::time(nullptr) - 301);
    EXPECT_EQ(post_signed(server, body, {}, old).status, 401);
    const auto future = std::to_string(std::time(nullptr) + 400);
    EXPECT_EQ(post_signed(server, body, {}, future).status, 401);
    auto malformed = post_signed(server, "{\"type\": ");
    EXPECT_EQ(malformed.status, 400);
    EXPECT_NE(malformed.body.find("\"ok\":false"), std::string::npos);
    EXPECT_EQ(post_signed(server, "[1,2]").status, 400);
    const std::string huge = "{\"type\":\"event_callback\",\"pad\":\"" + std::string(1024 * 1024, 'x') + "\"}";
    EXPECT_EQ(post_signed(server, huge).status, 413);
    EXPECT_EQ(log_total(db), 0);

    auto challenge = post_signed(server, R"({"token":"t","challenge":"c-123","type":"url_verification"})");
    EXPECT_EQ(challenge.status, 200);
    EXPECT_EQ(json::parse(challenge.body).at("challenge"), "c-123");
    auto ssl = post_signed(server, "ssl_check=1&token=t", {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(ssl.status, 200);
    const std::string interactive = "payload=" + std::string("%7B%22type%22%3A%22block_actions%22%7D");
    EXPECT_EQ(post_signed(server, interactive, {{"Content-Type", "application/x-www-form-urlencoded"}}).status, 200);
    EXPECT_EQ(log_total(db), 0);
}

TEST(SlackWebhook, MentionStreamsTheAgentReplyIntoTheThread) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack));
    auto ack = post_signed(server, json::serialize(event_callback("Ev1", mention("C1", "100.1", "say pong"))));
    ASSERT_EQ(ack.status, 200) << ack.body;
    const std::string key = "slack:C1:100.1";
    // Durable before the ack: the input events are already on the log.
    EXPECT_EQ(log_count(db, key, "session.created"), 1);
    EXPECT_EQ(log_count(db, key, "session.message_appended"), 1);
    EXPECT_EQ(log_count(db, key, "session.execution_requested"), 1);

    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    auto starts = slack.calls_of("chat.startStream");
    ASSERT_EQ(starts.size(), 1u);
    EXPECT_EQ(starts[0].args.at("channel"), "C1");
    EXPECT_EQ(starts[0].args.at("thread_ts"), "100.1");
    EXPECT_EQ(starts[0].args.at("recipient_user_id"), "U1");
    EXPECT_EQ(starts[0].args.at("recipient_team_id"), "T1");
    EXPECT_EQ(starts[0].authorization, "Bearer xoxb-test-token");
    EXPECT_NE(slack.streamed_text().find("PONG"), std::string::npos) << slack.streamed_text();
    EXPECT_NE(slack.streamed_text().find("harness=codex"), std::string::npos);
    auto stops = slack.calls_of("chat.stopStream");
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops[0].args.at("ts"), "S1");
    EXPECT_GE(slack.calls_of("assistant.threads.setStatus").size(), 1u);
    EXPECT_TRUE(wait_log(db, key, "slack.reply_completed", 1, 5s));
    EXPECT_EQ(log_count(db, key, "session.execution_completed"), 1);

    // The thread is an ordinary session: the API shows it.
    auto session = test_support::http_request("GET", server.url() + "/api/session/slack%3AC1%3A100.1");
    EXPECT_EQ(session.status, 200);
    EXPECT_NE(session.body.find("\"platform\":\"slack\""), std::string::npos);
}

TEST(SlackWebhook, RetryStormAndDoubleDeliveryAreOneEventOneTurnOneReply) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack));
    const std::string body = json::serialize(event_callback("EvStorm", mention("C2", "200.1", "once")));
    std::vector<std::thread> senders;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
        senders.emplace_back([&, i] {
            std::map<std::string, std::string> headers;
            if (i > 0) headers = {{"X-Slack-Retry-Num", std::to_string(i)}, {"X-Slack-Retry-Reason", "http_timeout"}};
            if (post_signed(server, body, headers).status == 200) ++ok;
        });
    }
    for (auto& t : senders) t.join();
    EXPECT_EQ(ok.load(), 4);
    // The same mention as a message.channels event with its own event id.
    auto again = post_signed(server, json::serialize(event_callback("EvOther", channel_message("C2", "200.1", "<@UBOT> once"))));
    EXPECT_EQ(again.status, 200);

    const std::string key = "slack:C2:200.1";
    EXPECT_EQ(log_count(db, key, "session.message_appended"), 1);
    EXPECT_EQ(log_count(db, key, "session.execution_requested"), 1);
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(slack.calls_of("chat.startStream").size(), 1u);
    EXPECT_EQ(slack.calls_of("chat.stopStream").size(), 1u);
    EXPECT_EQ(log_count(db, key, "session.execution_started"), 1);
    EXPECT_EQ(log_count(db, key, "session.steering_delivered"), 0);

    EXPECT_EQ(metric(server, "centaur_slack_webhook_retries_total{reason=\"http_timeout\"}"), 3);
    EXPECT_EQ(metric(server, "centaur_slack_webhook_events_total{kind=\"duplicate\"}"), 4);
    EXPECT_EQ(metric(server, "centaur_slack_webhook_events_total{kind=\"started\"}"), 1);
}

TEST(SlackWebhook, RateLimitedCallsWaitForRetryAfterAndLoseNothing) {
    TestDatabase db;
    FakeSlack slack(true, {{"chat.startStream", 1}});
    ServerProcess server(db.url(), slack_env(slack));
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("Ev3", mention("C3", "300.1", "x")))).status, 200);
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    auto starts = slack.calls_of("chat.startStream");
    ASSERT_EQ(starts.size(), 2u);
    EXPECT_GE(starts[1].at - starts[0].at, 950ms);
    EXPECT_NE(slack.streamed_text().find("PONG"), std::string::npos);
    EXPECT_EQ(metric(server, "centaur_slack_api_rate_limited_total{method=\"chat.startStream\"}"), 1);
}

TEST(SlackWebhook, FallsBackToPostAndUpdateWhereStreamingIsRefused) {
    TestDatabase db;
    FakeSlack slack(false);
    ServerProcess server(db.url(), slack_env(slack));
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("Ev4", mention("C4", "400.1", "x")))).status, 200);
    const std::string key = "slack:C4:400.1";
    ASSERT_TRUE(wait_log(db, key, "slack.reply_completed", 1, reply_timeout)) << server.logs();
    auto posts = slack.calls_of("chat.postMessage");
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(posts[0].args.at("thread_ts"), "400.1");
    EXPECT_NE(slack.streamed_text().find("PONG"), std::string::npos) << slack.streamed_text();
    EXPECT_TRUE(slack.calls_of("chat.stopStream").empty());
}

TEST(SlackWebhook, HttpsSlackApiIsVerifiedAndAnUntrustedOneNeverFailsTheTurn) {
    TestDatabase db;
    FakeSlack slack;
    test_support::TlsTerminator tls(slack.port());
    const std::string https_url = "https://localhost:" + std::to_string(tls.port()) + "/api/";
    {
        ServerProcess server(db.url(), slack_env(slack, {{"SLACK_API_URL", https_url}, {"SSL_CERT_FILE", tls.cert_path()}}));
        ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvT1", mention("C7", "700.1", "x")))).status, 200);
        ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
        EXPECT_NE(slack.streamed_text().find("PONG"), std::string::npos) << slack.streamed_text();
        EXPECT_EQ(slack.calls_of("chat.startStream").at(0).authorization, "Bearer xoxb-test-token");
    }
    const auto calls_before = slack.calls().size();
    // A certificate the process does not trust: no call gets through, and the turn still completes.
    ServerProcess server(db.url(), slack_env(slack, {{"SLACK_API_URL", https_url}, {"SSL_CERT_FILE", "/dev/null"}}));
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvT2", mention("C7", "701.1", "x")))).status, 200);
    EXPECT_TRUE(wait_projected(db, "slack:C7:701.1", "session.execution_completed", 1, reply_timeout)) << server.logs();
    EXPECT_EQ(slack.calls().size(), calls_before) << "an untrusted Slack endpoint must receive nothing";
}

TEST(SlackWebhook, ChannelRulesRepliesSteerAndStopInterrupts) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack, {{"CENTAUR_MOCK_MODE", "hang"}}));
    // Not addressed: a top-level channel message, a reply in a thread the bot does not own, a bot's message.
    EXPECT_EQ(post_signed(server, json::serialize(event_callback("E1", channel_message("C5", "500.1", "chat")))).status, 200);
    EXPECT_EQ(post_signed(server, json::serialize(event_callback("E2", channel_message("C5", "500.2", "reply", "499.0")))).status,
              200);
    auto own = channel_message("C5", "500.3", "answer", "499.0");
    own["user"] = "UBOT";
    EXPECT_EQ(post_signed(server, json::serialize(event_callback("E3", own))).status, 200);
    EXPECT_EQ(log_total(db), 0);
    EXPECT_EQ(metric(server, "centaur_slack_webhook_events_total{kind=\"ignored_not_addressed\"}"), 1);
    EXPECT_EQ(metric(server, "centaur_slack_webhook_events_total{kind=\"ignored_not_owned\"}"), 1);
    EXPECT_EQ(metric(server, "centaur_slack_webhook_events_total{kind=\"ignored_own_message\"}"), 1);

    const std::string key = "slack:C5:600.1";
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("E4", mention("C5", "600.1", "work")))).status, 200);
    ASSERT_TRUE(wait_log(db, key, "session.sandbox_ready", 1, reply_timeout)) << server.logs();
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("E5", channel_message("C5", "600.2", "more info", "600.1")))).status,
              200);
    EXPECT_EQ(log_count(db, key, "session.message_appended"), 2);
    EXPECT_EQ(log_count(db, key, "session.execution_requested"), 1);
    EXPECT_TRUE(wait_log(db, key, "session.steering_delivered", 1, 10s)) << server.logs();
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("E6", channel_message("C5", "600.3", "stop", "600.1")))).status,
              200);
    EXPECT_EQ(log_count(db, key, "session.interrupt_requested"), 1);
    EXPECT_TRUE(wait_log(db, key, "session.interrupt_delivered", 1, 10s)) << server.logs();
    EXPECT_TRUE(wait_log(db, key, "session.execution_cancelled", 1, 10s)) << server.logs();
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    EXPECT_NE(slack.streamed_text().find("Stopped"), std::string::npos) << slack.streamed_text();
}

}  // namespace
}  // namespace centaur::e2e

namespace centaur::e2e {
namespace {

TEST(SlackWebhook, FullTurnOnKafka) {
    const auto brokers = test_support::env_or("CENTAUR_TEST_KAFKA_BROKERS", "");
    ASSERT_FALSE(brokers.empty()) << "CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test`";
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack, {{"CENTAUR_KAFKA_BROKERS", brokers},
                                                     {"CENTAUR_KAFKA_TOPIC", "slack-" + std::to_string(::getpid()) +
                                                                                 "-" + std::to_string(std::rand())}}));
    const std::string body = json::serialize(event_callback("EvK", mention("CK", "700.1", "on kafka")));
    ASSERT_EQ(post_signed(server, body).status, 200);
    ASSERT_EQ(post_signed(server, body, {{"X-Slack-Retry-Num", "1"}, {"X-Slack-Retry-Reason", "http_timeout"}}).status,
              200);
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    const std::string key = "slack:CK:700.1";
    EXPECT_TRUE(wait_projected(db, key, "slack.reply_completed", 1, 10s));
    EXPECT_EQ(projected_count(db, key, "session.message_appended"), 1);
    EXPECT_EQ(projected_count(db, key, "session.execution_requested"), 1);
    EXPECT_EQ(slack.calls_of("chat.startStream").size(), 1u);
    EXPECT_NE(slack.streamed_text().find("PONG"), std::string::npos) << slack.streamed_text();
}

TEST(SlackWebhook, RestartNeverPostsAFinishedReplyAgain) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack));
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvR", mention("CR", "800.1", "x")))).status, 200);
    const std::string key = "slack:CR:800.1";
    ASSERT_TRUE(wait_log(db, key, "slack.reply_completed", 1, reply_timeout)) << server.logs();
    const auto before = slack.calls().size();
    server.restart();
    // A fresh reply after the restart proves the streamer caught up; the old one stays untouched.
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvR2", mention("CR", "800.2", "y", "800.1")))).status,
              200);
    ASSERT_TRUE(wait_log(db, key, "slack.reply_completed", 2, reply_timeout)) << server.logs();
    const auto calls = slack.calls();
    long starts_after = 0;
    for (std::size_t i = before; i < calls.size(); ++i)
        if (calls[i].method == "chat.startStream" || calls[i].method == "chat.postMessage") ++starts_after;
    EXPECT_EQ(starts_after, 1);
    EXPECT_EQ(slack.calls_of("chat.startStream").size(), 2u);
    for (std::size_t i = before; i < calls.size(); ++i) {
        const auto* ts = calls[i].args.if_contains("ts");
        EXPECT_FALSE(ts && *ts == "S1") << calls[i].method << " touched the finished reply again";
    }
}

TEST(SlackWebhook, LongOutputIsCoalescedAndChunkedUnderSlacksLimit) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack, {{"CENTAUR_MOCK_MODE", "flood"}, {"CENTAUR_MOCK_FLOOD_LINES", "1000"}}));
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvF", mention("CF", "900.1", "flood")))).status, 200);
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    const std::string delta = "PONG model=unknown harness=codex";
    std::string expected;
    for (int i = 0; i < 1000; ++i) expected += delta;
    EXPECT_EQ(slack.streamed_text(), expected);
    std::size_t pieces = 0;
    for (const auto& c : slack.calls()) {
        if (c.method != "chat.startStream" && c.method != "chat.appendStream") continue;
        ++pieces;
        EXPECT_LE(c.args.at("markdown_text").as_string().size(), 12'000u);
    }
    EXPECT_GE(pieces, 3u);   // 33,000 chars need at least three pieces
    EXPECT_LE(pieces, 20u);  // and 1,000 deltas were coalesced
}

/// Two processes with the processor role (each with its reply streamer): the first runs every role, the second
/// only the processor and joins after the first answered some threads, so partitions move over and are re-folded;
/// every thread's reply is created once.
void every_reply_once_across_two_processors(const std::map<std::string, std::string>& log_env) {
    constexpr auto turns_timeout = 90s;
    TestDatabase db;
    FakeSlack slack;
    ServerProcess first(db.url(), slack_env(slack, log_env));
    std::vector<std::string> keys, thread_ts;
    auto mention_thread = [&](int i) {
        const std::string channel = "CM" + std::to_string(i);
        const std::string ts = std::to_string(1000 + i) + ".1";
        auto ack = post_signed(first, json::serialize(event_callback("EvM" + std::to_string(i), mention(channel, ts, "hi"))));
        EXPECT_EQ(ack.status, 200) << ack.body;
        keys.push_back("slack:" + channel + ":" + ts);
        thread_ts.push_back(ts);
    };
    for (int i = 0; i < 4; ++i) mention_thread(i);
    for (const auto& k : keys)
        ASSERT_TRUE(wait_projected(db, k, "slack.reply_completed", 1, turns_timeout)) << k << first.logs();
    auto second_env = slack_env(slack, log_env);
    second_env["CENTAUR_ROLES"] = "processor";
    ServerProcess second(db.url(), second_env);
    for (int i = 4; i < 12; ++i) mention_thread(i);
    for (const auto& k : keys)
        ASSERT_TRUE(wait_projected(db, k, "slack.reply_completed", 1, turns_timeout)) << k << first.logs() << second.logs();
    std::this_thread::sleep_for(1s);  // a second post of any reply would have been made by now

    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(slack.count_of("chat.startStream", "thread_ts", thread_ts[i]), 1) << keys[i];
        EXPECT_EQ(slack.count_of("chat.postMessage", "thread_ts", thread_ts[i]), 0) << keys[i];
        EXPECT_EQ(projected_count(db, keys[i], "slack.reply_started"), 1) << keys[i];
        EXPECT_EQ(projected_count(db, keys[i], "slack.reply_completed"), 1) << keys[i];
        EXPECT_EQ(projected_count(db, keys[i], "session.execution_started"), 1) << keys[i];
    }
    EXPECT_EQ(slack.calls_of("chat.stopStream").size(), keys.size());
    EXPECT_NE(first.logs().find("slack replies: caught up with partition"), std::string::npos) << first.logs();
    EXPECT_NE(second.logs().find("slack replies: caught up with partition"), std::string::npos) << second.logs();
    EXPECT_NE(first.logs().find("slack replies: partitions revoked"), std::string::npos)
        << "the first streamer handed partitions over\n" << first.logs();
}

TEST(SlackWebhook, TwoProcessorProcessesPostEachThreadsReplyOnce) { every_reply_once_across_two_processors({}); }

TEST(SlackWebhook, TwoProcessorProcessesPostEachThreadsReplyOnceOnKafka) {
    const auto brokers = test_support::env_or("CENTAUR_TEST_KAFKA_BROKERS", "");
    ASSERT_FALSE(brokers.empty()) << "CENTAUR_TEST_KAFKA_BROKERS is unset: run through `make test`";
    every_reply_once_across_two_processors(
        {{"CENTAUR_KAFKA_BROKERS", brokers},
         {"CENTAUR_KAFKA_TOPIC", "slack-two-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand())}});
}

TEST(SlackWebhook, ACrashBetweenSlacksAnswerAndItsRecordFindsTheMessageInsteadOfPostingAgain) {
    for (const bool streaming : {true, false}) {
        SCOPED_TRACE(streaming ? "streaming" : "post and update");
        TestDatabase db;
        FakeSlack slack(streaming);
        const std::string key = "slack:CX:950.5";
        const std::string created = streaming ? "chat.startStream" : "chat.postMessage";
        const std::string ts = streaming ? "S1" : "P1";
        {
            ServerProcess doomed(db.url(),
                                 slack_env(slack, {{"CENTAUR_TEST_FAULT_POINT", "slack_after_post_before_started"}}));
            ASSERT_EQ(post_signed(doomed, json::serialize(event_callback("EvX", mention("CX", "950.5", "x")))).status, 200);
            // The process dies (SIGKILL) right after Slack answered the call that created the reply's message.
            ASSERT_TRUE(eventually([&] { return !doomed.running(); }, reply_timeout)) << doomed.logs();
        }
        ASSERT_EQ(slack.count_of(created, "thread_ts", "950.5"), 1);
        EXPECT_EQ(log_count(db, key, "slack.reply_intent"), 1);
        EXPECT_EQ(log_count(db, key, "slack.reply_started"), 0);

        ServerProcess server(db.url(), slack_env(slack));
        ASSERT_TRUE(wait_log(db, key, "slack.reply_completed", 1, reply_timeout)) << server.logs();
        EXPECT_EQ(slack.count_of(created, "thread_ts", "950.5"), 1) << "the message was created a second time";
        EXPECT_GE(slack.count_of("conversations.replies", "ts", "950.5"), 1);
        EXPECT_EQ(slack.count_of("chat.stopStream", "ts", ts), streaming ? 1 : 0);
        const auto updates = slack.calls_of("chat.update");
        ASSERT_FALSE(updates.empty());
        EXPECT_EQ(std::string(updates.back().args.at("ts").as_string()), ts);
        EXPECT_NE(std::string(updates.back().args.at("text").as_string()).find("PONG"), std::string::npos);
        EXPECT_EQ(log_count(db, key, "slack.reply_started"), 1);
        EXPECT_EQ(metric(server, "centaur_slack_reply_recoveries_total{outcome=\"found\"}"), 1);
    }
}

TEST(SlackWebhook, AgentSessionStoppedInterruptsTheRunningTurn) {
    TestDatabase db;
    FakeSlack slack;
    ServerProcess server(db.url(), slack_env(slack, {{"CENTAUR_MOCK_MODE", "hang"}}));
    const std::string key = "slack:CS:610.1";
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvS1", mention("CS", "610.1", "work")))).status, 200);
    ASSERT_TRUE(wait_log(db, key, "session.sandbox_ready", 1, reply_timeout)) << server.logs();
    // The native stop button of the agent session, as Slack sends it.
    json::object stopped{{"type", "agent_session_stopped"}, {"channel", "CS"},     {"user", "U1"},
                         {"thread_ts", "610.1"},           {"event_ts", "611.0"}, {"streaming_message_ts", json::array{}}};
    ASSERT_EQ(post_signed(server, json::serialize(event_callback("EvS2", stopped))).status, 200);
    EXPECT_EQ(log_count(db, key, "session.interrupt_requested"), 1);
    EXPECT_TRUE(wait_log(db, key, "session.execution_cancelled", 1, 10s)) << server.logs();
    ASSERT_TRUE(slack.wait_for(reply_done, reply_timeout)) << server.logs();
    EXPECT_NE(slack.streamed_text().find("Stopped"), std::string::npos) << slack.streamed_text();
}

}  // namespace
}  // namespace centaur::e2e
