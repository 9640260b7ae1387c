#include <centaur/test_support/server_process.hpp>

#include <centaur/test_support/http_client.hpp>
#include <centaur/test_support/paths.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace centaur::test_support {
namespace {

constexpr auto destructor_stop_timeout = std::chrono::seconds(5);
constexpr std::size_t log_tail_bytes = 8192;
constexpr int killed_exit_code = 128 + SIGKILL;
constexpr auto probe_interval = std::chrono::milliseconds(20);
constexpr std::chrono::milliseconds max_probe_timeout = std::chrono::seconds(2);

std::string tail(const std::string& text) {
    return text.size() <= log_tail_bytes ? text : "…" + text.substr(text.size() - log_tail_bytes);
}

}  // namespace

ServerProcess::ServerProcess(std::string database_url, std::map<std::string, std::string> extra_env,
                             ServerOptions options)
    : database_url_(std::move(database_url)), extra_env_(std::move(extra_env)), options_(std::move(options)) {
    if (options_.argv.empty()) options_.argv = {bin_path("centaur-api-server")};
    port_ = free_tcp_port();
    log_path_ = (std::filesystem::temp_directory_path() /
                 ("centaur-server-" + std::to_string(::getpid()) + "-" + std::to_string(port_) + ".log"))
                    .string();
    std::ofstream(log_path_, std::ios::trunc).flush();
    try {
        start();
    } catch (...) {
        remove_log();  // the exception carries the log's tail; the destructor will not run
        throw;
    }
}

ServerProcess::~ServerProcess() {
    if (process_ && process_->running()) {
        process_->kill(SIGTERM);
        process_->wait_for_exit(destructor_stop_timeout);
    }
    process_.reset();  // SIGKILLs whatever is left of the process group and reaps
    remove_log();
}

void ServerProcess::remove_log() {
    if (!env_or("CENTAUR_KEEP_TEST_LOGS", "").empty()) return;
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
}

std::string ServerProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

pid_t ServerProcess::pid() const { return process_ ? process_->pid() : -1; }

bool ServerProcess::running() { return process_ && process_->running(); }

std::string ServerProcess::logs() const { return read_file(log_path_); }

void ServerProcess::start() {
    ++starts_;
    last_exit_code_.reset();
    {
        std::ofstream log(log_path_, std::ios::app);
        log << "==== centaur test: start #" << starts_ << " on " << url() << "\n";
    }
    std::map<std::string, std::string> env = {
        {"DATABASE_URL", database_url_},
        {"BIND_ADDR", "127.0.0.1:" + std::to_string(port_)},
        {"RUN_MIGRATIONS", "true"},
        {"SESSION_SANDBOX_BACKEND", "local"},
        {"SESSION_SANDBOX_WORKLOAD", "mock"},
    };
    for (const auto& [k, v] : extra_env_) env[k] = v;
    ChildOptions child;
    child.stdout_path = log_path_;
    child.stderr_path = log_path_;
    child.append = true;
    process_ = std::make_unique<ChildProcess>(options_.argv, env, child);

    // Bounded: /healthz (socket bound) then /readyz (roles started), failing fast if the server exits.
    const auto deadline = ChildProcess::Clock::now() + options_.start_timeout;
    for (const char* path : {"/healthz", "/readyz"}) {
        while (true) {
            if (auto code = process_->exit_code())
                throw std::runtime_error("ServerProcess: " + options_.argv.front() + " exited with code " +
                                         std::to_string(*code) + " before " + path + " answered 200; log:\n" +
                                         tail(logs()));
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ChildProcess::Clock::now());
            if (left.count() <= 0) {
                process_->kill_group(SIGKILL);
                process_->wait_for_exit(std::chrono::seconds(5));
                throw std::runtime_error("ServerProcess: " + std::string(path) + " did not answer 200 within " +
                                         std::to_string(options_.start_timeout.count()) + " ms; log:\n" + tail(logs()));
            }
            try {
                if (http_request("GET", url() + path, "", {}, std::min(left, max_probe_timeout)).status == 200) break;
            } catch (const std::exception&) {
                // not listening yet
            }
            std::this_thread::sleep_for(probe_interval);
        }
    }
}

int ServerProcess::stop() {
    if (!process_) return last_exit_code_.value_or(0);
    if (auto code = process_->exit_code()) return *(last_exit_code_ = code);
    process_->kill(SIGTERM);
    auto code = process_->wait_for_exit(options_.stop_timeout);
    if (!code) {
        process_->kill_group(SIGKILL);
        code = process_->wait_for_exit(std::chrono::seconds(5));
    }
    last_exit_code_ = code.value_or(killed_exit_code);
    return *last_exit_code_;
}

void ServerProcess::kill9() {
    if (!process_) return;
    process_->kill(SIGKILL);
    last_exit_code_ = process_->wait_for_exit(std::chrono::seconds(5)).value_or(killed_exit_code);
}

void ServerProcess::restart() {
    stop();
    process_.reset();  // reaps the old incarnation (and kills leftovers of its group) before the new one
    start();
}

}  // namespace centaur::test_support
