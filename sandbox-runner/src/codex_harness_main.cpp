// centaur-codex-harness: the `codex-app-server` workload's process inside the sandbox. Starts `codex app-server`
// (JSON-RPC over stdio) and drives it from the processor's stdin lines:
//   {"type":"user","message":{"content":[{"type":"text","text":…}]}}  -> thread/start once, then turn/start
//   the same while a turn runs                                        -> turn/steer of that turn
//   {"type":"interrupt"}                                              -> turn/interrupt of the running turn
//   a JSON object with "method" (the CLI's `/input <raw-json>`)        -> passed to codex unchanged
// Every line codex prints goes to stdout unchanged (its notifications are what the processor's terminal
// detection reads: item/agentMessage/delta, item/completed, turn/completed, error …). Approval requests are
// answered by CENTAUR_CODEX_APPROVAL (accept | decline; default accept). Writes $CODEX_HOME/config.toml: the
// model provider is the runner's gateway (CENTAUR_MODEL_BASE_URL, default http://model.internal/v1, reached
// through HTTP_PROXY) with the placeholder key in OPENAI_API_KEY; plugins off; commands inherit only the core
// environment. At stdin EOF the running turn finishes, then codex's stdin closes; exits with codex's status
// (125 when codex cannot start).

#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int exit_failed = 125;
constexpr int exit_signal_base = 128;
constexpr auto response_timeout = std::chrono::seconds(60);
constexpr char default_prompt[] = "Reply with exactly PONG and nothing else.";

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

/// State shared by the stdin loop and the codex-stdout reader.
struct Session {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::int64_t, json::value> responses;  ///< our request id -> response
    std::optional<std::string> thread_id;
    std::optional<std::string> turn_id;             ///< the running turn
    bool codex_gone = false;
    std::mutex out_mutex;                           ///< our stdout
    FILE* to_codex = nullptr;
    std::mutex to_codex_mutex;
    std::int64_t next_id = 1;
    std::string approval = "accept";

    void send(const json::value& message) {
        const std::string line = json::serialize(message) + "\n";
        std::lock_guard lock(to_codex_mutex);
        std::fwrite(line.data(), 1, line.size(), to_codex);
        std::fflush(to_codex);
    }

    void emit(const std::string& line) {
        std::lock_guard lock(out_mutex);
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

    /// Sends a request and waits (bounded) for its response; nullopt when codex died or did not answer.
    std::optional<json::value> call(const std::string& method, json::object params) {
        std::int64_t id = 0;
        {
            std::lock_guard lock(mutex);
            id = next_id++;
        }
        send(json::object{{"id", id}, {"method", method}, {"params", std::move(params)}});
        std::unique_lock lock(mutex);
        if (!changed.wait_for(lock, response_timeout, [&] { return codex_gone || responses.count(id) > 0; }))
            return std::nullopt;
        if (!responses.count(id)) return std::nullopt;
        auto response = std::move(responses[id]);
        responses.erase(id);
        return response;
    }
};

const json::value* field(const json::value& v, std::string_view key) {
    if (!v.is_object()) return nullptr;
    return v.as_object().if_contains(key);
}

std::optional<std::string> string_at(const json::value* v, std::string_view key) {
    if (!v) return std::nullopt;
    const auto* f = field(*v, key);
    if (!f || !f->is_string()) return std::nullopt;
    return std::string(f->as_string());
}

/// Reads codex's stdout: records responses and the running turn, answers approval requests, forwards every line.
void read_codex(Session& s, int fd) {
    FILE* in = ::fdopen(fd, "r");
    char* buffer = nullptr;
    std::size_t capacity = 0;
    ssize_t n = 0;
    while ((n = ::getline(&buffer, &capacity, in)) > 0) {
        std::string line(buffer, static_cast<std::size_t>(n));
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (line.empty()) continue;
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (!ec && v.is_object()) {
            const auto* id = field(v, "id");
            const auto method = string_at(&v, "method");
            const auto* params = field(v, "params");
            if (id && method) {
                // A server -> client request: approvals by policy; anything else is declined as unsupported.
                if (method->find("requestApproval") != std::string::npos || *method == "execCommandApproval" ||
                    *method == "applyPatchApproval") {
                    const bool legacy = *method == "execCommandApproval" || *method == "applyPatchApproval";
                    const std::string decision = s.approval == "accept" ? (legacy ? "approved" : "accept")
                                                                        : (legacy ? "denied" : "decline");
                    s.send(json::object{{"id", *id}, {"result", json::object{{"decision", decision}}}});
                } else {
                    s.send(json::object{{"id", *id},
                                        {"error", json::object{{"code", -32601}, {"message", "not supported"}}}});
                }
            } else if (id && id->is_int64() && !method) {
                std::lock_guard lock(s.mutex);
                s.responses[id->as_int64()] = v;
                s.changed.notify_all();
            } else if (method == "turn/started") {
                std::lock_guard lock(s.mutex);
                if (auto t = string_at(params ? field(*params, "turn") : nullptr, "id")) s.turn_id = t;
            } else if (method == "turn/completed") {
                std::lock_guard lock(s.mutex);
                s.turn_id.reset();
                s.changed.notify_all();
            }
        }
        s.emit(line);
    }
    std::free(buffer);
    std::lock_guard lock(s.mutex);
    s.codex_gone = true;
    s.changed.notify_all();
}

/// The user's text from an input line; the PONG prompt when it carries none.
std::string user_text(const json::value& v) {
    std::string text;
    const auto* message = field(v, "message");
    const json::value* content = message ? field(*message, "content") : field(v, "content");
    if (content && content->is_string()) text = std::string(content->as_string());
    if (content && content->is_array()) {
        for (const auto& part : content->as_array()) {
            if (auto t = string_at(&part, "text")) text += (text.empty() ? "" : "\n") + *t;
        }
    }
    if (text.empty())
        if (auto t = string_at(&v, "text")) text = *t;
    return text.empty() ? std::string(default_prompt) : text;
}

void write_config(const fs::path& codex_home) {
    fs::create_directories(codex_home);
    std::ofstream config(codex_home / "config.toml");
    config << "model = \"" << env_or("CENTAUR_CODEX_MODEL", "gpt-5-codex") << "\"\n"
           << "model_provider = \"centaur\"\n"
           << "approval_policy = \"never\"\n"
           << "sandbox_mode = \"danger-full-access\"\n\n"
           << "[features]\nplugins = false\n\n"
           << "[shell_environment_policy]\ninherit = \"core\"\n\n"
           << "[model_providers.centaur]\n"
           << "name = \"Centaur gateway\"\n"
           << "base_url = \"" << env_or("CENTAUR_MODEL_BASE_URL", "http://model.internal/v1") << "\"\n"
           << "wire_api = \"responses\"\n"
           << "env_key = \"OPENAI_API_KEY\"\n"
           << "request_max_retries = 0\n"
           << "stream_max_retries = 0\n"
           << "stream_idle_timeout_ms = " << env_or("CENTAUR_CODEX_STREAM_IDLE_TIMEOUT_MS", "60000") << "\n";
}

}  // namespace

