// centaur-bench-load: the load generator of `make bench` (bench/run-bench drives it; see bench/README.md).
//
// Coordinated-omission safe: request i of a fixed-rate run is due at start + i / rate, and its latency is
// measured from that intended time, not from when a connection got round to sending it; a server that
// stalls therefore shows its stall in every request that was due meanwhile. Clients are HTTP/1.1
// keep-alive connections (Beast, one io_context thread); a request waits for a free connection.
//
// Modes (each prints progress on stderr and one `RESULT {json}` line on stdout):
//   post     fixed-rate POSTs: session messages with a 512-byte text (`--body message`), signed Slack event
//            callbacks in owned threads (`--body slack`), or GET /healthz (`--body healthz`)
//   tail     live tail: --clients SSE clients over --threads threads while appends run at --rate; latency
//            from each message's intended send time (stamped in its text) to its arrival at each client
//   idle     --clients idle SSE clients; server RSS per client from /proc/<--server-pid>/status
//   replay   one thread's events after --after: events/s until --expect events arrived, and time to the
//            first event of --first-byte-reps further requests
//   turn     --reps turns, each on a new session: execute --input-line (JSON-escaped); time from the execute
//            request to the session.execution_completed event on the session's stream
//   sessions creates --threads sessions (setup for the modes above)
//
// Thread keys are cli:<32 hex> (or slack:C<run>:<ts> with --body slack) derived from --run and the index,
// so the runner, this program and the baselines agree on them without passing lists around.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "samples.hpp"

#include <centaur/schemas/hex.hpp>

#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

namespace {

constexpr std::size_t payload_bytes = 512;
constexpr std::size_t read_chunk_bytes = 64 * 1024;
constexpr std::string_view stamp_open = "@@T";
constexpr std::string_view stamp_close = "@@";
constexpr int http_version = 11;
constexpr double ns_per_ms = 1e6;
constexpr double ns_per_s = 1e9;
constexpr auto request_timeout = std::chrono::seconds(30);
constexpr auto settle_time = std::chrono::milliseconds(1500);

struct Options {
    std::string mode;
    std::string host = "127.0.0.1";
    std::string port = "8080";
    std::string body = "message";
    std::string run = "0";
    std::string token;
    std::string slack_secret;
    double rate = 1000;
    double duration_s = 5;
    double warmup_s = 1;
    int connections = 16;
    int threads = 100;
    int clients = 100;
    long long after = 0;
    long long expect = 0;
    int first_byte_reps = 0;
    int reps = 0;
    std::string input_line = R"({\"prompt\":\"bench\"})";
    int server_pid = 0;
    std::string thread_key;
};

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "centaur-bench-load: " << why << "\n"
              << "usage: centaur-bench-load post|tail|idle|replay|sessions [--host H] [--port P] [--run ID]\n"
                 "  [--body message|slack|healthz] [--rate R] [--duration S] [--warmup S] [--connections C]\n"
                 "  [--threads T] [--clients N] [--thread-key K] [--after ID] [--expect N] [--first-byte-reps K]\n"
                 "  [--server-pid PID] [--reps K] [--input-line ESCAPED] [--token BEARER] (SLACK_SIGNING_SECRET signs --body slack)\n";
    std::exit(2);
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage("missing mode");
    Options o;
    o.mode = argv[1];
    if (const char* s = std::getenv("SLACK_SIGNING_SECRET")) o.slack_secret = s;
    if (const char* t = std::getenv("CENTAUR_API_TOKEN")) o.token = t;
    for (int i = 2; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) usage("flag " + flag + " needs a value");
        const std::string v = argv[++i];
        if (flag == "--host") o.host = v;
        else if (flag == "--port") o.port = v;
        else if (flag == "--body") o.body = v;
        else if (flag == "--run") o.run = v;
        else if (flag == "--token") o.token = v;
        else if (flag == "--rate") o.rate = std::stod(v);
        else if (flag == "--duration") o.duration_s = std::stod(v);
        else if (flag == "--warmup") o.warmup_s = std::stod(v);
        else if (flag == "--connections") o.connections = std::stoi(v);
        else if (flag == "--threads") o.threads = std::stoi(v);
        else if (flag == "--clients") o.clients = std::stoi(v);
        else if (flag == "--after") o.after = std::stoll(v);
        else if (flag == "--expect") o.expect = std::stoll(v);
        else if (flag == "--first-byte-reps") o.first_byte_reps = std::stoi(v);
        else if (flag == "--server-pid") o.server_pid = std::stoi(v);
        else if (flag == "--thread-key") o.thread_key = v;
        else if (flag == "--reps") o.reps = std::stoi(v);
        else if (flag == "--input-line") o.input_line = v;
        else usage("unknown flag " + flag);
    }
    if (o.rate <= 0 || o.connections <= 0 || o.threads <= 0 || o.clients < 0) usage("rates and counts must be positive");
    if (o.body != "message" && o.body != "slack" && o.body != "healthz") usage("--body must be message, slack or healthz");
    return o;
}

