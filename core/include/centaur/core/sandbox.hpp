#pragma once
// The Sandbox port: one isolated process tree per thread running a workload (`mock`, `codex-app-server`).
// Input lines go to its stdin; every stdout line comes back.

#include <centaur/core/result.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace centaur {

enum class SandboxStatus { created, running, suspended, stopped, gone };
std::string_view to_string(SandboxStatus s);

struct SandboxSpec {
    std::string thread_key;
    std::string harness_type;                  ///< codex, amp, … (the workload's CENTAUR_HARNESS_TYPE)
    std::map<std::string, std::string> env;    ///< extra environment for the workload
    /// Called once, on the backend's thread before `create` completes, when the create has to wait for a slot
    /// under the backend's running limit: its 1-based `position` in the queue, the `limit` and how many
    /// sandboxes are `running`. Optional.
    std::function<void(std::size_t position, std::uint32_t limit, std::uint32_t running)> on_queued;
};

/// What `Sandbox::exec` collected from one command.
struct ExecResult {
    int exit_code = -1;        ///< 128 + signal when a signal ended it
    std::string output;        ///< stdout (at most the backend's cap; `truncated` says so)
    std::string error_output;  ///< stderr (same cap)
    bool truncated = false;
    bool timed_out = false;    ///< killed at the deadline
};

/// A running sandbox. Owned by the processor (shared_ptr); all calls come from the processor's io_context
/// thread. At most one `read_line` and one `write_line` may be outstanding at a time.
class Sandbox {
public:
    virtual ~Sandbox() = default;
    virtual const std::string& id() const = 0;
    virtual SandboxStatus status() const = 0;
    /// Writes `line` plus '\n' to stdin. errc::sandbox_gone once stdin is closed or the process is gone: the line
    /// did not arrive. errc::sandbox_failed when its fate is unknown (a remote call cut after it was sent).
    virtual boost::asio::awaitable<result<void>> write_line(std::string line) = 0;
    /// Next stdout line without its '\n'. errc::sandbox_eof when stdout closed. Lines longer than the backend's
    /// limit are split, never dropped.
    virtual boost::asio::awaitable<result<std::string>> read_line() = 0;
    /// Freezes / thaws the whole process tree (no CPU, no I/O progress while suspended).
    virtual result<void> pause() = 0;
    virtual result<void> resume() = 0;
    /// Kills the whole process tree and reaps it. Idempotent.
    virtual boost::asio::awaitable<void> stop() = 0;
    /// Why the sandbox ended by itself when a limit ended it ("memory limit of … exceeded", "max lifetime of
    /// … exceeded"); empty otherwise (or not known yet). Meaningful once status() is stopped.
    virtual std::string termination_reason() const { return {}; }
    /// True when the backend started it ahead of demand (warm pool) and handed it to this thread.
    virtual bool prewarmed() const { return false; }
    /// Runs `argv` inside this running sandbox (same namespaces, uid, cgroups, workspace as cwd, the workload's
    /// environment) and collects its output and status; killed at `timeout`. errc::sandbox_gone unless
    /// running; errc::sandbox_failed when the backend cannot exec (the default).
    virtual boost::asio::awaitable<result<ExecResult>> exec(std::vector<std::string> argv,
                                                            std::chrono::milliseconds timeout);
};

/// Creates sandboxes. Thread: the processor's io_context. Implementations: LocalSandboxBackend (processes),
/// an in-process fake for unit tests.
class SandboxBackend {
public:
    virtual ~SandboxBackend() = default;
    virtual std::string_view name() const = 0;
    /// Starts a sandbox running the configured workload. errc::sandbox_failed (nothing left behind) on failure.
    virtual boost::asio::awaitable<result<std::shared_ptr<Sandbox>>> create(SandboxSpec spec) = 0;
    /// Stops and destroys the sandboxes the backend holds for no thread (a warm pool); returns their ids.
    /// The default holds none.
    virtual boost::asio::awaitable<std::vector<std::string>> drain_idle();
};

}  // namespace centaur
