#pragma once
// The fixture every sandbox test shares (the port's contract suite, the local and the remote backend's own
// cases): an io_context driven from the test thread, bounded runs of awaitables, background stdout readers,
// and `centaur-sandbox-runner serve` children. Every wait is bounded.
//
// Threading: single-threaded. The test thread runs the io_context; backends and sandboxes live on it.
// Lifecycle: SetUp gives each case a fresh directory `root_`; TearDown stops every sandbox `create` made
// (a derived fixture stops them before releasing its backends and runners), then removes `root_`.

#include <centaur/core/sandbox.hpp>
#include <centaur/sandbox/remote_backend.hpp>
#include <centaur/test_support/test_support.hpp>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <chrono>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace centaur::sandbox::test_fixture {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline constexpr auto test_timeout = 15s;
inline constexpr auto runner_start_timeout = 15s;
/// A pause reaches a remote runner after the call returns: lines written before it may still arrive.
inline constexpr auto drain_timeout = 300ms;
inline constexpr auto quiet_period = 500ms;
inline constexpr auto process_poll_interval = 10ms;
inline constexpr int max_buffered_ticks = 100;  // 5 s of ticks: the pause may be slow on a loaded machine
inline constexpr char runner_token[] = "contract-test-runner-token";

/// How a backend runs its sandboxes: bubblewrap namespaces (sandbox uid, cgroups) or plain processes.
enum class Isolation { bubblewrap, plain };

/// The suffix of a case's name: `Bubblewrap` / `PlainProcess`.
inline std::string isolation_name(Isolation isolation) {
    return isolation == Isolation::bubblewrap ? "Bubblewrap" : "PlainProcess";
}

inline void PrintTo(Isolation isolation, std::ostream* out) {
    *out << (isolation == Isolation::bubblewrap ? "bubblewrap" : "plain process");
}

/// Live (not zombie) processes on this host with `arg` among their arguments, from /proc.
inline int live_processes_with_arg(const std::string& arg) {
    namespace fs = std::filesystem;
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream cmdline_file(entry.path() / "cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), std::istreambuf_iterator<char>());
        std::istringstream args(cmdline);
        bool found = false;
        for (std::string a; std::getline(args, a, '\0');) found = found || a == arg;
        if (found) ++count;  // zombies have an empty cmdline
    }
    return count;
}

/// Polls `condition` (without running the io_context) until it holds; false at the timeout.
inline bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(process_poll_interval);
    }
    return true;
}

/// What a backend still holds in `workspace_root`: each sandbox's workspace, stdin FIFO and egress directory.
inline std::vector<std::string> workspace_leftovers(const std::filesystem::path& workspace_root) {
    namespace fs = std::filesystem;
    std::vector<std::string> left;
    std::error_code ec;
    if (!fs::exists(workspace_root, ec)) return left;
    for (const auto& entry : fs::directory_iterator(workspace_root)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] != '.') {
            left.push_back("workspace " + entry.path().string());
            continue;
        }
        if (!entry.is_directory()) continue;
        for (const auto& per_sandbox : fs::directory_iterator(entry.path()))
            left.push_back("sandbox directory " + per_sandbox.path().string());
    }
    return left;
}

/// A `centaur-sandbox-runner serve` child on 127.0.0.1 (any port unless `flags` give `--listen`), its
/// workspaces under `workspace_root`; killed with its group when `process` is destroyed.
struct RunnerProcess {
    std::unique_ptr<centaur::test_support::ChildProcess> process;
    std::string url;
    std::filesystem::path workspace_root;
};

/// Starts a runner serving `command` as its workload with PATH=/usr/bin:/bin, isolated or not; throws when
/// it does not print its address within runner_start_timeout.
inline RunnerProcess start_runner(const std::filesystem::path& workspace_root, Isolation isolation,
                                  const std::vector<std::string>& command,
                                  const std::vector<std::string>& flags = {},
                                  const std::string& token = runner_token) {
    std::vector<std::string> argv{centaur::test_support::bin_path("centaur-sandbox-runner"),
                                  "serve",
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--workspace-root",
                                  workspace_root.string(),
                                  "--env",
                                  "PATH=/usr/bin:/bin"};
    if (isolation == Isolation::plain) argv.push_back("--unsafe-no-isolation");
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    RunnerProcess runner;
    runner.workspace_root = workspace_root;
    runner.process = std::make_unique<centaur::test_support::ChildProcess>(
        argv, std::map<std::string, std::string>{{"SESSION_SANDBOX_RUNNER_TOKEN", token}});
    if (!runner.process->wait_for_stdout("\n", runner_start_timeout))
        throw std::runtime_error("runner did not start: " + runner.process->stderr_text());
    std::smatch m;
    const std::string out = runner.process->stdout_text();
    if (!std::regex_search(out, m, std::regex("listening on (http://127\\.0\\.0\\.1:[0-9]+)")))
        throw std::runtime_error("runner printed no address: " + out + runner.process->stderr_text());
    runner.url = m[1];
    return runner;
}