/// Deterministic thread key number `i` of run `run` (the runner's baselines use the same scheme).
std::string cli_key(const std::string& run, int i) {
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016x", std::strtoull(run.c_str(), nullptr, 10), static_cast<unsigned>(i));
    return std::string("cli:") + hex;
}
std::string slack_channel(const std::string& run) { return "CB" + run; }
/// Slack timestamps: thread parents at thread_ts_base.<100000 + i>, replies at reply_ts_base + n (all distinct).
constexpr long long thread_ts_base = 1700000000;
constexpr int thread_ts_fraction_base = 100000;
constexpr long long reply_ts_base = 1800000000;
/// Turn mode's sessions are numbered from here, apart from the thread keys of the other modes.
constexpr int turn_key_base = 1000000;

std::string slack_thread_ts(int i) {
    return std::to_string(thread_ts_base) + "." + std::to_string(thread_ts_fraction_base + i);
}
std::string slack_key(const std::string& run, int i) { return "slack:" + slack_channel(run) + ":" + slack_thread_ts(i); }

std::string thread_key_for(const Options& o, int i) { return o.body == "slack" ? slack_key(o.run, i) : cli_key(o.run, i); }

std::int64_t now_ns() { return duration_cast<nanoseconds>(Clock::now().time_since_epoch()).count(); }

/// A text of exactly payload_bytes that carries the intended send time (ns, steady clock) as @@T<ns>@@.
std::string stamped_text(std::int64_t intended_ns) {
    std::string s = std::string(stamp_open) + std::to_string(intended_ns) + std::string(stamp_close) + " ";
    while (s.size() < payload_bytes) s += "lorem ipsum dolor sit amet ";
    s.resize(payload_bytes);
    return s;
}

std::string message_body(std::int64_t intended_ns) {
    return R"({"messages":[{"role":"user","parts":[{"type":"text","text":")" + stamped_text(intended_ns) + R"("}]}]})";
}

std::string hmac_hex(const std::string& key, const std::string& data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac, &len);
    std::string out;
    centaur::schemas::append_hex(out, mac, len);
    return out;
}

using centaur::bench::Samples;

long rss_kb(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

struct Target {
    tcp::endpoint endpoint;
    std::string host_header;
    std::string token;
};

Target resolve(asio::io_context& io, const Options& o) {
    tcp::resolver r(io);
    auto results = r.resolve(o.host, o.port);
    return Target{*results.begin(), o.host + ":" + o.port, o.token};
}

http::request<http::string_body> make_request(const Target& t, http::verb verb, const std::string& target,
                                              std::string body) {
    http::request<http::string_body> req{verb, target, http_version};
    req.set(http::field::host, t.host_header);
    req.keep_alive(true);
    if (!t.token.empty()) req.set(http::field::authorization, "Bearer " + t.token);
    if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
        req.prepare_payload();
    }
    return req;
}

