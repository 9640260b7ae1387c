#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace centaur::test_support {

/// How a ChildProcess is started. Defaults: inherit the test's environment, capture stdout and stderr
/// to fresh temporary files that are removed with the process object.
struct ChildOptions {
    /// false: the child gets only the `env` overrides (plus nothing else).
    bool inherit_env = true;
    /// Capture files; empty = a fresh temporary file. The same path for both = one interleaved log.
    std::string stdout_path;
    std::string stderr_path;
    /// Append to existing capture files instead of truncating them (ServerProcess restarts).
    bool append = false;
    /// Working directory of the child; empty = the test's.
    std::string working_dir;
};

/// A child process owned by one test: spawned in the constructor, killed (SIGKILL to its whole process
/// group) and reaped in the destructor, so no test leaves processes behind. The child runs in its own
/// process group with stdin from /dev/null, and gets SIGKILL if the spawning thread dies
/// (PR_SET_PDEATHSIG): spawn from a thread that outlives it. stdout and stderr go to files, readable at
/// any time. An exited child stays a zombie until the destructor, so its pid and process group id are
/// never recycled while this object can still signal them.
/// Not thread-safe: one owner thread. Every wait is bounded by its timeout.
class ChildProcess {
public:
    using Clock = std::chrono::steady_clock;

    /// Spawns argv[0] (looked up in PATH) with the environment `env` over the inherited one (or alone,
    /// see ChildOptions). Throws std::runtime_error if argv is empty or the program cannot be executed.
    ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
                 ChildOptions options = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// True until the child has exited.
    bool running();
    /// Waits up to `timeout` for the child to exit. Returns its exit code (128 + signal number when a
    /// signal ended it), or nullopt if it is still running at the deadline.
    std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
    /// The exit code if the child has exited (never waits), else nullopt.
    std::optional<int> exit_code();
    /// Sends `signal` to the child only (its own children are untouched). Harmless after it exited.
    void kill(int signal);
    /// Sends `signal` to the child's whole process group (the child and what it spawned).
    void kill_group(int signal);

    /// Everything the child wrote so far.
    std::string stdout_text() const;
    std::string stderr_text() const;
    const std::string& stdout_path() const { return stdout_path_; }
    const std::string& stderr_path() const { return stderr_path_; }

    /// Polls stdout until it contains `needle` / satisfies `predicate`, the child exits (checked once
    /// more after the exit) or `timeout` passes. Returns whether the text was seen.
    bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout);
    bool wait_for_stdout(const std::function<bool(const std::string&)>& predicate,
                         std::chrono::milliseconds timeout);
    bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout);

private:
    bool wait_for_text(const std::string& path, const std::function<bool(const std::string&)>& predicate,
                       std::chrono::milliseconds timeout);

    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::string stdout_path_;
    std::string stderr_path_;
    std::vector<std::string> owned_files_;  // temporary capture files removed in the destructor
};

/// Reads a whole file; empty string if it does not exist.
std::string read_file(const std::string& path);
/// The non-empty lines of `text` (a child's stdout or stderr), without their newlines.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace centaur::test_support
