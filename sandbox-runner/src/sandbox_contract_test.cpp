// The Sandbox port's contract: every case runs against every backend (local and remote `serve` runners, each
// under bubblewrap and as plain processes) and is written only against centaur::SandboxBackend /
// centaur::Sandbox. A small factory per backend builds it for the case's workload. What only one backend
// does (warm pool, running limit, runner protocol, placement, cgroup limits) is tested beside it:
// local_backend_test.cpp, remote_backend_test.cpp.

#include "sandbox_test_fixture.hpp"

#include <centaur/sandbox/local_backend.hpp>
#include <centaur/sandbox/remote_backend.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

namespace centaur::sandbox {
namespace {

using namespace test_fixture;

/// What the sandboxes of a backend under test run.
struct Workload {
    std::vector<std::string> command;
    std::map<std::string, std::string> env;  ///< on top of the backend's base environment
    std::chrono::seconds max_lifetime{0};    ///< wall-clock limit; 0 = none
};

/// One backend under test, built per case by its factory: owns the backend and what it needs (a runner).
/// Lives on the fixture's io_context thread; destroyed after the case's sandboxes were stopped.
class BackendUnderTest {
public:
    virtual ~BackendUnderTest() = default;
    virtual SandboxBackend& backend() = 0;
    /// The environment every workload of this backend starts from, before Workload::env.
    virtual std::map<std::string, std::string> base_env() const = 0;
    /// Host directory of sandbox `id`'s workspace.
    virtual fs::path workspace_of(const std::string& id) const = 0;
    /// What the backend still holds once its sandboxes were stopped or failed to start (workspaces, sandboxes
    /// a runner lists, child processes); empty when nothing is left behind.
    virtual asio::awaitable<std::vector<std::string>> leftovers() = 0;
};

using BackendFactory = std::unique_ptr<BackendUnderTest> (*)(asio::any_io_executor executor,
                                                             const fs::path& root, Isolation isolation,
                                                             const Workload& workload);

const std::map<std::string, std::string> test_path_env{{"PATH", "/usr/bin:/bin"}};

/// LocalSandboxBackend, workspaces under `root`.
class LocalUnderTest final : public BackendUnderTest {
public:
    LocalUnderTest(asio::any_io_executor executor, const fs::path& root, Isolation isolation,
                   const Workload& workload)
        : root_(root), backend_(std::move(executor), options(root, isolation, workload)) {}

    SandboxBackend& backend() override { return backend_; }
    std::map<std::string, std::string> base_env() const override { return test_path_env; }
    fs::path workspace_of(const std::string& id) const override { return root_ / id; }
    asio::awaitable<std::vector<std::string>> leftovers() override {
        auto left = workspace_leftovers(root_);
        errno = 0;
        if (::waitpid(-1, nullptr, WNOHANG) != -1 || errno != ECHILD) left.push_back("a child process");
        co_return left;
    }

private:
    static LocalBackendOptions options(const fs::path& root, Isolation isolation, const Workload& workload) {
        LocalBackendOptions o;
        o.command = workload.command;
        o.base_env = test_path_env;
        for (const auto& [name, value] : workload.env) o.base_env[name] = value;
        o.workspace_root = root;
        o.isolation.mode =
            isolation == Isolation::bubblewrap ? IsolationMode::required : IsolationMode::disabled;
        o.isolation.limits.max_lifetime = workload.max_lifetime;
        return o;
    }

    fs::path root_;
    LocalSandboxBackend backend_;
};

/// RemoteSandboxBackend on one `centaur-sandbox-runner serve` child of its own, workspaces under `root`.
class RemoteUnderTest final : public BackendUnderTest {
public:
    RemoteUnderTest(asio::any_io_executor executor, const fs::path& root, Isolation isolation,
                    const Workload& workload)
        : runner_(start_runner(root, isolation, workload.command, flags(workload))),
          backend_(std::move(executor), remote_options({runner_.url})) {}

    SandboxBackend& backend() override { return backend_; }
    std::map<std::string, std::string> base_env() const override {
        // The runner's own base (HOME, TMPDIR) under the PATH every test runner gets.
        auto env = test_path_env;
        env["HOME"] = "/workspace";
        env["TMPDIR"] = "/tmp";
        return env;
    }
    fs::path workspace_of(const std::string& id) const override { return runner_.workspace_root / id; }
    asio::awaitable<std::vector<std::string>> leftovers() override {
        auto left = workspace_leftovers(runner_.workspace_root);
        auto list_call = backend_.list(runner_.url);
        auto listed = co_await std::move(list_call);
        if (!listed) {
            left.push_back("the runner cannot list its sandboxes: " + listed.error().message());
        } else {
            for (const auto& info : *listed) left.push_back("sandbox " + info.sandbox_id + " on the runner");
        }
        co_return left;
    }

private:
    static std::vector<std::string> flags(const Workload& workload) {
        std::vector<std::string> out;
        for (const auto& [name, value] : workload.env) {
            out.push_back("--env");
            out.push_back(name + "=" + value);
        }
        if (workload.max_lifetime.count() > 0) {
            out.push_back("--max-lifetime-secs");
            out.push_back(std::to_string(workload.max_lifetime.count()));
        }
        return out;
    }