// ---------------------------------------------------------------- fixed-rate POSTs

/// Shared schedule of a fixed-rate run: request i is due at start + i / rate; those due before
/// start + warmup are sent but not recorded.
struct Schedule {
    Clock::time_point start;
    double rate;
    std::int64_t total;
    std::int64_t warm;
    std::int64_t next = 0;
    Samples latency;
    std::int64_t ok = 0;
    std::int64_t errors = 0;
    std::map<int, std::int64_t> statuses;
    Clock::time_point last_done;
    Clock::time_point intended(std::int64_t i) const {
        return start + nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * ns_per_s / rate));
    }
    /// Seconds from the first recorded request's intended time to the last completion.
    double measured_s() const {
        return static_cast<double>(duration_cast<nanoseconds>(last_done - intended(warm)).count()) / ns_per_s;
    }
    /// Successful requests per second over measured_s(): below `rate` when the server fell behind.
    double achieved_rate() const {
        const double s = measured_s();
        return s > 0 ? static_cast<double>(ok) / s : 0;
    }
};

struct PostCtx {
    Options o;
    Target target;
    Schedule sched;
};

http::request<http::string_body> build_post(const PostCtx& c, std::int64_t i, Clock::time_point intended) {
    const int thread = static_cast<int>(i % c.o.threads);
    const auto intended_ns = duration_cast<nanoseconds>(intended.time_since_epoch()).count();
    if (c.o.body == "healthz") return make_request(c.target, http::verb::get, "/healthz", "");
    if (c.o.body == "message")
        return make_request(c.target, http::verb::post, "/api/session/" + thread_key_for(c.o, thread) + "/messages",
                            message_body(intended_ns));
    // Slack: a reply in the thread the bot owns (its session exists), so it is appended without starting a turn.
    const auto ts = std::to_string(reply_ts_base + i) + ".000001";
    const std::string body = R"({"token":"bench","team_id":"TB","api_app_id":"AB","type":"event_callback","event_id":"EvB)" +
                             c.o.run + "x" + std::to_string(i) + R"(","event_time":)" + std::to_string(thread_ts_base) + R"(,"event":{"type":"message","channel":")" +
                             slack_channel(c.o.run) + R"(","user":"UBENCH","text":")" + stamped_text(intended_ns) +
                             R"(","ts":")" + ts + R"(","thread_ts":")" + slack_thread_ts(thread) +
                             R"(","channel_type":"channel"}})";
    auto req = make_request(c.target, http::verb::post, "/api/webhooks/slack", body);
    const auto unix_now = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    req.set("X-Slack-Request-Timestamp", unix_now);
    req.set("X-Slack-Signature", "v0=" + hmac_hex(c.o.slack_secret, "v0:" + unix_now + ":" + body));
    return req;
}

awaitable<void> post_worker(PostCtx& c) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket sock(ex);
    co_await sock.async_connect(c.target.endpoint, use_awaitable);
    sock.set_option(tcp::no_delay(true));
    beast::flat_buffer buf;
    asio::steady_timer timer(ex);
    for (;;) {
        const std::int64_t i = c.sched.next++;
        if (i >= c.sched.total) break;
        const auto intended = c.sched.intended(i);
        if (Clock::now() < intended) {
            timer.expires_at(intended);
            co_await timer.async_wait(use_awaitable);
        }
        auto req = build_post(c, i, intended);
        co_await http::async_write(sock, req, use_awaitable);
        http::response<http::string_body> res;
        auto [ec, n] = co_await http::async_read(sock, buf, res, asio::as_tuple(use_awaitable));
        const auto done = Clock::now();
        if (i < c.sched.warm) {
            if (ec) throw boost::system::system_error(ec);
            continue;
        }
        c.sched.last_done = done;
        const int status = ec ? 0 : res.result_int();
        ++c.sched.statuses[status];
        if (status >= 200 && status < 300) {
            ++c.sched.ok;
            c.sched.latency.ns.push_back(duration_cast<nanoseconds>(done - intended).count());
        } else {
            ++c.sched.errors;
            if (c.sched.errors <= 3) std::cerr << "request " << i << ": status " << status << " " << res.body() << "\n";
        }
        if (ec) co_return;  // the connection is gone; the others carry on
    }
}

