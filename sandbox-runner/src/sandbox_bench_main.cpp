// centaur-sandbox-bench [ROUNDS]: sandbox create latency cold vs from the warm pool, and the mock workload's
// turn latency in a bubblewrap sandbox vs the same binary as a plain process, all in one run (same machine,
// same moment). Prints p50/p99 in milliseconds. A benchmark, not a test.

#include <centaur/sandbox/local_backend.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace centaur;
using namespace centaur::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int default_rounds = 40;
constexpr auto warm_poll = std::chrono::milliseconds(1);
constexpr double p50 = 0.50;
constexpr double p99 = 0.99;

double millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto index = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(index, v.size() - 1)];
}

void print_turns(const char* what, std::vector<double> v) {
    if (v.empty()) return;
    std::printf("%-44s %8.2f ms\n", (std::string(what) + ": create + first turn").c_str(), v.front());
    v.erase(v.begin());
    std::printf("%-44s n=%-4zu p50=%8.2f ms  p99=%8.2f ms\n", (std::string(what) + ": later turns").c_str(), v.size(),
                percentile(v, p50), percentile(v, p99));
}

void print(const char* what, const std::vector<double>& v) {
    std::printf("%-44s n=%-4zu p50=%8.2f ms  p99=%8.2f ms\n", what, v.size(), percentile(v, p50), percentile(v, p99));
}

LocalBackendOptions options(std::vector<std::string> command, IsolationMode mode, const fs::path& root) {
    LocalBackendOptions o;
    o.command = std::move(command);
    o.base_env = {{"PATH", "/usr/bin:/bin"}, {"CENTAUR_MOCK_DELAY_MS", "0"}};
    o.workspace_root = root;
    o.isolation.mode = mode;
    return o;
}

asio::awaitable<std::vector<double>> create_latency(LocalSandboxBackend& backend, int rounds, bool warm) {
    std::vector<double> samples;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < rounds; ++i) {
        while (warm && backend.warm_sandboxes() == 0) {
            timer.expires_after(warm_poll);
            co_await timer.async_wait(asio::use_awaitable);
        }
        const auto start = Clock::now();
        SandboxSpec spec{"cli:bench", "codex", {}};
        auto made = co_await backend.create(std::move(spec));
        samples.push_back(millis(Clock::now() - start));
        if (made) co_await (*made)->stop();
    }
    co_return samples;
}

/// Per-turn latency on one sandbox; the first sample (create + first turn) is reported apart.
asio::awaitable<std::vector<double>> turn_latency(LocalSandboxBackend& backend, int rounds) {
    std::vector<double> samples;
    const auto created_at = Clock::now();
    SandboxSpec spec{"cli:bench", "codex", {}};
    auto made = co_await backend.create(std::move(spec));
    if (!made) co_return samples;
    auto sandbox = *made;
    for (int i = 0; i < rounds; ++i) {
        const auto start = Clock::now();
        std::string request = R"({"type":"user","model":"bench"})";
        auto written = co_await sandbox->write_line(std::move(request));
        if (!written) break;
        for (;;) {
            auto line = co_await sandbox->read_line();
            if (!line) co_return samples;
            if (line->find("\"turn.completed\"") != std::string::npos) break;
        }
        samples.push_back(millis(Clock::now() - (i == 0 ? created_at : start)));
    }
    co_await sandbox->stop();
    co_return samples;
}

/// Runs `op` to completion (sandboxes keep the io_context busy, so run until this op is done, not until idle).
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> op) {
    T out{};
    bool done = false;
    asio::co_spawn(io, std::move(op), [&out, &done](std::exception_ptr e, T value) {
        if (e) std::rethrow_exception(e);
        out = std::move(value);
        done = true;
    });
    io.restart();
    while (!done) io.run_one();
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : default_rounds;
    spdlog::set_level(spdlog::level::warn);
    const fs::path root = fs::temp_directory_path() / ("centaur-sandbox-bench-" + std::to_string(::getpid()));
    const fs::path mock = fs::canonical("/proc/self/exe").parent_path() / "centaur-mock-agent";
    asio::io_context io;

    {
        LocalSandboxBackend cold(io.get_executor(), options({"/bin/cat"}, IsolationMode::required, root));
        std::printf("isolated: %s\n", cold.isolation().isolated ? "yes (bubblewrap)" : cold.isolation().unavailable.c_str());
        print("create, cold (bubblewrap, /bin/cat)", run(io, create_latency(cold, rounds, false)));
    }
    {
        auto o = options({"/bin/cat"}, IsolationMode::required, root);
        o.warm_pool_size = 1;
        LocalSandboxBackend warm(io.get_executor(), std::move(o));
        warm.start_background();
        print("create, warm pool (bubblewrap, /bin/cat)", run(io, create_latency(warm, rounds, true)));
        run(io, [&]() -> asio::awaitable<int> {
            co_await warm.shutdown();
            co_return 0;
        }());
    }
    {
        LocalSandboxBackend plain(io.get_executor(), options({mock.string()}, IsolationMode::disabled, root));
        print_turns("mock, plain process", run(io, turn_latency(plain, rounds)));
    }
    {
        LocalSandboxBackend isolated(io.get_executor(), options({mock.string()}, IsolationMode::required, root));
        print_turns("mock, bubblewrap sandbox", run(io, turn_latency(isolated, rounds)));
    }
    std::error_code ec;
    fs::remove_all(root, ec);
    return 0;
}