    RunnerProcess runner_;
    RemoteSandboxBackend backend_;
};

std::unique_ptr<BackendUnderTest> make_local(asio::any_io_executor executor, const fs::path& root,
                                             Isolation isolation, const Workload& workload) {
    return std::make_unique<LocalUnderTest>(std::move(executor), root, isolation, workload);
}

std::unique_ptr<BackendUnderTest> make_remote(asio::any_io_executor executor, const fs::path& root,
                                              Isolation isolation, const Workload& workload) {
    return std::make_unique<RemoteUnderTest>(std::move(executor), root, isolation, workload);
}

/// The contract's parameter: a backend's factory and how its sandboxes are isolated.
struct BackendKind {
    const char* backend;
    BackendFactory make;
    Isolation isolation;
};

void PrintTo(const BackendKind& kind, std::ostream* out) {
    *out << kind.backend << ", ";
    PrintTo(kind.isolation, out);
}

class SandboxContract : public SandboxTest<BackendKind> {
protected:
    void TearDown() override {
        stop_sandboxes();
        backends_.clear();
        SandboxTest::TearDown();
    }

    /// A fresh backend of the case's kind running `workload`; lives until TearDown.
    BackendUnderTest& make(Workload workload) {
        const auto dir = root_ / ("backend-" + std::to_string(backends_.size()));
        backends_.push_back(GetParam().make(io_.get_executor(), dir, GetParam().isolation, workload));
        return *backends_.back();
    }

    bool isolated() const { return GetParam().isolation == Isolation::bubblewrap; }

    /// The workspace as the sandbox's processes see it (their cwd).
    std::string workspace_inside(BackendUnderTest& under_test, const Sandbox& sandbox) const {
        return isolated() ? std::string("/workspace")
                          : fs::canonical(under_test.workspace_of(sandbox.id())).string();
    }

    std::vector<std::string> leftovers(BackendUnderTest& under_test) { return run(under_test.leftovers()); }

    std::vector<std::unique_ptr<BackendUnderTest>> backends_;
};

TEST_P(SandboxContract, CreateGivesARunningSandboxWithItsOwnId) {
    auto& under_test = make({{"/bin/cat"}});
    auto first = create(under_test.backend());
    auto second = create(under_test.backend());
    EXPECT_EQ(first->status(), SandboxStatus::running);
    EXPECT_EQ(second->status(), SandboxStatus::running);
    EXPECT_FALSE(first->id().empty());
    EXPECT_NE(first->id(), second->id());
    EXPECT_FALSE(first->prewarmed()) << "no warm pool here";
}

TEST_P(SandboxContract, StopMakesItGoneIdempotentlyAndLeavesNothing) {
    auto& under_test = make({{"/bin/cat"}});
    auto sandbox = create(under_test.backend());
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_THAT(leftovers(under_test), ::testing::IsEmpty());
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_EQ(sandbox->pause().error(), errc::sandbox_gone);
    EXPECT_EQ(sandbox->resume().error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->write_line("late")).error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_gone);
}

TEST_P(SandboxContract, ConcurrentStopsBothCompleteAfterTheTreeIsGone) {
    auto& under_test = make({{"/bin/cat"}});
    auto sandbox = create(under_test.backend());
    int finished = 0;
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(io_, sandbox->stop(), [&finished](std::exception_ptr) { ++finished; });
    ASSERT_TRUE(run_until([&] { return finished == 2; }));
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_THAT(leftovers(under_test), ::testing::IsEmpty());
}

TEST_P(SandboxContract, PauseFreezesOutputAndResumeRestartsIt) {
    auto& under_test = make({{"/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"}});
    auto sandbox = create(under_test.backend());
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "tick");
    EXPECT_EQ(next_line(*reader), "tick");

    ASSERT_TRUE(sandbox->pause());
    EXPECT_EQ(sandbox->status(), SandboxStatus::suspended);
    EXPECT_TRUE(sandbox->pause()) << "pause is idempotent";
    int buffered = 0;  // written before the pause took effect
    while (next(*reader, drain_timeout) && buffered < max_buffered_ticks) ++buffered;
    EXPECT_LT(buffered, max_buffered_ticks);
    EXPECT_FALSE(next(*reader, quiet_period)) << "output while suspended";