/// Runs `task`; a task that throws is reported on stderr (the first few of a kind, so 1,000 clients that
/// all fail print a few lines and a count).
void spawn_logged(asio::io_context& io, awaitable<void> task) {
    static std::map<std::string, int> seen;
    constexpr int reported_per_kind = 3;
    asio::co_spawn(io, std::move(task), [](std::exception_ptr e) {
        if (!e) return;
        std::string what;
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& ex) {
            what = ex.code().message();
        } catch (const std::exception& ex) {
            what = ex.what();
        }
        const int n = ++seen[what];
        if (n <= reported_per_kind) std::cerr << "centaur-bench-load: " << what << "\n";
        if (n == reported_per_kind + 1) std::cerr << "centaur-bench-load: more '" << what << "' failures not shown\n";
    });
}

std::string statuses_json(const std::map<int, std::int64_t>& statuses) {
    std::ostringstream s;
    s << "{";
    bool first = true;
    for (const auto& [code, n] : statuses) {
        s << (first ? "" : ",") << "\"" << code << "\":" << n;
        first = false;
    }
    s << "}";
    return s.str();
}

int run_post(const Options& o) {
    asio::io_context io(1);
    PostCtx c{o, resolve(io, o), {}};
    c.sched.rate = o.rate;
    c.sched.warm = static_cast<std::int64_t>(o.rate * o.warmup_s);
    c.sched.total = c.sched.warm + static_cast<std::int64_t>(o.rate * o.duration_s);
    c.sched.start = Clock::now() + std::chrono::milliseconds(50);
    for (int i = 0; i < o.connections; ++i) spawn_logged(io, post_worker(c));
    io.run();
    const double achieved = c.sched.achieved_rate();
    std::cout << "RESULT {\"mode\":\"post\",\"body\":\"" << o.body << "\",\"target_rate\":" << o.rate
              << ",\"achieved_rate\":" << achieved << ",\"ok\":" << c.sched.ok << ",\"errors\":" << c.sched.errors
              << ",\"connections\":" << o.connections << ",\"threads\":" << o.threads << ",\"duration_s\":" << o.duration_s
              << ",\"statuses\":" << statuses_json(c.sched.statuses) << "," << c.sched.latency.json_fields("") << "}"
              << std::endl;
    return 0;
}

// ---------------------------------------------------------------- SSE clients

/// Reads an SSE (or any chunked) response body incrementally and hands complete lines to `on_line`.
/// Stops when `on_line` returns false, the stream ends, or an error occurs. Returns false on error.
template <typename OnLine, typename OnFirstByte>
awaitable<bool> read_lines(tcp::socket& sock, const Target& t, const std::string& target, OnLine on_line,
                           OnFirstByte on_first_byte) {
    auto req = make_request(t, http::verb::get, target, "");
    req.set(http::field::accept, "text/event-stream");
    co_await http::async_write(sock, req, use_awaitable);
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(sock, buf, parser, asio::as_tuple(use_awaitable));
    if (hec || parser.get().result_int() != 200) {
        std::cerr << "stream " << target << ": " << (hec ? hec.message() : std::to_string(parser.get().result_int())) << "\n";
        co_return false;
    }
    std::vector<char> chunk(read_chunk_bytes);
    std::string carry;
    bool first = true;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        auto [ec, n] = co_await http::async_read_some(sock, buf, parser, asio::as_tuple(use_awaitable));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return false;
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (got == 0) continue;
        if (first) {
            first = false;
            on_first_byte();
        }
        std::string_view data(chunk.data(), got);
        std::size_t pos = 0;
        while (pos < data.size()) {
            const auto nl = data.find('\n', pos);
            if (nl == std::string_view::npos) {
                carry.append(data.substr(pos));
                break;
            }
            std::string_view line = data.substr(pos, nl - pos);
            pos = nl + 1;
            if (!carry.empty()) {
                carry.append(line);
                const bool go_on = on_line(std::string_view(carry));
                carry.clear();
                if (!go_on) co_return true;
            } else if (!on_line(line)) {
                co_return true;
            }
        }
    }
    co_return true;
}

