// centaur-mock-agent: the `mock` workload. Answers every request line on stdin with the NDJSON a codex
// harness wrapper prints (heartbeats, thread.started, then turns), so the whole pipeline runs without a
// model.
//
// Protocol: each stdin line is trimmed; blank lines are ignored. {"type":"interrupt"} ends the turn in
// progress with turn.completed status "interrupted" (and abandons the rest of that request); one that arrives
// while a request is starting up (before its first turn.started) interrupts that first turn as soon as it
// starts, as codex does once turn/start has answered; with no request in progress it is ignored. Any other line is a request, answered in arrival order; its top-level "model"
// string shows up in the delta. Stdin is polled while output is paced, so an interrupt takes effect mid-turn
// and requests that arrive meanwhile queue up. Exits 0 at stdin EOF once queued requests are answered.
//
// Knobs (env): CENTAUR_HARNESS_TYPE (codex), CENTAUR_MOCK_DELAY_MS (20) between lines, CENTAUR_MOCK_TURNS (1)
// per request, CENTAUR_MOCK_MODE normal | fail | hang | exit_early | flood | secrets | deaf,
// CENTAUR_MOCK_FLOOD_LINES (1000). `secrets` answers like normal with one more delta carrying fake credentials
// (mock_secrets_delta) that redaction must remove. `deaf` answers its first request like normal, then closes stdin
// and lives on silent with stdout open until killed (a sandbox that can no longer take input but has not ended).
// A bad knob exits 2 with one line on stderr.

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

namespace json = boost::json;

namespace {

constexpr int default_delay_ms = 20;
constexpr int default_turns = 1;
constexpr int default_flood_lines = 1000;
constexpr char default_harness[] = "codex";
constexpr int exit_bad_config = 2;
constexpr int exit_early_code = 3;
constexpr int wait_forever = -1;
constexpr std::size_t read_chunk_bytes = 64 * 1024;

enum class Mode { normal, fail, hang, exit_early, flood, secrets, deaf };

/// The extra delta of mode `secrets`: every credential shape redaction knows, each containing "mockSECRET".
constexpr char mock_secrets_delta[] =
    " creds: sk-ant-mockSECRET0000anthropic sk-mockSECRET0000openai xoxb-0000-mockSECRETslack"
    " ghp_mockSECRET0000github Authorization: Bearer mockSECRET0000bearer OPENAI_API_KEY=mockSECRETenv";

struct Settings {
    int delay_ms = default_delay_ms;
    int turns = default_turns;
    Mode mode = Mode::normal;
    int flood_lines = default_flood_lines;
    std::string harness = default_harness;
};

[[noreturn]] void die(const std::string& message) {
    std::cerr << "centaur-mock-agent: " << message << std::endl;
    std::exit(exit_bad_config);
}

int env_count(const char* name, int fallback) {
    const char* raw = std::getenv(name);
    if (raw == nullptr || *raw == '\0') return fallback;
    int value = 0;
    const char* end = raw + std::strlen(raw);
    const auto [stop, ec] = std::from_chars(raw, end, value);
    if (ec != std::errc{} || stop != end || value < 0)
        die(std::string(name) + " must be a non-negative integer, got '" + raw + "'");
    return value;
}

Settings read_settings() {
    Settings settings;
    settings.delay_ms = env_count("CENTAUR_MOCK_DELAY_MS", default_delay_ms);
    settings.turns = env_count("CENTAUR_MOCK_TURNS", default_turns);
    settings.flood_lines = env_count("CENTAUR_MOCK_FLOOD_LINES", default_flood_lines);
    if (const char* harness = std::getenv("CENTAUR_HARNESS_TYPE"); harness != nullptr && *harness != '\0')
        settings.harness = harness;
    const char* raw_mode = std::getenv("CENTAUR_MOCK_MODE");
    const std::string_view mode = raw_mode != nullptr ? raw_mode : "";
    if (mode.empty() || mode == "normal")
        settings.mode = Mode::normal;
    else if (mode == "fail")
        settings.mode = Mode::fail;
    else if (mode == "hang")
        settings.mode = Mode::hang;
    else if (mode == "exit_early")
        settings.mode = Mode::exit_early;
    else if (mode == "flood")
        settings.mode = Mode::flood;
    else if (mode == "secrets")
        settings.mode = Mode::secrets;
    else if (mode == "deaf")
        settings.mode = Mode::deaf;
    else
        die("CENTAUR_MOCK_MODE must be normal, fail, hang, exit_early, flood, secrets or deaf, got '" +
            std::string(mode) + "'");
    return settings;
}

std::string_view trim(std::string_view s) {
    constexpr std::string_view blanks = " \t\r\n\f\v";
    const auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

/// The line's top-level string field `key`, or "" when the line is not a JSON object or lacks it.
std::string string_field(std::string_view line, std::string_view key) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(line, ec);
    if (ec || !parsed.is_object()) return {};
    const auto* field = parsed.as_object().if_contains(key);
    if (field == nullptr || !field->is_string()) return {};
    return std::string(field->as_string());
}

class MockAgent {
public:
    explicit MockAgent(Settings settings) : settings_(std::move(settings)) {}

    int run() {
        for (;;) {
            if (!requests_.empty()) {
                const std::string request = std::move(requests_.front());
                requests_.pop_front();
                answer(request);
                if (settings_.mode == Mode::deaf)
                    for (;;) ::pause();  // stdin closed, stdout open: silent until killed
                continue;
            }
            if (stdin_closed_) return EXIT_SUCCESS;
            take_input(wait_forever);
        }
    }

private:
    void answer(const std::string& request) {
        in_request_ = true;
        answer_turns(request);
        in_request_ = false;
        interrupted_ = false;
    }

