// Contract-style invariants of the local Sandbox backend, on real processes. Every wait is bounded.

#include <centaur/sandbox/local_backend.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace centaur::sandbox {
void PrintTo(IsolationMode mode, std::ostream* out) {
    *out << (mode == IsolationMode::required ? "bubblewrap" : "plain process");
}
}  // namespace centaur::sandbox

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using centaur::errc;
using centaur::result;
using centaur::Sandbox;
using centaur::SandboxSpec;
using centaur::SandboxStatus;
using centaur::sandbox::IsolationMode;
using centaur::sandbox::LocalBackendOptions;
using centaur::sandbox::LocalSandboxBackend;

namespace {

constexpr auto test_timeout = 10s;
constexpr auto drain_timeout = 200ms;
constexpr auto quiet_period = 400ms;
constexpr auto process_poll_interval = 10ms;
constexpr int max_buffered_ticks = 20;

fs::path bin_dir() {
    if (const char* dir = std::getenv("CENTAUR_BIN_DIR"); dir != nullptr && *dir != '\0') return dir;
    return CENTAUR_DEFAULT_BIN_DIR;
}

/// Live (not zombie) processes with `arg` among their arguments, from /proc.
int live_processes_with_arg(const std::string& arg) {
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

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(process_poll_interval);
    }
    return true;
}

/// Lines read by a background reader; ends with the first error.
struct LineReader {
    std::deque<result<std::string>> lines;
};

/// Every case runs twice: isolated (bubblewrap, sandbox uid, cgroups) and as plain processes.
class LocalBackendTest : public ::testing::TestWithParam<IsolationMode> {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        root_ = fs::temp_directory_path() /
                ("centaur-sandbox-test-" + std::to_string(::getpid()) + "-" +
                 std::regex_replace(info->name(), std::regex("/"), "-"));
        fs::remove_all(root_);
    }

    void TearDown() override {
        for (auto& sandbox : sandboxes_) run(sandbox->stop());
        sandboxes_.clear();
        fs::remove_all(root_);
    }

    LocalBackendOptions options(std::vector<std::string> command) const {
        LocalBackendOptions options;
        options.command = std::move(command);
        options.base_env = {{"PATH", "/usr/bin:/bin"}};
        options.workspace_root = root_;
        options.isolation.mode = GetParam();
        return options;
    }

    bool isolated() const { return GetParam() == IsolationMode::required; }

    /// Runs the io_context until `done` or the timeout; false on timeout.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = test_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io_.run_one_until(deadline);
        }
        return true;
    }

    /// Runs `op` to completion on the io_context; throws (failing the test) when it takes longer than the
    /// timeout.
    template <typename T>
    T run(asio::awaitable<T> op) {
        struct State {
            std::optional<T> value;
            std::exception_ptr error;
            bool done = false;
        };
        auto state = std::make_shared<State>();
        asio::co_spawn(io_, std::move(op), [state](std::exception_ptr error, T value) {
            state->error = error;
            state->value.emplace(std::move(value));
            state->done = true;
        });
        if (!run_until([&] { return state->done; })) throw std::runtime_error("operation timed out");
        if (state->error) std::rethrow_exception(state->error);
        return std::move(*state->value);
    }

    void run(asio::awaitable<void> op) {
        auto done = std::make_shared<bool>(false);
        auto error = std::make_shared<std::exception_ptr>();
        asio::co_spawn(io_, std::move(op), [done, error](std::exception_ptr e) {
            *error = e;
            *done = true;
        });
        if (!run_until([&] { return *done; })) throw std::runtime_error("operation timed out");
        if (*error) std::rethrow_exception(*error);
    }

    std::shared_ptr<Sandbox> create(LocalSandboxBackend& backend,
                                    SandboxSpec spec = {"cli:test", "codex", {}}) {
        auto created = run(backend.create(std::move(spec)));
        if (!created) throw std::runtime_error("create failed: " + created.error().message());
        sandboxes_.push_back(*created);
        return *created;
    }

    std::shared_ptr<LineReader> start_reader(std::shared_ptr<Sandbox> sandbox) {
        auto reader = std::make_shared<LineReader>();
        asio::co_spawn(
            io_,
            [sandbox, reader]() -> asio::awaitable<void> {
                for (;;) {
                    auto line = co_await sandbox->read_line();
                    const bool ok = line.has_value();
                    reader->lines.push_back(std::move(line));
                    if (!ok) co_return;
                }
            },
            asio::detached);
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

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    fs::path root_;
    std::vector<std::shared_ptr<Sandbox>> sandboxes_;
};