struct TailCtx {
    PostCtx post;                    // the appends (message POSTs, the post mode's schedule and figures)
    Samples delivery;                // append intended time -> arrival at a client
    std::int64_t delivered = 0;      // stamped events after the warm-up that reached a client
    std::int64_t attached = 0;       // clients whose stream has started
    std::int64_t stream_errors = 0;  // clients whose stream failed or got session.stream_error
    // Stamps before this (ns, steady clock) are history or warm-up; unknown until the schedule starts.
    std::int64_t warm_ns = std::numeric_limits<std::int64_t>::max();
    bool stopping = false;
    std::vector<std::shared_ptr<tcp::socket>> sockets;
};

awaitable<void> sse_client(TailCtx& c, int thread) {
    auto ex = co_await asio::this_coro::executor;
    auto sock = std::make_shared<tcp::socket>(ex);
    c.sockets.push_back(sock);
    co_await sock->async_connect(c.post.target.endpoint, use_awaitable);
    const std::string target = "/api/session/" + thread_key_for(c.post.o, thread) + "/events?after_event_id=0";
    auto on_line = [&c](std::string_view line) {
        if (line.rfind("event: session.stream_error", 0) == 0) ++c.stream_errors;
        if (line.rfind("data:", 0) != 0) return true;
        const auto at = line.find(stamp_open);
        if (at == std::string_view::npos) return true;
        const auto t0 = std::strtoll(line.data() + at + stamp_open.size(), nullptr, 10);
        if (t0 < c.warm_ns) return true;
        ++c.delivered;
        c.delivery.ns.push_back(now_ns() - t0);
        return true;
    };
    auto on_first = [&c] { ++c.attached; };
    const bool ok = co_await read_lines(*sock, c.post.target, target, on_line, on_first);
    if (!ok && !c.stopping) ++c.stream_errors;
}

awaitable<void> wait_until(asio::steady_timer& timer, Clock::time_point deadline) {
    timer.expires_at(deadline);
    co_await timer.async_wait(use_awaitable);
}

awaitable<void> tail_driver(TailCtx& c, asio::io_context& io) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    for (int i = 0; i < c.post.o.clients; ++i) spawn_logged(io, sse_client(c, i % c.post.o.threads));
    const auto attach_deadline = Clock::now() + request_timeout;
    while (c.attached < c.post.o.clients && Clock::now() < attach_deadline) {
        auto t = Clock::now() + std::chrono::milliseconds(20);
        co_await wait_until(timer, t);
    }
    std::cerr << "tail: " << c.attached << "/" << c.post.o.clients << " clients attached\n";
    if (c.post.o.mode == "idle") co_return;
    c.post.sched.rate = c.post.o.rate;
    c.post.sched.warm = static_cast<std::int64_t>(c.post.o.rate * c.post.o.warmup_s);
    c.post.sched.total = c.post.sched.warm + static_cast<std::int64_t>(c.post.o.rate * c.post.o.duration_s);
    c.post.sched.start = Clock::now() + std::chrono::milliseconds(50);
    c.warm_ns = duration_cast<nanoseconds>(c.post.sched.intended(c.post.sched.warm).time_since_epoch()).count();
    const int appenders = std::max(1, c.post.o.connections);
    for (int i = 0; i < appenders; ++i) spawn_logged(io, post_worker(c.post));
    // Deliveries of the last appends arrive after their acknowledgement: wait for the schedule, then a grace.
    auto end = c.post.sched.intended(c.post.sched.total) + settle_time;
    co_await wait_until(timer, end);
    while (c.post.sched.next < c.post.sched.total + appenders && Clock::now() < end + request_timeout) {
        auto t = Clock::now() + std::chrono::milliseconds(50);
        co_await wait_until(timer, t);
    }
    auto grace = Clock::now() + settle_time;
    co_await wait_until(timer, grace);
    c.stopping = true;
    for (auto& s : c.sockets) {
        boost::system::error_code ignored;
        s->close(ignored);
    }
}

