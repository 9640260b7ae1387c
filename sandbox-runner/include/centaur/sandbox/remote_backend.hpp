#pragma once
// The `remote` Sandbox backend: sandboxes live in `centaur-sandbox-runner serve` processes, on this host or
// others, driven over the runner protocol (HTTP/1.1 + an SSE stdout stream; sandbox-runner/README.md).

#include <centaur/core/sandbox.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace centaur::sandbox {

struct RemoteBackendOptions {
    /// Runners, `http://host:port` each (SESSION_SANDBOX_RUNNER_URLS). At least one.
    std::vector<std::string> runner_urls;
    /// Bearer token of every call (SESSION_SANDBOX_RUNNER_TOKEN); never logged.
    std::string token;
    /// Bound of each control call (stdin line, pause, resume, stop, status, list).
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    /// Bound of a create: a runner at its running limit queues it (for up to its --queue-timeout-secs, 300 by
    /// default), so this stays above that.
    std::chrono::milliseconds create_timeout{std::chrono::seconds(330)};
    /// Bound of a runner's health answer during placement; a runner that misses it is skipped.
    std::chrono::milliseconds health_timeout{std::chrono::seconds(2)};
    /// How long a create waits for a runner that can take it, counted from its first round that found none (none
    /// healthy, or every one failed the call before answering: a runner restarting): placement is retried every
    /// `placement_retry` until then (SESSION_SANDBOX_RUNNER_WAIT_MS). A runner that answers with a refusal fails
    /// the create at once.
    std::chrono::milliseconds placement_wait{std::chrono::seconds(15)};
    std::chrono::milliseconds placement_retry{std::chrono::milliseconds(250)};
    /// A stdout stream silent this long is broken (runners send a keep-alive every 2 s).
    std::chrono::milliseconds stream_idle_timeout{std::chrono::seconds(10)};
    /// A broken stdout stream is reopened (resuming after the last line) for this long; then the runner is
    /// lost: the sandbox turns gone and its reader gets sandbox_eof.
    std::chrono::milliseconds reconnect_window{std::chrono::seconds(3)};
    /// Lines received but not read yet, per sandbox, before the stream is no longer read (backpressure).
    std::size_t max_buffered_lines = 4096;
};

/// One runner's answer to `GET /v1/health`, or why it has none.
struct RunnerLoad {
    std::string url;
    bool healthy = false;
    std::string error;
    std::uint32_t running = 0;  ///< live sandboxes (warm ones included)
    std::uint32_t limit = 0;    ///< running limit, 0 = unbounded
    std::uint32_t queued = 0;   ///< creates waiting for a slot
    std::uint32_t warm = 0;     ///< warm-pool sandboxes ready
};

/// One sandbox in a runner's `GET /v1/sandboxes`.
struct RemoteSandboxInfo {
    std::string sandbox_id;
    std::string thread_key;
    std::string status;
    std::string termination_reason;
    int attached = 0;  ///< stdout streams attached
};

/// Places each create on the healthy runner with the fewest running + queued sandboxes (creates in flight
/// from this backend count too; ties rotate); a runner that cannot be reached is skipped and the next one
/// tried. Each sandbox keeps one stdout stream open to its runner, reopened after the last line it got when
/// it breaks; a runner that stays unreachable for `reconnect_window` is lost: the sandbox turns `gone` and
/// `read_line` returns sandbox_eof, so the execution ends with its one terminal event and no hang.
/// pause()/resume() answer at once (the port is synchronous) and reach the runner in order right after.
///
/// Threading: single-threaded, the executor's io_context thread, like the local backend. Every wait is
/// bounded by the options. Lifecycle: the backend may be destroyed while sandboxes live (they share its
/// client state); a sandbox destroyed without stop() is stopped in the background.
class RemoteSandboxBackend final : public SandboxBackend {
public:
    /// Throws std::invalid_argument naming the URL when one is not `http://host:port` (start-up configuration).
    RemoteSandboxBackend(boost::asio::any_io_executor executor, RemoteBackendOptions options);
    ~RemoteSandboxBackend() override;

    std::string_view name() const override { return "remote"; }
    /// errc::sandbox_failed when no runner is healthy, or the chosen runner could not start it. When the runner
    /// queued the create under its running limit, `spec.on_queued` gets where it stood, once the create returns.
    boost::asio::awaitable<result<std::shared_ptr<Sandbox>>> create(SandboxSpec spec) override;
    /// Every runner's warm sandboxes stopped (runners that cannot be reached are skipped, logged); their ids.
    boost::asio::awaitable<std::vector<std::string>> drain_idle() override;

    /// Every runner's health, asked concurrently (each bounded by health_timeout).
    boost::asio::awaitable<std::vector<RunnerLoad>> loads();
    /// The sandboxes runner `url` holds. errc::sandbox_failed when it cannot be asked.
    boost::asio::awaitable<result<std::vector<RemoteSandboxInfo>>> list(std::string url);
    /// A handle to sandbox `id` on runner `url` (found with list(), e.g. by a fresh process): its status as the
    /// runner reports it (unknown → gone), stoppable; its stdout from the oldest line the runner still keeps.
    boost::asio::awaitable<std::shared_ptr<Sandbox>> attach(std::string url, std::string id);
    /// The runner URL a sandbox of this backend lives on (empty for another backend's sandbox).
    static std::string runner_of(const Sandbox& sandbox);

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace centaur::sandbox
