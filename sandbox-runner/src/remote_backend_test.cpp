// The Sandbox port's invariants on the remote backend: real `centaur-sandbox-runner serve` child processes
// (bubblewrap-isolated and plain), driven over the runner protocol. Every wait is bounded.

#include <centaur/sandbox/remote_backend.hpp>
#include <centaur/test_support/test_support.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <signal.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using centaur::errc;
using centaur::result;
using centaur::Sandbox;
using centaur::SandboxSpec;
using centaur::SandboxStatus;
using centaur::sandbox::RemoteBackendOptions;
using centaur::sandbox::RemoteSandboxBackend;
using centaur::sandbox::RemoteSandboxInfo;
using centaur::test_support::ChildProcess;

namespace {

constexpr auto test_timeout = 15s;
constexpr auto runner_start_timeout = 15s;
constexpr auto drain_timeout = 300ms;
constexpr auto quiet_period = 500ms;
constexpr int max_buffered_ticks = 100;  // 5 s of ticks: the pause call may be slow on a loaded machine
constexpr char runner_token[] = "contract-test-runner-token";

enum class RunnerMode { bubblewrap, plain };

/// A `centaur-sandbox-runner serve` child on 127.0.0.1:<any port>; killed with its group by the destructor.
struct Runner {
    std::unique_ptr<ChildProcess> process;
    std::string url;
};

class RemoteBackendTest : public ::testing::TestWithParam<RunnerMode> {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        root_ = fs::temp_directory_path() / ("centaur-remote-test-" + std::to_string(::getpid()) + "-" +
                                             std::regex_replace(info->name(), std::regex("/"), "-"));
        fs::remove_all(root_);
        fs::create_directories(root_);
    }

    void TearDown() override {
        for (auto& sandbox : sandboxes_) {
            if (sandbox->status() != SandboxStatus::gone) run(sandbox->stop());
        }
        sandboxes_.clear();
        runners_.clear();
        fs::remove_all(root_);
    }

    Runner& start_runner(std::vector<std::string> command, std::vector<std::string> flags = {},
                         std::string token = runner_token) {
        const auto n = runners_.size();
        std::vector<std::string> argv{centaur::test_support::bin_path("centaur-sandbox-runner"), "serve", "--listen",
                                      "127.0.0.1:0", "--workspace-root", (root_ / ("runner-" + std::to_string(n))).string(),
                                      "--env", "PATH=/usr/bin:/bin"};
        if (GetParam() == RunnerMode::plain) argv.push_back("--unsafe-no-isolation");
        argv.insert(argv.end(), flags.begin(), flags.end());
        argv.push_back("--");
        argv.insert(argv.end(), command.begin(), command.end());
        Runner runner;
        runner.process = std::make_unique<ChildProcess>(
            argv, std::map<std::string, std::string>{{"SESSION_SANDBOX_RUNNER_TOKEN", token}});
        if (!runner.process->wait_for_stdout("\n", runner_start_timeout))
            throw std::runtime_error("runner did not start: " + runner.process->stderr_text());
        std::smatch m;
        const std::string out = runner.process->stdout_text();
        if (!std::regex_search(out, m, std::regex("listening on (http://127\\.0\\.0\\.1:[0-9]+)")))
            throw std::runtime_error("runner printed no address: " + out + runner.process->stderr_text());
        runner.url = m[1];
        runners_.push_back(std::move(runner));
        return runners_.back();
    }