int run_tail(const Options& o) {
    asio::io_context io(1);
    TailCtx c{PostCtx{o, resolve(io, o), {}}};
    const long rss_before = o.server_pid > 0 ? rss_kb(o.server_pid) : -1;
    spawn_logged(io, tail_driver(c, io));
    if (o.mode == "idle") {
        // Attach, let the server settle, read its RSS, then drop the clients.
        asio::steady_timer t(io);
        bool measured = false;
        long rss_after = -1;
        std::function<void()> poll = [&] {
            if (c.attached >= o.clients || c.stream_errors > 0) {
                if (!measured) {
                    measured = true;
                    t.expires_after(settle_time);
                    t.async_wait([&](auto) {
                        rss_after = o.server_pid > 0 ? rss_kb(o.server_pid) : -1;
                        c.stopping = true;
                        for (auto& s : c.sockets) {
                            boost::system::error_code ignored;
                            s->close(ignored);
                        }
                    });
                }
                return;
            }
            t.expires_after(std::chrono::milliseconds(20));
            t.async_wait([&](auto) { poll(); });
        };
        poll();
        io.run();
        const double per_client_kb =
            rss_before > 0 && rss_after > 0 && c.attached > 0 ? static_cast<double>(rss_after - rss_before) / c.attached : -1;
        std::cout << "RESULT {\"mode\":\"idle\",\"clients\":" << o.clients << ",\"attached\":" << c.attached
                  << ",\"rss_before_kb\":" << rss_before << ",\"rss_after_kb\":" << rss_after
                  << ",\"rss_per_client_kb\":" << per_client_kb << "}" << std::endl;
        return c.attached == o.clients ? 0 : 1;
    }
    io.run();
    const double expected = static_cast<double>(c.post.sched.total - c.post.sched.warm) * o.clients / o.threads;
    const double measured_s = std::max(o.duration_s, c.post.sched.measured_s());
    std::cout << "RESULT {\"mode\":\"tail\",\"clients\":" << o.clients << ",\"threads\":" << o.threads
              << ",\"target_rate\":" << o.rate << ",\"appended\":" << c.post.sched.ok << ",\"append_errors\":" << c.post.sched.errors
              << ",\"append_rate\":" << c.post.sched.achieved_rate()
              << ",\"delivered\":" << c.delivered << ",\"expected\":" << expected
              << ",\"delivered_per_s\":" << static_cast<double>(c.delivered) / measured_s
              << ",\"stream_errors\":" << c.stream_errors << "," << c.post.sched.latency.json_fields("append_") << ","
              << c.delivery.json_fields("") << "}" << std::endl;
    return 0;
}

// ---------------------------------------------------------------- replay