TEST_P(LocalBackendTest, CreateReportsRunningWithUniqueLocalIds) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    EXPECT_EQ(backend.name(), "local");
    auto first = create(backend);
    auto second = create(backend);
    EXPECT_EQ(first->status(), SandboxStatus::running);
    EXPECT_THAT(first->id(), ::testing::MatchesRegex("local-[0-9a-f]{16}"));
    EXPECT_NE(first->id(), second->id());
    EXPECT_TRUE(fs::is_directory(root_ / first->id()));
}

TEST_P(LocalBackendTest, StopEndsTheSandboxRemovesItsWorkspaceAndIsIdempotent) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    auto sandbox = create(backend);
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_FALSE(fs::exists(root_ / sandbox->id()));
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_EQ(sandbox->pause().error(), errc::sandbox_gone);
    EXPECT_EQ(sandbox->resume().error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->write_line("late")).error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_gone);
}

TEST_P(LocalBackendTest, ConcurrentStopsBothCompleteAfterTheTreeIsGone) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    auto sandbox = create(backend);
    int finished = 0;
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(io_, sandbox->stop(), [&finished](std::exception_ptr) { ++finished; });
    ASSERT_TRUE(run_until([&] { return finished == 2; }));
    EXPECT_FALSE(fs::exists(root_ / sandbox->id()));
}

TEST_P(LocalBackendTest, PauseFreezesOutputAndResumeRestartsIt) {
    LocalSandboxBackend backend(io_.get_executor(),
                                options({"/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "tick");
    EXPECT_EQ(next_line(*reader), "tick");

    ASSERT_TRUE(sandbox->pause());
    EXPECT_EQ(sandbox->status(), SandboxStatus::suspended);
    EXPECT_TRUE(sandbox->pause()) << "pause is idempotent";
    int buffered = 0;  // written before the stop took effect
    while (next(*reader, drain_timeout) && buffered < max_buffered_ticks) ++buffered;
    EXPECT_LT(buffered, max_buffered_ticks);
    EXPECT_FALSE(next(*reader, quiet_period)) << "output while suspended";

    ASSERT_TRUE(sandbox->resume());
    EXPECT_EQ(sandbox->status(), SandboxStatus::running);
    EXPECT_EQ(next_line(*reader), "tick");
}

TEST_P(LocalBackendTest, StopKillsAPausedSandbox) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    auto sandbox = create(backend);
    ASSERT_TRUE(sandbox->pause());
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
}

TEST_P(LocalBackendTest, ProcessExitingByItselfIsStoppedAndItsOutputIsKept) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/sh", "-c", "echo bye"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "bye");
    auto eof = next(*reader);
    ASSERT_TRUE(eof);
    EXPECT_EQ(eof->error(), errc::sandbox_eof);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(sandbox->pause().error(), errc::sandbox_gone);
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
}

TEST_P(LocalBackendTest, WriteAfterTheProcessIsGoneFailsWithSandboxGone) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/true"}));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(run(sandbox->write_line("anyone there?")).error(), errc::sandbox_gone);
}

TEST_P(LocalBackendTest, WriteToAProcessThatClosedStdinFailsWithSandboxGone) {
    // Closes its stdin, then stays alive: the write meets a pipe without reader. Under bubblewrap too: the
    // workload's stdin is a FIFO that only its own processes hold (bwrap's monitor and init never open it).
    LocalSandboxBackend backend(io_.get_executor(),
                                options({"/bin/sh", "-c", "exec 0<&-; echo closed; sleep 1000"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "closed");
    EXPECT_EQ(run(sandbox->write_line("ping")).error(), errc::sandbox_gone);
}

TEST_P(LocalBackendTest, ReadAtEofGivesSandboxEof) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/true"}));
    auto sandbox = create(backend);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
}

TEST_P(LocalBackendTest, ByteIoPingRoundTripsThroughCat) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    for (const std::string line : {"byte-io-ping", "", R"({"type":"user","text":"h\u00e9llo ✓ \t tab"})"}) {
        write(*sandbox, line);
        EXPECT_EQ(next_line(*reader), line);
    }
}

