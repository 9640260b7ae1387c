// centaur-session-cli: drives one thread from a terminal (see README.md for flags and output format).
#include "api_client.hpp"
#include "event_stream.hpp"
#include "options.hpp"
#include "requests.hpp"
#include "sse_parser.hpp"
#include "stdin_commands.hpp"
#include "tui.hpp"

#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace centaur::cli;

/// Everything the stream (main thread) and the stdin reader share. All members under `mu`, which also
/// serialises stdout so an exit from either thread never cuts a line in half.
struct Shared {
    std::mutex mu;
    std::set<std::string> our_executions;
    std::set<std::string> terminal_seen;

    /// Flushes stdout and ends the process now; callable from any thread (the stdin reader may be blocked
    /// in a read that cannot be cancelled).
    [[noreturn]] void exit_process(int code) {
        std::lock_guard lock(mu);
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(code);
    }
};

class Cli {
public:
    Cli(Options options, std::string key) : o_(std::move(options)), key_(std::move(key)), api_(o_.api_url, o_.api_token) {}

    asio::awaitable<void> append(ApiClient& api, const std::string& text) {
        auto body = append_message_body(text, std::nullopt);
        co_await api.post(session_path(key_) + "/messages", std::move(body));
    }

    asio::awaitable<void> execute(ApiClient& api, const std::vector<std::string>& lines) {
        auto body = execute_body(lines, o_.idle_timeout_ms, o_.max_duration_ms);
        auto answer = co_await api.post(session_path(key_) + "/execute", std::move(body));
        const auto* id = answer.is_object() ? answer.as_object().if_contains("execution_id") : nullptr;
        if (!id || !id->is_string()) throw std::runtime_error("execute answer has no execution_id: " + json::serialize(answer));
        std::lock_guard lock(shared_.mu);
        const std::string exe(id->as_string());
        our_executions_ready(exe);
    }

    /// Creates the session and sends the command-line turn (non-attach mode).
    asio::awaitable<void> start_turn() {
        auto create = create_session_body(o_.harness_type);
        co_await api_.post(session_path(key_), std::move(create));
        if (o_.message || !o_.input_lines.empty() || (!o_.stdin_events && !o_.tui)) {
            const std::string text = o_.message.value_or(kDefaultPrompt);
            co_await append(api_, text);
            std::vector<std::string> lines = o_.input_lines;
            if (lines.empty()) lines.push_back(user_input_line(text));
            co_await execute(api_, lines);
        }
    }

    /// Streams the thread until an exit condition matches (reconnecting a dropped stream, see
    /// follow_events). Returns the exit code.
    asio::awaitable<int> stream() {
        FollowOptions follow{o_.after_event_id, std::chrono::milliseconds(o_.reconnect_timeout_ms)};
        std::function<bool(const SseEvent&)> on_event = [this](const SseEvent& e) {
            this->on_event(e);
            return !exit_code_;
        };
        std::function<void(const std::string&)> on_reconnect = [this](const std::string& why) {
            std::lock_guard lock(shared_.mu);
            std::cerr << "centaur-session-cli: " << why << std::endl;
        };
        co_await follow_events(api_, key_, follow, std::move(on_event), std::move(on_reconnect));
        co_return exit_code_.value_or(0);
    }

    /// The stdin-events reader; runs on its own thread with its own io_context per command.
    void read_stdin() {
        ApiClient api(o_.api_url, o_.api_token);
        std::string line;
        while (std::getline(std::cin, line)) {
            auto command = parse_stdin_command(line);
            if (std::holds_alternative<Skip>(command)) continue;
            if (std::holds_alternative<Quit>(command)) return;
            if (auto* u = std::get_if<Unknown>(&command)) fail("unknown stdin command: " + u->command);
            if (auto* bad = std::get_if<Invalid>(&command)) fail(bad->error);
            run_sync([&]() -> asio::awaitable<void> {
                if (auto* m = std::get_if<SendMessage>(&command)) {
                    co_await append(api, m->text);
                    std::vector<std::string> lines;
                    lines.push_back(user_input_line(m->text));
                    co_await execute(api, lines);
                } else {
                    co_await execute(api, std::get<ExecuteLines>(command).lines);
                }
            });
        }
    }

    Shared& shared() { return shared_; }

    /// The executions this process started so far.
    std::set<std::string> own_executions() {
        std::lock_guard lock(shared_.mu);
        return shared_.our_executions;
    }

private:
    // Request bodies are built outside coroutines (GCC 12 rejects braced JSON initialisers in them).
    [[noreturn]] void fail(const std::string& message) {
        {
            std::lock_guard lock(shared_.mu);
            std::fflush(stdout);
            std::cerr << "Error: " << message << "\n";
        }
        shared_.exit_process(1);
    }

    template <class F>
    void run_sync(F make) {
        asio::io_context io;
        std::exception_ptr error;
        asio::co_spawn(io, make(), [&](std::exception_ptr e) { error = e; });
        io.run();
        if (!error) return;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }

    /// Called with shared_.mu held once execute answered.
    void our_executions_ready(const std::string& exe) {
        shared_.our_executions.insert(exe);
        if (o_.exit_on_terminal && shared_.terminal_seen.contains(exe)) {
            std::fflush(stdout);
            std::_Exit(0);
        }
    }

