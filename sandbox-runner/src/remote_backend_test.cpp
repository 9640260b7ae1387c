// The remote backend's own behaviour against real `centaur-sandbox-runner serve` child processes
// (bubblewrap-isolated and plain): what the runners list, reattaching, tokens, orphans, queueing, warm pools,
// placement, a runner killed mid-stream, waiting for a runner. The port's invariants it shares with every
// backend are in sandbox_contract_test.cpp. Every wait is bounded.

#include "sandbox_test_fixture.hpp"

#include <centaur/sandbox/remote_backend.hpp>
#include <centaur/test_support/test_support.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <tuple>

namespace centaur::sandbox {
namespace {

using namespace test_fixture;

constexpr auto runner_poll_interval = 50ms;

class RemoteBackendTest : public SandboxTest<Isolation> {
protected:
    void TearDown() override {
        stop_sandboxes();
        runners_.clear();
        SandboxTest::TearDown();
    }

    /// A runner of the case's isolation, workspaces under `root_/runner-<n>`; killed by TearDown.
    RunnerProcess& start_runner(std::vector<std::string> command, std::vector<std::string> flags = {},
                                std::string token = runner_token) {
        const auto workspaces = root_ / ("runner-" + std::to_string(runners_.size()));
        runners_.push_back(test_fixture::start_runner(workspaces, GetParam(), command, flags, token));
        return runners_.back();
    }

    RemoteBackendOptions options(std::vector<std::string> urls) const {
        return remote_options(std::move(urls));
    }

    std::vector<RemoteSandboxInfo> list(RemoteSandboxBackend& backend, const std::string& url) {
        auto listed = run(backend.list(url));
        if (!listed) throw std::runtime_error("list failed: " + listed.error().message());
        return *listed;
    }

    /// Polls runner `url` until it lists its one sandbox with `status` (pause and resume reach it after the
    /// call returned); false at test_timeout.
    bool runner_lists(RemoteSandboxBackend& backend, const std::string& url, const std::string& status) {
        const auto deadline = std::chrono::steady_clock::now() + test_timeout;
        for (;;) {
            const auto listed = list(backend, url);
            if (listed.size() == 1 && listed[0].status == status) return true;
            if (std::chrono::steady_clock::now() >= deadline) {
                ADD_FAILURE() << "the runner lists " << listed.size() << " sandbox(es), the first "
                              << (listed.empty() ? std::string("-") : listed[0].status) << ", not " << status;
                return false;
            }
            std::this_thread::sleep_for(runner_poll_interval);
        }
    }

    std::deque<RunnerProcess> runners_;
};

TEST_P(RemoteBackendTest, CreateIsListedOnItsRunnerAndStopRemovesIt) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    EXPECT_EQ(backend.name(), "remote");
    auto sandbox = create(backend, SandboxSpec{"cli:contract", "claude", {}, {}});
    EXPECT_THAT(sandbox->id(), ::testing::MatchesRegex("local-[0-9a-f]{16}"));
    EXPECT_EQ(RemoteSandboxBackend::runner_of(*sandbox), runner.url);
    auto listed = list(backend, runner.url);
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0].sandbox_id, sandbox->id());
    EXPECT_EQ(listed[0].thread_key, "cli:contract");
    EXPECT_EQ(listed[0].status, "running");

    run(sandbox->stop());
    EXPECT_TRUE(list(backend, runner.url).empty());
}

TEST_P(RemoteBackendTest, PauseAndResumeReachTheRunner) {
    auto& runner = start_runner({"/bin/cat"});
    RemoteSandboxBackend backend(io_.get_executor(), options({runner.url}));
    auto sandbox = create(backend);
    ASSERT_TRUE(sandbox->pause());
    EXPECT_TRUE(runner_lists(backend, runner.url, "suspended"));
    ASSERT_TRUE(sandbox->resume());
    EXPECT_TRUE(runner_lists(backend, runner.url, "running"));
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
    auto created = centaur::test_support::http_request(
        "POST", runner.url + "/v1/sandboxes", R"({"thread_key":"cli:orphan","harness_type":"codex"})", auth);
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
    asio::co_spawn(
        io_, backend.create(std::move(second_spec)),
        [&second](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { second = std::move(r); });
    EXPECT_FALSE(run_until([&] { return second.has_value(); }, quiet_period))
        << "created beyond the runner's limit";
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
        asio::co_spawn(
            io_, backend.create(SandboxSpec{"cli:burst", "codex", {}}),
            [&slot](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { slot = std::move(r); });
    ASSERT_TRUE(run_until(
        [&] { return std::all_of(more.begin(), more.end(), [](auto& s) { return s.has_value(); }); }));
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
    asio::co_spawn(
        io_, backend.create(SandboxSpec{"cli:waiting", "codex", {}}),
        [&created](std::exception_ptr, result<std::shared_ptr<Sandbox>> r) { created = std::move(r); });
    EXPECT_FALSE(run_until([&] { return created.has_value(); }, quiet_period))
        << "the create gave up at once";
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

INSTANTIATE_TEST_SUITE_P(Runner, RemoteBackendTest,
                         ::testing::Values(Isolation::bubblewrap, Isolation::plain),
                         [](const ::testing::TestParamInfo<Isolation>& info) {
                             return isolation_name(info.param);
                         });

}  // namespace
}  // namespace centaur::sandbox