TEST_P(LocalBackendTest, LongLinesAreSplitNeverDropped) {
    constexpr std::size_t max_line = 16;
    auto opts = options({"/bin/cat"});
    opts.max_line_bytes = max_line;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);

    const std::string long_line = "0123456789abcdefghijklmnopqrstuvwxyzABCD";  // 40 bytes
    write(*sandbox, long_line);
    EXPECT_EQ(next_line(*reader), long_line.substr(0, 16));
    EXPECT_EQ(next_line(*reader), long_line.substr(16, 16));
    EXPECT_EQ(next_line(*reader), long_line.substr(32));

    const std::string exact(max_line, 'x');
    write(*sandbox, exact);
    EXPECT_EQ(next_line(*reader), exact);

    const std::string accented = std::string(15, 'y') + "\xc3\xa9" + "z";  // é would straddle the cut
    write(*sandbox, accented);
    EXPECT_EQ(next_line(*reader), std::string(15, 'y'));
    EXPECT_EQ(next_line(*reader), "\xc3\xa9z");
}

TEST_P(LocalBackendTest, BadCommandFailsAndLeavesNoProcessAndNoWorkspace) {
    for (const char* command : {"/definitely-not-a-centaur-command", "definitely-not-a-centaur-command"}) {
        LocalSandboxBackend backend(io_.get_executor(), options({command}));
        auto created = run(backend.create(SandboxSpec{"cli:test", "codex", {}}));
        ASSERT_FALSE(created) << command;
        EXPECT_EQ(created.error(), errc::sandbox_failed);
        EXPECT_TRUE(!fs::exists(root_) || fs::is_empty(root_)) << command;
        errno = 0;
        EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a child is left: " << command;
        EXPECT_EQ(errno, ECHILD);
    }
}

TEST_P(LocalBackendTest, StopKillsGrandchildren) {
    // A unique sleep duration marks the tree's processes in the host's /proc, whatever namespace they are in.
    const std::string token = "1000." + std::to_string(::getpid()) + std::to_string(std::rand() % 100000);
    LocalSandboxBackend backend(io_.get_executor(),
                                options({"/bin/sh", "-c", "sleep " + token + " & sleep " + token + " & echo up; wait"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "up");
    ASSERT_TRUE(wait_for([&] { return live_processes_with_arg(token) >= 2; }, test_timeout));
    run(sandbox->stop());
    EXPECT_TRUE(wait_for([&] { return live_processes_with_arg(token) == 0; }, test_timeout))
        << live_processes_with_arg(token) << " processes survived";
}

TEST_P(LocalBackendTest, WorkloadGetsACleanEnvironmentFromBaseSpecAndHarness) {
    auto opts = options({"env"});  // found through the sandbox's PATH
    opts.base_env["SHARED"] = "from-base";
    opts.base_env["BASE_ONLY"] = "1";
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox =
        create(backend, SandboxSpec{"cli:0123", "claude", {{"SHARED", "from-spec"}, {"EXTRA", "2"}}});
    auto reader = start_reader(sandbox);
    std::set<std::string> env;
    for (;;) {
        auto line = next(*reader);
        ASSERT_TRUE(line);
        if (!*line) break;
        env.insert(**line);
    }
    std::set<std::string> expected{"PATH=/usr/bin:/bin", "SHARED=from-spec", "BASE_ONLY=1", "EXTRA=2",
                                   "CENTAUR_HARNESS_TYPE=claude", "CENTAUR_THREAD_KEY=cli:0123"};
    if (isolated()) expected.insert("PWD=/workspace");  // bubblewrap's --chdir sets it
    EXPECT_EQ(env, expected);
}

TEST_P(LocalBackendTest, WorkloadRunsInItsWorkspaceWithStderrLogged) {
    LocalSandboxBackend backend(io_.get_executor(),
                                options({"/bin/sh", "-c", "pwd -P; echo oops >&2; echo done"}));
    auto sandbox = create(backend);
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), isolated() ? std::string("/workspace") : fs::canonical(root_ / sandbox->id()).string());
    EXPECT_EQ(next_line(*reader), "done");
    std::ifstream log(root_ / sandbox->id() / ".stderr.log");
    std::string logged;
    std::getline(log, logged);
    EXPECT_EQ(logged, "oops");
}