    void answer_turns(const std::string& request) {
        std::string model = string_field(request, "model");
        if (model.empty()) model = "unknown";
        emit({{"type", "system"}, {"subtype", "wrapper_heartbeat"}, {"phase", "startup"}});
        wait(settings_.delay_ms);
        emit({{"type", "system"}, {"subtype", "wrapper_heartbeat"}, {"phase", "app_server_started"}});
        if (settings_.mode == Mode::exit_early) std::exit(exit_early_code);
        wait(settings_.delay_ms);
        emit({{"type", "thread.started"}, {"thread_id", "mock-codex-thread"}});
        for (int i = 0; i < settings_.turns; ++i) {
            wait(settings_.delay_ms);
            if (!run_turn(model)) return;
        }
    }

    /// One turn; false when it was interrupted (the rest of the request is abandoned).
    bool run_turn(const std::string& model) {
        current_turn_ = "mock-turn-" + std::to_string(next_turn_++);
        emit({{"type", "turn.started"}, {"turn_id", current_turn_}});
        const bool finished = !interrupted_ && play_turn(model);
        if (!finished)
            emit({{"type", "turn.completed"}, {"turn", {{"id", current_turn_}, {"status", "interrupted"}}}});
        current_turn_.clear();
        interrupted_ = false;
        return finished;
    }

    bool play_turn(const std::string& model) {
        if (settings_.mode == Mode::hang) return wait(wait_forever);
        if (!wait(settings_.delay_ms)) return false;
        const json::object delta{{"type", "item.agentMessage.delta"},
                                 {"turnId", current_turn_},
                                 {"delta", "PONG model=" + model + " harness=" + settings_.harness}};
        const int repeats = settings_.mode == Mode::flood ? settings_.flood_lines : 1;
        for (int i = 0; i < repeats; ++i) emit(delta);
        if (settings_.mode == Mode::secrets)
            emit({{"type", "item.agentMessage.delta"}, {"turnId", current_turn_}, {"delta", mock_secrets_delta}});
        if (!wait(settings_.delay_ms)) return false;
        if (settings_.mode == Mode::deaf) {
            ::close(STDIN_FILENO);  // before the turn ends: whoever sees it end finds stdin already closed
            stdin_closed_ = true;
        }
        if (settings_.mode == Mode::fail) {
            emit({{"type", "turn.failed"}, {"error", {{"message", "mock failure"}}}});
        } else {
            emit({{"type", "turn.completed"},
                  {"turn", {{"id", current_turn_}, {"status", "completed"}}},
                  {"usage", {{"input_tokens", 0}, {"output_tokens", 1}}}});
        }
        return true;
    }

    /// Lets `ms` milliseconds pass (wait_forever: until interrupted) while taking in stdin. False as soon as
    /// the turn in progress is interrupted.
    bool wait(int ms) {
        using clock = std::chrono::steady_clock;
        const auto deadline = clock::now() + std::chrono::milliseconds(std::max(ms, 0));
        for (;;) {
            int remaining = wait_forever;
            if (ms != wait_forever) {
                const auto left =
                    std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
                remaining = static_cast<int>(std::max<decltype(left)>(left, 0));
            }
            if (!stdin_closed_) {
                take_input(remaining);
            } else if (remaining == wait_forever) {
                ::pause();  // nothing can interrupt any more: hang until killed
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(remaining));
            }
            if (interrupted_) return false;
            if (remaining == 0) return true;
        }
    }

    /// Waits up to `timeout_ms` for stdin and takes in what is there: complete lines are handled, EOF closes.
    void take_input(int timeout_ms) {
        pollfd stdin_poll{STDIN_FILENO, POLLIN, 0};
        const int ready = ::poll(&stdin_poll, 1, timeout_ms);
        if (ready <= 0) return;  // timeout, or EINTR: the caller recomputes its deadline
        char chunk[read_chunk_bytes];
        const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            stdin_closed_ = true;
            handle_line(std::exchange(pending_input_, std::string{}));  // a last line without '\n'
            return;
        }
        pending_input_.append(chunk, static_cast<std::size_t>(n));
        for (auto newline = pending_input_.find('\n'); newline != std::string::npos;
             newline = pending_input_.find('\n')) {
            std::string line = pending_input_.substr(0, newline);
            pending_input_.erase(0, newline + 1);
            handle_line(line);
        }
    }

    void handle_line(std::string_view raw) {
        const std::string_view line = trim(raw);
        if (line.empty()) return;
        if (string_field(line, "type") == "interrupt") {
            if (in_request_) interrupted_ = true;
            return;
        }
        requests_.emplace_back(line);
    }

    static void emit(const json::object& message) {
        std::string line = json::serialize(message);
        line.push_back('\n');
        std::string_view rest = line;
        while (!rest.empty()) {
            const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) std::exit(EXIT_FAILURE);  // the reader is gone
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    const Settings settings_;
    std::deque<std::string> requests_;
    std::string pending_input_;
    std::string current_turn_;  ///< id of the turn in progress, empty between turns
    int next_turn_ = 1;
    bool in_request_ = false;   ///< a request is being answered (from its first heartbeat to its last turn)
    bool interrupted_ = false;  ///< an interrupt arrived for the request in progress
    bool stdin_closed_ = false;
};

}  // namespace

int main() {
    MockAgent agent(read_settings());
    return agent.run();
}