awaitable<void> replay_driver(const Options& o, Target t, std::string& result) {
    auto ex = co_await asio::this_coro::executor;
    const std::string target = "/api/session/" + o.thread_key + "/events?after_event_id=" + std::to_string(o.after);
    // Throughput: one stream, until --expect events arrived.
    double events_per_s = 0, mb_per_s = 0, first_ms = 0;
    std::int64_t events = 0, bytes = 0;
    {
        tcp::socket sock(ex);
        co_await sock.async_connect(t.endpoint, use_awaitable);
        const auto start = Clock::now();
        Clock::time_point first{};
        auto on_line = [&](std::string_view line) {
            bytes += static_cast<std::int64_t>(line.size()) + 1;
            if (line.rfind("id:", 0) == 0) ++events;
            return events < o.expect;
        };
        auto on_first = [&] { first = Clock::now(); };
        co_await read_lines(sock, t, target, on_line, on_first);
        const double s = static_cast<double>(duration_cast<nanoseconds>(Clock::now() - start).count()) / ns_per_s;
        events_per_s = static_cast<double>(events) / s;
        mb_per_s = static_cast<double>(bytes) / s / 1e6;
        first_ms = static_cast<double>(duration_cast<nanoseconds>(first - start).count()) / ns_per_ms;
    }
    // First byte: fresh connection and request each time, closed after the first event line.
    Samples first_byte;
    for (int r = 0; r < o.first_byte_reps; ++r) {
        tcp::socket sock(ex);
        co_await sock.async_connect(t.endpoint, use_awaitable);
        const auto start = Clock::now();
        bool seen = false;
        auto on_line = [&](std::string_view line) {
            if (line.rfind("id:", 0) != 0) return true;
            seen = true;
            first_byte.ns.push_back(duration_cast<nanoseconds>(Clock::now() - start).count());
            return false;
        };
        auto ignore_first = [] {};
        co_await read_lines(sock, t, target, on_line, ignore_first);
        if (!seen) std::cerr << "replay: first-byte request " << r << " got no event\n";
    }
    std::ostringstream s;
    s << "{\"mode\":\"replay\",\"after\":" << o.after << ",\"expect\":" << o.expect << ",\"events\":" << events
      << ",\"events_per_s\":" << events_per_s << ",\"mb_per_s\":" << mb_per_s << ",\"stream_first_byte_ms\":" << first_ms
      << ",\"first_byte_reps\":" << o.first_byte_reps << "," << first_byte.json_fields("first_byte_") << "}";
    result = s.str();
}

int run_replay(const Options& o) {
    if (o.thread_key.empty() || o.expect <= 0) usage("replay needs --thread-key and --expect");
    asio::io_context io(1);
    std::string result;
    spawn_logged(io, replay_driver(o, resolve(io, o), result));
    io.run();
    if (result.empty()) return 1;
    std::cout << "RESULT " << result << std::endl;
    return 0;
}

// ---------------------------------------------------------------- turn overhead

struct TurnState {
    bool terminal = false;
    std::string terminal_type;
    Clock::time_point at{};
    bool attached = false;
};

awaitable<void> turn_watch(Target t, std::string key, std::shared_ptr<tcp::socket> sock, std::shared_ptr<TurnState> st) {
    co_await sock->async_connect(t.endpoint, use_awaitable);
    const std::string target = "/api/session/" + key + "/events?after_event_id=0";
    auto on_line = [st](std::string_view line) {
        for (std::string_view end : {"event: session.execution_completed", "event: session.execution_failed",
                                     "event: session.execution_cancelled"}) {
            if (line.rfind(end, 0) == 0) {
                st->terminal = true;
                st->terminal_type = std::string(line.substr(7));
                st->at = Clock::now();
                return false;
            }
        }
        return true;
    };
    auto on_first = [st] { st->attached = true; };
    co_await read_lines(*sock, t, target, on_line, on_first);
}

