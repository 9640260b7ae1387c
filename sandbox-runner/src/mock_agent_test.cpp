// centaur-mock-agent's protocol, driven directly through pipes (blocking, every wait bounded).

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto test_timeout = 10s;
constexpr auto exit_poll_interval = 5ms;
constexpr auto quiet_wait = 300ms;  // long enough for a wrong line or an exit to show
constexpr std::size_t read_chunk_bytes = 4096;

fs::path mock_agent_path() {
    const char* dir = std::getenv("CENTAUR_BIN_DIR");
    return fs::path(dir != nullptr && *dir != '\0' ? dir : CENTAUR_DEFAULT_BIN_DIR) / "centaur-mock-agent";
}

const std::string user_line = R"({"type":"user","model":"gpt-x"})";
const std::string interrupt_line = R"({"type":"interrupt"})";
const std::string heartbeat_startup = R"({"type":"system","subtype":"wrapper_heartbeat","phase":"startup"})";
const std::string heartbeat_started =
    R"({"type":"system","subtype":"wrapper_heartbeat","phase":"app_server_started"})";
const std::string thread_started = R"({"type":"thread.started","thread_id":"mock-codex-thread"})";

std::string turn_started(int n) {
    return R"({"type":"turn.started","turn_id":"mock-turn-)" + std::to_string(n) + R"("})";
}
std::string delta(int n, const std::string& model, const std::string& harness) {
    return R"({"type":"item.agentMessage.delta","turnId":"mock-turn-)" + std::to_string(n) +
           R"(","delta":"PONG model=)" + model + " harness=" + harness + R"("})";
}
std::string turn_completed(int n) {
    return R"({"type":"turn.completed","turn":{"id":"mock-turn-)" + std::to_string(n) +
           R"(","status":"completed"},"usage":{"input_tokens":0,"output_tokens":1}})";
}
std::string turn_interrupted(int n) {
    return R"({"type":"turn.completed","turn":{"id":"mock-turn-)" + std::to_string(n) +
           R"(","status":"interrupted"}})";
}

