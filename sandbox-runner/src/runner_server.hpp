#pragma once
// `centaur-sandbox-runner serve`: the local backend behind the runner protocol (runner_protocol.hpp), so that
// RemoteSandboxBackend in another process or on another host drives its sandboxes.

#include <centaur/sandbox/local_backend.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace centaur::sandbox {

struct RunnerServeOptions {
    std::string listen_host = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0 = any free port (printed as `listening on http://HOST:PORT`)
    /// Bearer token every call must carry (SESSION_SANDBOX_RUNNER_TOKEN); empty = open (loopback only).
    std::string token;
    /// A sandbox with no stdout stream attached for this long is an orphan of a lost client: stopped.
    std::chrono::seconds orphan_timeout{60};
    /// Unsent stdout lines kept per sandbox before its stdout is no longer read (backpressure on the workload).
    std::size_t max_unsent_lines = 4096;
    /// Lines kept after they were sent, so a stream resumed with `?after=` loses nothing.
    std::size_t replay_lines = 1024;
};

/// Serves until SIGTERM/SIGINT, then stops every sandbox and returns 0; returns 1 when it cannot listen.
/// Owns its io_context (one thread: the backend's and the server's).
int serve(LocalBackendOptions backend_options, RunnerServeOptions options);

}  // namespace centaur::sandbox