/// Options of a remote backend on `urls` with the runners' token: a lost runner is given up after 1 s and a
/// create with no runner to take it fails at once (the placement wait has its own cases).
inline RemoteBackendOptions remote_options(std::vector<std::string> urls) {
    RemoteBackendOptions o;
    o.runner_urls = std::move(urls);
    o.token = runner_token;
    o.reconnect_window = 1s;
    o.placement_wait = 0ms;
    return o;
}

/// Lines read by a background reader; ends with the error that ended it.
struct LineReader {
    std::deque<result<std::string>> lines;
};

template <typename Param>
class SandboxTest : public ::testing::TestWithParam<Param> {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        const std::string name = std::string(info->test_suite_name()) + "-" + info->name();
        root_ =
            std::filesystem::temp_directory_path() / ("centaur-sandbox-test-" + std::to_string(::getpid()) +
                                                      "-" + std::regex_replace(name, std::regex("/"), "-"));
        std::filesystem::remove_all(root_);
        std::filesystem::create_directories(root_);
    }

    void TearDown() override {
        stop_sandboxes();
        std::filesystem::remove_all(root_);
    }

    /// Stops every sandbox `create` returned that is not gone yet.
    void stop_sandboxes() {
        for (auto& sandbox : sandboxes_) {
            if (sandbox->status() != SandboxStatus::gone) run(sandbox->stop());
        }
        sandboxes_.clear();
    }

    /// Runs the io_context until `done` or the timeout; false on timeout.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = test_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io_.run_one_until(deadline);
        }
        return true;
    }

    /// Runs `op` to completion on the io_context; throws (failing the case) when it takes longer than
    /// test_timeout, rethrows what it threw.
    template <typename T>
    T run(boost::asio::awaitable<T> op) {
        auto value = std::make_shared<std::optional<T>>();
        auto error = std::make_shared<std::exception_ptr>();
        boost::asio::co_spawn(io_, std::move(op), [value, error](std::exception_ptr e, T v) {
            *error = e;
            value->emplace(std::move(v));
        });
        if (!run_until([&] { return value->has_value(); })) throw std::runtime_error("operation timed out");
        if (*error) std::rethrow_exception(*error);
        return std::move(**value);
    }

    void run(boost::asio::awaitable<void> op) {
        auto done = std::make_shared<bool>(false);
        auto error = std::make_shared<std::exception_ptr>();
        boost::asio::co_spawn(io_, std::move(op), [done, error](std::exception_ptr e) {
            *error = e;
            *done = true;
        });
        if (!run_until([&] { return *done; })) throw std::runtime_error("operation timed out");
        if (*error) std::rethrow_exception(*error);
    }

    /// A running sandbox of `backend`, stopped by TearDown; throws when the create fails.
    std::shared_ptr<Sandbox> create(SandboxBackend& backend,
                                    SandboxSpec spec = {"cli:test", "codex", {}, {}}) {
        auto created = run(backend.create(std::move(spec)));
        if (!created) throw std::runtime_error("create failed: " + created.error().message());
        sandboxes_.push_back(*created);
        return *created;
    }

    std::shared_ptr<LineReader> start_reader(std::shared_ptr<Sandbox> sandbox) {
        auto reader = std::make_shared<LineReader>();
        boost::asio::co_spawn(
            io_,
            [sandbox, reader]() -> boost::asio::awaitable<void> {
                for (;;) {
                    auto line = co_await sandbox->read_line();
                    const bool ok = line.has_value();
                    reader->lines.push_back(std::move(line));
                    if (!ok) co_return;
                }
            },
            boost::asio::detached);
        return reader;
    }

    /// The next line (or the error that ended the reader), or nullopt when none came within `timeout`.
    std::optional<result<std::string>> next(LineReader& reader,
                                            std::chrono::milliseconds timeout = test_timeout) {
        if (!run_until([&] { return !reader.lines.empty(); }, timeout)) return std::nullopt;
        auto line = std::move(reader.lines.front());
        reader.lines.pop_front();
        return line;
    }

    std::string next_line(LineReader& reader) {
        auto line = next(reader);
        if (!line) throw std::runtime_error("no line within the timeout");
        if (!*line) throw std::runtime_error("read failed: " + line->error().message());
        return std::move(**line);
    }

    void write(Sandbox& sandbox, std::string line) {
        auto written = run(sandbox.write_line(std::move(line)));
        ASSERT_TRUE(written) << written.error().message();
    }

    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
    std::filesystem::path root_;
    std::vector<std::shared_ptr<Sandbox>> sandboxes_;
};

}  // namespace centaur::sandbox::test_fixture
