// centaur-sandbox-runner: the operator's entry point to the local sandbox backend.
//   probe                 print what isolation this host enforces (exit 0 when isolated, 1 when not)
//   run [opts] -- argv…   run argv in a fresh sandbox exactly as a workload runs (same namespaces, uid,
//                         limits); prints only the child's stdout and stderr, forwards stdin, and exits
//                         with the child's status (128 + signal when killed; 125 when the runner fails)
//   reap                  kill and remove sandboxes of runners that died; prints how many
//   serve --listen H:P [opts] -- argv…
//                         host the local backend behind the runner protocol (runner_server.hpp) for
//                         RemoteSandboxBackend; argv is the workload every sandbox runs
// Runner logs are off unless -v (then on stderr).

#include "local_sandbox.hpp"
#include "runner_server.hpp"

#include <centaur/sandbox/local_backend.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <deque>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace centaur;
using namespace centaur::sandbox;

namespace {

constexpr int exit_runner_failed = 125;
constexpr int exit_usage = 2;
constexpr int exit_signal_base = 128;
constexpr auto exit_poll = std::chrono::milliseconds(5);

constexpr char usage_text[] =
    "usage: centaur-sandbox-runner probe|reap [-v]\n"
    "       centaur-sandbox-runner run [--workspace DIR] [--env NAME=VALUE]... [--memory-limit-bytes N]\n"
    "              [--pids-limit N] [--cpu-millis N] [--max-lifetime-secs N] [--unsafe-no-isolation] [-v]\n"
    "              [--allow-host HOST[:PORT]]... [--model-upstream http[s]://HOST:PORT] [--upstream-ca-file PEM]\n"
    "              [--ro-bind HOST:INSIDE]...\n"
    "              -- PROGRAM [ARGS...]\n"
    "       centaur-sandbox-runner serve --listen HOST:PORT [--workspace-root DIR] [--running-limit N]\n"
    "              [--queue-timeout-secs N] [--warm-pool-size N] [--warm-harness H] [--reap-interval-secs N]\n"
    "              [--orphan-timeout-secs N] [run's options] -- WORKLOAD [ARGS...]\n"
    "  serve: every call needs 'Authorization: Bearer $SESSION_SANDBOX_RUNNER_TOKEN' (unset: loopback only).\n"
    "  --allow-host / --model-upstream turn on the egress proxy; the model gateway (http://model.internal/...)\n"
    "  puts the runner's OPENAI_API_KEY in place of the sandbox's placeholder.\n";

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "centaur-sandbox-runner: " << problem << "\n" << usage_text;
    std::exit(exit_usage);
}

std::uint64_t parse_number(const std::string& flag, const std::string& text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) usage(flag + " needs a number, got '" + text + "'");
    return value;
}

struct RunArgs {
    LocalBackendOptions options;
    std::vector<std::string> command;
    bool verbose = false;
    std::optional<RunnerServeOptions> serve;  // set by --listen
};

