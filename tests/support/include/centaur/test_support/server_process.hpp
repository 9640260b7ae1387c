#pragma once

#include <centaur/test_support/child_process.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace centaur::test_support {

struct ServerOptions {
    /// Program and leading arguments; empty = { bin_path("centaur-api-server") }.
    std::vector<std::string> argv;
    /// Bound on reaching /healthz 200 and then /readyz 200 at each start.
    std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
    /// Bound on a graceful stop (SIGTERM) before SIGKILL.
    std::chrono::milliseconds stop_timeout = std::chrono::seconds(20);
};

/// A centaur-api-server owned by one test, on 127.0.0.1:<free port> against `database_url`, with env
/// DATABASE_URL, BIND_ADDR, RUN_MIGRATIONS=true, SESSION_SANDBOX_BACKEND=local,
/// SESSION_SANDBOX_WORKLOAD=mock, then `extra_env` over those. The constructor returns once
/// GET /healthz and then GET /readyz answer 200; it throws std::runtime_error (with the server's log
/// tail) if the server exits or the bound passes first. stdout and stderr of every start go to one log
/// file (logs()), kept across restarts and removed with the object (CENTAUR_KEEP_TEST_LOGS=1 keeps it). The destructor stops it (SIGTERM, 5 s, then SIGKILL of its
/// process group). Not thread-safe: one owner thread.
class ServerProcess {
public:
    explicit ServerProcess(std::string database_url, std::map<std::string, std::string> extra_env = {},
                           ServerOptions options = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    /// "http://127.0.0.1:<port>", the same across restarts.
    std::string url() const;
    int port() const { return port_; }
    const std::string& database_url() const { return database_url_; }
    /// Pid of the current incarnation (-1 if none was started).
    pid_t pid() const;
    bool running();

    /// SIGTERM, wait up to stop_timeout, then SIGKILL. Returns the exit code (0 = drained cleanly,
    /// 128 + signal when killed). Idempotent: returns the last exit code once stopped.
    int stop();
    /// SIGKILL to the server process only (its sandboxes are left as a crash leaves them), then reaps.
    void kill9();
    /// stop() if running, then start again on the same port and database, waiting as the constructor.
    void restart();

    /// Everything the server wrote so far (all incarnations, each after a "==== start" marker line).
    std::string logs() const;
    const std::string& log_path() const { return log_path_; }

private:
    void start();
    void remove_log();

    std::string database_url_;
    std::map<std::string, std::string> extra_env_;
    ServerOptions options_;
    int port_ = 0;
    int starts_ = 0;
    std::optional<int> last_exit_code_;
    std::string log_path_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace centaur::test_support