TEST_P(LocalBackendTest, RunsTheMockAgentWithTheSpecsHarness) {
    auto opts = options({(bin_dir() / "centaur-mock-agent").string()});
    opts.base_env["CENTAUR_MOCK_DELAY_MS"] = "1";
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox = create(backend, SandboxSpec{"cli:mock", "claude", {}});
    auto reader = start_reader(sandbox);
    write(*sandbox, R"({"type":"user","model":"gpt-x"})");
    std::vector<std::string> lines;
    while (lines.size() < 6) lines.push_back(next_line(*reader));
    EXPECT_EQ(
        lines[4],
        R"({"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"PONG model=gpt-x harness=claude"})");
    EXPECT_THAT(lines[5], ::testing::HasSubstr(R"("status":"completed")"));
}

TEST_P(LocalBackendTest, ExecRunsACommandInsideTheRunningSandbox) {
    LocalSandboxBackend backend(io_.get_executor(), options({"/bin/cat"}));
    auto sandbox = create(backend);
    auto r = run(sandbox->exec({"/bin/sh", "-c", "pwd; echo made > exec-file; echo oops >&2; exit 3"},
                               std::chrono::milliseconds(5000)));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->output, (isolated() ? std::string("/workspace") : fs::canonical(root_ / sandbox->id()).string()) + "\n");
    EXPECT_EQ(r->error_output, "oops\n");
    EXPECT_FALSE(r->timed_out);
    EXPECT_TRUE(fs::exists(root_ / sandbox->id() / "exec-file")) << "exec does not share the workspace";
    if (isolated()) {
        // Same pid namespace as the workload: it sees the sandbox's processes only.
        auto ps = run(sandbox->exec({"/bin/sh", "-c", "ls /proc | grep -c '^[0-9]'"}, std::chrono::milliseconds(5000)));
        ASSERT_TRUE(ps);
        EXPECT_LT(std::stoi(ps->output), 10) << ps->output;
    }
    auto slow = run(sandbox->exec({"/bin/sleep", "30"}, std::chrono::milliseconds(200)));
    ASSERT_TRUE(slow);
    EXPECT_TRUE(slow->timed_out);
    EXPECT_EQ(slow->exit_code, 128 + SIGKILL);
    run(sandbox->stop());
    EXPECT_EQ(run(sandbox->exec({"/bin/true"}, std::chrono::milliseconds(1000))).error(), errc::sandbox_gone);
}

TEST_P(LocalBackendTest, RunningLimitQueuesCreatesUntilASlotFrees) {
    auto opts = options({"/bin/cat"});
    opts.running_limit = 1;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto first = create(backend);
    EXPECT_EQ(backend.live_sandboxes(), 1U);
    std::optional<result<std::shared_ptr<Sandbox>>> second;
    std::vector<std::array<std::size_t, 3>> queued;  // (position, limit, running) per on_queued call
    SandboxSpec spec{"cli:queued", "codex", {}};
    spec.on_queued = [&queued](std::size_t position, std::uint32_t limit, std::uint32_t running) {
        queued.push_back({position, limit, running});
    };
    asio::co_spawn(io_, backend.create(std::move(spec)),
                   [&second](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { second = std::move(r); });
    EXPECT_FALSE(run_until([&] { return second.has_value(); }, quiet_period)) << "created beyond the limit";
    EXPECT_EQ(backend.queued_creates(), 1U);
    EXPECT_EQ(queued, (std::vector<std::array<std::size_t, 3>>{{1, 1, 1}}));
    run(first->stop());
    ASSERT_TRUE(run_until([&] { return second.has_value(); }));
    ASSERT_TRUE(*second) << second->error().message();
    sandboxes_.push_back(**second);
    EXPECT_EQ((**second)->status(), SandboxStatus::running);
    EXPECT_EQ(backend.live_sandboxes(), 1U);
    EXPECT_EQ(backend.queued_creates(), 0U);
}

TEST_P(LocalBackendTest, QueuedCreateFailsWhenNoSlotFreesInTime) {
    auto opts = options({"/bin/cat"});
    opts.running_limit = 1;
    opts.queue_timeout = std::chrono::milliseconds(100);
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto first = create(backend);
    auto second = run(backend.create(SandboxSpec{"cli:queued", "codex", {}}));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), errc::sandbox_failed);
    EXPECT_EQ(backend.queued_creates(), 0U);
    EXPECT_EQ(backend.live_sandboxes(), 1U);
}