    RemoteBackendOptions options(std::vector<std::string> urls) const {
        RemoteBackendOptions o;
        o.runner_urls = std::move(urls);
        o.token = runner_token;
        o.reconnect_window = 1s;
        o.placement_wait = 0ms;  // a create with no runner to take it fails at once (the wait has its own tests)
        return o;
    }

    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = test_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io_.run_one_until(deadline);
        }
        return true;
    }

    template <typename T>
    T run(asio::awaitable<T> op) {
        auto value = std::make_shared<std::optional<T>>();
        auto error = std::make_shared<std::exception_ptr>();
        asio::co_spawn(io_, std::move(op), [value, error](std::exception_ptr e, T v) {
            *error = e;
            value->emplace(std::move(v));
        });
        if (!run_until([&] { return value->has_value(); })) throw std::runtime_error("operation timed out");
        if (*error) std::rethrow_exception(*error);
        return std::move(**value);
    }

    void run(asio::awaitable<void> op) {
        auto done = std::make_shared<bool>(false);
        asio::co_spawn(io_, std::move(op), [done](std::exception_ptr) { *done = true; });
        if (!run_until([&] { return *done; })) throw std::runtime_error("operation timed out");
    }

    std::shared_ptr<Sandbox> create(RemoteSandboxBackend& backend, SandboxSpec spec = {"cli:test", "codex", {}}) {
        auto created = run(backend.create(std::move(spec)));
        if (!created) throw std::runtime_error("create failed: " + created.error().message());
        sandboxes_.push_back(*created);
        return *created;
    }

    std::vector<RemoteSandboxInfo> list(RemoteSandboxBackend& backend, const std::string& url) {
        auto listed = run(backend.list(url));
        if (!listed) throw std::runtime_error("list failed: " + listed.error().message());
        return *listed;
    }

    /// Lines of a background reader, ending with the error that ended it.
    std::shared_ptr<std::deque<result<std::string>>> start_reader(std::shared_ptr<Sandbox> sandbox) {
        auto lines = std::make_shared<std::deque<result<std::string>>>();
        asio::co_spawn(
            io_,
            [sandbox, lines]() -> asio::awaitable<void> {
                for (;;) {
                    auto line = co_await sandbox->read_line();
                    const bool ok = line.has_value();
                    lines->push_back(std::move(line));
                    if (!ok) co_return;
                }
            },
            asio::detached);
        return lines;
    }

    std::optional<result<std::string>> next(std::deque<result<std::string>>& lines,
                                            std::chrono::milliseconds timeout = test_timeout) {
        if (!run_until([&] { return !lines.empty(); }, timeout)) return std::nullopt;
        auto line = std::move(lines.front());
        lines.pop_front();
        return line;
    }

    std::string next_line(std::deque<result<std::string>>& lines) {
        auto line = next(lines);
        if (!line) throw std::runtime_error("no line within the timeout");
        if (!*line) throw std::runtime_error("read failed: " + line->error().message());
        return std::move(**line);
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    fs::path root_;
    std::deque<Runner> runners_;
    std::vector<std::shared_ptr<Sandbox>> sandboxes_;
};

TEST_P(RemoteBackendTest, CreateIsRunningOnTheRunnerAndStopMakesItGoneIdempotently) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    EXPECT_EQ(backend.name(), "remote");
    auto sandbox = create(backend, SandboxSpec{"cli:contract", "claude", {}});
    EXPECT_EQ(sandbox->status(), SandboxStatus::running);
    EXPECT_THAT(sandbox->id(), ::testing::MatchesRegex("local-[0-9a-f]{16}"));
    EXPECT_EQ(RemoteSandboxBackend::runner_of(*sandbox), runner.url);
    auto listed = list(backend, runner.url);
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0].sandbox_id, sandbox->id());
    EXPECT_EQ(listed[0].thread_key, "cli:contract");
    EXPECT_EQ(listed[0].status, "running");

    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_TRUE(list(backend, runner.url).empty());
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_EQ(sandbox->pause().error(), errc::sandbox_gone);
    EXPECT_EQ(sandbox->resume().error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->write_line("late")).error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_gone);
}

TEST_P(RemoteBackendTest, ConcurrentStopsBothComplete) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    int finished = 0;
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(io_, sandbox->stop(), [&finished](std::exception_ptr) { ++finished; });
    ASSERT_TRUE(run_until([&] { return finished == 2; }));
    EXPECT_TRUE(list(backend, runner.url).empty());
}