    ASSERT_TRUE(sandbox->resume());
    EXPECT_EQ(sandbox->status(), SandboxStatus::running);
    EXPECT_EQ(next_line(*reader), "tick");
}

TEST_P(SandboxContract, StopKillsAPausedSandbox) {
    auto& under_test = make({{"/bin/cat"}});
    auto sandbox = create(under_test.backend());
    ASSERT_TRUE(sandbox->pause());
    run(sandbox->stop());
    EXPECT_EQ(sandbox->status(), SandboxStatus::gone);
    EXPECT_THAT(leftovers(under_test), ::testing::IsEmpty());
}

TEST_P(SandboxContract, ProcessExitingByItselfIsStoppedAndItsOutputIsKept) {
    auto& under_test = make({{"/bin/sh", "-c", "echo one; echo bye"}});
    auto sandbox = create(under_test.backend());
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

TEST_P(SandboxContract, WriteAfterTheProcessIsGoneFailsWithSandboxGone) {
    auto& under_test = make({{"/bin/true"}});
    auto sandbox = create(under_test.backend());
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(run(sandbox->write_line("anyone there?")).error(), errc::sandbox_gone);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
}

TEST_P(SandboxContract, WriteToAProcessThatClosedStdinFailsWithSandboxGone) {
    // Closes its stdin, then stays alive: the write meets a pipe without reader. Under bubblewrap too: the
    // workload's stdin is a FIFO that only its own processes hold (bwrap's monitor and init never open it).
    auto& under_test = make({{"/bin/sh", "-c", "exec 0<&-; echo closed; sleep 1000"}});
    auto sandbox = create(under_test.backend());
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "closed");
    EXPECT_EQ(run(sandbox->write_line("ping")).error(), errc::sandbox_gone);
}

TEST_P(SandboxContract, ReadAtEofGivesSandboxEof) {
    auto& under_test = make({{"/bin/true"}});
    auto sandbox = create(under_test.backend());
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
    EXPECT_EQ(run(sandbox->read_line()).error(), errc::sandbox_eof);
}

TEST_P(SandboxContract, ByteIoRoundTripsEveryByteThroughCat) {
    auto& under_test = make({{"/bin/cat"}});
    auto sandbox = create(under_test.backend());
    auto reader = start_reader(sandbox);
    const std::string lines[] = {"byte-io-ping", "", R"({"type":"user","text":"h\u00e9llo ✓ \t tab"})",
                                 "back\\slash \\r not a CR, a real CR:\r and \\\\ two",
                                 std::string(100'000, 'x')};
    for (const auto& line : lines) {
        write(*sandbox, line);
        EXPECT_EQ(next_line(*reader), line);
    }
}

TEST_P(SandboxContract, BadCommandFailsAndLeavesNothingBehind) {
    for (const char* command : {"/definitely-not-a-centaur-command", "definitely-not-a-centaur-command"}) {
        auto& under_test = make({{command}});
        auto created = run(under_test.backend().create(SandboxSpec{"cli:test", "codex", {}, {}}));
        ASSERT_FALSE(created) << command;
        EXPECT_EQ(created.error(), errc::sandbox_failed) << command;
        EXPECT_THAT(leftovers(under_test), ::testing::IsEmpty()) << command;
    }
}

TEST_P(SandboxContract, StopKillsGrandchildren) {
    // A unique sleep duration marks the tree's processes in the host's /proc, whatever namespace they are in.
    const std::string token = "1000." + std::to_string(::getpid()) + std::to_string(std::rand() % 100000);
    auto& under_test = make({{"/bin/sh", "-c", "sleep " + token + " & sleep " + token + " & echo up; wait"}});
    auto sandbox = create(under_test.backend());
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), "up");
    ASSERT_TRUE(wait_for([&] { return live_processes_with_arg(token) >= 2; }, test_timeout));
    run(sandbox->stop());
    EXPECT_TRUE(wait_for([&] { return live_processes_with_arg(token) == 0; }, test_timeout))
        << live_processes_with_arg(token) << " processes survived";
}

TEST_P(SandboxContract, WorkloadGetsACleanEnvironmentFromBaseSpecAndHarness) {
    auto& under_test = make({{"env"}, {{"SHARED", "from-base"}, {"BASE_ONLY", "1"}}});  // env: through PATH
    auto sandbox = create(under_test.backend(),
                          SandboxSpec{"cli:0123", "claude", {{"SHARED", "from-spec"}, {"EXTRA", "2"}}, {}});
    auto reader = start_reader(sandbox);
    std::set<std::string> env;
    for (;;) {
        auto line = next(*reader);
        ASSERT_TRUE(line);
        if (!*line) break;
        env.insert(**line);
    }
    std::set<std::string> expected{"SHARED=from-spec", "BASE_ONLY=1", "EXTRA=2",
                                   "CENTAUR_HARNESS_TYPE=claude", "CENTAUR_THREAD_KEY=cli:0123"};
    for (const auto& [name, value] : under_test.base_env()) expected.insert(name + "=" + value);
    if (isolated()) expected.insert("PWD=/workspace");  // bubblewrap's --chdir sets it
    EXPECT_EQ(env, expected);
}