TEST_P(LocalBackendTest, WarmPoolHandsOutAPrestartedSandboxAndRefills) {
    auto opts = options({"/bin/cat"});
    opts.warm_pool_size = 1;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    backend.start_background();
    ASSERT_TRUE(run_until([&] { return backend.warm_sandboxes() == 1; }));
    auto sandbox = create(backend);
    EXPECT_TRUE(sandbox->prewarmed());
    auto reader = start_reader(sandbox);
    write(*sandbox, "warm-ping");
    EXPECT_EQ(next_line(*reader), "warm-ping");
    ASSERT_TRUE(run_until([&] { return backend.warm_sandboxes() == 1; })) << "the pool was not refilled";
    auto other = create(backend, SandboxSpec{"cli:other", "claude", {}});
    EXPECT_FALSE(other->prewarmed()) << "another harness must not get the pool's sandbox";
    run(backend.shutdown());
    EXPECT_EQ(backend.warm_sandboxes(), 0U);
    EXPECT_EQ(backend.live_sandboxes(), 2U);
}

TEST_P(LocalBackendTest, DrainIdleStopsTheWarmPoolThenRefillsIt) {
    auto opts = options({"/bin/cat"});
    opts.warm_pool_size = 1;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    backend.start_background();
    ASSERT_TRUE(run_until([&] { return backend.warm_sandboxes() == 1; }));
    const auto stopped = run(backend.drain_idle());
    ASSERT_EQ(stopped.size(), 1U);
    EXPECT_EQ(stopped[0].rfind("local-", 0), 0U) << stopped[0];
    ASSERT_TRUE(run_until([&] { return backend.warm_sandboxes() == 1; })) << "the pool was not refilled";
    EXPECT_EQ(backend.live_sandboxes(), 1U) << "the drained sandbox's slot was not given back";
    auto sandbox = create(backend);
    EXPECT_TRUE(sandbox->prewarmed());
    EXPECT_NE(sandbox->id(), stopped[0]);
    run(backend.shutdown());
}

TEST_P(LocalBackendTest, WallClockLimitEndsTheSandboxWithAReason) {
    auto opts = options({"/bin/sleep", "30"});
    opts.isolation.limits.max_lifetime = std::chrono::seconds(1);
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(sandbox->termination_reason(), "max lifetime of 1 s exceeded");
}

TEST_P(LocalBackendTest, MemoryLimitEndsTheSandboxWithAReason) {
    LocalSandboxBackend probe(io_.get_executor(), options({"/bin/true"}));
    if (probe.isolation().enforced.end() ==
        std::find_if(probe.isolation().enforced.begin(), probe.isolation().enforced.end(),
                     [](const std::string& e) { return e.rfind("memory: ", 0) == 0 && e.find("cgroup") != e.npos; }))
        GTEST_SKIP() << "no memory cgroup on this host";
    auto opts = options({"/usr/bin/python3", "-c", "b = bytearray(512 << 20)"});
    opts.isolation.limits.memory_bytes = 64 << 20;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_THAT(sandbox->termination_reason(), ::testing::HasSubstr("memory limit of 67108864 bytes exceeded"));
}

INSTANTIATE_TEST_SUITE_P(Isolation, LocalBackendTest,
                         ::testing::Values(IsolationMode::required, IsolationMode::disabled),
                         [](const ::testing::TestParamInfo<IsolationMode>& info) {
                             return std::string(info.param == IsolationMode::required ? "Bubblewrap" : "PlainProcess");
                         });

}  // namespace