TEST_P(RemoteBackendTest, ByteIoRoundTripsEveryByteThroughCat) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    const std::string lines[] = {"byte-io-ping", "", R"({"type":"user","text":"h\u00e9llo ✓ \t tab"})",
                                 "back\\slash \\r not a CR, a real CR:\r and \\\\ two", std::string(100'000, 'x')};
    for (const auto& line : lines) {
        ASSERT_TRUE(run(sandbox->write_line(line)));
        EXPECT_EQ(next_line(*reader), line);
    }
}

TEST_P(RemoteBackendTest, PauseFreezesOutputAndResumeRestartsIt) {
    auto& runner = start_runner({"/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "tick");

    ASSERT_TRUE(sandbox->pause());
    EXPECT_EQ(sandbox->status(), SandboxStatus::suspended);
    EXPECT_TRUE(sandbox->pause()) << "pause is idempotent";
    int buffered = 0;  // written before the pause reached the runner
    while (next(*reader, drain_timeout) && buffered < max_buffered_ticks) ++buffered;
    EXPECT_LT(buffered, max_buffered_ticks);
    EXPECT_FALSE(next(*reader, quiet_period)) << "output while suspended";
    EXPECT_EQ(list(backend, runner.url).at(0).status, "suspended");

    ASSERT_TRUE(sandbox->resume());
    EXPECT_EQ(sandbox->status(), SandboxStatus::running);
    EXPECT_EQ(next_line(*reader), "tick");
}

TEST_P(RemoteBackendTest, ProcessExitingByItselfIsStoppedAndItsOutputIsKept) {
    auto& runner = start_runner({"/bin/sh", "-c", "echo one; echo bye"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "one");
    EXPECT_EQ(next_line(*reader), "bye");
    auto eof = next(*reader);
    ASSERT_TRUE(eof);
    EXPECT_EQ(eof->error(), errc::sandbox_eof);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(sandbox->pause().error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
}

TEST_P(RemoteBackendTest, WriteAfterTheProcessIsGoneFailsWithSandboxGone) {
    auto& runner = start_runner({"/bin/true"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(run(sandbox->write_line("anyone there?")).error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
}

TEST_P(RemoteBackendTest, ALimitThatEndsTheSandboxTravelsAsItsTerminationReason) {
    auto& runner = start_runner({"/bin/sleep", "30"}, {"--max-lifetime-secs", "1"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(sandbox->termination_reason(), "max lifetime of 1 s exceeded");
}

TEST_P(RemoteBackendTest, ExecRunsACommandInsideTheRunningSandbox) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    auto r = run(sandbox->exec({"/bin/sh", "-c", "echo made > exec-file; cat exec-file; echo oops >&2; exit 3"}, 5000ms));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->output, "made\n");
    EXPECT_EQ(r->error_output, "oops\n");
    EXPECT_FALSE(r->timed_out);
    auto slow = run(sandbox->exec({"/bin/sleep", "30"}, 200ms));
    ASSERT_TRUE(slow);
    EXPECT_TRUE(slow->timed_out);
    EXPECT_EQ(slow->exit_code, 128 + SIGKILL);
    run(sandbox->stop());
    EXPECT_EQ(run(sandbox->exec({"/bin/true"}, 1000ms)).error(), errc::sandbox_gone);
}

TEST_P(RemoteBackendTest, AFreshBackendFindsRunningSandboxesAndCanStopThem) {
    auto& runner = start_runner({"/bin/cat"});
    std::string id;
    {
        RemoteSandboxBackend first(io_.get_executor(), options({runner.url}));
        auto created = run(first.create(SandboxSpec{"cli:first", "codex", {}}));
        ASSERT_TRUE(created);
        id = (*created)->id();
        sandboxes_.push_back(*created);
    }
    RemoteSandboxBackend fresh(io_.get_executor(), options({runner.url}));
    auto listed = list(fresh, runner.url);
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0].sandbox_id, id);
    auto found = run(fresh.attach(runner.url, id));
    EXPECT_EQ(found->status(), SandboxStatus::running);
    run(found->stop());
    EXPECT_EQ(found->status(), SandboxStatus::gone);
    EXPECT_TRUE(list(fresh, runner.url).empty());
    ASSERT_TRUE(run_until([&] { return sandboxes_[0]->status() == SandboxStatus::gone; }))
        << "the first handle never learned that its sandbox was stopped";
    EXPECT_EQ(run(sandboxes_[0]->read_line()).error(), errc::sandbox_eof);
}

TEST_P(RemoteBackendTest, UnknownIdIsGoneAndStopIsIdempotent) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto unknown = run(backend.attach(runner.url, "local-0000000000000000"));
    EXPECT_EQ(unknown->status(), SandboxStatus::gone);
    run(unknown->stop());
    run(unknown->stop());
    EXPECT_EQ(unknown->status(), SandboxStatus::gone);
    EXPECT_EQ(run(unknown->write_line("x")).error(), errc::sandbox_gone);
}

TEST_P(RemoteBackendTest, ASandboxWhoseClientNeverAttachesIsStoppedAfterTheOrphanTimeout) {
    auto& runner = start_runner({"/bin/cat"}, {"--orphan-timeout-secs", "1"});
    const std::map<std::string, std::string> auth{{"Authorization", std::string("Bearer ") + runner_token}};
    auto created = centaur::test_support::http_request("POST", runner.url + "/v1/sandboxes",
                                                       R"({"thread_key":"cli:orphan","harness_type":"codex"})", auth);
    ASSERT_EQ(created.status, 200) << created.body;
    EXPECT_EQ(centaur::test_support::http_request("POST", runner.url + "/v1/sandboxes", "{}").status, 401)
        << "a call without the token was served";
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    EXPECT_EQ(list(backend, runner.url).size(), 1U);
    const auto deadline = std::chrono::steady_clock::now() + test_timeout;
    while (!list(backend, runner.url).empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(list(backend, runner.url).empty()) << "the orphan was never stopped";
}

TEST_P(RemoteBackendTest, ACreateQueuedAtTheRunnersLimitReportsItsPlaceOnce) {
    auto& runner = start_runner({"/bin/cat"}, {"--running-limit", "1"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    SandboxSpec first_spec{"cli:first", "codex", {}};
    int first_queued = 0;
    first_spec.on_queued = [&first_queued](std::size_t, std::uint32_t, std::uint32_t) { ++first_queued; };
    auto first = create(backend, std::move(first_spec));
    EXPECT_EQ(first_queued, 0);

    std::vector<std::tuple<std::size_t, std::uint32_t, std::uint32_t>> reported;
    SandboxSpec second_spec{"cli:second", "codex", {}};
    second_spec.on_queued = [&reported](std::size_t position, std::uint32_t limit, std::uint32_t running) {
        reported.emplace_back(position, limit, running);
    };
    std::optional<result<std::shared_ptr<Sandbox>>> second;
    asio::co_spawn(io_, backend.create(std::move(second_spec)),
                   [&second](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { second = std::move(r); });
    EXPECT_FALSE(run_until([&] { return second.has_value(); }, quiet_period)) << "created beyond the runner's limit";
    run(first->stop());
    ASSERT_TRUE(run_until([&] { return second.has_value(); }));
    ASSERT_TRUE(*second);
    sandboxes_.push_back(**second);
    ASSERT_EQ(reported.size(), 1U);
    EXPECT_EQ(reported[0], std::make_tuple(std::size_t{1}, std::uint32_t{1}, std::uint32_t{1}));
}

TEST_P(RemoteBackendTest, DrainIdleStopsTheRunnersWarmSandboxes) {
    auto& runner = start_runner({"/bin/cat"}, {"--warm-pool-size", "1"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    const auto deadline = std::chrono::steady_clock::now() + test_timeout;
    while (run(backend.loads()).at(0).warm != 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    ASSERT_EQ(run(backend.loads()).at(0).warm, 1U) << "the runner's warm pool never filled";
    const auto drained = run(backend.drain_idle());
    ASSERT_EQ(drained.size(), 1U);
    EXPECT_THAT(drained[0], ::testing::MatchesRegex("local-[0-9a-f]{16}"));
}

TEST_P(RemoteBackendTest, BadCommandFailsCreateAndLeavesNothingOnTheRunner) {
    auto& runner = start_runner({"/definitely-not-a-centaur-command"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto created = run(backend.create(SandboxSpec{"cli:test", "codex", {}}));
    ASSERT_FALSE(created);
    EXPECT_EQ(created.error(), errc::sandbox_failed);
    EXPECT_TRUE(list(backend, runner.url).empty());
    const auto workspaces = root_ / "runner-0";
    EXPECT_TRUE(!fs::exists(workspaces) || fs::is_empty(workspaces));
}

TEST_P(RemoteBackendTest, AWrongTokenIsRefusedAndNoRunnerIsUsed) {
    auto& runner = start_runner({"/bin/cat"});
    auto opts = options({runner.url});
    opts.token = "not-the-runner-token";
    RemoteSandboxBackend backend(io_.get_executor(), opts);
    EXPECT_FALSE(run(backend.create(SandboxSpec{"cli:test", "codex", {}})));
    const auto loads = run(backend.loads());
    ASSERT_EQ(loads.size(), 1U);
    EXPECT_FALSE(loads[0].healthy);
    EXPECT_THAT(loads[0].error, ::testing::HasSubstr("token"));
}

TEST_P(RemoteBackendTest, RunnerKilledMidStreamEndsTheReadWithEofAndTheSandboxIsGone) {
    auto& runner = start_runner({"/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "tick");
    runner.process->kill(SIGKILL);
    std::optional<result<std::string>> last;
    for (int i = 0; i < 1000; ++i) {
        last = next(*reader);
        if (!last || !*last) break;
    }
    ASSERT_TRUE(last) << "the read hung after the runner died";
    ASSERT_FALSE(*last);
    EXPECT_EQ(last->error(), errc::sandbox_eof);
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_EQ(run(sandbox->write_line("x")).error(), errc::sandbox_gone);
    run(sandbox->stop());  // bounded, though nobody answers
}

TEST_P(RemoteBackendTest, PlacementSpreadsByLoadAndSkipsADeadRunner) {
    auto& a = start_runner({"/bin/cat"});
    auto& b = start_runner({"/bin/cat"});
    const std::string dead = "http://127.0.0.1:" + std::to_string(centaur::test_support::free_tcp_port());
    RemoteSandboxBackend backend(io_.get_executor(), options({a.url, dead, b.url}));
    for (int i = 0; i < 4; ++i) create(backend, SandboxSpec{"cli:spread-" + std::to_string(i), "codex", {}});
    EXPECT_EQ(list(backend, a.url).size(), 2U);
    EXPECT_EQ(list(backend, b.url).size(), 2U);

    // Concurrent creates count those in flight: still an even spread.
    std::vector<std::optional<result<std::shared_ptr<Sandbox>>>> more(4);
    for (auto& slot : more)
        asio::co_spawn(io_, backend.create(SandboxSpec{"cli:burst", "codex", {}}),
                       [&slot](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { slot = std::move(r); });
    ASSERT_TRUE(run_until([&] { return std::all_of(more.begin(), more.end(), [](auto& s) { return s.has_value(); }); }));
    for (auto& slot : more) {
        ASSERT_TRUE(*slot);
        sandboxes_.push_back(**slot);
    }
    EXPECT_EQ(list(backend, a.url).size(), 4U);
    EXPECT_EQ(list(backend, b.url).size(), 4U);

    a.process->kill(SIGKILL);
    ASSERT_TRUE(a.process->wait_for_exit(test_timeout));
    for (int i = 0; i < 3; ++i) {
        auto sandbox = create(backend, SandboxSpec{"cli:after", "codex", {}});
        EXPECT_EQ(RemoteSandboxBackend::runner_of(*sandbox), b.url);
    }
    EXPECT_EQ(list(backend, b.url).size(), 7U);
}

TEST_P(RemoteBackendTest, ACreateWaitsForARunnerThatIsRestartingAndLandsOnIt) {
    const auto port = std::to_string(centaur::test_support::free_tcp_port());
    auto opts = options({"http://127.0.0.1:" + port});
    opts.placement_wait = test_timeout;
    RemoteSandboxBackend backend(io_.get_executor(), opts);
    std::optional<result<std::shared_ptr<Sandbox>>> created;
    asio::co_spawn(io_, backend.create(SandboxSpec{"cli:waiting", "codex", {}}),
                   [&created](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { created = std::move(r); });
    EXPECT_FALSE(run_until([&] { return created.has_value(); }, quiet_period)) << "the create gave up at once";
    auto& runner = start_runner({"/bin/cat"}, {"--listen", "127.0.0.1:" + port});
    ASSERT_TRUE(run_until([&] { return created.has_value(); }));
    ASSERT_TRUE(*created) << created->error().message();
    sandboxes_.push_back(**created);
    EXPECT_EQ(RemoteSandboxBackend::runner_of(***created), runner.url);
    EXPECT_EQ(list(backend, runner.url).size(), 1U);
}

TEST_P(RemoteBackendTest, ACreateWithNoRunnerFailsWhenItsWaitIsOver) {
    const std::string dead = "http://127.0.0.1:" + std::to_string(centaur::test_support::free_tcp_port());
    auto opts = options({dead});
    opts.placement_wait = 600ms;
    RemoteSandboxBackend backend(io_.get_executor(), opts);
    const auto started = std::chrono::steady_clock::now();
    auto created = run(backend.create(SandboxSpec{"cli:nobody", "codex", {}}));
    const auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(created);
    EXPECT_EQ(created.error(), errc::sandbox_failed);
    EXPECT_GE(waited, 350ms) << "placement was not retried";
    EXPECT_LT(waited, test_timeout);
}

INSTANTIATE_TEST_SUITE_P(Runner, RemoteBackendTest, ::testing::Values(RunnerMode::bubblewrap, RunnerMode::plain),
                         [](const ::testing::TestParamInfo<RunnerMode>& info) {
                             return std::string(info.param == RunnerMode::bubblewrap ? "Bubblewrap" : "PlainProcess");
                         });

}  // namespace
