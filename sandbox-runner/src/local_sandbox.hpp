#pragma once
// One local sandbox: a child process group with piped stdin/stdout, watched through its pidfd.

#include "cgroup.hpp"
#include "egress_proxy.hpp"
#include "process_spawn.hpp"

#include <centaur/core/sandbox.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace centaur::sandbox {

/// The workload's stderr log, inside its workspace.
inline constexpr char stderr_log_name[] = ".stderr.log";

/// Owns the process group led by `child.pid`, its pipes, its pidfd and its workspace directory.
/// Created by LocalSandboxBackend, shared with the processor. Every call comes from the io_context thread of
/// `executor`; operations keep the object alive while they run.
///
/// Status: created -> running (`mark_running`, once exec succeeded) <-> suspended (pause/resume);
/// -> stopped when the leader exits by itself (the rest of its group is killed at that moment, stdout can
/// still be drained to EOF); -> gone once stop() starts. The leader is reaped as soon as its pidfd turns
/// readable.
/// With a cgroup, pause/resume use its freezer (the whole tree, even processes that left the group) and
/// stop/exit kill every process in it; `max_lifetime` > 0 kills the tree that long after adoption.
class LocalSandbox final : public Sandbox, public std::enable_shared_from_this<LocalSandbox> {
public:
    struct Extras {
        std::unique_ptr<SandboxCgroup> cgroup;  ///< may be null (no cgroups on this host)
        bool keep_workspace = false;            ///< a caller-provided workspace: never removed
        std::chrono::seconds max_lifetime{0};   ///< 0: no wall-clock limit
        std::function<void()> on_released;      ///< called once, when stop() finished or on destruction
        std::shared_ptr<EgressProxy> egress;     ///< stopped with the sandbox
        std::filesystem::path egress_dir;        ///< removed with the sandbox
        std::filesystem::path stdin_dir;         ///< the stdin FIFO's directory, removed with the sandbox
        /// How exec() starts a command: into the workload's namespaces (nsenter) when isolated, else directly.
        struct ExecSetup {
            bool isolated = false;
            std::string nsenter = "/usr/bin/nsenter";
            bool switch_user = false;
            uid_t uid = 0;
            gid_t gid = 0;
            std::vector<std::string> env;
        } exec;
    };

    /// Takes ownership of `child` and `workspace` and starts watching for the child's exit.
    static std::shared_ptr<LocalSandbox> adopt(boost::asio::any_io_executor executor, std::string id,
                                               std::filesystem::path workspace, ChildProcess child,
                                               std::size_t max_line_bytes, Extras extras);

    LocalSandbox(boost::asio::any_io_executor executor, std::string id, std::filesystem::path workspace,
                 ChildProcess child, std::size_t max_line_bytes, Extras extras);
    /// Last resort when stop() was never awaited: SIGKILL the group and reap synchronously.
    ~LocalSandbox() override;
    LocalSandbox(const LocalSandbox&) = delete;
    LocalSandbox& operator=(const LocalSandbox&) = delete;

    const std::string& id() const override { return id_; }
    SandboxStatus status() const override { return status_; }
    boost::asio::awaitable<result<void>> write_line(std::string line) override;
    boost::asio::awaitable<result<std::string>> read_line() override;
    result<void> pause() override;
    result<void> resume() override;
    boost::asio::awaitable<void> stop() override;
    std::string termination_reason() const override { return termination_reason_; }
    bool prewarmed() const override { return prewarmed_; }
    boost::asio::awaitable<result<ExecResult>> exec(std::vector<std::string> argv,
                                                    std::chrono::milliseconds timeout) override;
    void set_prewarmed(bool value) { prewarmed_ = value; }

    /// Closes the workload's stdin (it sees EOF); later writes fail with sandbox_gone.
    void close_stdin();
    /// Writes go to `fd` from now on (the FIFO an isolated workload reads as its stdin); the old stdin closes.
    void replace_stdin(UniqueFd fd);
    /// created -> running; called by the backend once exec succeeded. No effect in any other status.
    void mark_running();
    pid_t pid() const { return pid_; }
    /// The leader's wait status once reaped by exit detection or stop.
    std::optional<int> wait_status() const { return wait_status_; }

private:
    enum class StopState { not_stopped, stopping, stopped };

    void watch_exit();
    void on_pidfd_readable();
    /// Reaps the leader if it has exited; true once reaped (or already reaped).
    bool try_reap();
    std::string take_chunk();
    void remove_workspace() noexcept;
    void log_self_exit() const;
    void kill_tree();
    void arm_lifetime(std::chrono::seconds lifetime);

    const std::string id_;
    const std::filesystem::path workspace_;
    const pid_t pid_;
    const std::size_t max_line_bytes_;
    boost::asio::posix::stream_descriptor stdin_;
    boost::asio::posix::stream_descriptor stdout_;
    boost::asio::posix::stream_descriptor pidfd_;
    /// Never expires; cancelled when the leader is reaped (stop waits on it).
    boost::asio::steady_timer reaped_event_;
    /// Never expires; cancelled when stop() finished (concurrent stop calls wait on it).
    boost::asio::steady_timer stopped_event_;
    std::string read_buffer_;
    SandboxStatus status_ = SandboxStatus::created;
    StopState stop_state_ = StopState::not_stopped;
    bool reaped_ = false;
    bool reading_ = false;
    bool writing_ = false;
    bool stdout_eof_ = false;
    bool stdin_closed_ = false;
    std::optional<int> wait_status_;
    std::unique_ptr<SandboxCgroup> cgroup_;
    const bool keep_workspace_;
    boost::asio::steady_timer lifetime_timer_;
    std::string termination_reason_;
    std::function<void()> on_released_;
    bool prewarmed_ = false;
    std::shared_ptr<EgressProxy> egress_;
    std::filesystem::path egress_dir_;
    std::filesystem::path stdin_dir_;
    Extras::ExecSetup exec_setup_;
};

}  // namespace centaur::sandbox