int main() {
    ::signal(SIGPIPE, SIG_IGN);
    const fs::path codex_home = env_or("CODEX_HOME", env_or("HOME", "/workspace") + "/.codex");
    ::setenv("CODEX_HOME", codex_home.c_str(), 1);
    write_config(codex_home);
    const std::string codex = env_or("CENTAUR_CODEX_BIN", "/opt/codex/bin/codex");

    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) return exit_failed;
    const pid_t child = ::fork();
    if (child < 0) return exit_failed;
    if (child == 0) {
        ::dup2(to_child[0], STDIN_FILENO);
        ::dup2(from_child[1], STDOUT_FILENO);
        ::signal(SIGPIPE, SIG_DFL);
        ::execl(codex.c_str(), codex.c_str(), "app-server", "--disable", "unbounded_connection_retries",
                static_cast<char*>(nullptr));
        std::fprintf(stderr, "centaur-codex-harness: exec %s failed\n", codex.c_str());
        ::_exit(exit_failed);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);

    Session s;
    s.approval = env_or("CENTAUR_CODEX_APPROVAL", "accept");
    s.to_codex = ::fdopen(to_child[1], "w");
    std::thread reader([&s, fd = from_child[0]] { read_codex(s, fd); });

    bool initialized = false;
    for (std::string line; std::getline(std::cin, line);) {
        if (line.empty()) continue;
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) continue;
        if (field(v, "method")) {  // a raw protocol message
            s.send(v);
            continue;
        }
        const auto type = string_at(&v, "type").value_or("");
        if (type == "interrupt") {
            std::optional<std::string> thread;
            std::optional<std::string> turn;
            {
                std::lock_guard lock(s.mutex);
                thread = s.thread_id;
                turn = s.turn_id;
            }
            if (thread && turn) s.call("turn/interrupt", json::object{{"threadId", *thread}, {"turnId", *turn}});
            continue;
        }
        if (!initialized) {
            auto init = s.call("initialize",
                               json::object{{"clientInfo", json::object{{"name", "centaur"}, {"version", "0.1.0"}}}});
            if (!init) break;
            s.send(json::object{{"method", "initialized"}});
            initialized = true;
        }
        std::optional<std::string> thread;
        {
            std::lock_guard lock(s.mutex);
            thread = s.thread_id;
        }
        if (!thread) {
            auto started = s.call("thread/start", json::object{{"cwd", fs::current_path().string()}});
            const json::value* result = started ? field(*started, "result") : nullptr;
            thread = string_at(result ? field(*result, "thread") : nullptr, "id");
            if (!thread) {
                s.emit(R"({"type":"turn.failed","error":{"message":"codex thread/start failed"}})");
                continue;
            }
            std::lock_guard lock(s.mutex);
            s.thread_id = thread;
        }
        std::optional<std::string> running;
        {
            std::lock_guard lock(s.mutex);
            running = s.turn_id;
        }
        json::array input{json::object{{"type", "text"}, {"text", user_text(v)}}};
        if (running) {  // a message during a turn steers it
            s.call("turn/steer", json::object{{"threadId", *thread}, {"expectedTurnId", *running}, {"input", input}});
            continue;
        }
        auto turn = s.call("turn/start", json::object{{"threadId", *thread}, {"input", input}});
        if (turn && field(*turn, "error")) {
            const auto* error = field(*turn, "error");
            const auto message = string_at(error, "message").value_or("turn/start failed");
            s.emit(json::serialize(json::object{{"type", "turn.failed"}, {"error", json::object{{"message", message}}}}));
        } else if (turn) {
            const json::value* result = field(*turn, "result");
            if (auto id = string_at(result ? field(*result, "turn") : nullptr, "id")) {
                std::lock_guard lock(s.mutex);
                s.turn_id = id;
            }
        }
    }
    {
        // Like the mock: at EOF, the running turn still finishes before codex is told to exit.
        std::unique_lock lock(s.mutex);
        s.changed.wait(lock, [&] { return !s.turn_id || s.codex_gone; });
    }
    std::fclose(s.to_codex);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    reader.join();
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return exit_signal_base + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