/// The mock agent as a child process with piped stdin/stdout. Owned by one test; killed and reaped on
/// destruction.
class AgentProcess {
public:
    explicit AgentProcess(const std::map<std::string, std::string>& env) {
        ::signal(SIGPIPE, SIG_IGN);
        int in[2];
        int out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2 failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        std::vector<std::string> entries;
        for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
        std::vector<char*> envp;
        for (auto& entry : entries) envp.push_back(entry.data());
        envp.push_back(nullptr);
        std::string program = mock_agent_path().string();
        char* argv[] = {program.data(), nullptr};
        const int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv, envp.data());
        posix_spawn_file_actions_destroy(&actions);
        ::close(in[0]);
        ::close(out[1]);
        stdin_fd_ = in[1];
        stdout_fd_ = out[0];
        if (rc != 0) throw std::runtime_error("cannot start " + program);
    }

    ~AgentProcess() {
        close_stdin();
        if (stdout_fd_ >= 0) ::close(stdout_fd_);
        if (!exit_status_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    AgentProcess(const AgentProcess&) = delete;
    AgentProcess& operator=(const AgentProcess&) = delete;

    void write_line(const std::string& line) {
        const std::string data = line + "\n";
        ASSERT_EQ(::write(stdin_fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    }

    /// One write of `line` + newline; false when stdin no longer takes it (EPIPE once the agent closed it).
    bool try_write_line(const std::string& line) {
        const std::string data = line + "\n";
        return ::write(stdin_fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    }

    void close_stdin() {
        if (stdin_fd_ >= 0) ::close(stdin_fd_);
        stdin_fd_ = -1;
    }

    /// The next stdout line; nullopt at EOF or when none comes within the timeout.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = test_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
                std::string line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return line;
            }
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd readable{stdout_fd_, POLLIN, 0};
            if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[read_chunk_bytes];
            const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// Every remaining line up to EOF.
    std::vector<std::string> read_all() {
        std::vector<std::string> lines;
        while (auto line = read_line()) lines.push_back(std::move(*line));
        return lines;
    }

    /// Exit code (or 128 + signal); nullopt when the agent is still running after the timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = test_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!exit_status_) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(exit_poll_interval);
        }
        return exit_status_;
    }

private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::string buffer_;
    std::optional<int> exit_status_;
};

std::map<std::string, std::string> fast_env(std::map<std::string, std::string> extra = {}) {
    extra.emplace("CENTAUR_MOCK_DELAY_MS", "1");
    return extra;
}

TEST(MockAgent, AnswersAUserLineWithTheExactPongSequence) {
    AgentProcess agent(fast_env({{"CENTAUR_HARNESS_TYPE", "claude"}}));
    agent.write_line(user_line);
    agent.close_stdin();
    EXPECT_EQ(agent.read_all(),
              (std::vector<std::string>{heartbeat_startup, heartbeat_started, thread_started, turn_started(1),
                                        delta(1, "gpt-x", "claude"), turn_completed(1)}));
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, DefaultsToCodexHarnessUnknownModelAndSkipsBlankLines) {
    AgentProcess agent(fast_env());
    agent.write_line("   ");
    agent.write_line("  not json  ");
    agent.close_stdin();
    const auto lines = agent.read_all();
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines[4], delta(1, "unknown", "codex"));
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, RunsConfiguredTurnsNumberedAcrossTheProcessLifetime) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_TURNS", "2"}}));
    agent.write_line(user_line);
    agent.write_line(user_line);
    agent.close_stdin();
    std::vector<std::string> expected;
    for (int request = 0; request < 2; ++request) {
        expected.insert(expected.end(), {heartbeat_startup, heartbeat_started, thread_started});
        for (int turn = 2 * request + 1; turn <= 2 * request + 2; ++turn)
            expected.insert(expected.end(),
                            {turn_started(turn), delta(turn, "gpt-x", "codex"), turn_completed(turn)});
    }
    EXPECT_EQ(agent.read_all(), expected);
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, InterruptEndsAHangingTurnAndQueuedRequestsRunAfterwards) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "hang"}}));
    agent.write_line(user_line);
    EXPECT_EQ(agent.read_line(), heartbeat_startup);
    EXPECT_EQ(agent.read_line(), heartbeat_started);
    EXPECT_EQ(agent.read_line(), thread_started);
    EXPECT_EQ(agent.read_line(), turn_started(1));
    agent.write_line(user_line);  // queued behind the hanging turn
    EXPECT_FALSE(agent.read_line(200ms)) << "a hanging turn prints nothing more";
    agent.write_line(interrupt_line);
    EXPECT_EQ(agent.read_line(), turn_interrupted(1));
    EXPECT_EQ(agent.read_line(), heartbeat_startup);
    EXPECT_EQ(agent.read_line(), heartbeat_started);
    EXPECT_EQ(agent.read_line(), thread_started);
    EXPECT_EQ(agent.read_line(), turn_started(2));
    agent.write_line(interrupt_line);
    EXPECT_EQ(agent.read_line(), turn_interrupted(2));
    agent.close_stdin();
    EXPECT_EQ(agent.read_line(), std::nullopt);
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, InterruptBeforeTheFirstTurnStartsInterruptsThatTurnAsSoonAsItStarts) {
    // A slow start-up (500 ms between lines) leaves the interrupt no turn to hit yet; it must not be lost.
    AgentProcess agent({{"CENTAUR_MOCK_MODE", "hang"}, {"CENTAUR_MOCK_DELAY_MS", "500"}});
    agent.write_line(user_line);
    EXPECT_EQ(agent.read_line(), heartbeat_startup);
    agent.write_line(interrupt_line);
    EXPECT_EQ(agent.read_line(), heartbeat_started);
    EXPECT_EQ(agent.read_line(), thread_started);
    EXPECT_EQ(agent.read_line(), turn_started(1));
    EXPECT_EQ(agent.read_line(), turn_interrupted(1));
    agent.close_stdin();
    EXPECT_EQ(agent.read_line(), std::nullopt);
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, InterruptWithoutATurnIsIgnored) {
    AgentProcess agent(fast_env());
    agent.write_line(interrupt_line);
    agent.write_line(user_line);
    agent.close_stdin();
    const auto lines = agent.read_all();
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines.back(), turn_completed(1));
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, FailModeEndsEachTurnWithTurnFailed) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "fail"}}));
    agent.write_line(user_line);
    agent.close_stdin();
    const auto lines = agent.read_all();
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines[4], delta(1, "gpt-x", "codex"));
    EXPECT_EQ(lines[5], R"({"type":"turn.failed","error":{"message":"mock failure"}})");
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, ExitEarlyPrintsHeartbeatsThenExitsThree) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "exit_early"}}));
    agent.write_line(user_line);
    EXPECT_EQ(agent.read_all(), (std::vector<std::string>{heartbeat_startup, heartbeat_started}));
    EXPECT_EQ(agent.wait_exit(), 3);
}