    void print(const std::string& line) {
        std::lock_guard lock(shared_.mu);
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

    void on_event(const SseEvent& e) {
        if (exit_code_) return;
        if (e.event == "session.output.line") {
            print(e.id.value_or("unknown") + "\t" + e.data);
            if (o_.exit_on_output_type) {
                json::error_code ec;
                auto line = json::parse(e.data, ec);
                const auto* type = !ec && line.is_object() ? line.as_object().if_contains("type") : nullptr;
                if (type && type->is_string() && type->as_string() == *o_.exit_on_output_type) exit_code_ = 0;
            }
            return;
        }
        json::error_code ec;
        auto data = json::parse(e.data, ec);
        if (ec) data = json::string(e.data);
        if (o_.all_events) {
            print(json::serialize(json::object{{"sse_event", e.event},
                                               {"id", e.id ? json::value(*e.id) : json::value(nullptr)},
                                               {"data", data}}));
        }
        if (is_terminal_event(e.event)) report_unsuccessful(e.event, data);
        if (o_.exit_on_terminal && is_terminal_event(e.event)) {
            if (o_.attach) {
                exit_code_ = 0;
                return;
            }
            const auto* exe = data.is_object() ? data.as_object().if_contains("execution_id") : nullptr;
            if (!exe || !exe->is_string()) return;
            std::lock_guard lock(shared_.mu);
            const std::string id(exe->as_string());
            if (shared_.our_executions.contains(id)) exit_code_ = 0;
            else shared_.terminal_seen.insert(id);
        }
    }

    /// A failed or cancelled execution (one of ours, or any when attached) gets one line on stderr with its
    /// reason, e.g. "execution exe_… failed: max duration exceeded"; stdout keeps upstream's format.
    void report_unsuccessful(const std::string& type, const json::value& data) {
        if (type == "session.execution_completed" || !data.is_object()) return;
        const auto& o = data.as_object();
        auto text = [&](std::string_view key) -> std::string {
            const auto* v = o.if_contains(key);
            if (!v) return "";
            if (v->is_string()) return std::string(v->as_string());
            if (v->is_object())
                if (const auto* m = v->as_object().if_contains("message"); m && m->is_string()) return std::string(m->as_string());
            return json::serialize(*v);
        };
        const std::string exe = text("execution_id");
        std::lock_guard lock(shared_.mu);
        if (!o_.attach && !shared_.our_executions.contains(exe)) return;
        std::string line = "centaur-session-cli: execution " + exe;
        if (type == "session.execution_failed") {
            line += " failed: " + text("error");
            if (auto reason = text("reason"); !reason.empty()) line += " (" + reason + ")";
        } else {
            line += " cancelled";
            if (auto reason = text("reason"); !reason.empty()) line += " (" + reason + ")";
        }
        std::fflush(stdout);
        std::cerr << line << std::endl;
    }

    Options o_;
    std::string key_;
    ApiClient api_;
    Shared shared_;
    std::optional<int> exit_code_;
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_options(args, [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
    });
    if (std::holds_alternative<ShowHelp>(parsed)) {
        std::cout << help_text();
        return 0;
    }
    if (auto* generate = std::get_if<Generate>(&parsed)) {
        if (generate->what == "bash") std::cout << bash_completion();
        else if (generate->what == "zsh") std::cout << zsh_completion();
        else std::cout << man_page();
        return 0;
    }
    if (auto* error = std::get_if<std::string>(&parsed)) {
        std::cerr << "Error: " << *error << "\n\n" << "For more information, try '--help'.\n";
        return 2;
    }
    auto options = std::get<Options>(std::move(parsed));
    std::string key;
    if (options.thread_key) {
        key = *options.thread_key;
    } else {
        key = centaur::ThreadKey::new_cli_key().str();
        std::cerr << "thread_key=" << key << std::endl;
    }

    Cli cli(options, key);
    if (options.tui) {
        try {
            if (!options.attach) {
                asio::io_context setup;
                std::exception_ptr error;
                asio::co_spawn(setup, cli.start_turn(), [&](std::exception_ptr e) { error = e; });
                setup.run();
                if (error) std::rethrow_exception(error);
            }
            return run_tui(options, key, cli.own_executions());
        } catch (const std::exception& e) {
            std::cerr << "Error: " << e.what() << "\n";
            return 1;
        }
    }
    asio::io_context io;
    int code = 1;
    // Ctrl-C / SIGTERM: leave at once, but never in the middle of a printed line (exit_process takes the
    // output lock); the exit code is the shell's 128 + signal.
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
        if (!ec) cli.shared().exit_process(128 + signal_number);
    });
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<int> {
            if (!options.attach) co_await cli.start_turn();
            if (options.stdin_events) std::thread([&cli] { cli.read_stdin(); }).detach();
            co_return co_await cli.stream();
        },
        [&](std::exception_ptr e, int result) {
            code = result;
            signals.cancel();
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::lock_guard lock(cli.shared().mu);
                std::fflush(stdout);
                std::cerr << "Error: " << ex.what() << "\n";
                code = 1;
            }
        });
    io.run();
    cli.shared().exit_process(code);
}