TEST_P(SandboxContract, WorkloadRunsInItsWorkspaceWithStderrLogged) {
    auto& under_test = make({{"/bin/sh", "-c", "pwd -P; echo oops >&2; echo done"}});
    auto sandbox = create(under_test.backend());
    auto reader = start_reader(sandbox);
    EXPECT_EQ(next_line(*reader), workspace_inside(under_test, *sandbox));
    EXPECT_EQ(next_line(*reader), "done");
    std::ifstream log(under_test.workspace_of(sandbox->id()) / ".stderr.log");
    std::string logged;
    std::getline(log, logged);
    EXPECT_EQ(logged, "oops");
}

TEST_P(SandboxContract, RunsTheMockAgentWithTheSpecsHarness) {
    auto& under_test =
        make({{centaur::test_support::bin_path("centaur-mock-agent")}, {{"CENTAUR_MOCK_DELAY_MS", "1"}}});
    auto sandbox = create(under_test.backend(), SandboxSpec{"cli:mock", "claude", {}, {}});
    auto reader = start_reader(sandbox);
    write(*sandbox, R"({"type":"user","model":"gpt-x"})");
    std::vector<std::string> lines;
    while (lines.size() < 6) lines.push_back(next_line(*reader));
    EXPECT_EQ(
        lines[4],
        R"({"type":"item.agentMessage.delta","turnId":"mock-turn-1","delta":"PONG model=gpt-x harness=claude"})");
    EXPECT_THAT(lines[5], ::testing::HasSubstr(R"("status":"completed")"));
}

TEST_P(SandboxContract, ExecRunsACommandInsideTheRunningSandbox) {
    auto& under_test = make({{"/bin/cat"}});
    auto sandbox = create(under_test.backend());
    auto r = run(sandbox->exec(
        {"/bin/sh", "-c", "pwd; echo made > exec-file; cat exec-file; echo oops >&2; exit 3"}, 5000ms));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->output, workspace_inside(under_test, *sandbox) + "\nmade\n");
    EXPECT_EQ(r->error_output, "oops\n");
    EXPECT_FALSE(r->timed_out);
    EXPECT_FALSE(r->truncated);
    EXPECT_TRUE(fs::exists(under_test.workspace_of(sandbox->id()) / "exec-file"))
        << "exec does not share the workspace";
    if (isolated()) {
        // Same pid namespace as the workload: it sees the sandbox's processes only.
        auto ps = run(sandbox->exec({"/bin/sh", "-c", "ls /proc | grep -c '^[0-9]'"}, 5000ms));
        ASSERT_TRUE(ps);
        EXPECT_LT(std::stoi(ps->output), 10) << ps->output;
    }
    auto slow = run(sandbox->exec({"/bin/sleep", "30"}, 200ms));
    ASSERT_TRUE(slow);
    EXPECT_TRUE(slow->timed_out);
    EXPECT_EQ(slow->exit_code, 128 + SIGKILL);
    run(sandbox->stop());
    EXPECT_EQ(run(sandbox->exec({"/bin/true"}, 1000ms)).error(), errc::sandbox_gone);
}

TEST_P(SandboxContract, ALimitThatEndsTheSandboxTravelsAsItsTerminationReason) {
    auto& under_test = make({{"/bin/sleep", "30"}, {}, std::chrono::seconds(1)});
    auto sandbox = create(under_test.backend());
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_EQ(sandbox->termination_reason(), "max lifetime of 1 s exceeded");
}

std::string kind_name(const ::testing::TestParamInfo<BackendKind>& info) {
    return isolation_name(info.param.isolation);
}

INSTANTIATE_TEST_SUITE_P(Local, SandboxContract,
                         ::testing::Values(BackendKind{"local", &make_local, Isolation::bubblewrap},
                                           BackendKind{"local", &make_local, Isolation::plain}),
                         kind_name);
INSTANTIATE_TEST_SUITE_P(Remote, SandboxContract,
                         ::testing::Values(BackendKind{"remote", &make_remote, Isolation::bubblewrap},
                                           BackendKind{"remote", &make_remote, Isolation::plain}),
                         kind_name);

}  // namespace
}  // namespace centaur::sandbox