RunArgs parse(const std::vector<std::string>& args, bool want_command) {
    RunArgs out;
    out.options.base_env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/workspace"}, {"TMPDIR", "/tmp"}};
    out.options.workspace_root = fs::temp_directory_path() / "centaur-sandbox-runner";
    out.options.inherit_stderr = true;
    auto& limits = out.options.isolation.limits;
    std::chrono::seconds orphan_timeout = RunnerServeOptions{}.orphan_timeout;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) usage(a + " needs a value");
            return args[++i];
        };
        if (a == "--") {
            out.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        if (a == "-v" || a == "--verbose") {
            out.verbose = true;
        } else if (a == "--workspace") {
            std::error_code ec;
            out.options.fixed_workspace = fs::absolute(value(), ec);
        } else if (a == "--env") {
            const std::string& entry = value();
            const auto eq = entry.find('=');
            if (eq == std::string::npos || eq == 0) usage("--env needs NAME=VALUE");
            out.options.base_env[entry.substr(0, eq)] = entry.substr(eq + 1);
        } else if (a == "--memory-limit-bytes") {
            limits.memory_bytes = parse_number(a, value());
        } else if (a == "--pids-limit") {
            limits.pids = static_cast<std::uint32_t>(parse_number(a, value()));
        } else if (a == "--cpu-millis") {
            limits.cpu_millis = static_cast<std::uint32_t>(parse_number(a, value()));
        } else if (a == "--max-lifetime-secs") {
            limits.max_lifetime = std::chrono::seconds(parse_number(a, value()));
        } else if (a == "--ro-bind") {
            const std::string& spec = value();
            const auto colon = spec.find(':');
            if (colon == std::string::npos) usage("--ro-bind needs HOST_PATH:SANDBOX_PATH");
            out.options.ro_binds.emplace_back(spec.substr(0, colon), spec.substr(colon + 1));
        } else if (a == "--allow-host") {
            out.options.egress.enabled = true;
            out.options.egress.allowed_hosts.push_back(value());
        } else if (a == "--model-upstream") {
            out.options.egress.enabled = true;
            out.options.egress.model_upstream = value();
            const char* key = std::getenv("OPENAI_API_KEY");
            out.options.egress.model_key = key ? key : "";
        } else if (a == "--upstream-ca-file") {
            out.options.egress.upstream_ca_file = value();
        } else if (a == "--listen") {
            const std::string& listen = value();
            const auto colon = listen.rfind(':');
            if (colon == std::string::npos) usage("--listen needs HOST:PORT");
            out.serve.emplace();
            out.serve->listen_host = listen.substr(0, colon);
            out.serve->port = static_cast<std::uint16_t>(parse_number(a, listen.substr(colon + 1)));
        } else if (a == "--workspace-root") {
            out.options.workspace_root = value();
        } else if (a == "--running-limit") {
            out.options.running_limit = static_cast<std::uint32_t>(parse_number(a, value()));
        } else if (a == "--queue-timeout-secs") {
            out.options.queue_timeout = std::chrono::seconds(parse_number(a, value()));
        } else if (a == "--warm-pool-size") {
            out.options.warm_pool_size = static_cast<std::uint32_t>(parse_number(a, value()));
        } else if (a == "--warm-harness") {
            out.options.warm_harness = value();
        } else if (a == "--reap-interval-secs") {
            out.options.reap_interval = std::chrono::seconds(parse_number(a, value()));
        } else if (a == "--orphan-timeout-secs") {
            orphan_timeout = std::chrono::seconds(parse_number(a, value()));
        } else if (a == "--unsafe-no-isolation") {
            out.options.isolation.mode = IsolationMode::disabled;
        } else {
            usage("unknown argument '" + a + "'");
        }
    }
    if (want_command && out.command.empty()) usage("run and serve need a command after --");
    if (out.serve) out.serve->orphan_timeout = orphan_timeout;
    out.options.forwarder = fs::canonical("/proc/self/exe").parent_path() / "centaur-egress-forwarder";
    out.options.command = out.command;
    return out;
}

void configure_logging(bool verbose) {
    auto logger = spdlog::stderr_logger_mt("centaur-sandbox-runner");
    spdlog::set_default_logger(logger);
    spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::off);
}

int exit_code_of(const std::optional<int>& status) {
    if (!status) return exit_runner_failed;
    if (WIFEXITED(*status)) return WEXITSTATUS(*status);
    if (WIFSIGNALED(*status)) return exit_signal_base + WTERMSIG(*status);
    return exit_runner_failed;
}

/// Forwards our stdin to the sandbox line by line (a blocking reader thread posts to the io_context) and
/// closes the sandbox's stdin at EOF.
struct StdinForwarder {
    std::shared_ptr<LocalSandbox> sandbox;
    std::deque<std::string> pending;
    bool eof = false;
    bool writing = false;