TEST(MockAgent, FloodRepeatsTheDeltaLine) {
    constexpr int flood_lines = 50;
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "flood"}, {"CENTAUR_MOCK_FLOOD_LINES", "50"}}));
    agent.write_line(user_line);
    agent.close_stdin();
    const auto lines = agent.read_all();
    ASSERT_EQ(lines.size(), 5u + flood_lines);
    for (int i = 0; i < flood_lines; ++i) EXPECT_EQ(lines[4 + i], delta(1, "gpt-x", "codex"));
    EXPECT_EQ(lines.back(), turn_completed(1));
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, SecretsModeAddsOneDeltaWithFakeCredentials) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "secrets"}}));
    agent.write_line(user_line);
    agent.close_stdin();
    const auto lines = agent.read_all();
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_EQ(lines[4], delta(1, "gpt-x", "codex"));
    for (const char* credential : {"sk-ant-mockSECRET", "sk-mockSECRET", "xoxb-0000-mockSECRET", "ghp_mockSECRET",
                                   "Bearer mockSECRET", "OPENAI_API_KEY=mockSECRET"})
        EXPECT_NE(lines[5].find(credential), std::string::npos) << credential << " in " << lines[5];
    EXPECT_EQ(lines[6], turn_completed(1));
    EXPECT_EQ(agent.wait_exit(), 0);
}

TEST(MockAgent, DeafModeAnswersOnceThenRefusesStdinButKeepsRunningWithStdoutOpen) {
    AgentProcess agent(fast_env({{"CENTAUR_MOCK_MODE", "deaf"}}));
    agent.write_line(user_line);
    for (const auto& expected : {heartbeat_startup, heartbeat_started, thread_started, turn_started(1),
                                 delta(1, "gpt-x", "codex"), turn_completed(1)})
        EXPECT_EQ(agent.read_line(), expected);
    const auto deadline = std::chrono::steady_clock::now() + test_timeout;
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() < deadline) {
        refused = !agent.try_write_line(user_line);
        if (!refused) std::this_thread::sleep_for(exit_poll_interval);
    }
    EXPECT_TRUE(refused) << "stdin still open after the first answer";
    EXPECT_EQ(agent.read_line(quiet_wait), std::nullopt);
    EXPECT_EQ(agent.wait_exit(quiet_wait), std::nullopt) << "the deaf agent exited";
}

TEST(MockAgent, BadKnobExitsTwo) {
    AgentProcess agent(std::map<std::string, std::string>{{"CENTAUR_MOCK_TURNS", "lots"}});
    EXPECT_EQ(agent.wait_exit(), 2);
}

}  // namespace