awaitable<std::optional<http::response<http::string_body>>> post_once(tcp::socket& sock, beast::flat_buffer& buf,
                                                                      http::request<http::string_body> req) {
    co_await http::async_write(sock, req, use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(sock, buf, res, use_awaitable);
    co_return res;
}

awaitable<void> turn_driver(const Options& o, Target t, asio::io_context& io, std::string& result) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket sock(ex);
    co_await sock.async_connect(t.endpoint, use_awaitable);
    beast::flat_buffer buf;
    asio::steady_timer timer(ex);
    Samples turns;
    int failed = 0;
    for (int rep = 0; rep < o.reps; ++rep) {
        const std::string key = cli_key(o.run, turn_key_base + rep);
        auto create = make_request(t, http::verb::post, "/api/session/" + key, R"({"harness_type":"codex"})");
        auto created = co_await post_once(sock, buf, std::move(create));
        if (!created || created->result_int() != 200) throw std::runtime_error("turn: create session failed");
        auto st = std::make_shared<TurnState>();
        auto watch_sock = std::make_shared<tcp::socket>(ex);
        spawn_logged(io, turn_watch(t, key, watch_sock, st));
        const auto attach_deadline = Clock::now() + request_timeout;
        while (!st->attached && Clock::now() < attach_deadline) {
            auto tick = Clock::now() + std::chrono::milliseconds(1);
            co_await wait_until(timer, tick);
        }
        auto execute = make_request(t, http::verb::post, "/api/session/" + key + "/execute",
                                    R"({"input_lines":[")" + o.input_line + R"("],"idle_timeout_ms":1000})");
        const auto start = Clock::now();
        auto executed = co_await post_once(sock, buf, std::move(execute));
        if (!executed || executed->result_int() != 200) throw std::runtime_error("turn: execute failed: " + executed->body());
        const auto deadline = start + request_timeout;
        while (!st->terminal && Clock::now() < deadline) {
            auto tick = Clock::now() + std::chrono::milliseconds(1);
            co_await wait_until(timer, tick);
        }
        boost::system::error_code ignored;
        watch_sock->close(ignored);
        if (!st->terminal || st->terminal_type != "session.execution_completed") {
            ++failed;
            std::cerr << "turn " << rep << ": " << (st->terminal ? st->terminal_type : std::string("no terminal event")) << "\n";
            continue;
        }
        turns.ns.push_back(duration_cast<nanoseconds>(st->at - start).count());
    }
    std::ostringstream s;
    s << "{\"mode\":\"turn\",\"reps\":" << o.reps << ",\"failed\":" << failed << "," << turns.json_fields("") << "}";
    result = s.str();
}

int run_turn(const Options& o) {
    if (o.reps <= 0) usage("turn needs --reps");
    asio::io_context io(1);
    std::string result;
    spawn_logged(io, turn_driver(o, resolve(io, o), io, result));
    io.run();
    if (result.empty()) return 1;
    std::cout << "RESULT " << result << std::endl;
    return 0;
}

// ---------------------------------------------------------------- setup

awaitable<void> create_sessions(const Options& o, Target t, int& created) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket sock(ex);
    co_await sock.async_connect(t.endpoint, use_awaitable);
    beast::flat_buffer buf;
    for (int i = 0; i < o.threads; ++i) {
        auto req = make_request(t, http::verb::post, "/api/session/" + thread_key_for(o, i), R"({"harness_type":"codex"})");
        co_await http::async_write(sock, req, use_awaitable);
        http::response<http::string_body> res;
        co_await http::async_read(sock, buf, res, use_awaitable);
        if (res.result_int() != 200) {
            std::cerr << "create session " << thread_key_for(o, i) << ": " << res.result_int() << " " << res.body() << "\n";
            co_return;
        }
        ++created;
    }
}

int run_sessions(const Options& o) {
    asio::io_context io(1);
    int created = 0;
    spawn_logged(io, create_sessions(o, resolve(io, o), created));
    io.run();
    std::cout << "RESULT {\"mode\":\"sessions\",\"created\":" << created << "}" << std::endl;
    return created == o.threads ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    // Every wait is bounded: a run that hangs (a stream that never delivers, a server that stopped answering)
    // dies by SIGALRM after its schedule plus this margin, and the runner reports it without a result.
    constexpr double hang_margin_s = 300;
    alarm(static_cast<unsigned>(o.warmup_s + o.duration_s + hang_margin_s));
    try {
        if (o.mode == "post") return run_post(o);
        if (o.mode == "tail" || o.mode == "idle") return run_tail(o);
        if (o.mode == "replay") return run_replay(o);
        if (o.mode == "sessions") return run_sessions(o);
        if (o.mode == "turn") return run_turn(o);
    } catch (const std::exception& e) {
        std::cerr << "centaur-bench-load: " << e.what() << "\n";
        return 1;
    }
    usage("unknown mode " + o.mode);
}
