#pragma once
// The `local` Sandbox backend: each sandbox is one child process tree on this host, isolated by bubblewrap
// namespaces, a dedicated unprivileged uid, cgroup limits, rlimits and a wall-clock limit.

#include <centaur/core/sandbox.hpp>
#include <centaur/sandbox/egress.hpp>
#include <centaur/sandbox/isolation.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace centaur::sandbox {

inline constexpr std::size_t default_max_line_bytes = std::size_t{1} << 20;

struct LocalBackendOptions {
    /// argv of the workload, e.g. {"/opt/centaur/bin/centaur-mock-agent"}. A program name without '/' is
    /// looked up in the sandbox environment's PATH.
    std::vector<std::string> command;
    /// The workload's environment starts empty: base_env, then SandboxSpec::env, then CENTAUR_HARNESS_TYPE
    /// and CENTAUR_THREAD_KEY (later entries win).
    std::map<std::string, std::string> base_env;
    /// Each sandbox gets `<workspace_root>/<sandbox id>` (0700, created on create, removed on stop) as its
    /// cwd; the workload's stderr goes to `.stderr.log` in it. The root is created if missing.
    std::filesystem::path workspace_root;
    /// Longer stdout lines come back split into chunks of at most this many bytes (cut at a UTF-8
    /// boundary when there is one within the last 3 bytes), never dropped.
    std::size_t max_line_bytes = default_max_line_bytes;
    /// Namespaces, uid, limits; probed once by the backend's constructor.
    IsolationOptions isolation;
    /// Extra read-only binds, host path -> sandbox path (isolated sandboxes only), e.g. a workload's files.
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> ro_binds;
    /// Use this directory as every sandbox's workspace (kept on stop) instead of a fresh one per sandbox.
    std::optional<std::filesystem::path> fixed_workspace;
    /// The workload's stderr goes to the runner's own stderr instead of `.stderr.log`.
    bool inherit_stderr = false;
    /// At most this many live sandboxes (created, not yet stopped; warm ones included); 0 = unbounded.
    /// Further creates queue in FIFO order for up to `queue_timeout`, then fail.
    std::uint32_t running_limit = 0;
    std::chrono::milliseconds queue_timeout{std::chrono::minutes(5)};
    /// Sandboxes kept started ahead of demand for `warm_harness` (started by start_background()). A create
    /// for that harness with no extra env takes one (its CENTAUR_THREAD_KEY is empty: it was started before
    /// the thread was known) and a replacement starts at once.
    std::uint32_t warm_pool_size = 0;
    std::string warm_harness = "codex";
    /// Interval of the orphan reaper started by start_background(); 0 = only at construction.
    std::chrono::seconds reap_interval{0};
    /// Egress through the runner's proxy (isolated sandboxes only). When enabled, the workload runs under
    /// `forwarder` (centaur-egress-forwarder), gets HTTP_PROXY/ALL_PROXY = http://127.0.0.1:18999 and, with a
    /// model upstream, OPENAI_API_KEY = the placeholder.
    EgressOptions egress;
    std::filesystem::path forwarder;
};

struct IsolationSetup;

/// Creates sandboxes as local processes: fork + exec in the child's own process group, PR_SET_PDEATHSIG
/// SIGKILL (the child dies with the thread that called create), stdin/stdout pipes, exit detection through
/// a pidfd. Sandbox ids are `local-<16 hex>` from the kernel's random source.
///
/// Isolation (when the probe succeeded): the child joins the sandbox's cgroups, sets its rlimits, drops to
/// the sandbox uid (when the runner is root) and execs `bwrap … -- <workload>`; the workload sees
/// /workspace (its private directory), a read-only /usr, private /tmp, /proc, /dev, loopback only, and the
/// environment built here, nothing else. The program is bound read-only at /opt/centaur/bin/<name> unless it
/// lives under /usr. Without namespaces: `required` fails every create, `preferred` and `disabled` run the
/// workload as a plain process (still with uid, cgroups and rlimits).
///
/// Threading: single-threaded. The backend and every sandbox it creates are used only from the thread
/// running the executor's io_context; that thread must outlive the sandboxes (it is their death signal's
/// parent). Lifecycle: the backend may be destroyed while sandboxes live; a sandbox must be stopped
/// (`co_await stop()`) before the io_context goes away; destroying a running one kills and reaps it
/// synchronously as a last resort.
///
/// Process-wide side effect: the constructor sets SIGPIPE to SIG_IGN if it is SIG_DFL, so a write to a
/// workload that exited fails with sandbox_gone instead of killing the server.
class LocalSandboxBackend final : public SandboxBackend {
public:
    /// Probes isolation (blocking, bounded; start-up only), logs the report, and reaps the cgroups of runners
    /// that died (orphans of a crash).
    LocalSandboxBackend(boost::asio::any_io_executor executor, LocalBackendOptions options);
    ~LocalSandboxBackend() override;

    std::string_view name() const override { return "local"; }
    /// What the start-up probe found.
    const IsolationReport& isolation() const;
    /// Whether create() runs workloads (false: isolation required but unavailable).
    bool can_run() const;
    /// Kills and removes sandboxes of runners that are gone. Returns how many. Blocking (cgroupfs).
    int reap_orphans();
    /// Starts the warm pool filling and the periodic reaper (both optional by options). Idempotent.
    void start_background();
    /// Stops the reaper and every warm sandbox, after waiting for a warm-pool fill in flight to end (it holds
    /// `this`). Call, and let it complete, before the backend or the io_context goes away. Idempotent.
    boost::asio::awaitable<void> shutdown();
    /// Live sandboxes counted against running_limit, and creates waiting for a slot.
    std::uint32_t live_sandboxes() const;
    std::size_t queued_creates() const;
    std::size_t warm_sandboxes() const { return warm_.size(); }

    /// Starts the workload and completes once it has exec'd (status running). errc::sandbox_failed with
    /// nothing left behind (no process, no workspace) when the workspace, the environment, the spawn or the
    /// exec fails; the reason is logged.
    boost::asio::awaitable<result<std::shared_ptr<Sandbox>>> create(SandboxSpec spec) override;
    /// Stops every warm sandbox (returns their ids), then refills the pool with fresh ones when
    /// start_background() ran.
    boost::asio::awaitable<std::vector<std::string>> drain_idle() override;

    struct Admission;

private:
    boost::asio::awaitable<result<std::shared_ptr<Sandbox>>> start_sandbox(SandboxSpec spec, bool prewarmed);
    boost::asio::awaitable<void> fill_warm_pool();
    boost::asio::awaitable<void> reap_loop();

    boost::asio::any_io_executor executor_;
    LocalBackendOptions options_;
    std::unique_ptr<IsolationSetup> setup_;
    std::shared_ptr<Admission> admission_;
    std::deque<std::shared_ptr<Sandbox>> warm_;
    bool filling_ = false;
    bool background_started_ = false;
    bool shut_down_ = false;
    std::shared_ptr<boost::asio::steady_timer> reap_timer_;
};

}  // namespace centaur::sandbox
