// The local Sandbox backend's own behaviour, on real processes, every case under bubblewrap and as plain
// processes: id format, line splitting, the running limit, the warm pool, the memory cgroup. The port's
// invariants it shares with every backend are in sandbox_contract_test.cpp. Every wait is bounded.

#include "sandbox_test_fixture.hpp"

#include <centaur/sandbox/local_backend.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>

namespace centaur::sandbox {
namespace {

using namespace test_fixture;

class LocalBackendTest : public SandboxTest<Isolation> {
protected:
    LocalBackendOptions options(std::vector<std::string> command) const {
        LocalBackendOptions options;
        options.command = std::move(command);
        options.base_env = {{"PATH", "/usr/bin:/bin"}};
        options.workspace_root = root_;
        options.isolation.mode =
            GetParam() == Isolation::bubblewrap ? IsolationMode::required : IsolationMode::disabled;
        return options;
    }
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
    asio::co_spawn(
        io_, backend.create(std::move(spec)),
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

TEST_P(LocalBackendTest, MemoryLimitEndsTheSandboxWithAReason) {
    LocalSandboxBackend probe(io_.get_executor(), options({"/bin/true"}));
    if (probe.isolation().enforced.end() ==
        std::find_if(
            probe.isolation().enforced.begin(), probe.isolation().enforced.end(),
            [](const std::string& e) { return e.rfind("memory: ", 0) == 0 && e.find("cgroup") != e.npos; }))
        GTEST_SKIP() << "no memory cgroup on this host";
    auto opts = options({"/usr/bin/python3", "-c", "b = bytearray(512 << 20)"});
    opts.isolation.limits.memory_bytes = 64 << 20;
    LocalSandboxBackend backend(io_.get_executor(), std::move(opts));
    auto sandbox = create(backend);
    ASSERT_TRUE(run_until([&] { return sandbox->status() == SandboxStatus::stopped; }));
    EXPECT_THAT(sandbox->termination_reason(),
                ::testing::HasSubstr("memory limit of 67108864 bytes exceeded"));
}

INSTANTIATE_TEST_SUITE_P(Isolation, LocalBackendTest,
                         ::testing::Values(Isolation::bubblewrap, Isolation::plain),
                         [](const ::testing::TestParamInfo<Isolation>& info) {
                             return isolation_name(info.param);
                         });

}  // namespace
}  // namespace centaur::sandbox