    void kick(asio::io_context& io, const std::shared_ptr<StdinForwarder>& self) {
        if (writing) return;
        if (pending.empty()) {
            if (eof) sandbox->close_stdin();
            return;
        }
        writing = true;
        asio::co_spawn(
            io,
            [self, &io]() -> asio::awaitable<void> {
                while (!self->pending.empty()) {
                    std::string line = std::move(self->pending.front());
                    self->pending.pop_front();
                    auto written = co_await self->sandbox->write_line(std::move(line));
                    if (!written) {
                        self->pending.clear();
                        break;
                    }
                }
                self->writing = false;
                self->kick(io, self);
            },
            asio::detached);
    }
};

int run_command(RunArgs args) {
    asio::io_context io;
    LocalSandboxBackend backend(io.get_executor(), args.options);
    if (!backend.can_run()) {
        std::cerr << "centaur-sandbox-runner: refusing to run: isolation unavailable: "
                  << backend.isolation().unavailable << "\n";
        return exit_runner_failed;
    }
    int exit_code = exit_runner_failed;
    std::shared_ptr<LocalSandbox> sandbox;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            SandboxSpec spec{"cli:sandbox-runner", "codex", {}};
            auto created = co_await backend.create(std::move(spec));
            if (!created) {
                std::cerr << "centaur-sandbox-runner: cannot start the sandbox (run with -v for the reason)\n";
                co_return;
            }
            sandbox = std::dynamic_pointer_cast<LocalSandbox>(*created);
            auto forwarder = std::make_shared<StdinForwarder>();
            forwarder->sandbox = sandbox;
            std::thread([&io, forwarder] {
                std::string line;
                while (std::getline(std::cin, line))
                    asio::post(io, [&io, forwarder, line] {
                        forwarder->pending.push_back(line);
                        forwarder->kick(io, forwarder);
                    });
                asio::post(io, [&io, forwarder] {
                    forwarder->eof = true;
                    forwarder->kick(io, forwarder);
                });
            }).detach();
            for (;;) {
                auto line = co_await sandbox->read_line();
                if (!line) break;
                line->push_back('\n');
                std::cout.write(line->data(), static_cast<std::streamsize>(line->size()));
                std::cout.flush();
            }
            asio::steady_timer poll(io);
            while (sandbox->status() == SandboxStatus::running || sandbox->status() == SandboxStatus::suspended) {
                poll.expires_after(exit_poll);
                co_await poll.async_wait(asio::use_awaitable);
            }
            exit_code = exit_code_of(sandbox->wait_status());
            if (!sandbox->termination_reason().empty())
                std::cerr << "centaur-sandbox-runner: sandbox killed: " << sandbox->termination_reason() << "\n";
            co_await sandbox->stop();
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    std::cout.flush();
    return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("missing command");
    const std::string verb = argv[1];
    const std::vector<std::string> rest(argv + 2, argv + argc);
    if (verb == "-h" || verb == "--help") {
        std::cout << usage_text;
        return 0;
    }
    if (verb == "run") {
        auto args = parse(rest, true);
        configure_logging(args.verbose);
        const int code = run_command(std::move(args));
        std::fflush(stdout);
        std::_Exit(code);  // the stdin reader thread may still be blocked in read()
    }
    if (verb == "serve") {
        auto args = parse(rest, true);
        if (!args.serve) usage("serve needs --listen HOST:PORT");
        configure_logging(true);
        // Sandboxes' stderr goes to their workspace's .stderr.log; the uid's process rlimit scales with the limit.
        args.options.inherit_stderr = false;
        if (args.options.running_limit > 0) args.options.isolation.max_sandboxes = args.options.running_limit;
        const char* token = std::getenv("SESSION_SANDBOX_RUNNER_TOKEN");
        args.serve->token = token ? token : "";
        return serve(std::move(args.options), std::move(*args.serve));
    }
    if (verb == "probe" || verb == "reap") {
        auto args = parse(rest, false);
        configure_logging(args.verbose);
        asio::io_context io;
        LocalSandboxBackend backend(io.get_executor(), args.options);
        if (verb == "reap") {
            std::cout << "reaped " << backend.reap_orphans() << "\n";
            return 0;
        }
        std::cout << backend.isolation().describe();
        return backend.isolation().isolated ? 0 : 1;
    }
    usage("unknown command '" + verb + "'");
}
